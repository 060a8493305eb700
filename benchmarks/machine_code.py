"""Machine code on demand (``numba_codegen``) against numba's own finalize: cold compile and gradient times.

    .venv/bin/python benchmarks/machine_code.py [--repeats 2] [params files ...]

For each case, ``repeats`` pairs of new processes (taking turns) each compile the case's model on an empty PyTensor
base compiledir (``compile.compile_model`` in that process), one with ``numba_codegen.machine_code_on_demand`` (what
the product does) and one with numba finalizing every library as it compiles it (before), then time the compiled
log density + gradient (the fastest of five runs of 2,000 calls). The lever is worth it if the compile gets shorter
while the gradient stays as fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_profile import run_cold  # noqa: E402 - a sibling script
from numba_opt import TIMED, print_table  # noqa: E402

BEFORE = """
from contextlib import nullcontext
mc.machine_code_on_demand = nullcontext  # numba's own finalize of every library
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", default=["params/default.yaml", "tests/params/tiny_knowledge.yaml"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs: dict[tuple[str, str], list[dict]] = {}
    for params in args.params:
        for _ in range(args.repeats):
            for how, patch in (("numba's finalize (before)", BEFORE), ("machine code on demand", "")):
                out = run_cold(patch + TIMED, params)
                assert not out["hit"], out
                runs.setdefault((params, how), []).append(out)
                print(f"  {Path(params).stem} {how}: {out['compile']:.1f} s", file=sys.stderr, flush=True)
    print(f"Each cell: the median of {args.repeats} new processes on an empty cache (every run in brackets).\n")
    print_table(runs, "libraries")


if __name__ == "__main__":
    main()
