"""mmmhelpers: the thin library behind the MMM report template.

One module per stage: ``config`` (params), ``data``, ``simulate``, ``transforms``, ``priors``,
``model``, ``fit``, ``recovery``, ``out_of_sample``, ``optimize``, ``plots``,
``pipeline`` (papermill + rendering), ``kernels`` (the Jupyter kernels stages run in) and ``cli``.
"""

__version__ = "0.1.0"

import warnings as _warnings

# PyTensor's C backend warns on every pip install that it found no BLAS; our sampling runs through
# nutpie/numba, so the hint is noise in reports and terminals.
_warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
