"""`make bench`: run the benchmarks side by side in one session and write benchmarks/results.md.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--bench-python PATH]

Each benchmark is a script of this folder that prints a Markdown table; this runs them one after the
other (never in parallel: they time themselves) and collects their output under a header that says
when, where and with what they ran. Benchmarks that compare with pymc-marketing need it installed in a
separate environment (``--bench-python``, default ``.bench-venv/bin/python`` when it exists; see the
README): without it they are listed as skipped. Ratios measured in the same run are the figures to
quote; absolute seconds on a shared machine are noisy.

``--only NAME ...`` re-runs those benchmarks and replaces their sections of results.md, keeping the others; each
section says when, at which commit and how long it ran, so the file stays written by this script alone.
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
    ("linker", ["linker_check.py"], False, "(o) every shipped case's compiled log density and gradient against PyMC's"),
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
    ("truth_capture", ["truth_capture.py"], False,
     "(l) the default plan's share of the true optimum over eight data sets of the knowledge case's shape"),
    ("experiment_value", ["experiment_value.py", "--seeds", "1", "2", "3", "4"], False,
     "(m) what two experiments per market buy: three markets' contributions against the truth"),
    ("compile_profile", ["compile_profile.py"], False,
     "(i) where a cold compile's time goes: LLVM, numba's typing and lowering, PyTensor, the rest"),
    ("numba_opt", ["numba_opt.py", "--levels", "3", "2", "1"], False,
     "(j) LLVM's optimization level for the cold compile: compile seconds vs gradient µs"),
    ("machine_code", ["machine_code.py"], False,
     "(p) numba's libraries made machine code on demand vs finalized each: cold compile seconds vs gradient µs"),
    ("refresh_flags", ["refresh_flags.py"], False,
     "(k) a refresh with four new weeks against the truth: what it flags, how long it takes"),
    ("hill_markets", ["hill_markets.py", "8", "8"], False,
     "(n) Hill curves over 8 markets x 8 channels: leapfrog steps per draw, ESS and recovery, per cell or per channel"),
    ("cold_start", ["cold_start.py"], True,
     "(h) case study 000 on an empty cache and on a warm one, vs pymc-marketing (median of three seeds)"),
]


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def _header() -> str:
    libs = ", ".join(f"{p} {version(p)}" for p in ("pymc", "pytensor", "nutpie", "numba"))
    return (f"# Benchmark results\n\n{os.cpu_count()} cores · {platform.machine()} · Python "
            f"{platform.python_version()} · {libs}\n\nWritten by `make bench` (benchmarks/run_all.py; `--only NAME` "
            "re-runs one section). Every table comes from the script its section names. Quote the ratios; absolute "
            "seconds depend on the machine and its load.\n")


def _sections(text: str) -> dict[str, str]:
    """The sections of an existing results.md by benchmark name (``## name: ...`` up to the next one)."""
    names = [b[0] for b in BENCHMARKS]
    found, current = {}, None
    for line in text.splitlines(keepends=True):
        head = line[3:].split(":", 1)[0] if line.startswith("## ") else None
        if head in names:
            current = head
            found[current] = ""
        if current is not None:
            found[current] += line
    return found


def _without_progress_bars(text: str) -> str:
    """A script's output without the progress bars a library drew on stdout (rich's "Computing ... ━━━ 100%")."""
    return "".join(line for line in text.splitlines(keepends=True) if "━" not in line)


def _run(name: str, cmd: list[str], python: str | None, what: str) -> str:
    """One benchmark's section: its header, when and where it ran, and its output (or why it did not run)."""
    head = f"\n## {name}: {what}\n"
    if python is None:
        return head + "\nSkipped: pymc-marketing is not installed (see the README's benchmark section).\n"
    print(f"bench {name}: {' '.join(cmd)} ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(HERE / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t0
    print(f"bench {name}: {'done' if proc.returncode == 0 else 'FAILED'} in {took:.0f} s", flush=True)
    text = (f"{head}\n`{' '.join(cmd)}` · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {_commit()} · "
            f"{took:.0f} s\n\n{_without_progress_bars(proc.stdout).strip()}\n")
    if proc.returncode != 0:
        text += f"\nFailed (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args()
    bench_python = args.bench_python if Path(args.bench_python).exists() else None
    out = Path(args.out)
    sections = _sections(out.read_text()) if args.only and out.exists() else {}
    for name, cmd, needs_pmm, what in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        python = bench_python if needs_pmm else sys.executable
        if python is None and name in sections:  # not run here: the last results stay (said on the console)
            print(f"bench {name}: skipped (pymc-marketing is not installed); its last results are kept", flush=True)
            continue
        sections[name] = _run(name, cmd, python, what)
        # keep what finished if a later one is interrupted
        out.write_text(_header() + "".join(f"\n{sections[b[0]].strip()}\n" for b in BENCHMARKS if b[0] in sections))
    print(f"wrote {out}")

if __name__ == "__main__":
    main()
