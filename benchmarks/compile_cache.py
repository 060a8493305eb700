"""Compile time of nutpie's compile and of compile.compile_model, each in a new process.

    .venv/bin/python benchmarks/compile_cache.py [params/default.yaml params/geo_hierarchical.yaml] [--repeats 2]

Per case: nutpie.compile_pymc_model ``repeats`` times; then compile_model with its cache entries for
the case removed (cold: the callbacks are compiled and cached), ``repeats`` times warm, once warm
on other data values of the same shapes (a refresh: the simulation seed + 1) and once warm with other
numbers in a prior (the intercept's numbers times 1.5: an analyst trying another prior, or a refresh
carrying the last posterior). Each run is a fresh Python process that builds the model and times the
compile call alone (imports and the model build are not counted); PyTensor's own per-node numba cache
is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.calibration import model_for

path, how, variant = sys.argv[1], sys.argv[2], sys.argv[3]
params = load_params(path)
if variant == "refresh":
    params = params.model_copy(update={"seed": params.seed + 1})
if variant == "priors":
    from mmmhelpers.priors import MODEL_PRIORS
    spec = dict(params.model.priors.get("intercept", MODEL_PRIORS["intercept"]))
    spec.update({k: 1.5 * v for k, v in spec.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    model = params.model.model_copy(update={"priors": {**params.model.priors, "intercept": spec}})
    params = params.model_copy(update={"model": model})
data, _ = prepare_data(params)
mmm = model_for(params, data)
from mmmhelpers import compile as mc
if how == "key":
    print(json.dumps({"key": mc.key_of(mmm.model)}))
    sys.exit()
import nutpie
t0 = time.perf_counter()
compiled = nutpie.compile_pymc_model(mmm.model) if how == "nutpie" else mc.compile_model(mmm.model, mc.UNCONSTRAINED_ONLY)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "hit": mc.last_info.hit if how == "ours" else None}))
"""


def child(path: str, how: str, variant: str = "") -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, path, how, variant or "-"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def forget(key: str) -> int:
    """Remove compile_model's cache entries of ``key`` (the callbacks and their description)."""
    from mmmhelpers.compile import cache_dir

    files = [p for p in cache_dir().iterdir() if key in p.name]
    for p in files:
        p.unlink()
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", default=[str(ROOT / "params" / n) for n in ("default.yaml",
                                                                                         "geo_hierarchical.yaml")])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["nutpie", "ours"], help="time one of the two compiles only")
    args = parser.parse_args()
    print("| case | compile | run | seconds | cache hit |\n|---|---|---|---|---|")
    for path in args.params:
        case = Path(path).stem
        for k in range(args.repeats if args.only != "ours" else 0):
            print(f"| {case} | nutpie.compile_pymc_model | {k + 1} | {child(path, 'nutpie')['seconds']:.1f} | – |",
                  flush=True)
        if args.only == "nutpie":
            continue
        forget(child(path, "key")["key"])
        runs = [("cold", ""), *[(f"warm {k + 1}", "") for k in range(args.repeats)],
                ("warm, refreshed data", "refresh"), ("warm, other prior numbers", "priors")]
        for label, variant in runs:
            r = child(path, "ours", variant)
            print(f"| {case} | compile_model | {label} | {r['seconds']:.1f} | {r['hit']} |", flush=True)


if __name__ == "__main__":
    main()
