# %% [markdown]
# # Out-of-sample checks
#
# The model is refitted without the last periods and asked to predict them from the spend plan; adstock from the
# training periods carries into the holdout.

# %% tags=["parameters"]
# Parameters (papermill injects the real values after this cell)
params_path = "../params/default.yaml"  # the case's params file
run_dir = "../reports/default"  # report folder being written; artifacts/ inside it
quick = False  # True: few draws for a fast look

# %%
#| include: false
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import display

from mmmhelpers import artifacts, plots, plots_out_of_sample
from mmmhelpers.report import md, setup, table

params = setup(params_path, quick, run_dir)

# %%
from mmmhelpers.out_of_sample import fold_frame, run_folds

data = artifacts.load_data(run_dir)
result, preds = run_folds(params, data, progress=False)
result.save(run_dir)
s, ins = result.summary, result.in_sample
period = plots.UNITS["period"]  # day, week or month: from the data's dates unless report.period names it
md(f"**Holdout of {result.holdout_weeks} {period}s:** CRPS {s.crps:,.0f}, MAPE {s.mape:.1%}, "
   f"94% interval coverage {s.coverage_94:.0%} (in sample: MAPE {ins.mape:.1%}, "
   f"coverage {ins.coverage_94:.0%}).")

# %%
#| label: fig-holdout
#| fig-cap: "Observed vs predicted target around the train/test cut."
train_end = data.n_dates - params.out_of_sample.holdout_weeks
fig = plots_out_of_sample.plot_holdout(preds[0], data, train_end)
plt.show()

# %%
table(fold_frame(result), percent=("mape", "smape", "coverage_50", "coverage_94"),
      caption="Scores per origin (original scale; CRPS in target units)")

# %%
if len(result.folds) > 1:
    fig = plots_out_of_sample.plot_folds(fold_frame(result))
    plt.show()

# %%
from mmmhelpers.refresh import Backtest, backtest_sentence

backtest = Backtest.load_or_none(run_dir)  # a refresh: the last report's model on the periods added since
if backtest is not None:
    display(md(backtest_sentence(backtest, period)))

# %% [markdown]
# ## Residual checks on the full fit
#
# Residuals of the model fitted on all the data (page 2): no trend, no seasonal pattern and small autocorrelation
# are what a well-specified model leaves.

# %%
#| label: fig-residuals
#| fig-cap: "Residuals of the full fit: over time, their autocorrelation and their distribution."
fig = plots_out_of_sample.plot_residuals(artifacts.load_idata(run_dir), data)
plt.show()

# %% [markdown]
# Coverage near 94% (and 50%) means the intervals are honest; a MAPE much larger out of sample than in sample
# means the model overfits.

# %%
from mmmhelpers.exports import save_table
from mmmhelpers.out_of_sample import forecast_case, forecast_table
from mmmhelpers.report import worth_a_look

fc = forecast_case(params, data, artifacts.load_idata(run_dir))
if fc is not None:
    display(md(f"## Forecast\n\n{fc.words}"))
    worth_a_look(fc.warnings)

# %%
#| label: fig-forecast
#| fig-cap: "Forecast of the periods after the last observation, from the model fitted on all the data."
if fc is not None:
    fig = plots_out_of_sample.plot_forecast(fc.pred, fc.future, data.n_dates)
    plt.show()

# %%
if fc is not None:
    save_table(run_dir, "forecast_parts", fc.parts)
    display(table(fc.parts, caption=f"The forecast window's total ({fc.future.n_dates - data.n_dates} {period}s, "
                  "every market) and its parts, mean and 94% HDI: the baseline, the carryover of the spend before it (the "
                  "window's media were nothing spent in it) and what the window's own spend adds; the expected target "
                  "is their sum (the forecast adds the sales noise)"))
    per_period = forecast_table(fc.pred, fc.future, data.n_dates)
    save_table(run_dir, "forecast", per_period)
    display(table(per_period, caption=f"Forecast of the target per {period} (mean and 94% HDI, original scale)"))

# %%
if fc is not None and fc.scenarios is not None:
    display(md("What if the plan changed (`out_of_sample.forecast_scenarios`)? Each version is forecast on the same "
               "posterior draws, so its difference from the plan is paired draw by draw: a difference whose interval "
               "excludes zero is one the model is sure of, whatever the level."))
    save_table(run_dir, "forecast_scenarios", fc.scenarios)
    display(table(fc.scenarios, percent=("P(difference > 0)",),
                  caption=f"What if: the window's expected target ({fc.future.n_dates - data.n_dates} {period}s, every "
                  "market) under each version of the plan, its spend, and its paired difference from the plan"))
