"""The names a params file may use, and nothing else: a leaf module the schema reads without the compute stack.

Each registry here is the one list of its names; the modules that implement them (``transforms``' components,
``simulate``'s generators, ``priors``' model-level defaults) are keyed by these names and checked against them
(``tests/test_registry.py``), so ``import mmmhelpers.config`` loads no PyMC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["ADSTOCK_PARAMS", "SATURATION_PARAMS", "SATURATION_CEILING", "KNOWLEDGE_PRIORS", "KNOWLEDGE_PRIOR_KEYS",
           "GENERATOR_PANEL_DIMS", "MODEL_PRIOR_NAMES",
           "MEDIA_PARAMS", "Kind", "channel_kinds", "kind_params", "kinds_used", "joined_over_kinds"]

ADSTOCK_PARAMS: dict[str, tuple[str, ...]] = {  # model.adstock.type -> its parameters (adstock_<name>)
    "none": (),
    "geometric": ("alpha",),
    "delayed": ("alpha", "theta"),
    "weibull_cdf": ("lam", "k"),
    "weibull_pdf": ("lam", "k"),
}
SATURATION_PARAMS: dict[str, tuple[str, ...]] = {  # model.saturation.type -> its parameters (saturation_<name>)
    "logistic": ("lam", "beta"),
    "michaelis_menten": ("alpha", "lam"),
    "hill": ("slope", "kappa", "beta"),
    "tanh": ("b", "c"),
}
MEDIA_PARAMS: dict[str, dict[str, tuple[str, ...]]] = {"adstock": ADSTOCK_PARAMS, "saturation": SATURATION_PARAMS}
# model.saturation.type -> the parameter the response is proportional to (a ROAS prior sets it); tanh has none (its
# ceiling b also sits inside the curve)
SATURATION_CEILING: dict[str, str] = {"logistic": "beta", "michaelis_menten": "alpha", "hill": "beta"}
# the kinds of knowledge a prior may hold on a channel's media term, each fixing the saturation's ceiling over the
# observed periods: kind -> (params key under model, variable, its coord, what it means)
KNOWLEDGE_PRIORS: dict[str, tuple[str, str, str, str]] = {
    "roas": ("roas_priors", "media_roas", "roas_channel", "ROAS over the data"),
    "share": ("share_priors", "media_share", "share_channel", "share of the target over the data"),
    "mroas": ("mroas_priors", "media_mroas", "mroas_channel", "marginal ROAS over the data: the return on 1% more spend"),
    "cost_per_kpi": ("cost_per_kpi_priors", "media_cost_per_kpi", "cost_per_kpi_channel",
                     "cost per unit of the target over the data"),
}
KNOWLEDGE_PRIOR_KEYS: tuple[str, ...] = tuple(key for key, *_ in KNOWLEDGE_PRIORS.values())
GENERATOR_PANEL_DIMS: dict[str, tuple[str, ...]] = {  # simulate.generator -> the panel dims of its data
    "single_market": (),
    "geo_hierarchical": ("geo",),
    "confounded_demand": (),
    "time_varying_media": (),
    "sparse_channels": (),
    "mastering_mmm": (),
    "multi_objective": ("kpi",),
}
MODEL_PRIOR_NAMES: tuple[str, ...] = ("intercept", "gamma_control", "gamma_fourier", "gamma_trend", "trend_delta",
                                     "gamma_weekday", "gamma_holiday")  # model.priors

# A component's kind over the channels: one name (every channel the same, the usual case), or one per channel
# (``model.adstock.type_by_channel``, ``model.saturation.type_by_channel``) along the channel axis.
Kind = str | tuple[str, ...]


def channel_kinds(default: str, by_channel: Mapping[str, str], channels: Sequence[str]) -> Kind:
    """Each channel's kind (``by_channel``, else ``default``): one name when they all agree, else one per channel."""
    kinds = tuple(by_channel.get(ch, default) for ch in channels)
    return kinds[0] if len(set(kinds)) == 1 else kinds if kinds else default


def kinds_used(kind: Kind) -> tuple[str, ...]:
    """The distinct kinds of ``kind``, in first-seen order."""
    return (kind,) if isinstance(kind, str) else tuple(dict.fromkeys(kind))


def kind_params(table: Mapping[str, tuple[str, ...]], kind: Kind) -> tuple[str, ...]:
    """The parameters of ``kind`` (``table``: ADSTOCK_PARAMS or SATURATION_PARAMS): with one kind per channel, every
    parameter any of them has (a channel whose kind lacks one holds a placeholder there)."""
    return tuple(dict.fromkeys(p for k in kinds_used(kind) for p in table[k]))


def joined_over_kinds(names: Iterable[str]) -> set[str]:
    """The media parameters among a posterior's ``names`` that are joined over channels of different kinds
    (``<prefix>_<name>``, sampled as ``<prefix>_<name>_<kind>`` parts: a constant placeholder where a kind lacks it)."""
    names = set(names)
    return {f"{prefix}_{p}" for prefix, table in MEDIA_PARAMS.items() for kind, params in table.items()
            for p in params if f"{prefix}_{p}_{kind}" in names}
