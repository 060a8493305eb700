"""mmmhelpers: the thin library behind the MMM report template.

One module per stage: ``config`` (params), ``data``, ``simulate``, ``transforms``, ``priors``,
``model``, ``fit``, ``recovery``, ``validate`` (out of sample), ``optimize``, ``plots``,
``pipeline`` (papermill + rendering) and ``cli``.
"""

__version__ = "0.1.0"
