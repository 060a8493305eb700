"""A lower LLVM optimization level for the cold compile: numba's NUMBA_OPT against the compile and gradient times.

    .venv/bin/python benchmarks/numba_opt.py [--levels 3 2 1] [--repeats 3] [params files ...]

For each case and each level, ``repeats`` new processes each compile the case's model on an empty PyTensor base
compiledir and numba cache (``compile.compile_model`` in that process) with ``NUMBA_OPT`` set, then time one
log-density + gradient evaluation of the compiled callback (the fastest of five runs of 2,000 calls: what each
leapfrog step costs). The table gives the medians (every run in brackets): the lever is worth it if the compile
gets shorter while the gradient stays as fast (a slower gradient costs every step of every fit of that structure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_profile import run_cold  # noqa: E402 - a sibling script

TIMED = """
import numba
from mmmhelpers.fit import time_gradient
t0 = time.perf_counter()
compiled = mc.compile_model(mmm.model, mc.UNCONSTRAINED_ONLY, in_child=False)  # as the fit compiles it
wall = time.perf_counter() - t0
gradient = min(time_gradient(compiled, 2000) for _ in range(5))
print(json.dumps({"opt": numba.config.OPT, "compile": wall, "gradient": gradient, "hit": mc.last_info.hit}))
"""


def one_run(params: str, level: int) -> dict:
    """A new process on an empty cache at ``NUMBA_OPT=level``: its compile seconds and gradient seconds."""
    out = run_cold(TIMED, params, {"NUMBA_OPT": str(level)})
    assert not out["hit"] and int(out["opt"]) == level, out  # truly cold, at the level asked
    return out


def _cell(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({', '.join(f'{v:{fmt}}' for v in values)})"


def print_table(runs: dict[tuple[str, Any], list[dict]], column: str) -> None:
    """The runs (by params file and variant) as a table of medians: cold compile seconds and gradient µs."""
    print(f"| case | {column} | cold compile s | gradient µs |\n|---|---|---|---|")
    for (params, variant), done in runs.items():
        print(f"| {Path(params).stem} | {variant} | {_cell([r['compile'] for r in done], '.1f')} | "
              f"{_cell([r['gradient'] * 1e6 for r in done], '.1f')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", default=["params/default.yaml", "params/multidimensional_example.yaml"])
    parser.add_argument("--levels", type=int, nargs="+", default=[3, 2, 1])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"Each cell: the median of {args.repeats} new processes on an empty cache (every run in brackets); "
          "NUMBA_OPT 3 is numba's default.\n")
    runs: dict[tuple[str, int], list[dict]] = {}
    for params in args.params:
        for _ in range(args.repeats):  # the levels take turns, so that the machine's drift falls on each alike
            for level in args.levels:
                runs.setdefault((params, level), []).append(one_run(params, level))
                print(f"  {Path(params).stem} NUMBA_OPT={level}: {runs[params, level][-1]['compile']:.1f} s",
                      file=sys.stderr, flush=True)
    print_table(runs, "NUMBA_OPT")

if __name__ == "__main__":
    main()
