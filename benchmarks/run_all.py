"""`make bench`: run the benchmarks side by side in one session and write benchmarks/results.md.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--bench-python PATH]

Each benchmark is a script of this folder that prints a Markdown table; this runs them one after the
other (never in parallel: they time themselves) and collects their output under a header that says
when, where and with what they ran. Benchmarks that compare with pymc-marketing need it installed in a
separate environment (``--bench-python``, default ``.bench-venv/bin/python`` when it exists; see the
README): without it they are listed as skipped. Ratios measured in the same run are the figures to
quote; absolute seconds on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BENCHMARKS = [  # name, script and arguments, needs pymc-marketing, what it answers
    ("compile", ["compile_cache.py"], False, "(c) cold vs warm compile, each in a new process"),
    ("sampler", ["sampler_settings.py", "params/geo_hierarchical.yaml"], False,
     "(a) this project with each sampler setting"),
    ("mass_matrix", ["mass_matrix.py"], False, "(a) diagonal vs low-rank mass matrix on four cases"),
    ("laplace", ["laplace_mixture.py"], False, "(a) the Laplace mixture prior sampled through offsets vs centred"),
    ("parity", ["parity_pymc_marketing.py", "--pymc-draws", "media_tvp_example=50"], True,
     "(b) pymc-marketing vs this project, same data and priors"),
    ("optimizer", ["optimizer.py"], True, "(d) the budget optimizer against pymc-marketing's"),
    ("geos", ["geo_scaling.py"], False, "(e) fit time for 2, 4, 8 and 16 geos"),
    ("report", ["report_time.py"], False, "(f) `make report` wall time for the default case, cold and warm"),
    ("truth", ["truth_decisions.py"], False, "(g) decisions judged by the truth: claimed vs true gain, with the rules"),
]


def _header() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    libs = ", ".join(f"{p} {version(p)}" for p in ("pymc", "pytensor", "nutpie", "numba"))
    return (f"# Benchmark results\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit "
            f"{commit.stdout.strip() or '?'} · {os.cpu_count()} cores · {platform.machine()} · Python "
            f"{platform.python_version()} · {libs}\n\nWritten by `make bench` (benchmarks/run_all.py). "
            "Quote the ratios; absolute seconds depend on the machine and its load.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args()
    bench_python = args.bench_python if Path(args.bench_python).exists() else None
    parts = [_header()]
    for name, cmd, needs_pmm, what in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        python = bench_python if needs_pmm else sys.executable
        parts.append(f"\n## {name}: {what}\n")
        if python is None:
            parts.append("Skipped: pymc-marketing is not installed (see the README's benchmark section).\n")
            continue
        print(f"bench {name}: {' '.join(cmd)} ...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([python, str(HERE / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - t0
        print(f"bench {name}: {'done' if proc.returncode == 0 else 'FAILED'} in {took:.0f} s", flush=True)
        parts.append(f"`{' '.join(cmd)}` ({took:.0f} s)\n\n{proc.stdout.strip()}\n")
        if proc.returncode != 0:
            parts.append(f"\nFailed (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```\n")
        Path(args.out).write_text("".join(parts))  # keep what finished if a later one is interrupted
    Path(args.out).write_text("".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
