"""Figures of sampler diagnostics (``mmmhelpers.plots_diagnose``): the divergent draws of a hand-made posterior in a
pair plot of the parameters the divergence report implicates."""

import matplotlib

matplotlib.use("Agg")

from conftest import divergent_idata  # noqa: E402

from mmmhelpers.diagnose import divergence_report, rank_parameters  # noqa: E402


def test_pair_plot_marks_divergent_draws():
    from mmmhelpers.plots_diagnose import plot_divergence_pair

    idata = divergent_idata(40)
    report = divergence_report(idata)
    fig = plot_divergence_pair(idata, report)
    ax = fig.axes[0]
    assert len(ax.collections) == 2
    assert len(ax.collections[1].get_offsets()) == 40  # the divergent draws, drawn last (on top)
    assert ax.get_xlabel().startswith(report.hotspots[0].parameter)
    assert ax.get_ylabel().startswith(rank_parameters(idata)[1].parameter)  # topped up from the ranking
    assert ax.get_title() and ax.get_legend() is not None
    import matplotlib.pyplot as plt

    plt.close(fig)
