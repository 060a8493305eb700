# %% [markdown]
# # Budget optimization
#
# How to split a budget across channels to maximize the expected media response, with its uncertainty,
# compared with the historical split.

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
from mmmhelpers.optimize import allocate
from mmmhelpers.report import allocation_headline

opt = params.optimization
if opt is None:
    display(md("**Skipped:** this case has no `optimization` section."))
else:
    data = artifacts.load_data(run_dir)
    idata = artifacts.load_idata(run_dir)
    alloc, rm = allocate(params, data, idata)
    alloc.save(run_dir)
    display(md(allocation_headline(alloc)))

# %%
if opt is not None:
    fig = plots.plot_allocation(alloc)
    plt.show()

# %%
if opt is not None and alloc.scenarios:
    fig = plots.plot_scenarios(alloc)
    plt.show()

# %%
from mmmhelpers.report import scenario_table

if opt is not None and alloc.scenarios:
    display(table(scenario_table(alloc), caption="Budget scenarios (optimal split at each budget)"))

# %% [markdown]
# Diminishing returns make the response grow more slowly than the budget; the response counts carryover for
# the adstock window after the last period.
