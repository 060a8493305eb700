# %% [markdown]
# # Parameter recovery
#
# Did the model find the parameters that generated the data? Only possible when the truth is known (simulated
# cases, or a published case with its truth file).

# %% tags=["parameters"]
# Parameters (papermill injects the real values after this cell)
params_path = "../params/default.yaml"  # the case's params file
run_dir = "../reports/default"  # report folder being written; artifacts/ inside it
quick = False  # True: few draws for a fast look
workers = 0  # > 0: SBC draws and replicates on a local Dask cluster of this many workers (0: params' execution)
scheduler = ""  # an existing Dask cluster, e.g. tcp://host:8786 (empty: params' execution)

# %%
#| include: false
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import display

from mmmhelpers import artifacts, plots_fit, plots_recovery
from mmmhelpers.report import md, setup, table

params = setup(params_path, quick, run_dir)

# %% tags=["truth"]
from mmmhelpers.recovery import contribution_table, recovery_table, verdict

truth = artifacts.load_truth(run_dir)
if truth is None:
    display(md("**Skipped:** this case has no known true parameters (real data without a truth file), "
               "so there is nothing to recover. See the out-of-sample page for how well the model predicts."))
else:
    idata = artifacts.load_idata(run_dir)
    rec = recovery_table(idata, truth)
    artifacts.save_recovery(run_dir, rec)
    contrib = contribution_table(idata, truth)
    display(md(f"**{verdict(rec, contrib)}**"))

# %% tags=["truth"]
if truth is not None and len(rec):  # a truth of contributions only (a CSV's columns) has no parameters to compare
    fig = plots_recovery.plot_recovery(rec)
    plt.show()

# %% tags=["truth"]
if truth is not None and len(rec):
    display(table(rec, percent=("rel_error",), caption="Truth vs posterior (model scale)"))

# %% tags=["truth"]
if truth is not None:
    fig = plots_recovery.plot_contribution_recovery(contrib)
    plt.show()

# %% tags=["truth"]
if truth is not None:
    display(table(contrib.drop(columns=["covered"]), percent=("true_share", "est_share", "rel_error"),
                  caption="Contribution over the fitted window (original scale)"))

# %% tags=["truth"]
if truth is not None:
    from mmmhelpers.calibration import model_for
    from mmmhelpers.recovery import saturation_curves

    mmm = model_for(params, artifacts.load_data(run_dir))
    spend, est, true = saturation_curves(idata, truth, mmm)
    fig = plots_recovery.plot_saturation_recovery(spend, est, true, mmm.data.channels, mmm.data.panel)
    plt.show()

# %% tags=["truth"]
if truth is not None and "media_temporal_latent_multiplier" in idata.posterior:
    fig = plots_recovery.plot_multiplier(idata, truth)
    plt.show()

# %% tags=["truth"]
from mmmhelpers.recovery import recovery_by_model
from mmmhelpers.variants import load_variants

if truth is not None:
    idatas = {"main model": idata} | {v.label: v.idata for v in load_variants(params, run_dir)}
if truth is not None and params.model_variants:
    display(md("## Every model against the truth\n\nThe main model and each variant of the fit page, compared "
               "with the same true values."))
    display(table(recovery_by_model(idatas, truth).drop(columns=["covered"]), percent=("rel_error",),
                  caption="Truth vs posterior per model (model scale)"))

# %% tags=["truth"]
from mmmhelpers.recovery import effect_shares, overcredit_sentence

shares = effect_shares(idatas, truth, artifacts.load_data(run_dir)) if truth is not None and "demand" in truth else None
if shares is not None:
    display(md(f"## Media credit vs the truth\n\n**{overcredit_sentence(shares)}**"))
    display(table(shares, percent=tuple(c for c in shares.columns if c != "component"),
                  caption="Share of the target: truth vs each model (mean, 94% HDI)"))

# %% tags=["truth"]
#| label: fig-shares
#| fig-cap: "Share of the target credited to each channel and to everything else, truth vs each model."
if shares is not None:
    fig = plots_recovery.plot_shares(shares)
    plt.show()

# %% tags=["truth"]
#| label: fig-contribution-paths
#| fig-cap: "Each channel's contribution per period: the truth (dashed) against each model's estimate (94% and 50% bands)."
contributions = truth.get("channel_contribution_original_scale") if truth is not None else None
if contributions is not None and "date" in contributions.dims:
    fig = plots_recovery.plot_contribution_paths(idatas, truth)
    plt.show()

# %% tags=["truth"]
from mmmhelpers.executor import executor_for
from mmmhelpers.recovery import coverage_summary, replicate_fit, replicate_study

n_reps = params.recovery.replicates
if n_reps and params.simulate is not None:
    fit = replicate_fit(params)
    with executor_for(workers or params.execution.workers, scheduler or params.execution.scheduler) as ex:
        reps = replicate_study(params, n_reps, fit=fit, progress=False, executor=ex)
    artifacts.save_replicates(run_dir, reps)
    display(md(f"## Coverage over {n_reps} replicates\n\nEach replicate is a new dataset from the same DGP "
               f"(new seed), fitted with {fit.chains} × {fit.draws} draws. Calibrated intervals cover the "
               f"truth about 50% and 94% of the time."))
    display(table(coverage_summary(reps), percent=("coverage_50", "coverage_94", "mean_rel_error"),
                  caption="Empirical coverage per parameter"))

# %% tags=["truth"]
if n_reps and params.simulate is not None:
    fig = plots_recovery.plot_rank_histograms(reps)
    plt.show()

# %% tags=["truth"]
if truth is not None:
    display(md("A parameter outside its interval is not automatically a bug: with a 94% interval about one in "
               "seventeen should miss. Systematic misses in one direction (all media over-credited) point to "
               "confounding or a misspecified model."))


# %% tags=["truth"]
from mmmhelpers.sbc import sbc_section

sbc = params.recovery.sbc
if sbc.draws:
    ranks, sbc_summary, text = sbc_section(params, run_dir, workers or params.execution.workers,
                                           scheduler or params.execution.scheduler)
    display(md(text))
    display(table(sbc_summary, caption="SBC per parameter: chi-square test of uniform ranks (flagged below p = 0.01)"))

# %% tags=["truth"]
#| fig-cap: "SBC rank histograms and the ECDF difference: bars or lines outside the grey band are calibration problems."
if sbc.draws:
    fig = plots_fit.plot_sbc_histograms(ranks, sbc_summary, sbc.ranks)
    plt.show()
    fig = plots_fit.plot_sbc_ecdf(ranks, sbc_summary, sbc.ranks)
    plt.show()
