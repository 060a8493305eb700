"""Parity: three published pymc-marketing models fitted by mmmhelpers and by pymc-marketing 0.19.x.

Cases (``--cases``, default all three, in this order):

- ``multidimensional_example`` (params/multidimensional_example.yaml): case study 000, pymc-marketing's
  multidimensional MMM, two geos, per-geo max scaling on both sides (params/geo_hierarchical.yaml is the
  same model on simulated data);
- ``budget_allocation`` (params/budget_allocation.yaml): the single-market model of pymc-marketing's "MMM
  Example" notebook (data/pymc-marketing/mmm_example.csv), controls event_1, event_2 and t left unscaled;
- ``media_tvp_example`` (params/media_tvp_example.yaml): the time-varying media model (an HSGP multiplier
  shared by the channels, Michaelis-Menten saturation); its ``model_variants`` are not fitted here.

Each case's own data and priors are fitted three times: by mmmhelpers (``mmmhelpers.fit.sample``, nutpie,
cached compile), and by pymc-marketing's multidimensional ``MMM`` (no extra dims for a single market) with
PyMC's NUTS and with nutpie, all with the params file's chains, tune, draws and target_accept. The
pymc-marketing model is translated from the params file itself (priors, dims, scaling, HSGP settings), so the
two sides cannot drift apart; features the translation does not cover raise an error. Per case it prints, per
scalar parameter, both posterior means and sds and |difference| / posterior sd against pymc-marketing's nutpie
fit and its pm.sample fit, and the ratio of the posterior sds (parity: |difference| / sd < 0.5 and sd ratio within
[0.8, 1.25] everywhere against nutpie: the same centre and the same width), the parameters found on one side only, the
channel contributions compared date by date, then time, min bulk ESS (over the compared parameters) and min ESS
per second of each run; a summary table ends the output.

PyMC's pm.sample is slow on the time-varying case (about 10 times nutpie's time per draw on its 200 HSGP basis
functions: hours for 1000 + 1000 draws on 4 chains). ``--pymc-draws media_tvp_example=200`` gives its pm.sample
run 200 draws after 200 tuning steps (``--pymc-draws N``: every case's); min ESS per second stays comparable,
although the shorter adaptation may cost pm.sample some efficiency. ``make bench`` (run_all.py) passes that.

The time-varying case: pymc-marketing 0.19 maps the latent GP through softplus and divides by its mean
(``SoftPlusHSGP``). Ours does the same with ``time_varying_media.link: softplus``; then the GP hyperparameters
(eta, ls; ours ``media_temporal_latent_*``, theirs ``media_temporal_latent_multiplier_raw_*``) are compared like
any parameter. With our default ``link: exp`` (``exp(f - mean f)``) they scale differently: they are shown but
not part of the verdict, and the multiplier is compared date by date after dividing ours by its mean.

Our fit uses the params file's ``fit.mass_matrix`` (the timing table names it); pymc-marketing's runs use their
samplers' defaults (diagonal).

pymc-marketing is the optional ``benchmark`` extra; keep it out of the project's .venv (it may move pins):

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install -r requirements.txt pymc-marketing==0.19.2
    /work/bench-venv/bin/pip install --no-deps -e .
    /work/bench-venv/bin/python benchmarks/parity_pymc_marketing.py [--cases NAME ...] [--draws 1000] \
        [--pymc-draws [CASE=]N ...]
    /work/bench-venv/bin/python benchmarks/parity_pymc_marketing.py params/geo_hierarchical.yaml  # other files
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import HSGPSpec, load_params
from mmmhelpers.fit import sample
from mmmhelpers.priors import MODEL_PRIORS, LaplaceMixture, LogNormalMeanStd, parse_prior, with_dims
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS

ROOT = Path(__file__).resolve().parent.parent
CASES = {name: ROOT / "params" / f"{name}.yaml"
         for name in ("multidimensional_example", "budget_allocation", "media_tvp_example")}
THRESHOLD = 0.5
SD_RATIO = (0.8, 1.25)  # our posterior sd / pymc-marketing's: the same width within Monte Carlo error and a margin
OURS = "mmmhelpers"
PMM = {"pymc": "pymc-marketing (pm.sample)", "nutpie": "pymc-marketing (nutpie)"}
# Our name -> pymc-marketing's, where they differ: the HSGP hyperparameters. Under our exp link they are not
# the same parameters as pymc-marketing's (softplus) and stay out of the verdict (see link_of).
NAME_MAP = {"media_temporal_latent_eta": "media_temporal_latent_multiplier_raw_eta",
            "media_temporal_latent_ls": "media_temporal_latent_multiplier_raw_ls"}
# Scalar posterior variables that are derived quantities, not parameters.
DERIVED = {"total_media_contribution_original_scale", "media_temporal_latent_multiplier_f_mean"}
MULTIPLIER = "media_temporal_latent_multiplier"


# -- the params file as a pymc-marketing model ------------------------------------------------------------------

def _pmm_prior(spec, where: str, dims: tuple[str, ...]):
    """A params-file prior as the pymc-marketing prior it stands for, with ``dims``."""
    return _translate(with_dims(parse_prior(spec, where), dims))


def _translate(prior):
    from pymc_extras.prior import Censored
    from pymc_marketing.special_priors import LaplacePrior, LogNormalPrior

    if isinstance(prior, LogNormalMeanStd):
        return LogNormalPrior(mean=_translate(prior.mean), std=_translate(prior.std), dims=tuple(prior.dims),
                              centered=prior.centered)
    if isinstance(prior, LaplaceMixture):  # pymc-marketing's non-centred LaplacePrior (ours samples it centred)
        return LaplacePrior(mu=_translate(prior.mu), b=_translate(prior.b), dims=tuple(prior.dims), centered=False)
    if isinstance(prior, Censored):
        raise NotImplementedError("a censored likelihood has no pymc-marketing counterpart here")
    return prior  # a pymc_extras Prior (nested parameters are Priors or numbers), a number or an array


def _dims(spec, default: tuple[str, ...]) -> tuple[str, ...]:
    dims = spec.get("dims") if isinstance(spec, dict) else None
    return tuple([dims] if isinstance(dims, str) else dims or default)


def _component_priors(kind_spec, registry, prefix: str) -> dict:
    comp = registry[kind_spec.type]
    out = {}
    for name in comp.params:
        spec = kind_spec.priors.get(name, comp.defaults[name])
        out[name] = _pmm_prior(spec, f"{prefix}.{name}", _dims(spec, ("channel",)))
    return out


def _hsgp_config(value: bool | HSGPSpec, data):
    """pymc-marketing's ``HSGPKwargs`` for our HSGP spec: the same m, boundary L (weeks from the midpoint; ours
    defaults to c times half the span), eta and length-scale priors, Matern 5/2."""
    from pymc_marketing.hsgp_kwargs import HSGPKwargs

    spec = value if isinstance(value, HSGPSpec) else HSGPSpec()
    if spec.per_channel:
        raise NotImplementedError("a per-channel media multiplier is not translated")
    steps = np.unique(np.diff(data.dates.values).astype("timedelta64[D]").astype(int))
    if list(steps) != [7]:  # pymc-marketing's time index counts periods, ours weeks
        raise NotImplementedError(f"the HSGP translation needs weekly dates (steps {steps} days)")
    half_range = (data.n_dates - 1) / 2
    L = spec.L if spec.L is not None else spec.c * half_range
    return HSGPKwargs(m=spec.m, L=L, eta_lam=spec.eta_lam, ls_mu=spec.ls_mu, ls_sigma=spec.ls_sigma, cov_func=None)


def pymc_marketing_mmm(params, data):
    """The params file's model written with pymc-marketing's multidimensional MMM (unfitted)."""
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation, MichaelisMentenSaturation
    from pymc_marketing.mmm.multidimensional import MMM
    from pymc_marketing.mmm.scaling import Scaling, VariableScaling

    spec, panel = params.model, tuple(data.dims)  # names from the data: a simulated case's params have none
    controls_scaled = bool(data.controls) and not np.allclose(np.abs(data.C).max(axis=0), 1.0)  # 0/1 events: as is
    unsupported = [name for name, on in [
        ("trend", spec.trend), ("time_varying_intercept", spec.time_varying_intercept),
        ("lift tests", spec.lift_tests is not None or spec.lift_tests_from_truth),
        ("unscaled channels or target", "none" in (spec.scaling.channel, spec.scaling.target)),
        ("max-scaled controls (pymc-marketing leaves controls raw)",
         spec.scaling.controls != "none" and controls_scaled),
        (f"adstock {spec.adstock.type}", spec.adstock.type != "geometric"),
        (f"saturation {spec.saturation.type}", spec.saturation.type not in ("logistic", "michaelis_menten")),
    ] if on]
    if unsupported:
        raise NotImplementedError(f"{params.case}: not translated to pymc-marketing: {', '.join(unsupported)}")

    adstock = GeometricAdstock(l_max=spec.adstock.l_max, normalize=spec.adstock.normalize,
                               priors=_component_priors(spec.adstock, ADSTOCKS, "adstock"))
    saturation_cls = {"logistic": LogisticSaturation, "michaelis_menten": MichaelisMentenSaturation}
    saturation = saturation_cls[spec.saturation.type](priors=_component_priors(spec.saturation, SATURATIONS,
                                                                                 "saturation"))
    priors = {k: spec.priors.get(k, v) for k, v in MODEL_PRIORS.items()}
    model_config = {
        "intercept": _pmm_prior(priors["intercept"], "intercept", _dims(priors["intercept"], panel)),
        "likelihood": _pmm_prior(spec.likelihood, "likelihood", ("date", *panel)),
    }
    if data.controls:
        model_config["gamma_control"] = _pmm_prior(priors["gamma_control"], "gamma_control",
                                                   _dims(priors["gamma_control"], ("control",)))
    if spec.yearly_seasonality:
        model_config["gamma_fourier"] = _pmm_prior(priors["gamma_fourier"], "gamma_fourier",
                                                   _dims(priors["gamma_fourier"], ("fourier_mode",)))
    if spec.time_varying_media:
        model_config["media_tvp_config"] = _hsgp_config(spec.time_varying_media, data)
    # ours: max over dates per panel cell, or pooled over scaling.dims; pymc-marketing: max over date + dims
    pooled = tuple(spec.scaling.dims)
    scaling = Scaling(target=VariableScaling(method="max", dims=pooled),
                      channel=VariableScaling(method="max", dims=pooled))
    return MMM(date_column=data.date_column, channel_columns=list(data.channels),
               target_column=data.target_column, control_columns=list(data.controls) or None,
               dims=panel, yearly_seasonality=spec.yearly_seasonality or None, adstock=adstock,
               saturation=saturation, time_varying_media=bool(spec.time_varying_media), model_config=model_config,
               scaling=scaling)


def pymc_marketing_fit(params, data, sampler: str, draws: int | None = None):
    """Fit :func:`pymc_marketing_mmm` with ``sampler`` (nutpie or pymc) and the case's fit settings (``draws``:
    that many draws and tuning steps instead)."""
    df = data.to_frame()
    target = params.data.target_column
    mmm = pymc_marketing_mmm(params, data)
    fit = params.fit if draws is None else params.fit.model_copy(update={"draws": draws, "tune": draws})
    t0 = time.perf_counter()
    cores = fit.cores or min(fit.chains, os.cpu_count() or 1)  # the same cores as ours (PyMC may pick 1 here)
    idata = mmm.fit(df.drop(columns=target), df[target], progressbar=False, random_seed=params.seed,
                    nuts_sampler=sampler, chains=fit.chains, draws=fit.draws, tune=fit.tune,
                    target_accept=fit.target_accept, cores=cores)
    return idata, time.perf_counter() - t0


# -- comparison --------------------------------------------------------------------------------------------------

def _parameters(posterior, panel: tuple[str, ...]) -> set[str]:
    """Posterior variables that are parameters: no date or HSGP-basis dim, not a derived quantity, not a
    sampler's unconstrained copy (``*_log__``, which pymc-marketing's nutpie run keeps)."""
    allowed = {"channel", "control", "fourier_mode", *panel}
    return {name for name, da in posterior.data_vars.items()
            if set(da.dims[2:]) <= allowed and name not in DERIVED and not name.endswith("__")}


def matched(ours, theirs, panel: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
    """Our parameters also found in pymc-marketing's posterior (ours names), ours only, theirs only."""
    mine, other = _parameters(ours.posterior, panel), _parameters(theirs.posterior, panel)
    both = sorted(n for n in mine if NAME_MAP.get(n, n) in other)
    return (both, sorted(n for n in mine if NAME_MAP.get(n, n) not in other),
            sorted(other - {NAME_MAP.get(n, n) for n in both}))


def _pair(a, b):
    """Per scalar element of ``a``: label and both sides' draws (``b`` aligned to ``a`` by dim and coordinate)."""
    b = b.transpose(*a.dims)
    for idx in np.ndindex(*a.shape[2:]):
        sel = {d: a[d].values[i] for d, i in zip(a.dims[2:], idx)}
        label = a.name + ("[" + ", ".join(str(v) for v in sel.values()) + "]" if idx else "")
        yield label, a.values[(slice(None), slice(None), *idx)].ravel(), b.sel(sel).values.ravel()


def _z(sa, sb) -> float:
    sd = float(np.sqrt((sa.var() + sb.var()) / 2))
    return abs(sa.mean() - sb.mean()) / sd if sd > 0 else 0.0


def link_of(params) -> str | None:
    """The media multiplier's link (None without one); pymc-marketing's is softplus."""
    tvm = params.model.time_varying_media
    return getattr(tvm, "link", "exp") if tvm else None


def compare(ours, nut, pmc, names: list[str], info_only: set[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        other = NAME_MAP.get(name, name)
        for (label, sa, sb), (_, _, sc) in zip(_pair(ours.posterior[name], nut.posterior[other]),
                                               _pair(ours.posterior[name], pmc.posterior[other])):
            rows.append({"parameter": label + (" *" if name in info_only else ""), "mmmhelpers mean": sa.mean(),
                         "mmmhelpers sd": sa.std(), "pmm nutpie mean": sb.mean(), "pmm nutpie sd": sb.std(),
                         "|diff|/sd nutpie": _z(sa, sb), "|diff|/sd pm.sample": _z(sa, sc),
                         "sd ratio nutpie": sa.std() / sb.std() if sb.std() > 0 else np.nan,
                         "verdict": name not in info_only})
    return pd.DataFrame(rows)


def _z_all(a, b) -> np.ndarray:
    """|diff of means| / pooled sd of every element of ``a`` and ``b`` (dates by position, other dims by coordinate)."""
    b = b.transpose(*a.dims)
    b = b.sel({d: a[d].values for d in a.dims[2:] if d != "date"})
    if b.shape[2:] != a.shape[2:]:
        raise ValueError(f"{a.name}: shapes {a.shape[2:]} and {b.shape[2:]} differ")
    va, vb = a.values.reshape(-1, *a.shape[2:]), b.values.reshape(-1, *b.shape[2:])
    sd = np.sqrt((va.var(axis=0) + vb.var(axis=0)) / 2)
    return np.abs(va.mean(axis=0) - vb.mean(axis=0)) / np.where(sd > 0, sd, np.inf)


def series_lines(ours, theirs, renormalize: bool) -> list[str]:
    """Date-by-date checks (not in the verdict): the channel contributions (model scale), and the time-varying
    media multiplier; ``renormalize`` (our exp link) divides ours by its mean over the dates in each draw, as
    pymc-marketing's is (exp(f - mean f) has geometric mean one, so an arithmetic mean of at least one: that
    level moves into the saturation's ceiling)."""
    lines = []
    for name in ("channel_contribution", MULTIPLIER):
        if name not in ours.posterior or name not in theirs.posterior:
            continue
        a = ours.posterior[name]
        renorm = renormalize and name == MULTIPLIER
        z = _z_all(a / a.mean("date") if renorm else a, theirs.posterior[name])
        what = name + (" (ours / its mean over dates)" if renorm else "")
        lines.append(f"{what}: {z.size} cells vs nutpie, max |diff| / sd {z.max():.3f}, median {np.median(z):.3f}")
    return lines


def min_ess(idata, names: list[str]) -> float:
    return float(az.ess(idata, var_names=names).to_array().min())


# -- one case ----------------------------------------------------------------------------------------------------

def run_case(path: Path, draws: int | None, pymc_draws: dict[str, int]) -> dict:
    params = load_params(path)
    if draws:
        params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": draws, "tune": draws})})
    data, _ = prepare_data(params)
    panel = tuple(params.data.dims)
    fit = params.fit
    print(f"\n## {params.case}: {params.title}\n\n`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`"
          f" · {fit.chains} chains × {fit.draws} draws + {fit.tune} tune · target_accept {fit.target_accept}\n",
          flush=True)

    t0 = time.perf_counter()
    ours, timings = sample(model_for(params, data), fit, seed=params.seed, progress=False)
    runs = {OURS: (ours, time.perf_counter() - t0)}
    ours_label = f"mmmhelpers (nutpie {fit.mass_matrix} mass matrix, compile cache {timings['compile_cache']})"
    short = pymc_draws.get(params.case, pymc_draws.get("*"))
    short = short if short is not None and short < fit.draws else None
    for sampler, label in PMM.items():
        runs[label] = pymc_marketing_fit(params, data, sampler, draws=short if sampler == "pymc" else None)
    nut, pmc = runs[PMM["nutpie"]][0], runs[PMM["pymc"]][0]

    names, ours_only, theirs_only = matched(ours, nut, panel)
    link = link_of(params)
    info_only = set(NAME_MAP) if link == "exp" else set()
    table = compare(ours, nut, pmc, names, info_only)
    shown = table.drop(columns="verdict")
    print("```")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("```")
    if not table["verdict"].all():
        print("\n\\* not in the verdict: GP hyperparameters of different links (ours exp, pymc-marketing softplus)")
    print(f"\ncompared: {', '.join(f'{n} = {NAME_MAP[n]}' if n in NAME_MAP else n for n in names)}")
    print(f"skipped, mmmhelpers only: {', '.join(ours_only) or '-'}")
    print(f"skipped, pymc-marketing only: {', '.join(theirs_only) or '-'}")
    if link:
        print(f"media multiplier link: ours {link}, pymc-marketing softplus")
    for line in series_lines(ours, nut, renormalize=link == "exp"):
        print(f"{line} (not in the verdict)")
    judged = table[table["verdict"]]
    worst = float(judged["|diff|/sd nutpie"].max())
    worst_pmc = float(judged["|diff|/sd pm.sample"].max())
    ratios = judged["sd ratio nutpie"].dropna()
    widths = (float(ratios.min()), float(ratios.max())) if len(ratios) else (np.nan, np.nan)
    same_width = bool(len(ratios)) and SD_RATIO[0] <= widths[0] and widths[1] <= SD_RATIO[1]
    verdict = "PARITY" if worst < THRESHOLD and same_width else "NO PARITY"
    print(f"\nmax |diff| / sd vs pymc-marketing (nutpie) = {worst:.3f} over {len(judged)} scalar parameters, sd ratio "
          f"{widths[0]:.2f} to {widths[1]:.2f} -> {verdict} (thresholds {THRESHOLD} and {SD_RATIO[0]} to "
          f"{SD_RATIO[1]}); vs pm.sample: {worst_pmc:.3f}")

    print("\n| run | wall s (compile+sample+ppc) | sampling s | min bulk ESS | min ESS / wall s | min ESS / sampling s "
          "| divergences |")
    print("|---|---|---|---|---|---|---|")
    rates, sampling_rates = {}, {}
    for label, (idata, secs) in runs.items():
        ess = min_ess(idata, names if label == OURS else [NAME_MAP.get(n, n) for n in names])
        div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else -1
        sampled = timings["sampling_seconds"] if label == OURS else float(idata.posterior.attrs["sampling_time"])
        rates[label], sampling_rates[label] = ess / secs, ess / sampled
        shown = ours_label if label == OURS else label
        shown = f"{label[:-1]}, {short} draws + {short} tune)" if label == PMM["pymc"] and short else shown
        print(f"| {shown} | {secs:.1f} | {sampled:.1f} | {ess:.0f} | {ess / secs:.3g} | {ess / sampled:.3g} | {div} |")
    best = max(rates[label] for label in PMM.values())
    ratio = rates[OURS] / best if best > 0 else float("inf")
    best_sampling = max(sampling_rates[label] for label in PMM.values())
    print(f"\nmmmhelpers / pymc-marketing's best min-ESS per wall second: {ratio:.1f}x, per sampling second: "
          f"{sampling_rates[OURS] / best_sampling:.1f}x. Caches: ours {timings['compile_cache']} (compile "
          f"{timings['compile_seconds']:.1f} s, sampling {timings['sampling_seconds']:.1f} s); pymc-marketing's "
          "PyTensor C and numba caches as this machine had them (warm after the first run); cold vs cold is "
          "cold_start.py's table", flush=True)
    return {"case": params.case, "ours": rates[OURS], "pymc": rates[PMM["pymc"]], "nutpie": rates[PMM["nutpie"]],
            "ratio": ratio, "worst": worst, "n": len(judged), "verdict": verdict, "pymc_draws": short,
            "widths": widths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", help="params files to compare instead of the named cases")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=None,
                        help="the named cases to run (default: all three)")
    parser.add_argument("--draws", type=int, default=None, help="override fit.draws and fit.tune of every case")
    parser.add_argument("--pymc-draws", nargs="+", default=[], metavar="[CASE=]N",
                        help="pymc-marketing's pm.sample runs take N draws and N tuning steps (where fewer than the "
                             "case's): N for every case, CASE=N for one; min ESS per second stays comparable")
    args = parser.parse_args()
    if args.params and args.cases:
        parser.error("give params files or --cases, not both")
    pymc_draws = {}
    for item in args.pymc_draws:
        case, _, n = item.rpartition("=")
        if not n.isdigit() or int(n) < 1:
            parser.error(f"--pymc-draws: expected N or CASE=N, got {item!r}")
        pymc_draws[case or "*"] = int(n)
    paths = [Path(p).resolve() for p in args.params] or [CASES[c] for c in (args.cases or CASES)]
    pd.set_option("display.width", 200)
    # a per-channel prior parameter given as a list (budget_allocation's saturation beta sigma) takes the prior's dims
    warnings.filterwarnings("ignore", message="Implicit conversion of array-like parameter")

    rows = [run_case(path, args.draws, pymc_draws) for path in paths]
    print("\n## Summary\n")
    print("Min-ESS per wall second (compile + sampling + posterior predictive), one seed; the caches as found.\n")
    print("| case | mmmhelpers min-ESS/s | pmm pm.sample min-ESS/s | pmm nutpie min-ESS/s | ratio vs best "
          "| max \\|diff\\|/sd | sd ratio | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        pmc = f"{r['pymc']:.3g}" + (f" ({r['pymc_draws']} + {r['pymc_draws']} draws)" if r["pymc_draws"] else "")
        print(f"| {r['case']} | {r['ours']:.3g} | {pmc} | {r['nutpie']:.3g} | {r['ratio']:.1f}x "
              f"| {r['worst']:.3f} ({r['n']}) | {r['widths'][0]:.2f} to {r['widths'][1]:.2f} | {r['verdict']} |")


if __name__ == "__main__":
    main()
