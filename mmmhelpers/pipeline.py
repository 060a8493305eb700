"""Run a case: papermill executes the five notebooks, Quarto (or nbconvert) renders them.

A run works in a temporary folder beside the report folder and replaces ``reports/<case>/`` only
when every stage succeeded; a failed run keeps its executed notebooks in ``<case>.failed/``. A fit
beyond the health gates of ``fit.fail_on`` is a failed run. Ctrl-C stops the run's kernel, removes the
temporary folder and raises :class:`Interrupted`; temporary folders of killed runs are removed by the
next run of the same report folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from mmmhelpers.artifacts import Diagnostics, Manifest, load_data
from mmmhelpers.cache import UPSTREAM, changed_stages, stage_inputs, stale_reuse
from mmmhelpers.changes_page import write_changes
from mmmhelpers.checks import check_case, check_warnings
from mmmhelpers.config import Params, load_params, params_hash
from mmmhelpers.health import gate_failures
from mmmhelpers.kernels import STOP, Warm, discard, ensure_kernel, enter, kill_all, prestart, shutdown
from mmmhelpers.pages import TEMPLATE as PAGE_TEMPLATE
from mmmhelpers.pages import for_rendering, nav
from mmmhelpers.refresh import (
    Backtest,
    DataDiff,
    backtest,
    backtest_sentence,
    data_diff,
    keep_history,
    save_backtest,
    settings_changed,
)
from mmmhelpers.refresh_priors import RefreshPriors, carried_priors
from mmmhelpers.report import PROGRESS, progress_file
from mmmhelpers.summary import PAGES, write_index

__all__ = ["STAGES", "RunError", "Interrupted", "run", "render", "write_index", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "notebooks").is_dir()  # else an installed package


def project_file(name: str) -> Path:
    """A file of the project's top level (``_quarto.yml``, ``notebooks``): the checkout's, or the copy an installed
    package ships (``mmmhelpers._project``, ``mmmhelpers._notebooks``)."""
    if CHECKOUT:
        return ROOT / name
    here = Path(__file__).resolve().parent  # the installed package: its copies sit beside this module
    return here / "_notebooks" if name == "notebooks" else here / "_project" / name


NOTEBOOKS = Path(os.environ.get("MMM_NOTEBOOKS", project_file("notebooks")))
STAGES = ["01_simulate", "02_fit", "03_recovery", "04_out_of_sample", "05_optimize"]
PACKAGES = ["pymc", "pytensor", "pymc-extras", "arviz", "nutpie", "numpy", "pandas", "xarray", "scipy",
            "papermill", "matplotlib", "seaborn", "pydantic", "mmmhelpers"]
TITLES = PAGES  # stage -> page title


class RunError(RuntimeError):
    """A stage failed; ``failed_dir`` holds the executed notebooks with the error."""

    def __init__(self, message: str, failed_dir: Path | None = None):
        super().__init__(message)
        self.failed_dir = failed_dir


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run: its kernel is gone, its temporary folder removed; the message says where it
    stopped and what is left at the report folder."""


class _QuietWhenStopped(logging.Filter):
    """Drop papermill's log records once Ctrl-C killed the kernel ("Kernel died while waiting ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not STOP.is_set()


logging.getLogger("papermill").addFilter(_QuietWhenStopped())


def _parse_only(only: str | list[str] | None) -> list[str]:
    if not only:
        return list(STAGES)
    names = only.split(",") if isinstance(only, str) else list(only)
    out = []
    for name in (n.strip() for n in names if n.strip()):
        match = [s for s in STAGES if s == name or s.split("_", 1)[1] == name or s.startswith(name + "_")]
        if not match:
            raise RunError(f"--only: unknown stage {name!r} (stages: {', '.join(STAGES)})")
        out.extend(match)
    return [s for s in STAGES if s in out]


def _git_commit() -> str:
    if not CHECKOUT:  # an installed package: no repository of its own (a folder around it may be another's)
        return "unknown"
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except Exception:
        return "unknown"


def _versions() -> dict:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def quarto_binary() -> str | None:
    """The ``quarto`` command on the PATH (None: not installed, or ``MMM_RENDERER=nbconvert`` asks for the fallback)."""
    if os.environ.get("MMM_RENDERER") == "nbconvert":
        return None
    return shutil.which("quarto")


def renderer_name() -> str:
    """The renderer a run uses now: ``quarto`` when it is installed (and not turned off), else ``nbconvert``."""
    return "quarto" if quarto_binary() else "nbconvert"


def render(run_dir: Path, stages: list[str], client: bool, solutions: bool | None = None) -> str:
    """Render ``run_dir/notebooks/<stage>.ipynb`` to ``run_dir/<stage>.html``; returns the renderer used.
    ``solutions``: an exercise case's truth in collapsed callouts (True) or left out (False); None: no exercise."""
    nb_dir = run_dir / "notebooks"
    quarto = quarto_binary()
    if quarto:
        work = run_dir / ".render"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        shutil.copy(project_file("_quarto.yml"), work / "_quarto.yml")
        for stage in stages:
            nbformat.write(for_rendering(nb_dir / f"{stage}.ipynb", True, nav(stage, PAGES), client, solutions),
                           work / f"{stage}.ipynb")
        cmd = [quarto, "render", ".", "--to", "html"]
        if client:
            cmd += ["--profile", "client"]
            shutil.copy(project_file("_quarto-client.yml"), work / "_quarto-client.yml")
        env = {**os.environ, "QUARTO_PYTHON": sys.executable}
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RunError(f"quarto render failed:\n{proc.stderr[-3000:]}")
        for stage in stages:
            shutil.move(work / f"{stage}.html", run_dir / f"{stage}.html")
        shutil.rmtree(work, ignore_errors=True)
        return "quarto"
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_file=str(PAGE_TEMPLATE), extra_template_basedirs=[str(PAGE_TEMPLATE.parent)],
                            exclude_input=client, embed_images=True)
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    for stage in stages:
        nb = for_rendering(nb_dir / f"{stage}.ipynb", False, nav(stage, PAGES), client, solutions)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": TITLES[stage]}})
        (run_dir / f"{stage}.html").write_text(body)
    return "nbconvert"


def _say(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class _Run:
    """Where a run is: its report folder, its temporary folder, whether a report was there before, the stage."""

    out: Path | None = None
    staging: Path | None = None
    had_report: bool | None = None  # None: not looked at yet
    phase: str = "start-up"
    spares: list[Warm] = field(default_factory=list)  # kernels started ahead (kernels.prestart), for the next stages

    def kept(self) -> str:
        """What a failed run leaves at the report folder."""
        if self.had_report:
            return f"the last good report is untouched: {self.out}"
        return "no report was published (there was none before)"

    def interrupted(self) -> str:
        """The one line of an interrupted run."""
        if self.phase == "published":
            return f"interrupted after publishing; the new report is in {self.out}"
        known: dict[bool | None, str] = {True: "last good report unchanged", False: "no report was published"}
        left = known.get(self.had_report, "nothing was changed")
        return f"interrupted during {self.phase}; {left}"


def _had_report(out: Path) -> bool:
    return (out / "index.html").exists() or (out / "manifest.json").exists()


_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale(out: Path) -> None:
    """Remove the temporary folders that killed runs (SIGKILL, power loss) left beside ``out``.

    Only ``.<out>.tmp-<pid>`` (a run's staging) and ``.<out>.old-<pid>`` (the report being replaced while
    publishing) whose process is gone. An old report whose replacement never arrived goes back to ``out``.
    """
    if not out.parent.is_dir():
        return
    for path in sorted(out.parent.iterdir()):
        m = _TEMP.fullmatch(path.name)
        if not m or m["name"] != out.name or not path.is_dir():
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        if m["kind"] == "old" and not out.exists():
            path.rename(out)
            _say(f"restored {out} from {path.name} (run {pid} was killed while publishing)")
            continue
        shutil.rmtree(path, ignore_errors=True)
        _say(f"removed {path.name}, left by run {pid} (no longer running)")


def _staging(out: Path, stages: list[str]) -> Path:
    """A fresh temporary run folder beside ``out`` (a copy of ``out`` when only some stages re-run)."""
    if stages != STAGES and not (out / "artifacts").exists():
        raise RunError(f"--only {','.join(stages)}: no earlier run in {out} to reuse; run all stages first")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    if stages != STAGES:
        shutil.copytree(out, staging)
    (staging / "notebooks").mkdir(parents=True, exist_ok=True)
    return staging


def _keep_failed(staging: Path, out: Path) -> Path:
    """Move a failed run to ``<out>.failed/`` (replacing an older one); the last good report stays."""
    failed = out.parent / f"{out.name}.failed"
    shutil.rmtree(failed, ignore_errors=True)
    shutil.move(str(staging), str(failed))
    return failed


class _ProgressLines:
    """The lines a notebook appended to the run's progress file since the last look."""

    def __init__(self, path: Path):
        self.path, self.offset = path, path.stat().st_size if path.exists() else 0

    def new(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path) as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]  # a half-written line waits for the next look
        self.offset += len(complete.encode())
        return complete.splitlines()


@dataclass
class _Job:
    """One stage's notebook running in a papermill thread."""

    stage: str
    done: threading.Event
    lines: _ProgressLines
    t0: float
    failure: BaseException | None = None
    seconds: float | None = None
    reported: bool = False


def _start(stage: str, staging: Path, params_path: Path, quick: bool, kernel: str, progress: bool,
           extra: dict | None = None, warm: Warm | None = None) -> _Job:
    """Start one stage's notebook with papermill (in a thread) into ``staging/notebooks/``.

    papermill works in a thread of its own while the main thread waits (:func:`_wait`), so that Ctrl-C reaches us
    and not papermill half-way through a message: we kill the kernels, wait for papermill to notice and re-raise.
    The kernel is ``warm``, started ahead (:func:`mmmhelpers.kernels.prestart`), or started now the same way; it
    moves into the run folder and learns its stage (``MMM_STAGE``: its progress lines go to a file of its own).
    Not papermill's ``cwd``: that changes the working directory of this whole process (stages side by side raced).
    """
    import papermill as pm

    job = _Job(stage, threading.Event(), _ProgressLines(staging / progress_file(stage)), time.perf_counter())

    def work() -> None:
        nonlocal warm
        km = None
        try:
            if warm is None or not warm.usable:
                warm = prestart(kernel)
            km = warm.km
            enter(warm, stage, staging)
            pm.execute_notebook(
                str(NOTEBOOKS / f"{stage}.ipynb"),
                str(staging / "notebooks" / f"{stage}.ipynb"),
                parameters={"params_path": str(params_path), "run_dir": str(staging), "quick": bool(quick),
                            **(extra or {})},
                kernel_name=kernel,
                km=km,
                progress_bar=progress,
                log_output=False,
            )
        except BaseException as err:  # re-raised in the main thread
            job.failure = err
        finally:
            if km is not None:
                shutdown(km)
            job.seconds = round(time.perf_counter() - job.t0, 2)
            job.done.set()

    threading.Thread(target=work, name=f"papermill {stage}", daemon=True).start()
    return job


def _wait(jobs: list[_Job], progress: bool, on_done=None) -> None:
    """Print the jobs' progress lines as they come until every job is done; ``on_done(job)`` as each ends."""
    try:
        # Not Thread.join: Ctrl-C inside join() can leave the thread marked as finished while it still runs.
        while not all(job.reported for job in jobs):
            time.sleep(0.1)
            for job in jobs:
                finished = job.done.is_set()  # before reading: no line written before the end is missed
                for line in job.lines.new():
                    if progress:  # papermill's cell bar is mid-line on stderr: end it so the line stands alone
                        sys.stderr.write("\n")
                    _say(f"      {job.stage}: {line}")
                if finished and not job.reported:
                    job.reported = True
                    if on_done is not None:
                        on_done(job)
    except KeyboardInterrupt:
        kill_all([job.done for job in jobs])
        raise


def execute_stage(stage: str, staging: Path, params_path: Path, quick: bool, kernel: str, progress: bool,
             extra: dict | None = None) -> None:
    """Run one stage's notebook with papermill into ``staging/notebooks/`` (see :func:`_start`)."""
    job = _start(stage, staging, params_path, quick, kernel, progress, extra)
    _wait([job], progress)
    if job.failure is not None:
        raise job.failure


def _check_gates(state: _Run, params: Params) -> None:
    """Stop the run when the fit in the run folder fails a health gate (``fit.fail_on``)."""
    fail_on = params.fit.fail_on
    assert state.staging is not None and state.out is not None  # a run under way has both
    diag = Diagnostics.load_or_none(state.staging)
    if fail_on is None or diag is None:
        return
    fails = gate_failures(diag, fail_on)
    if not fails:
        _say(f"fit.fail_on: the fit passes every gate ({diag.divergences} divergences, max R-hat "
             f"{diag.rhat_max:.3f}, min bulk ESS {diag.ess_bulk_min:,.0f}, min E-BFMI {diag.bfmi_min:.2f})")
        return
    failed = _keep_failed(state.staging, state.out)
    raise RunError(
        f"fit.fail_on: {'; '.join(fails)}\n"
        f"  the fit is in {failed / 'notebooks' / '02_fit.ipynb'} (diagnostics: "
        f"{failed / 'artifacts' / Diagnostics.FILE})\n"
        f"  {state.kept()}",
        failed,
    )


def _sha256(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git_dirty() -> bool | None:
    """Uncommitted changes (tracked or new files outside .gitignore) in the repository; None without git."""
    if not CHECKOUT:
        return None
    try:
        return bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                   check=True, timeout=10).stdout.strip())
    except Exception:
        return None


def run_provenance(params: Params) -> dict:
    """What a run read besides the params file: the CSV, the pinned requirements, the state of the checkout."""
    data = params.resolve(params.data.path)
    return {"data_file": str(data) if data else None, "data_sha256": _sha256(data),
            "requirements_sha256": _sha256(ROOT / "requirements.txt"), "git_dirty": _git_dirty()}


def _manifest(params: Params, params_path: Path, stages: list[str], quick: bool, client: bool, renderer: str,
              timings: dict, total: float, provenance: dict, solutions: bool | None = None) -> Manifest:
    return Manifest(
        case=params.case, title=params.title, params_file=str(params_path), params_sha256=params_hash(params_path),
        seed=params.seed, quick=bool(quick), client=bool(client), stages_run=stages, renderer=renderer,
        git_commit=_git_commit(), created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), timings_seconds=timings,
        total_seconds=round(total, 2), versions=_versions(), solutions=solutions, **provenance,
    )


@contextmanager
def _ctrl_c_waits():
    """Ctrl-C during the block takes effect after it (publishing must not stop between its two renames)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished run in for ``out`` (the old report is removed only after the swap)."""
    backup = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(backup)
    staging.rename(out)
    shutil.rmtree(backup, ignore_errors=True)
    shutil.rmtree(out.parent / f"{out.name}.failed", ignore_errors=True)


# Where the recovery page's independent fits run (``--workers`` / ``--scheduler``): its notebook's parameters.
EXECUTION_STAGE = "03_recovery"
FOLD_STAGES = {"04_out_of_sample", "05_optimize"}
"""The stages that sample the cross-validation form of the model (the folds, the stability refits): the fit stage
compiles it ahead only when one of them runs too (``folds_ahead``)."""


def _extra(stage: str, stages, execution: dict | None) -> dict | None:
    """The notebook parameters of ``stage`` beyond the params file, in a run of ``stages``."""
    if stage == EXECUTION_STAGE:
        return execution
    if stage == "02_fit":
        return {"folds_ahead": bool(FOLD_STAGES & set(stages))}
    return None


def waves(stages: list[str]) -> list[list[str]]:
    """The stages in groups that run side by side: a stage joins the group before it unless it reads that group's
    artifacts (``cache.UPSTREAM``), so recovery, out-of-sample and optimization run together after the fit."""
    groups: list[list[str]] = []
    for stage in stages:
        if groups and not set(UPSTREAM[stage]) & set(groups[-1]):
            groups[-1].append(stage)
        else:
            groups.append([stage])
    return groups


def _run_stages(state: _Run, stages: list[str], params: Params, params_path: Path, quick: bool, progress: bool,
                timings: dict, execution: dict | None = None) -> None:
    """Execute the stages (side by side where they are independent, see :func:`waves`), timing each; a failure
    keeps the run in ``<out>.failed/`` (the other stages of its group finish first)."""
    kernel = ensure_kernel()
    if "02_fit" not in stages:  # the fit being reused must pass the gates too
        _check_gates(state, params)
    number = {stage: i for i, stage in enumerate(stages, 1)}
    groups = waves(stages)
    if not groups:  # nothing to re-run: the pages are rendered again (--client or the renderer changed)
        return
    state.spares += [prestart(kernel) for _ in range(len(groups[0]) - len(state.spares))]
    for k, group in enumerate(groups):
        _run_wave(state, group, len(groups[k + 1]) if k + 1 < len(groups) else 0, number, params, params_path,
                  quick, progress, timings, kernel, execution)


def _run_wave(state: _Run, group: list[str], following: int, number: dict[str, int], params: Params,
              params_path: Path, quick: bool, progress: bool, timings: dict, kernel: str,
              execution: dict | None) -> None:
    """Run one group of stages side by side in kernels started ahead; start the ``following`` group's kernels."""
    n = len(number)
    assert state.staging is not None and state.out is not None  # a run under way has both
    state.phase = " + ".join(group)
    jobs = []
    for stage in group:
        _say(f"[{number[stage]}/{n}] {stage}: running ...")
        jobs.append(_start(stage, state.staging, params_path, quick, kernel, progress and len(group) == 1,
                           _extra(stage, number, execution), state.spares.pop(0) if state.spares else None))
    state.spares += [prestart(kernel) for _ in range(following)]

    def done(job: _Job) -> None:
        if job.failure is None:
            timings[job.stage] = job.seconds
            _say(f"[{number[job.stage]}/{n}] {job.stage}: done in {job.seconds:.1f} s")

    _wait(jobs, progress and len(group) == 1, done)
    failed_jobs = [job for job in jobs if job.failure is not None]
    if failed_jobs:
        job, err = failed_jobs[0], failed_jobs[0].failure
        if isinstance(err, KeyboardInterrupt):
            raise err
        failed = _keep_failed(state.staging, state.out)
        last = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        raise RunError(
            f"stage {job.stage} failed after {job.seconds:.1f} s: {type(err).__name__}: {last}\n"
            f"  executed notebook with the error: {failed / 'notebooks' / (job.stage + '.ipynb')}\n"
            f"  {state.kept()}",
            failed,
        ) from err
    if "02_fit" in group:
        _check_gates(state, params)


def warn_if_red(out: Path) -> None:
    """One line on stderr when the fit is RED: the report exists, but its numbers should not be trusted yet."""
    diag = Diagnostics.load_or_none(out)
    if diag is not None and diag.health == "red":
        why = diag.divergence_summary if diag.divergences else f"max R-hat {diag.rhat_max:.3f}, min ESS {diag.ess_bulk_min:.0f}"
        print(f"mmm-report: WARNING: sampler health is RED ({why}); see {out / '02_fit.html'}", file=sys.stderr, flush=True)


def run(
    params_path: str | Path,
    out: str | Path | None = None,
    client: bool | None = None,
    only: str | list[str] | None = None,
    quick: bool = False,
    progress: bool = True,
    force: bool = False,
    workers: int = 0,
    scheduler: str = "",
    kernel: Warm | None = None,
    pages: bool = True,
    solutions: bool | None = None,
    refresh_priors: RefreshPriors | None = None,
) -> Path:
    """Execute and render one case; returns the report folder. Stages whose inputs did not change since the
    report at ``out`` was made are skipped (``force`` re-runs everything).

    Raises :class:`RunError` when a stage fails (the last good report stays) and :class:`Interrupted` on
    Ctrl-C (the run's kernel is killed and its temporary folder removed; the last good report stays).
    ``workers`` / ``scheduler`` (default: the params' ``execution``) say where the recovery page's independent
    fits run (mmmhelpers.executor); results do not depend on them. ``kernel``: one the caller started ahead
    (:func:`mmmhelpers.kernels.prestart`, the CLI does before it imports PyMC); else one starts before the checks.
    ``pages=False`` leaves the HTML pages out (the executed notebooks and artifacts only: ``verify``'s re-run).
    ``solutions`` (an exercise case): with or without its truth and answer (default: ``report.exercise.solutions``).
    ``refresh_priors``: the priors to carry (``refresh.priors: last_report``) instead of deriving them from the report
    at ``out`` (``verify`` re-runs a report with its own).
    """
    STOP.clear()
    state = _Run(spares=[kernel or prestart(ensure_kernel())])  # the first stage's: it starts while the case is checked
    try:
        return _run(state, Path(params_path).resolve(), out, (client, solutions), only, quick, progress, force,
                    {"workers": int(workers or 0), "scheduler": scheduler or ""}, pages, refresh_priors)
    except KeyboardInterrupt:
        with _ctrl_c_ignored():  # a second Ctrl-C must not stop the clean-up
            kill_all()
            if state.staging is not None:
                shutil.rmtree(state.staging, ignore_errors=True)
        raise Interrupted(state.interrupted()) from None
    except Exception:  # a failed stage moved it to <out>.failed already; anything else must not leave it behind
        if state.staging is not None and state.phase != "publishing":
            shutil.rmtree(state.staging, ignore_errors=True)
        raise
    finally:
        for warm in state.spares:  # started ahead for stages that did not run (a failure, or nothing to do)
            discard(warm)


@contextmanager
def _ctrl_c_ignored():
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _stages_to_run(out: Path, only, force: bool, inputs: dict, params_path: Path,
                   version: tuple[bool, bool | None]) -> list[str] | None:
    """The stages this run executes: ``--only``'s (refused when a reused stage's inputs changed), all with
    ``--force`` or without an earlier report, else those whose inputs changed; None when nothing needs doing."""
    old = Manifest.load_or_none(out) if (out / "index.html").exists() else None
    if only:
        stages = _parse_only(only)
        reasons = stale_reuse(old.stage_inputs if old else {}, inputs, stages) if old and old.stage_inputs else []
        if reasons and not force:
            raise RunError(f"--only {','.join(stages)} would reuse stages whose inputs changed:\n"
                           + "\n".join(f"  - {r}" for r in reasons)
                           + "\n  run without --only (changed stages re-run by themselves), or add --force")
        return stages
    if force or old is None or not old.stage_inputs:
        return list(STAGES)
    stages = changed_stages(old.stage_inputs, inputs)
    if not stages and old.params_sha256 == params_hash(params_path) and \
            (old.client, old.solutions, old.renderer) == (*version, renderer_name()):
        return None
    return stages  # possibly none: the pages and the summary are rendered again (report settings or renderer changed)


def _score_last_forecast(out: Path, previous, params: Params, data, diff: DataDiff, model: str) -> Backtest | None:
    """The last report's model forecasting the added periods, scored (``artifacts/backtest.json``, the out-of-sample
    page); a model section that changed since (``model``: its stage-input hash now), or a posterior that does not fit
    this model, is said and skipped."""
    last = Manifest.load_or_none(out)
    if (last.stage_inputs.get("02_fit", {}) if last else {}).get("params.model") != model:
        _say("mmm-report: the model changed since the last report: its forecast of the new periods is not scored")
        return None
    try:
        result = backtest(out, previous, params, data, diff)
    except Exception as err:  # noqa: BLE001 - the last report's posterior may not fit this code's model
        _say(f"mmm-report: the last report's forecast of the new periods could not be scored ({err})")
        return None
    if result is not None:
        _say("mmm-report: " + backtest_sentence(result, data.period).replace("**", ""))
    return result


def _previous_data(out: Path):
    """The data of the report at ``out``, or None when it has none this code can read."""
    try:
        return load_data(out)
    except Exception:  # noqa: BLE001 - a report from an older layout, or none: nothing to compare with
        return None


def _data_diff(out: Path, previous, data, inputs: dict) -> DataDiff | None:
    """The data against the last report's (None without one), with the params sections changed since: a likely
    cause of an estimate that moved (the fit page says it)."""
    if previous is None:
        return None
    diff = data_diff(previous, data)
    last = Manifest.load_or_none(out)
    return diff if last is None else diff.model_copy(
        update={"settings_changed": settings_changed(last.stage_inputs, inputs)})


def _carried_priors(out: Path, params: Params, data, diff: DataDiff | None, given: RefreshPriors | None,
                    inputs: dict) -> RefreshPriors | None:
    """The priors this run carries from the last report's posterior (``refresh.priors: last_report``), said, and an
    input of every stage from the fit on; None: the params' own."""
    try:
        carried = carried_priors(out, params, data, diff, given, say=_say)
    except ValueError as err:
        raise RunError(str(err)) from None
    if carried is not None:
        _say(f"mmm-report: {carried.sentence(data.period)}")
        for stage in inputs:
            if "02_fit" in (stage, *UPSTREAM[stage]):
                inputs[stage][RefreshPriors.INPUT] = carried.digest()
    return carried


def _stage_refresh(staging: Path, out: Path, previous, params: Params, data, diff: DataDiff | None,
                   carried: RefreshPriors | None, inputs: dict, had_report: bool) -> None:
    """What a refresh adds to the run folder before any stage: the data diff, the last report's forecast of the new
    periods scored, the priors it carries (or none), and the report it replaces kept in ``history/``."""
    if diff is not None:
        diff.save(staging)  # the data page says it
        scored = _score_last_forecast(out, previous, params, data, diff, inputs["02_fit"]["params.model"]) \
            if diff.added else None
        save_backtest(staging, scored)  # only the refresh that added the periods scores the forecast of them
    RefreshPriors.path(staging).unlink(missing_ok=True)  # a copy of the last report's: this run's, or none
    if carried is not None:
        carried.save(staging)
    if had_report:  # a refresh keeps the report it replaces (history/): the fit page shows the estimates' path
        keep_history(out, staging, diff is not None and diff.changed)


def _say_refresh(diff: DataDiff, params: Params) -> None:
    """What changed since the last report's data, before any stage runs (and how to keep its scales)."""
    _say(f"mmm-report: {diff.sentence()}")
    for w in diff.warnings():
        _say(f"warning: {w}")
    if diff.added and params.model.scaling.until is None:
        _say(f"mmm-report: the scales are taken from every period, the new ones too; to keep the last report's "
             f"(its parameters' meaning), set model.scaling.until: {diff.previous_last}")


def _pages_to_render(staging: Path, stages: list[str], old: Manifest | None, version: tuple[bool, bool | None]) -> list[str]:
    """The stages whose pages this run renders: those it executed (the others' pages are as their notebooks left
    them); every page when none ran (report settings or the renderer changed) or the last pages were rendered with
    other settings or by the other renderer."""
    have = [s for s in STAGES if (staging / "notebooks" / f"{s}.ipynb").exists()]
    if not stages or old is None or (old.client, old.solutions, old.renderer) != (*version, renderer_name()):
        return have
    return [s for s in have if s in stages or not (staging / f"{s}.html").exists()]


def _render_pages(staging: Path, out: Path, pages: list[str], client: bool, solutions: bool | None) -> str:
    """Render the staged notebooks of ``pages`` to pages; the renderer used. A failed render keeps the staging
    folder beside ``out`` for a look (and never touches the last good report)."""
    _say(f"rendering {len(pages)} page{'s' if len(pages) != 1 else ''} ...")
    try:
        return render(staging, pages, client, solutions)
    except Exception:
        _keep_failed(staging, out)
        raise


def _rendering(params: Params, asked: tuple[bool | None, bool | None]) -> tuple[bool, bool | None]:
    """The pages' version: client (code hidden) and an exercise's solutions (None: no exercise), as the command
    line ``asked`` (None: the params' own)."""
    exercise = params.report.exercise
    solutions = None if exercise is None else exercise.solutions if asked[1] is None else asked[1]
    return (params.report.client if asked[0] is None else asked[0]), solutions


def _run(state: _Run, params_path: Path, out: str | Path | None, version: tuple[bool | None, bool | None], only,
         quick: bool, progress: bool, force: bool = False, execution: dict | None = None, pages: bool = True,
         given_priors: RefreshPriors | None = None) -> Path:
    params = load_params(params_path)
    data, _, problems = check_case(params)
    if problems:  # before any notebook runs: a bad budget must not fail minutes into the run
        raise RunError(f"{params_path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))
    assert data is not None  # check_case reads the data whenever it finds no problem
    for w in check_warnings(params, data):
        _say(f"warning: {w}")
    provenance = run_provenance(params)  # the data as they were when the run started
    client, solutions = _rendering(params, version)
    state.out = out = Path(out).resolve() if out else (Path.cwd() / "reports" / params.case).resolve()
    remove_stale(out)
    state.had_report = _had_report(out)
    previous = _previous_data(out) if state.had_report else None
    inputs = stage_inputs(params, NOTEBOOKS, provenance.get("data_sha256"), quick)
    diff = _data_diff(out, previous, data, inputs)
    if diff is not None and diff.changed:
        _say_refresh(diff, params)
    carried = _carried_priors(out, params, data, diff, given_priors, inputs)
    stages = _stages_to_run(out, only, force, inputs, params_path, (client, solutions))
    if stages is None:
        _say(f"mmm-report: {out} is up to date: no stage's inputs changed (mmm-report run --force re-runs them)")
        return out
    state.staging = staging = _staging(out, stages)
    _stage_refresh(staging, out, previous, params, data, diff, carried, inputs, state.had_report)
    old = Manifest.load_or_none(staging)
    timings = dict(old.timings_seconds) if old else {}
    _say(f"mmm-report: case {params.case!r} ({params.title}) -> {out}")
    if not stages:
        code = "client version: code hidden" if client else "code shown"
        _say(f"mmm-report: {out}: no stage's inputs changed; rendering the pages again ({code})")
    t_all = time.perf_counter()
    _run_stages(state, stages, params, params_path, quick, progress, timings, execution)
    for path in staging.glob(f"{PROGRESS}*"):  # said already; not part of the report
        path.unlink(missing_ok=True)
    state.phase = "rendering"
    t0 = time.perf_counter()
    renderer = "none"
    if pages:
        renderer = _render_pages(staging, out, _pages_to_render(staging, stages, old, (client, solutions)), client,
                                 solutions)
        timings["render"] = round(time.perf_counter() - t0, 2)
        _say(f"rendered with {renderer} in {timings['render']:.1f} s")
    manifest = _manifest(params, params_path, stages, quick, client, renderer, timings, time.perf_counter() - t_all,
                         {**provenance, "stage_inputs": inputs}, solutions)
    manifest.save(staging)
    write_changes(staging, params)
    write_index(staging, params, manifest)
    state.phase = "publishing"
    with _ctrl_c_waits():
        _publish(staging, out)
        state.phase = "published"
    _say(f"report: {out / 'index.html'} ({manifest.total_seconds:.0f} s)")
    warn_if_red(out)
    return out
