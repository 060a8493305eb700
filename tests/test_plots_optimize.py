"""Figures of the budget page (``mmmhelpers.plots_optimize``) from a hand-made ``Allocation`` record: the plan against
its baselines, the scenarios, the response per period and the stability of each ROAS; each with a title, axes in the
case's units and the record's numbers where it draws them.

End-to-end: tests/test_pipeline.py::test_a_report_renders_as_a_slide_deck_with_its_figures_and_headline finds the
plan figure of a real run in its executed notebook (on the session's one pipeline run).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from test_artifacts import ALLOC  # noqa: E402

from mmmhelpers.artifacts import Allocation  # noqa: E402
from mmmhelpers.plots_optimize import (  # noqa: E402
    plot_allocation,
    plot_response_over_time,
    plot_scenarios,
    plot_stability,
)


def test_the_plan_figure_draws_each_plans_spend_per_cell(report_units):
    alloc = Allocation.model_validate(ALLOC)
    fig = plot_allocation(alloc)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_ylabel() == "channel"
    assert ax.get_xlabel() == f"spend per period ({report_units.currency})"
    cells = [t.get_text() for t in ax.get_yticklabels()]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["historical split", "equal split", "optimal"]
    bars = sorted((round(p.get_y() + p.get_height() / 2), p.get_width()) for p in ax.patches if p.get_width() > 0)
    want = sorted((cells.index(r["channel"]), r["spend_per_period"])  # the records as allocation.json holds them
                  for plan in (ALLOC["initial"]["allocation"], ALLOC["equal"]["allocation"], ALLOC["allocation"])
                  for r in plan)
    assert bars == want
    plt.close(fig)


def test_the_scenarios_figure_draws_the_response_at_each_budget(report_units):
    alloc = Allocation.model_validate(ALLOC)
    fig = plot_scenarios(alloc)
    ax = fig.axes[0]
    points = sorted([(s.budget_per_period, s.response.mean) for s in alloc.scenarios] +
                    [(alloc.budget_per_period, alloc.response.mean)])
    mean, planned = ax.get_lines()
    np.testing.assert_allclose(np.c_[mean.get_xdata(), mean.get_ydata()], points)
    assert planned.get_label() == "planned budget" and list(planned.get_xdata()) == [alloc.budget_per_period] * 2
    assert ax.get_title() and ax.get_xlabel() == f"budget per period ({report_units.currency})"
    assert ax.get_ylabel() == f"incremental response ({report_units.target_label})"
    plt.close(fig)


def test_the_response_per_period_is_each_plans_mean_with_the_tail_shaded(report_units):
    draws = np.random.default_rng(0).gamma(2.0, 100.0, size=(50, 6))  # 50 draws, 4 periods and a tail of 2
    over_time = {"optimal plan": draws, "historical split": 0.8 * draws}
    fig = plot_response_over_time(over_time, num_periods=4)
    ax = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    for label, d in over_time.items():
        np.testing.assert_allclose(lines[label], d.mean(axis=0))
    (tail,) = ax.patches  # the periods after the plan: 4.5 to 6.5
    assert tail.get_x() == 4.5 and tail.get_width() == 2.0
    assert ax.get_title() and ax.get_xlabel() == "period of the plan"
    assert ax.get_ylabel() == f"incremental response ({report_units.target_label})"
    plt.close(fig)


def test_the_stability_figure_marks_this_reports_roas_and_each_refit(report_units):
    roas = pd.DataFrame({"channel": ["tv", "search"], "ROAS": [1.5, 2.5], "ROAS 3%": [1.0, 1.8],
                         "ROAS 97%": [2.0, 3.3], "without 1": [1.4, 2.7], "without 2": [1.6, 2.2]})
    refits = ["without 1", "without 2"]
    fig = plot_stability(roas, refits, "week")
    ax = fig.axes[0]
    assert "refits (without the last 1, 2, ... weeks)" in [t.get_text() for t in ax.get_legend().get_texts()]
    mean, *marks = ax.get_lines()
    np.testing.assert_allclose(mean.get_xdata(), roas["ROAS"])
    for line, col in zip(marks, refits, strict=True):
        np.testing.assert_allclose(line.get_xdata(), roas[col])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(roas["channel"])
    assert ax.get_title() and ax.get_xlabel() == f"ROAS ({report_units.target_label} per {report_units.currency} spent)"
    plt.close(fig)
