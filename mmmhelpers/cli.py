"""``mmm-report``: run a case, validate a params file, list the cases, start a case from a CSV, write the schema."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
from pathlib import Path

__all__ = ["main", "entry"]


def _validate(path: str) -> int:
    from mmmhelpers.checks import check_case, check_warnings
    from mmmhelpers.config import ParamsError, load_params

    try:
        params = load_params(path)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 1
    data, truth, problems = check_case(params)
    if problems:
        print(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    assert data is not None  # check_case reads the data whenever it finds no problem
    dims = " × ".join(f"{len(v)} {d}{'s' if len(v) > 1 else ''} ({', '.join(map(str, v))})"
                      for d, v in data.panel.items()) or "single market"
    print(f"{path}: OK — case {params.case!r}: {data.n_dates} {data.period}s ({data.calendar.describe(data.dates)}, "
          f"{data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d}), {dims}, channels {data.channels}, "
          + (f"organic {data.organic}, " if data.organic else "") +
          f"controls {data.controls}, truth {'yes' if truth is not None else 'no'}")
    for ch, col in data.units_columns.items():
        import numpy as np

        cost = data.cost_per_unit[..., data.channels.index(ch)].ravel()
        span = f"{cost.min():,.4g}" if np.ptp(cost) < 1e-9 * cost.max() else f"{cost.min():,.4g} to {cost.max():,.4g}"
        print(f"  {ch} is bought in {col}: its effect follows them; they cost {span} each on average "
              f"({'by market' if data.panel else 'over the data'}), which a plan's spend buys")
    for w in check_warnings(params, data):
        print(f"  warning: {w}")
    return 0


def _list(folder: str) -> int:
    """One line per params file: its case and title, or INVALID with its first problem; then a warning for each
    report folder that several files write (the same ``case``)."""
    from mmmhelpers.config import ParamsError, load_params

    files = sorted(Path(folder).glob("*.yaml"))
    if not files:
        print(f"no params files in {folder}/", file=sys.stderr)
        return 1
    width = max(len(f.name) for f in files)
    cases: dict[str, list[str]] = {}
    for f in files:
        try:
            p = load_params(f)
        except Exception as err:  # ParamsError, or a bug: the file is marked, the others are still listed
            problems = err.problems if isinstance(err, ParamsError) else [f"{type(err).__name__}: {err}"]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            print(f"{f.name:<{width}}  INVALID: {problems[0].splitlines()[0]}{more}; see mmm-report validate {f}")
            continue
        cases.setdefault(p.case, []).append(f.name)
        print(f"{f.name:<{width}}  {p.case:<24} {p.title}")
    for case, names in cases.items():
        if len(names) > 1:
            files_ = f"{', '.join(names[:-1])} and {names[-1]}"
            print(f"warning: {files_} have the same case: {case!r} and write the same report folder "
                  f"reports/{case}/ (each run replaces the other's report): give each file its own case")
    return 0


def _schema(out: str | None) -> int:
    """The params JSON Schema, to a file or stdout."""
    import json

    from mmmhelpers.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out:
        Path(out).write_text(text)
        print(f"wrote {out}: point your editor's YAML language server at it (see README)")
    else:
        sys.stdout.write(text)
    return 0


def _new(name: str, data: str, folder: str) -> int:
    """Write a params file for a CSV, say what was detected and what is a guess."""
    from mmmhelpers.data import DataError
    from mmmhelpers.new_case import write_new_case

    try:
        out, d = write_new_case(name, data, folder)
    except (DataError, ValueError, FileExistsError) as err:
        print(f"mmm-report new: {err}", file=sys.stderr)
        return 1
    dims = f"markets in {', '.join(d.dims)} ({d.markets})" if d.dims else "one market"
    print(f"wrote {out}: {d.n_dates} {d.period}s ({d.date_column}), {dims}, target {d.target}, channels "
          f"{', '.join(d.channels)}, controls {', '.join(d.controls) or 'none'}")
    for what, why in d.guesses.items():
        print(f"  guessed {what}: {why}")
    print(f"next: mmm-report validate {out}, then mmm-report run {out}")
    return 0


def _verify(args) -> int:
    """Re-execute a report and write its certificate; 0 only when every number reproduced."""
    from mmmhelpers.pipeline import RunError
    from mmmhelpers.verify import verify

    try:
        cert = verify(args.report, rtol=args.rtol, atol=args.atol, against=args.against)
    except (FileNotFoundError, RunError) as err:
        print(f"mmm-report verify: {err}", file=sys.stderr)
        return 1
    print(f"{args.report}: {cert.verdict.upper()} — {cert.compared:,} numbers compared, {len(cert.differences)} "
          f"differing (rtol {cert.rtol:g}); certificate: {Path(cert.report) / 'certificate.html'}")
    for row in cert.inputs:
        if row["status"] != "ok":
            print(f"  input {row['what']}: {row['status']}: {row['detail']}")
    for note in cert.environment:
        print(f"  environment: {note}")
    for d in cert.differences[:10]:
        print(f"  differs: {d.file} {d.where}: {d.report} in the report, {d.rerun} re-run {d.note}".rstrip())
    return 0 if cert.verdict == "reproduced" else 1


def _batch(args) -> int:
    """Several cases through the executor; a summary table; exit 1 if any case failed."""
    from mmmhelpers.batch import case_files, run_batch, summary_table
    from mmmhelpers.executor import executor_for

    try:
        paths = case_files(args.params)
        executor = executor_for(args.workers, args.scheduler)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"mmm-report: {err}", file=sys.stderr)
        return 1
    flags = [f for f, on in [("--client", args.client), ("--quick", args.quick), ("--force", args.force)] if on]
    flags += [] if args.solutions is None else ["--solutions" if args.solutions else "--no-solutions"]
    flags += ["--only", args.only] if args.only else []
    print(f"mmm-report: {len(paths)} cases, {executor.description}", flush=True)
    with executor:
        df = run_batch(paths, executor, flags, args.out, progress=not args.no_progress)
    print(summary_table(df), flush=True)
    return int((df["status"] != "ok").any())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mmm-report", description="Bayesian MMM report template")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="execute the notebooks of a case and render the report")
    r.add_argument("params", nargs="+", help="params YAML, e.g. params/default.yaml; several files or a folder: a batch")
    r.add_argument("--out", help="report folder (default reports/<case>/); for a batch, the folder of the reports")
    r.add_argument("--client", action="store_true", default=None, help="hide code (client version)")
    r.add_argument("--solutions", action=argparse.BooleanOptionalAction, default=None,
                   help="an exercise case (report.exercise): with its truth and answer in collapsed callouts, or "
                        "without them (--no-solutions); default: the params' report.exercise.solutions")
    r.add_argument("--only", help="comma-separated stages to re-run, reusing the others' artifacts")
    r.add_argument("--quick", action="store_true", help="few draws/tune for a fast look")
    r.add_argument("--force", action="store_true", help="re-run every stage, even those whose inputs did not change")
    r.add_argument("--no-progress", action="store_true", help="no per-cell progress bars")
    r.add_argument("--workers", type=int, default=0,
                   help="run independent fits (SBC draws, batch cases) on a local Dask cluster of N workers")
    r.add_argument("--scheduler", default="", help="run them on an existing Dask cluster, e.g. tcp://host:8786")
    v = sub.add_parser("validate", help="check params + data, print every problem")
    v.add_argument("params")
    ls = sub.add_parser("list", help="the cases in params/")
    ls.add_argument("--dir", default="params")
    nw = sub.add_parser("new", help="a params file for a CSV: columns, frequency and markets detected")
    nw.add_argument("name", help="the case's name (its report folder)")
    nw.add_argument("--data", required=True, help="the CSV: one row per date (and market)")
    nw.add_argument("--dir", default="params", help="where to write <name>.yaml (default params/)")
    vf = sub.add_parser("verify", help="re-execute a report from its manifest and certify that its numbers reproduce")
    vf.add_argument("report", help="a report folder, e.g. reports/default")
    vf.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance for every number (default 1e-9)")
    vf.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    vf.add_argument("--against", help="compare with this re-run (e.g. made on another machine) instead of re-running")
    st = sub.add_parser("site", help="every rendered report in one website: gallery, docs, search (needs Quarto)")
    st.add_argument("--reports", default="reports", help="the folder of the reports (default reports/)")
    st.add_argument("--out", help="where the site goes (default <reports>/_site)")
    sl = sub.add_parser("slides", help="a report's headline as a reveal.js deck (REPORT/slides.html; needs Quarto)")
    sl.add_argument("report", help="a report folder, e.g. reports/default")
    wm = sub.add_parser("warm", help="compile cases' models ahead (a quick run each, no report; make install: default)")
    wm.add_argument("params", nargs="*", default=["params/default.yaml"], help="params YAML (default params/default.yaml)")
    sc = sub.add_parser("schema", help="the params files' JSON Schema (for editors)")
    sc.add_argument("--out", help="write it to this file (default: print it)")
    args = parser.parse_args(argv)

    if args.command == "validate":
        return _validate(args.params)
    if args.command == "list":
        return _list(args.dir)
    if args.command == "schema":
        return _schema(args.out)
    if args.command == "warm":
        return _warm(args.params)
    if args.command == "new":
        return _new(args.name, args.data, args.dir)
    if args.command == "verify":
        return _verify(args)
    if args.command == "site":
        return _site(args.reports, args.out)
    if args.command == "slides":
        return _slides(args.report)
    if len(args.params) > 1 or Path(args.params[0]).is_dir():
        return _batch(args)
    return _run(args)


class _StageLines(io.TextIOBase):
    """A stream that passes on the lines of stage progress (``[2/5] 02_fit: ...``) and keeps everything."""

    def __init__(self, out) -> None:
        self.out, self.line = out, ""
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        self.kept.append(text)
        self.line += text
        *done, self.line = self.line.split("\n")
        for line in done:
            if line.startswith("["):
                self.out.write(f"  {line}\n")
                self.out.flush()
        return len(text)

    def text(self) -> str:
        return "".join(self.kept)


def _warm(paths: list[str]) -> int:
    """Compile what the first report of each case compiles (its fit, holdout and plan models) into the compile
    cache: a quick run of it into a scratch folder, without pages. No report is written or replaced."""
    import tempfile
    import time

    from mmmhelpers.config import ParamsError
    from mmmhelpers.pipeline import RunError, run

    for path in paths:
        t0 = time.perf_counter()
        print(f"warm: compiling the models of {path} (a quick run into a scratch folder, no pages) ...", flush=True)
        lines = _StageLines(sys.stdout)  # the stages' progress; not the scratch report's path nor its quick fit's health
        with tempfile.TemporaryDirectory(prefix="mmm-warm-") as tmp:
            try:
                with contextlib.redirect_stdout(lines), contextlib.redirect_stderr(lines):
                    run(path, out=Path(tmp) / "report", quick=True, progress=False, pages=False)
            except ParamsError as err:
                print(err, file=sys.stderr)
                return 1
            except RunError as err:
                print(f"{lines.text()}mmm-report warm: {err}", file=sys.stderr)
                return 1
        print(f"warm: {path} done in {time.perf_counter() - t0:.0f} s: its reports load compiled code from now on",
              flush=True)
    return 0


def _site(reports: str, out: str | None) -> int:
    from mmmhelpers.site import SITE, build_site

    if not Path(reports).is_dir():
        print(f"mmm-report site: no folder {reports!r} of reports: run a case first (mmm-report run PARAMS)",
              file=sys.stderr)
        return 1
    try:
        index, cases = build_site(Path(reports), Path(out) if out else Path(reports) / SITE)
    except RuntimeError as err:
        print(f"mmm-report site: {err}", file=sys.stderr)
        return 1
    print(f"site: {index} ({len(cases)} case{'s' if len(cases) != 1 else ''}: "
          f"{', '.join(c.case for c in cases) or 'none yet'})")
    return 0


def _slides(report: str) -> int:
    from mmmhelpers.slides import build_slides

    try:
        path = build_slides(Path(report))
    except RuntimeError as err:
        print(f"mmm-report slides: {err}", file=sys.stderr)
        return 1
    print(f"slides: {path}")
    return 0


def _run(args) -> int:
    """One case. Its first kernel starts now, before PyMC is imported here: both import the stack at once."""
    from mmmhelpers.kernels import ensure_kernel, prestart

    kernel = prestart(ensure_kernel())
    from mmmhelpers.config import ParamsError
    from mmmhelpers.pipeline import RunError, run

    try:
        run(args.params[0], out=args.out, workers=args.workers, scheduler=args.scheduler, client=args.client,
            only=args.only, quick=args.quick, progress=not args.no_progress, force=args.force, kernel=kernel,
            solutions=args.solutions)
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 1
    except RunError as err:
        print(f"mmm-report: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # pipeline.Interrupted says where and what is left; one line, no traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"mmm-report: {str(err) or 'interrupted'}", file=sys.stderr, flush=True)
        return 130
    return 0


def entry() -> None:
    """The ``mmm-report`` command: :func:`main`, and after Ctrl-C (exit code 130) leave at once. The kernels are killed
    and the staging folder removed by then; a thread still inside a library (a kernel start in a thread pool) must
    not hold the exit: interpreter shutdown joins such threads."""
    try:
        code = main()
    except BrokenPipeError:  # output piped into a reader that stopped (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    entry()
