"""Where a cold compile's time goes: the default case's model compiled on an empty cache, under cProfile.

    .venv/bin/python benchmarks/compile_profile.py [params/default.yaml]

A new process with an empty PyTensor base compiledir and numba cache compiles the case's model
(``compile.compile_model`` in that process: no child) under cProfile. The table splits the wall time into what
the issue asks about: PyTensor's graph rewrites, numba's type inference, numba's lowering and LLVM's code
generation, nutpie and this project's wrapper, and the rest. Each phase is the
sum of its functions' own time (cProfile's tottime: callees not included, so the phases partition the profile);
cProfile slows Python-heavy phases more than LLVM's native code, so quote the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# phase -> path fragments of the files whose own time (cProfile's tottime, not counting callees) belongs to it;
# a partition: every profiled second lands in exactly one phase (the first that matches, else "the rest")
PHASES = {
    "LLVM (optimization, machine code: llvmlite's calls into LLVM)": ["llvmlite/"],
    "numba type inference": ["numba/core/typeinfer.py", "numba/core/typing/", "numba/core/types/"],
    "numba lowering to LLVM IR": ["numba/core/lowering.py", "numba/core/base.py", "numba/core/cgutils.py",
                                  "numba/np/", "numba/cpython/", "numba/core/imputils.py", "numba/core/callconv.py"],
    "numba, other (bytecode analysis, passes, caching)": ["numba/"],
    "PyTensor (graph rewrites, numba dispatch codegen)": ["pytensor/"],
    "nutpie and this project's compile wrapper": ["nutpie/", "mmmhelpers/"],
}

CASE_MODEL = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from mmmhelpers import compile as mc
from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
params = load_params(sys.argv[1])
data, _ = prepare_data(params)
mmm = model_for(params, data)
"""  # how a child script starts: the case's model (``mmm``) built in a new process; ``mc`` is mmmhelpers.compile


def run_cold(script: str, params: str, env: dict[str, str] | None = None) -> dict:
    """``script`` after :data:`CASE_MODEL`, in a new process on an empty PyTensor base compiledir and numba cache
    (with ``env`` added to the environment); the JSON its last line prints."""
    extra = env or {}
    with tempfile.TemporaryDirectory(prefix="cold_compile_") as tmp:
        env = {**os.environ, **extra, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(Path(tmp) / "numba"),
               "PYTENSOR_FLAGS": f"base_compiledir={Path(tmp) / 'pytensor'}"}
        proc = subprocess.run([sys.executable, "-c", CASE_MODEL + script, params], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{params} {extra or ''} failed in its new process:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


PROFILED = """
import cProfile, pstats
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
mc.compile_model(mmm.model, mc.UNCONSTRAINED_ONLY, in_child=False)  # as the fit compiles it
prof.disable()
wall = time.perf_counter() - t0
stats = pstats.Stats(prof)
rows = [(f[0], f[2], s[2]) for f, s in stats.stats.items()]  # file, function, own seconds (tottime)
print(json.dumps({"wall": wall, "rows": rows, "hit": mc.last_info.hit}))
"""


def _phase_seconds(rows: list[tuple[str, str, float]]) -> dict[str, float]:
    """Each phase's own profiled seconds (every function's tottime in the first phase whose files match)."""
    out = dict.fromkeys([*PHASES, "the rest (Python, imports on first use)"], 0.0)
    for file, _, own in rows:
        phase = next((p for p, parts in PHASES.items() if any(part in file for part in parts)),
                     "the rest (Python, imports on first use)")
        out[phase] += own
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "default.yaml"))
    args = parser.parse_args()
    out = run_cold(PROFILED, args.params)
    phases = _phase_seconds(out["rows"])
    wall = out["wall"]
    print(f"case {Path(args.params).stem}: one cold compile under cProfile ({wall:.1f} s wall; cache hit: {out['hit']})\n")
    total = sum(phases.values())
    print("| phase | seconds (profiled, own time) | share |\n|---|---|---|")
    for phase, secs in phases.items():
        print(f"| {phase} | {secs:.1f} | {secs / total:.0%} |")
    print(f"\nProfiled own time adds up to {total:.1f} s of the {wall:.1f} s wall (the rest waits on locks and I/O).")

if __name__ == "__main__":
    main()
