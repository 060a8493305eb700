"""Write the five report notebooks from the cell sources below (``python notebooks/build_notebooks.py``).

The ``.ipynb`` files are committed (papermill runs them); this file is their readable source so
that diffs stay reviewable. ``tests/test_notebooks.py`` checks the two agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

PARAMS = '''# Parameters (papermill injects the real values after this cell)
params_path = "../params/default.yaml"  # the case's params file
run_dir = "../reports/default"  # report folder being written; artifacts/ inside it
quick = False  # True: few draws for a fast look'''

SETUP = '''#| include: false
%matplotlib inline
import matplotlib.pyplot as plt

from mmmhelpers import artifacts, plots
from mmmhelpers.report import md, setup, table

params = setup(params_path, quick)'''

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_simulate": [
        ("markdown", "# Data\n\nWhere the data come from, what they look like, and (for simulated cases) the true "
                     "parameters the model should recover."),
        ("code", SETUP),
        ("code", '''data, truth = artifacts.prepare_data(params)
artifacts.save_data(run_dir, data, truth)
source = (f"simulated by the `{params.simulate.generator}` generator (seed {params.seed})"
          if params.data.path is None else f"loaded from `{params.data.path}`")
panel = ", ".join(f"{len(v)} {d}" for d, v in data.panel.items()) or "a single market"
md(f"**{params.title}.** {params.description} The data were {source}: {data.n_dates} weeks "
   f"({data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d}), {panel}, channels {', '.join(data.channels)}, "
   f"controls {', '.join(data.controls) or 'none'}.")'''),
        ("code", '''from mmmhelpers.report import data_summary

table(data_summary(data), percent=("weeks with spend",), caption="Spend per channel")'''),
        ("code", '''#| label: fig-data
#| fig-cap: "Target and media spend over time."
fig = plots.plot_data(data)
plt.show()'''),
        ("markdown", "Spend that moves together with the target is what makes attribution hard; bursty channels "
                     "(zero most weeks) identify carryover best."),
        ("code", '''if truth is None:
    display(md("No true parameters are known for this case: the recovery page will say so."))
else:
    scalars = {k: v for k, v in truth.data_vars.items() if "date" not in v.dims and v.size <= 24}
    rows = [{"parameter": k, "true value (model scale)": ", ".join(f"{x:.3g}" for x in v.values.ravel())}
            for k, v in scalars.items()]
    display(table(__import__("pandas").DataFrame(rows), caption="True parameters (saved to artifacts/truth.nc)"))'''),
    ],
    "02_fit": [
        ("markdown", "# Model fit\n\nThe model specification, the sampler's diagnostics, the posterior predictive "
                     "check and what each channel contributed."),
        ("code", SETUP),
        ("code", '''from mmmhelpers.fit import diagnostics, sample
from mmmhelpers.model import model_for, model_graph
from mmmhelpers.report import contribution_summary

data = artifacts.load_data(run_dir)
mmm = model_for(params, data)
table(mmm.summary_table(), caption="Model specification (priors on the model scale)")'''),
        ("code", '''graph = model_graph(mmm)
graph if graph is not None else md("*(Model graph skipped: graphviz's `dot` program is not installed.)*")'''),
        ("markdown", "Spend and target are divided by their maximum per panel coordinate before fitting; "
                     "contributions are reported back on the original scale."),
        ("code", '''idata, timings = sample(mmm, params.fit, seed=params.seed, progress=False)
artifacts.save_idata(run_dir, idata)
diag = diagnostics(idata, params.fit, timings)
artifacts.save_json(artifacts.artifacts_dir(run_dir) / "diagnostics.json", diag)
md(f"**Sampler health: {diag['health'].upper()}.** {diag['divergences']} divergences, max R-hat "
   f"{diag['rhat_max']:.3f} ({diag['rhat_max_variable']}), min bulk ESS {diag['ess_bulk_min']:,.0f} "
   f"({diag['ess_bulk_min_variable']}); {diag['sampler']} compiled in {diag['compile_seconds']:.1f} s and "
   f"sampled {diag['chains']} × {diag['draws']} draws in {diag['sampling_seconds']:.1f} s.")'''),
        ("code", '''#| label: fig-ppc
#| fig-cap: "Observed target against the posterior predictive distribution."
fig = plots.plot_ppc(idata, data)
plt.show()'''),
        ("markdown", "Most observed points should fall inside the 94% band; runs of points outside it point to "
                     "missing structure (a trend, an event, seasonality)."),
        ("code", '''#| label: fig-contributions
#| fig-cap: "Posterior-mean media contribution per channel over time."
fig = plots.plot_contributions(idata, data)
plt.show()'''),
        ("code", '''table(contribution_summary(idata, data), percent=("share of media",),
      caption="Contribution over the fitted window (original scale) and return on ad spend (94% HDI)")'''),
    ],
    "03_recovery": [
        ("markdown", "# Parameter recovery\n\nDid the model find the parameters that generated the data? Only "
                     "possible when the truth is known (simulated cases, or a published case with its truth file)."),
        ("code", SETUP),
        ("code", '''from mmmhelpers.recovery import contribution_table, recovery_table, verdict

truth = artifacts.load_truth(run_dir)
if truth is None:
    display(md("**Skipped:** this case has no known true parameters (real data without a truth file), "
               "so there is nothing to recover. See the out-of-sample page for how well the model predicts."))
else:
    idata = artifacts.load_idata(run_dir)
    rec = recovery_table(idata, truth)
    rec.to_csv(artifacts.artifacts_dir(run_dir) / "recovery.csv", index=False)
    contrib = contribution_table(idata, truth)
    display(md(f"**{verdict(rec, contrib)}**"))'''),
        ("code", '''if truth is not None:
    fig = plots.plot_recovery(rec)
    plt.show()'''),
        ("code", '''if truth is not None:
    display(table(rec, percent=("rel_error",), caption="Truth vs posterior (model scale)"))'''),
        ("code", '''if truth is not None:
    fig = plots.plot_contribution_recovery(contrib)
    plt.show()'''),
        ("code", '''if truth is not None:
    display(table(contrib.drop(columns=["covered"]), percent=("true_share", "est_share", "rel_error"),
                  caption="Contribution over the fitted window (original scale)"))'''),
        ("code", '''if truth is not None:
    from mmmhelpers.model import model_for
    from mmmhelpers.recovery import saturation_curves

    mmm = model_for(params, artifacts.load_data(run_dir))
    spend, est, true = saturation_curves(idata, truth, mmm)
    fig = plots.plot_saturation_recovery(spend, est, true, mmm.data.channels, mmm.data.panel)
    plt.show()'''),
        ("code", '''if truth is not None and "media_temporal_latent_multiplier" in idata.posterior:
    fig = plots.plot_multiplier(idata, truth)
    plt.show()'''),
        ("code", '''from mmmhelpers.recovery import coverage_summary, replicate_study

n_reps = params.recovery.replicates
if n_reps and params.simulate is not None:
    fit = params.fit.model_copy(update={"draws": min(params.fit.draws, 500), "tune": min(params.fit.tune, 500)})
    reps = replicate_study(params, n_reps, fit=fit, progress=False)
    reps.to_csv(artifacts.artifacts_dir(run_dir) / "recovery_replicates.csv", index=False)
    display(md(f"## Coverage over {n_reps} replicates\\n\\nEach replicate is a new dataset from the same DGP "
               f"(new seed), fitted with {fit.chains} × {fit.draws} draws. Calibrated intervals cover the "
               f"truth about 50% and 94% of the time."))
    display(table(coverage_summary(reps), percent=("coverage_50", "coverage_94", "mean_rel_error"),
                  caption="Empirical coverage per parameter"))'''),
        ("code", '''if n_reps and params.simulate is not None:
    fig = plots.plot_rank_histograms(reps)
    plt.show()'''),
        ("markdown", "A parameter outside its interval is not automatically a bug: with a 94% interval about one "
                     "in seventeen should miss. Systematic misses in one direction (all media over-credited) point "
                     "to confounding or a misspecified model."),
    ],
    "04_out_of_sample": [
        ("markdown", "# Out-of-sample checks\n\nThe model is refitted without the last weeks and asked to predict "
                     "them from the spend plan; adstock from the training weeks carries into the holdout."),
        ("code", SETUP),
        ("code", '''from mmmhelpers.validate import fold_frame, run_folds

data = artifacts.load_data(run_dir)
result, preds = run_folds(params, data, progress=False)
artifacts.save_json(artifacts.artifacts_dir(run_dir) / "out_of_sample.json", result)
s, ins = result["summary"], result["in_sample"]
md(f"**Holdout of {result['holdout_weeks']} weeks:** CRPS {s['crps']:,.0f}, MAPE {s['mape']:.1%}, "
   f"94% interval coverage {s['coverage_94']:.0%} (in sample: MAPE {ins['mape']:.1%}, "
   f"coverage {ins['coverage_94']:.0%}).")'''),
        ("code", '''#| label: fig-holdout
#| fig-cap: "Observed vs predicted target around the train/test cut."
train_end = data.n_dates - params.out_of_sample.holdout_weeks
fig = plots.plot_holdout(preds[0], data, train_end)
plt.show()'''),
        ("code", '''table(fold_frame(result), percent=("mape", "smape", "coverage_50", "coverage_94"),
      caption="Scores per origin (original scale; CRPS in target units)")'''),
        ("code", '''if len(result["folds"]) > 1:
    fig = plots.plot_folds(fold_frame(result))
    plt.show()'''),
        ("markdown", "## Residual checks on the full fit\n\nResiduals of the model fitted on all weeks (page 2): "
                     "no trend, no seasonal pattern and small autocorrelation are what a well-specified model leaves."),
        ("code", '''#| label: fig-residuals
#| fig-cap: "Residuals of the full fit over time and their autocorrelation."
fig = plots.plot_residuals(artifacts.load_idata(run_dir), data)
plt.show()'''),
        ("markdown", "Coverage near 94% (and 50%) means the intervals are honest; a MAPE much larger out of sample "
                     "than in sample means the model overfits."),
    ],
    "05_optimize": [
        ("markdown", "# Budget optimization\n\nHow to split a budget across channels to maximize the expected "
                     "media response, with its uncertainty, compared with the historical split."),
        ("code", SETUP),
        ("code", '''from mmmhelpers.optimize import allocate

opt = params.optimization
if opt is None:
    display(md("**Skipped:** this case has no `optimization` section."))
else:
    data = artifacts.load_data(run_dir)
    idata = artifacts.load_idata(run_dir)
    alloc, rm = allocate(params, data, idata)
    artifacts.save_json(artifacts.artifacts_dir(run_dir) / "allocation.json", alloc)
    base, best = alloc["initial"]["response"], alloc["response"]
    display(md(f"**Optimal split of {opt.budget:,.0f} per period over {opt.num_periods} periods:** expected "
               f"response {best['mean']:,.0f} (94% HDI {best['hdi_94'][0]:,.0f}–{best['hdi_94'][1]:,.0f}) vs "
               f"{base['mean']:,.0f} for the historical split ({best['mean'] / base['mean'] - 1:+.1%})."))'''),
        ("code", '''if opt is not None:
    fig = plots.plot_allocation(alloc["initial"]["allocation"], alloc["allocation"])
    plt.show()'''),
        ("code", '''if opt is not None and alloc["scenarios"]:
    fig = plots.plot_scenarios(alloc["scenarios"], opt.budget, planned=alloc["response"])
    plt.show()'''),
        ("code", '''from mmmhelpers.report import scenario_table

if opt is not None and alloc["scenarios"]:
    display(table(scenario_table(alloc), caption="Budget scenarios (optimal split at each budget)"))'''),
        ("markdown", "Diminishing returns make the response grow more slowly than the budget; the response counts "
                     "carryover for the adstock window after the last period."),
    ],
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]})]
    for kind, src in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        cells.append(cell)
    # title first, parameters second: papermill injects right after the parameters cell
    nb.cells = [cells[1], cells[0], *cells[2:]]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{i:02d}"
    return nb


def main(check: bool = False) -> int:
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = nbformat.writes(build(name)) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python notebooks/build_notebooks.py): {stale}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
