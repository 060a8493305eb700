# %% [markdown]
# # Model fit
#
# The model specification, the sampler's diagnostics, the posterior predictive check and what each channel
# contributed.

# %% tags=["parameters"]
# Parameters (papermill injects the real values after this cell)
params_path = "../params/default.yaml"  # the case's params file
run_dir = "../reports/default"  # report folder being written; artifacts/ inside it
quick = False  # True: few draws for a fast look
folds_ahead = True  # also compile the out-of-sample folds' model ahead (False: no page of this run uses it)

# %%
#| include: false
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import display

from mmmhelpers import artifacts, plots_fit
from mmmhelpers.report import md, progress, setup, table, worth_a_look

params = setup(params_path, quick, run_dir)

# %%
from mmmhelpers.calibration import model_for
from mmmhelpers.checks import model_warnings
from mmmhelpers.diagnose import divergence_report
from mmmhelpers.fit import compile_ahead, diagnostics, sample
from mmmhelpers.fit_page import contribution_summary
from mmmhelpers.model import model_graph, model_mermaid
from mmmhelpers.plots_diagnose import plot_divergence_pair
from mmmhelpers.refresh_priors import carried_sentence

data = artifacts.load_data(run_dir)
period = plots_fit.UNITS["period"]  # day, week or month: from the data's dates unless report.period names it
mmm = model_for(params, data)
compile_ahead(mmm, params, data, folds_ahead)  # a new model structure compiles in other processes while the cells below run
worth_a_look(model_warnings(params, data))
display(md(carried_sentence(run_dir, period)))  # a refresh from the last report's posterior: where its priors are from
table(mmm.summary_table(), caption="Model specification (priors on the model scale)")

# %%
graph = model_graph(mmm)
if graph is not None:
    display(graph)
else:  # no graphviz `dot` program (pip installs): Mermaid, which Quarto draws itself
    display(md(f"```{{mermaid}}\n{model_mermaid(mmm)}\n```\n\nThe model graph: parameters (rounded), data (boxes), "
               "the observed target (grey); each frame is a dimension the variables in it run over."))

# %% [markdown]
# Spend and target are divided by their maximum before fitting (`model.scaling`); contributions are reported
# back on the original scale. The priors are on the divided scale: a saturation beta of 0.2 means a channel adds
# at most a fifth of the target's largest period.

# %%
from mmmhelpers.fit_page import scales_table

table(scales_table(mmm), caption="Scales: the target and each channel's spend are divided by these (original units)")

# %%
#| label: fig-prior-ppc
#| fig-cap: "Observed target against the prior predictive distribution: what the priors allow before seeing data."
from mmmhelpers.fit import add_original_scale_predictions
from mmmhelpers.review import prior_translation, sample_prior
from mmmhelpers.seeds import seed_for

prior = sample_prior(mmm, draws=500, seed=seed_for(params.seed, "prior"))
add_original_scale_predictions(prior, mmm, group="prior_predictive")
fig = plots_fit.plot_ppc(prior, data, group="prior_predictive")
plt.show()

# %% [markdown]
# The prior band should cover the data with room to spare, without being absurdly wide: the priors allow the
# data, and the fit, not the priors, picks the values.

# %%
idata, timings = sample(mmm, params.fit, seed=params.seed, progress=False, say=lambda line: progress(run_dir, line))
artifacts.save_idata(run_dir, idata)
diag = diagnostics(idata, params.fit, timings)
diag.save(run_dir)
plural = "" if diag.divergences == 1 else "s"
display(md(f"**Sampler health: {diag.health.upper()}.** {diag.divergences} divergence{plural}, max R-hat "
           f"{diag.rhat_max:.3f} ({diag.rhat_max_variable}), min bulk ESS {diag.ess_bulk_min:,.0f} "
           f"({diag.ess_bulk_min_variable}); {diag.sampler} compiled in {diag.compile_seconds:.1f} s and "
           f"sampled {diag.chains} × {diag.draws} draws in {diag.sampling_seconds:.1f} s"
           + (f" (estimated beforehand: at most {diag.estimated_sampling_seconds:,.0f} s; {diag.steps_per_draw:.0f} "
              "leapfrog steps per draw)." if diag.estimated_sampling_seconds else ".")))
if diag.divergence_hotspots:  # where they sit, and a pair plot of the two most implicated parameters
    display(md(f"**Where the divergences sit.** {diag.divergence_summary}"))
    fig = plot_divergence_pair(idata, divergence_report(idata, target_accept=params.fit.target_accept))
    plt.show()

# %%
#| label: fig-ppc
#| fig-cap: "Observed target against the posterior predictive distribution."
fig = plots_fit.plot_ppc(idata, data)
plt.show()

# %% [markdown]
# Most observed points should fall inside the 94% band; runs of points outside it point to missing structure
# (a trend, an event, seasonality).

# %%
#| label: fig-transforms
#| fig-cap: "What the priors allowed (grey) and what the data made of it (colour): carryover and saturation."
from mmmhelpers.recovery import curve_top, transform_curves

top = curve_top(params.model, data)
fig = plots_fit.plot_transforms(transform_curves(prior.prior, params.model, data.channels, top=top),
                                transform_curves(idata.posterior, params.model, data.channels, top=top), data.channels,
                                scaled=params.model.scaling.channel == "max")
plt.show()

# %% [markdown]
# A posterior band much narrower than the prior's means the data pinned the transform down; one that just
# repeats the prior means the data said little about it, and the prior made the call.

# %%
#| label: fig-contributions
#| fig-cap: "Posterior-mean media contribution per channel over time."
fig = plots_fit.plot_contributions(idata, data)
plt.show()

# %%
table(contribution_summary(idata, data), percent=("share of media",),
      caption="Spend and contribution over the fitted window (original scale); ROAS is further down")

# %% [markdown]
# ## Model review
#
# Automated checks of the fit, each with its verdict (PASS, REVIEW: look before quoting the numbers, FAIL: do not
# quote them), the number behind it and what to do.

# %%
from mmmhelpers.review import model_review, review_table

review = model_review(idata, data, diag, prior, roas_range=params.report.roas_range)
review.save(run_dir)
display(md(f"**Model review: {review.verdict.upper()}.**"))
table(review_table(review), caption="Model review")

# %%
from mmmhelpers.fit_page import parameter_summary

summary = parameter_summary(idata)
display(table(summary, caption="Parameters (model scale): posterior mean, sd, 94% HDI, bulk ESS, R-hat; "
              "worst-mixing first"))
fig = plots_fit.plot_worst_ranks(idata, list(summary["parameter"][:3]))
plt.show()

# %%
from mmmhelpers.variants import Fitted, comparison_table, fit_variants, parameter_comparison, published_models

variants = fit_variants(params, data, run_dir, say=lambda line: progress(run_dir, line))
if variants:
    models = [Fitted("main", "main model", mmm, idata, diag), *variants]
    display(md("## Model variants\n\nThe same data fitted with other model specs (`model_variants`). The main model "
               "is the one the other pages use. A higher elpd (PSIS-LOO) predicts unseen periods better; a "
               "difference within about two of its standard errors is not a clear winner, and periods with a Pareto k "
               "above 0.7 make a model's elpd unreliable."))
    display(table(comparison_table(models), percent=("LOO weight",), caption="Model variants: sampler health "
                  "and expected log predictive density (PSIS-LOO)"))
    display(table(parameter_comparison(models), caption="Shared parameters: posterior mean (94% HDI) per model"))

# %%
from mmmhelpers.targets import fit_targets
from mmmhelpers.variants import health_table

others = fit_targets(params, run_dir, say=lambda line: progress(run_dir, line))
if others:
    models = [Fitted(params.targets[0].name, params.targets[0].title, mmm, idata, diag), *others]
    display(md(f"## Every target's fit\n\nEach target has its own model with the same specification, fitted to "
               f"its own data. Above: *{models[0].label}* (the model the next pages follow); here all of them."))
    display(table(health_table(models), caption="Sampler health of each target's model"))
    display(table(parameter_comparison(models), caption="Parameters: posterior mean (94% HDI) per target"))
    for other in others:
        fig = plots_fit.plot_ppc(other.idata, other.mmm.data, title=f"{other.label}: observed vs posterior predictive")
        plt.show()

# %%
from mmmhelpers.published import published_table

if any(p.page == "fit" for p in params.report.published):
    display(md(f"**Published vs this report.** The published numbers are those of *{params.report.reference}*."
               if params.report.reference else "**Published vs this report.**"))
    display(table(published_table(params, "fit", idata, diag=diag, variants=published_models(variants)),
                  percent=("relative difference",),
                  caption="Published vs this report: posterior means with our 94% HDI; a published value inside "
                  "it agrees"))

# %% [markdown]
# ## What drove the target

# %%
#| label: fig-decomposition
#| fig-cap: "Each component's contribution per period, original scale, with its 94% HDI."
from mmmhelpers.calibration import evidence_sources
from mmmhelpers.contributions import (
    component_totals,
    decomposition,
    driver_totals,
    effect_vs_spend,
    prior_dominated_sentence,
    roas_prior_posterior,
    roas_table,
)
from mmmhelpers.exports import save_table

dec = decomposition(idata)
fig = plots_fit.plot_decomposition(dec, data.channels, organic=data.organic)
plt.show()

# %%
#| label: fig-waterfall
#| fig-cap: "Total contribution of each component over the data: the baseline, then what each driver added."
totals = component_totals(dec, data.channels, data.organic)
fig = plots_fit.plot_waterfall(totals)
plt.show()

# %%
save_table(run_dir, "contributions", totals)
save_table(run_dir, "drivers", driver_totals(dec, data.channels, data.organic))
table(totals, percent=("share", "share 3%", "share 97%", "P(largest)"),
      caption="Contribution per component (94% HDI); P(largest): share of draws in which the channel contributed most")

# %%
#| label: fig-effect-vs-spend
#| fig-cap: "A channel whose share of effect exceeds its share of spend earns more than its budget share."
fig = plots_fit.plot_effect_vs_spend(effect_vs_spend(idata, data))
plt.show()

# %%
#| label: fig-roas
#| fig-cap: "ROAS over the data and marginal ROAS (the return of one more unit of spend), 94% HDI."
roas = roas_table(idata, data, params.model, seed=seed_for(params.seed, "optimize"), kpi_type=params.report.kpi_type,
                  kpi_value=params.report.kpi_value)
fig = plots_fit.plot_roas_forest(roas)
plt.show()

# %%
save_table(run_dir, "roas", roas)
table(roas, percent=("P(highest ROAS)",),
      caption=f"ROAS and marginal ROAS per channel over the data's {period}s (target units per currency unit, 94% "
      f"HDI; marginal: one more unit in every {period}), and the share of posterior draws in which each channel's ROAS "
      "is the highest" + ("; a count KPI: the cost per unit of the target (median and 94% HDI) and, with its value, the "
                          "ROAS in currency" if params.report.kpi_type == "count" else ""))

# %%
from mmmhelpers.refresh import moved_sentence, roas_history

history = roas_history(run_dir)  # the reports this case's refreshes replaced (history/), and this one
if history is not None:
    display(md("**Over successive reports.** " + moved_sentence(history)))
    display(table(history, caption="Each channel's ROAS (mean, 94% HDI) and contribution (over each report's own "
                  "periods) in every report of this case, oldest first; moved: this report's ROAS lies outside the "
                  "last report's interval; shifted: the last report's forecast of the new periods missed and the miss "
                  "points to this channel (P >= 80%); likely cause: what visibly changed for it since"))

# %%
roas_evidence = roas_prior_posterior(prior, idata, data, evidence_sources(params, data.channels))
save_table(run_dir, "roas_prior_posterior", roas_evidence)
display(md(prior_dominated_sentence(roas_evidence)))
shown = roas_evidence.drop(columns="informed")
table(shown if shown["also informed by"].any() else shown.drop(columns="also informed by"),
      caption=f"ROAS over the data's {period}s before the data (what the priors imply) and after, 94% HDI; sd ratio: "
      "posterior sd / prior sd (near 1: the data said little); width / mean: the posterior HDI's width over its mean "
      "(above 1: the estimate is not pinned down)")

# %%
meanings = prior_translation(prior, idata, data, params.model)
save_table(run_dir, "prior_translation", meanings)
table(meanings, caption="What the media priors mean in the units an analyst holds, before the data (prior draws) and "
      f"after (posterior), mean and 94% HDI: ROAS over the data's {period}s, share of the fitted target, the spend per "
      "period at which a channel gives half its ceiling (steady state), and the average number of periods after a "
      "spend at which its effect lands; sd ratio near 1: the data said little")
