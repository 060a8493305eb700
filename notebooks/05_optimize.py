# %% [markdown]
# # Budget optimization
#
# How to split a budget across channels to maximize the incremental media response, with its uncertainty,
# against the historical and the equal split; response curves with marginal ROAS; budget scenarios.

# %% tags=["parameters"]
# Parameters (papermill injects the real values after this cell)
params_path = "../params/default.yaml"  # the case's params file
run_dir = "../reports/default"  # report folder being written; artifacts/ inside it
quick = False  # True: few draws for a fast look

# %%
#| include: false
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from mmmhelpers import artifacts, budget_page, plots_optimize, published, report
from mmmhelpers.checks import plan_warnings
from mmmhelpers.contributions import uninformed_channels
from mmmhelpers.exports import load_table, save_table
from mmmhelpers.optimize import allocate, plan_spend, response_over_time
from mmmhelpers.report import md, setup, table
from mmmhelpers.response import response_curves, response_model

params = setup(params_path, quick, run_dir)
opt = params.optimization
data = artifacts.load_data(run_dir)
idata = artifacts.load_idata(run_dir)

# %%
if opt is None:
    display(md("This case has no `optimization` section: no plan, only the response curves of the fitted model."))
    alloc, rm = None, response_model(params.model, data, idata, num_periods=13, n_draws=400)
else:
    alloc, rm = allocate(params, data, idata, uninformed=uninformed_channels(load_table(run_dir, "roas_prior_posterior")))
    alloc.save(run_dir)
    save_table(run_dir, "allocation", budget_page.plan_table(alloc, params.report.kpi_type))
    display(md(budget_page.allocation_headline(alloc, params.report.currency, params.report.target_label)))
    report.worth_a_look(plan_warnings(params, data))

# %% tags=["truth"]
from mmmhelpers.truth import judge_plan, truth_sentence

judged = None if alloc is None else judge_plan(params, data, artifacts.load_truth(run_dir), alloc)
if judged is not None:  # a simulated case: the plan scored under the true response
    save_table(run_dir, "truth_check", judged)
    display(md("**Judged by the truth** (simulated data, so the true response is known). "
               + truth_sentence(judged, params.report.target_label)))

# %%
from mmmhelpers.budget_page import robustness_sentence
from mmmhelpers.variants import load_variants, plan_under_variants

if alloc is not None and params.model_variants and opt.multi_objective is None:  # the plan under every model
    robust = plan_under_variants(params, data, alloc, load_variants(params, run_dir))
    save_table(run_dir, "plan_under_variants", robust)
    display(md("**Under every model of the case.** " + robustness_sentence(robust)))
    display(table(robust, percent=("P(gain > 0)",), caption="The plan's paired gain over the historical split under "
                  "each model of the case (model_variants), mean and 94% HDI; the main model's is held out"))

# %%
#| label: fig-plan
#| fig-cap: "Spend per period of the optimal plan and of the two baselines."
if alloc is not None:
    fig = plots_optimize.plot_allocation(alloc)
    plt.show()

# %%
if alloc is not None:
    display(table(budget_page.plan_table(alloc, params.report.kpi_type),
                  caption="Per channel: spend per period, incremental response over the plan, ROAS and marginal "
                  "ROAS (response per extra unit of spend) of the historical split and the optimal plan, in the "
                  "plan's window with its carryover tail and at each plan's spend (the fit page's ROAS is over the "
                  f"data's {plots_optimize.UNITS['period']}s at the spend that happened: another quantity)"))

# %% [markdown]
# At the optimum, channels that are not held by a bound or a rule have (nearly) equal marginal ROAS: moving a unit of
# spend from one to another would not raise the response.

# %%
#| fig-cap: "Response and marginal ROAS against spend per period: posterior mean and 94% HDI."
reach = None if alloc is None else np.max([plan_spend(rm, alloc, w).max(0) for w in ("optimal", "historical")], 0)
curves = response_curves(rm, weights=opt.weights if opt else None, reach=reach)
fig = plots_optimize.plot_response_curves(curves, alloc)
plt.show()

# %% [markdown]
# The shaded band is the spend range the data saw: beyond it the curve is the model's extrapolation, and the
# HDI widens accordingly.

# %%
if alloc is not None and alloc.spend_by_period is not None:
    fig = plots_optimize.plot_spend_over_time(alloc)
    plt.show()

# %%
#| fig-cap: "Incremental response per period of each plan, with the carryover tail after the window."
if alloc is not None:
    fig = plots_optimize.plot_response_over_time(response_over_time(rm, alloc), alloc.num_periods)
    plt.show()

# %%
if alloc is not None and alloc.scenarios:
    fig = plots_optimize.plot_scenarios(alloc)
    plt.show()

# %%
if alloc is not None and alloc.scenarios:
    display(table(budget_page.scenario_table(alloc), caption="Budget scenarios (optimal split at each budget)"))

# %%
if alloc is not None and alloc.alternatives:
    display(table(budget_page.alternatives_table(alloc), percent=("P(gain > 0)",),
                  caption="Alternative plans (optimization.alternatives): spend per period per channel, response, "
                  "and the paired gain over the historical split at the same budget, scored on posterior draws "
                  "that did not choose the plan"))

# %%
if alloc is not None and alloc.compared_plan is not None:
    display(md(budget_page.compared_plan_sentence(alloc.compared_plan, params.report.currency)))
    display(table(budget_page.compared_plan_table(alloc.compared_plan),
                  caption="The given plan (mean spend per period) and the best plan at the same budget"))

# %%
if alloc is not None and (alloc.constraints or alloc.target):
    if alloc.constraints:
        display(table(budget_page.constraint_table(alloc), caption="Constraints of the plan (from the params)"))
    if alloc.target:
        display(md(budget_page.target_sentence(alloc)))

# %%
from mmmhelpers.stability import marked, stability_case, stability_sentence

period = plots_optimize.UNITS["period"]
stab = stability_case(params, data, run_dir, alloc)  # refits without the last 1..k periods, planned as alloc was
if stab is not None:
    display(md(f"## How stable are the numbers?\n\n{stability_sentence(stab)} Each refit is this report as it "
               f"would have been made one, two, ... {stab.unit}s earlier: a number that moves less than its own "
               "interval when a few periods are left out is one to act on."))

# %%
#| label: fig-stability
#| fig-cap: "Each channel's ROAS in this report (mean and 94% HDI) and in the refits without the last periods."
if stab is not None:
    fig = plots_optimize.plot_stability(stab.roas_frame(), stab.refit_labels(), stab.unit)
    plt.show()

# %%
if stab is not None:
    display(table(marked(stab.roas_frame()), caption=f"ROAS over the data: this report (mean, 94% HDI) and each refit "
                  f"without its last {stab.unit}s; unstable: a refit's estimate left this report's interval"))
    if stab.plan_frame() is not None:
        display(table(marked(stab.plan_frame()), caption=f"Spend per {period} of the plan: historical split, this report's "
                      f"plan and each refit's (same budget and rules); unstable: a refit moved it the other way"))

# %%
from mmmhelpers.refresh import plan_history, plan_history_sentence

plans = plan_history(run_dir)  # a refresh: the plan of the report this one replaced, beside this one
if plans is not None:
    display(md(plan_history_sentence(run_dir, plans, params.report.currency)))
    display(table(plans.assign(turned=plans["turned"].map({True: "turned", False: ""})),
                  caption=f"Spend per {period} per cell: the last report's plan, this report's, and this report's "
                  "historical split; turned: the cell now moves the other way from history"))

# %% [markdown]
# ## Which experiment next
#
# For each channel, a test that changes its spend for some periods (`optimization.next_test`; by default it doubles
# for four periods): the lift the model expects, and what knowing it would be worth to this decision (the expected
# value of sample information, over the posterior draws as truths).

# %%
from mmmhelpers.next_test import next_test_section

tests, words = None, ""
if alloc is not None and opt.multi_objective is None:
    tests, words = next_test_section(params, data, idata, alloc, rm, plots_optimize.UNITS["period"])
    display(md(words))
if tests is not None:
    save_table(run_dir, "next_test", tests)
    display(table(tests.drop(columns="EVPI"), percent=("share of EVPI", "P(changes the plan)"),
                  caption="A test per channel, ranked by its value to the plan: extra spend per period summed over "
                  "markets; expected lift over the test and its carryover (94% HDI); the test's standard error (the "
                  "sales noise over those periods: an ideal test); EVSI (expected response gained by choosing the "
                  "plan after the test); its share of the decision's whole remaining risk (EVPI); the probability "
                  "that the test changes the plan"))

# %%
from mmmhelpers import multi_objective_case as mobj
from mmmhelpers.report import progress

many = opt is not None and opt.multi_objective is not None
if many:  # several targets: one budget for all of them
    cp = mobj.plan_case(params, run_dir, say=lambda line: progress(run_dir, line))
    alloc = alloc.model_copy(update={"multi_objective": mobj.case_record(cp)})
    alloc.save(run_dir)
    display(md(f"## Several goals, one budget\n\nEach target has its own model ({', '.join(cp.titles.values())}). "
               f"First each goal alone, then every plan judged by every goal's model: what favouring one goal costs "
               f"the others. Responses are totals over the {opt.num_periods} periods with their 94% HDI."))
    display(table(mobj.cross_table(cp), percent=tuple(c for c in mobj.cross_table(cp).columns if "share" in c),
                  caption="Every plan under every target's model: mean response (94% HDI) and its share of that "
                  "target's own best"))

# %%
#| fig-cap: "Spend per period of each goal's best plan, the constrained plan and the historical split."
if many:
    fig = plots_optimize.plot_target_plans(cp)
    plt.show()
    if cp.constrained is not None:
        display(md(mobj.constrained_sentence(cp, f" {params.report.target_label}")))

# %%
#| fig-cap: "The Pareto frontier: the best objective for each level of the constrained target, with 94% HDIs."
if many and cp.front is not None:
    fig = plots_optimize.plot_frontier(cp, f" ({params.report.target_label})")
    plt.show()
    display(md(f"Every point on the line is a plan no other plan beats on both goals at once ({len(cp.front.table)} "
               f"points, traced in {cp.front_seconds:.1f} s). Moving along it trades one goal for the other. "
               + mobj.historical_sentence(cp, f" {params.report.target_label}")))
    display(table(mobj.front_table(cp), caption="The frontier's plans: both responses (94% HDI) and the spend per "
                  "period of each channel"))

# %%
if any(p.page == "optimize" for p in params.report.published):
    display(table(published.published_table(params, "optimize", idata, alloc), percent=("relative difference",),
                  caption="Published vs this report" + (f" ({params.report.reference})" if params.report.reference
                                                        else "")))
