"""`make report` wall time for a case: a first run, then a forced re-run that finds every cache warm.

    .venv/bin/python benchmarks/report_time.py [params/default.yaml]

Both runs go through the command line (`mmm-report run --force`) into a scratch folder, as a user's would;
the second shows what a weekly re-run costs once the compiled models are cached.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(params: str, out: Path) -> tuple[float, dict]:
    cli = Path(sys.executable).parent / "mmm-report"
    t0 = time.perf_counter()
    subprocess.run([str(cli), "run", params, "--out", str(out), "--force", "--no-progress"], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    took = time.perf_counter() - t0
    return took, json.loads((out / "manifest.json").read_text())["timings_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="params/default.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("first run", *_run(args.params, Path(tmp) / "r")), ("re-run (--force)", *_run(args.params, Path(tmp) / "r"))]
    stages = list(rows[0][2])
    print(f"`mmm-report run {args.params} --force`, wall seconds\n")
    print("| run | total | " + " | ".join(stages) + " |")
    print("|---|---|" + "---|" * len(stages))
    for label, total, t in rows:
        print(f"| {label} | {total:.0f} | " + " | ".join(f"{t.get(s, 0):.0f}" for s in stages) + " |")


if __name__ == "__main__":
    main()
