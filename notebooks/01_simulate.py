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

from mmmhelpers import artifacts, plots
from mmmhelpers.report import md, setup, table

params = setup(params_path, quick)

# %%
from mmmhelpers.targets import save_targets, split_targets

data, truth = artifacts.prepare_data(params)
if params.targets:  # one model per target: the first target's data are the main model's
    save_targets(run_dir, split_targets(params, data, truth))
else:
    artifacts.save_data(run_dir, data, truth)
source = (f"simulated by the `{params.simulate.generator}` generator (seed {params.seed})"
          if params.data.path is None else f"loaded from `{params.data.path}`")
panel = ", ".join(f"{len(v)} {d}" for d, v in data.panel.items()) or "a single market"
targets = "; ".join(f"{t.title} ({', '.join(f'{d} = {c}' for d, c in t.where.items()) or t.column})"
                    for t in params.targets)
md(f"**{params.title}.** {params.description} The data were {source}: {data.n_dates} {data.period}s "
   f"({data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d}), {panel}, channels {', '.join(data.channels)}, "
   f"controls {', '.join(data.controls) or 'none'}."
   + (f" **{len(params.targets)} targets, one model each:** {targets}. The fit, recovery and out-of-sample pages "
      f"follow the first; the fit page checks every target's fit and the budget page plans for all of them."
      if params.targets else ""))

# %%
from mmmhelpers.checks import check_warnings

warnings_found = check_warnings(params, data)
if warnings_found:
    display(md("**Worth a look before trusting the results:**\n\n" + "\n".join(f"- {w}" for w in warnings_found)))

# %%
from mmmhelpers.report import data_summary

table(data_summary(data), percent=("weeks with spend",), caption="Spend per channel")

# %%
#| label: fig-data
#| fig-cap: "Target and media spend over time."
fig = plots.plot_data(data)
plt.show()

# %% [markdown]
# Spend that moves together with the target is what makes attribution hard; bursty channels (zero most weeks)
# identify carryover best.

# %%
#| label: fig-correlations
#| fig-cap: "Correlations between the weekly columns: spend that rises and falls with the target is hard to credit."
from mmmhelpers import plots_data

fig = plots_data.plot_correlations(data, truth)
plt.show()

# %%
#| label: fig-confounder
#| fig-cap: "A simulated confounder: the true demand against the control the model sees in its place."
if truth is not None and "demand" in truth and data.controls:
    fig = plots_data.plot_confounder(data, truth, data.controls[0])
    plt.show()

# %%
if truth is not None and "demand" in truth and data.controls:
    display(md("Demand drives both sales and the spend plan here. The model only sees this proxy: whatever part of "
               "demand the proxy misses can be credited to the channels whose spend follows demand."))

# %%
from mmmhelpers.recovery import truth_table

if truth is None:
    display(md("No true parameters are known for this case: the recovery page will say so."))
else:
    display(table(truth_table(truth), caption="True parameters (saved to artifacts/truth.nc)"))
