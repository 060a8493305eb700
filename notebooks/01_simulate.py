# %% [markdown]
# # Data
#
# Where the data come from, what they look like, and (for simulated cases) the true parameters the model
# should recover.

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

from mmmhelpers import plots, plots_data
from mmmhelpers.report import md, setup, table

params = setup(params_path, quick, run_dir)

# %%
from mmmhelpers.case_data import prepare_data
from mmmhelpers.data_page import data_intro
from mmmhelpers.targets import save_case_data

data, truth = prepare_data(params)
save_case_data(run_dir, params, data, truth)
md(data_intro(params, data))

# %%
from mmmhelpers.checks import data_warnings
from mmmhelpers.refresh import DataDiff
from mmmhelpers.report import worth_a_look

diff = DataDiff.load_or_none(run_dir)  # against the last report's data, when this run replaced a report
if diff is not None and diff.changed:
    display(md(diff.sentence()))
worth_a_look(data_warnings(params, data) + (diff.warnings() if diff is not None else []))

# %%
from mmmhelpers.data_page import data_summary

period = plots.UNITS["period"]  # day, week or month: from the data's dates unless report.period names it
table(data_summary(data, period), percent=(f"{period}s with spend",), caption="Spend per channel")

# %%
#| label: fig-data
#| fig-cap: "Target and media spend over time."
fig = plots_data.plot_data(data)
plt.show()

# %% [markdown]
# Spend that moves together with the target is what makes attribution hard; bursty channels (zero in most periods)
# identify carryover best.

# %%
#| label: fig-correlations
#| fig-cap: "Correlations between the columns (one value per period): spend that moves with the target is hard to credit."
from mmmhelpers import plots_data

exercise = params.report.exercise is not None  # a workshop case: the truth's own columns only in the reveal
fig = plots_data.plot_correlations(data, None if exercise else truth)
plt.show()

# %% tags=["truth"]
#| fig-cap: "The same correlations with the truth's own columns (the demand the model does not see)."
if exercise and truth is not None and "demand" in truth:
    fig = plots_data.plot_correlations(data, truth)
    plt.show()

# %% tags=["truth"]
#| label: fig-confounder
#| fig-cap: "A simulated confounder: the true demand against the control the model sees in its place."
if truth is not None and "demand" in truth and data.controls:
    fig = plots_data.plot_confounder(data, truth, data.controls[0])
    plt.show()

# %% tags=["truth"]
if truth is not None and "demand" in truth and data.controls:
    display(md("Demand drives both sales and the spend plan here. The model only sees this proxy: whatever part of "
               "demand the proxy misses can be credited to the channels whose spend follows demand."))

# %% tags=["truth"]
from mmmhelpers.recovery import truth_table

if truth is None:
    display(md("No true parameters are known for this case: the recovery page will say so."))
else:
    display(table(truth_table(truth), caption="True parameters (saved to artifacts/truth.nc)"))
