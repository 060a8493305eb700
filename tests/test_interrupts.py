"""Runs that stop early: Ctrl-C, a failure before any report existed, health gates, killed runs' leftovers.

Most tests run the real CLI on stand-in notebooks (``MMM_NOTEBOOKS``) that fail or sleep at once, so that
they take seconds each (marked slow: they start kernels or the CLI); ``test_ctrl_c_during_the_fit`` interrupts the
real tiny case while it fits.
"""

import json
import os
import queue
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runs import CLI, ROOT, TINY, kernels_of, running, stand_in_notebooks

from mmmhelpers import kernels, pipeline
from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.config import FitSpec
from mmmhelpers.health import gate_failures
from mmmhelpers.pipeline import STAGES


def env_with(notebooks: Path | None = None) -> dict:
    env = {**os.environ, "MMM_RENDERER": "nbconvert"}
    if notebooks is not None:
        env["MMM_NOTEBOOKS"] = str(notebooks)
    return env


def fake_report(out: Path) -> dict[str, bytes]:
    """A stand-in for the last good report at ``out`` (a full run reads nothing of it); its files' bytes."""
    (out / "artifacts").mkdir(parents=True)
    (out / "index.html").write_text("<p>the last good report</p>\n")
    (out / "manifest.json").write_text('{"case": "tiny"}\n')
    (out / "artifacts" / "diagnostics.json").write_text('{"divergences": 0}\n')
    return snapshot(out)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action in the child, as in a terminal: a test runner started in the background (make,
    CI, `cmd &`) ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _with_open_files(soft: int | None):
    """The child's setup: :func:`_as_in_a_terminal`, and a soft limit of ``soft`` open files (None: as inherited)."""

    def setup() -> None:
        _as_in_a_terminal()
        if soft is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    return setup


def interrupt_during(stage: str, out: Path, env: dict, delay: tuple[float, float] = (0.0, 0.0), timeout: float = 900,
                     open_files: int | None = None, params: Path = TINY, kernels_up: int = 1):
    """Start ``mmm-report run PARAMS --out out``; once ``stage`` runs in a kernel, wait a random delay,
    send SIGINT. Returns (exit code, stdout, stderr, the kernel processes it had, seconds to exit).
    ``open_files``: the CLI's soft limit of open files when it starts; ``kernels_up``: how many kernels to wait for
    (at most a minute: a loaded machine starts a wave's kernels seconds apart) before the delay."""
    proc = subprocess.Popen([*CLI, "run", str(params), "--out", str(out), "--no-progress"], cwd=ROOT,
                            env={**env, "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_with_open_files(open_files))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    stdout, deadline = [], time.monotonic() + timeout
    try:
        while not any(f"{stage}: running" in line for line in stdout):
            assert proc.poll() is None, f"the run ended before {stage}: {stdout}\n{proc.stderr.read()}"
            assert time.monotonic() < deadline, f"{stage} never started: {stdout}"
            try:
                stdout.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        while not kernels_of(proc.pid):  # the stage's kernel is up
            assert time.monotonic() < deadline and proc.poll() is None, stdout
            time.sleep(0.2)
        wave = time.monotonic() + 60
        while len(kernels_of(proc.pid)) < kernels_up and time.monotonic() < wave and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(random.uniform(*delay))
        kernels = kernels_of(proc.pid)
        assert proc.poll() is None, f"the run ended before the interrupt: {stdout}"
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # say where it hangs: every thread's stack (PYTHONFAULTHANDLER, SIGABRT)
            proc.send_signal(signal.SIGABRT)
            time.sleep(5)
            raise AssertionError(f"no exit 120 s after Ctrl-C\nstdout: {stdout}\nstderr: {proc.stderr.read()}") from None
        seconds = time.monotonic() - t0
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    while not lines.empty():
        stdout.append(lines.get())
    return proc.returncode, "".join(stdout), err, kernels, seconds


def assert_clean_interrupt(code, err, kernels, out: Path, stage: str, left: str):
    assert code == 130, err
    assert err.splitlines() == [f"mmm-report: interrupted during {stage}; {left}"], err
    assert "Traceback" not in err
    assert kernels, "no kernel was running when the run was interrupted"
    time.sleep(0.5)
    assert not running(kernels), f"kernel processes left behind: {running(kernels)}"
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "staging folder left behind"


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
@pytest.mark.parametrize("had_report", [True, False], ids=["with-report", "first-run"])
def test_ctrl_c_stops_the_run_kills_the_kernel_and_keeps_the_report(tmp_path, had_report):
    notebooks = stand_in_notebooks(tmp_path / "nb", {"02_fit": "import time\ntime.sleep(600)"})
    out = tmp_path / "reports" / "r"
    before = fake_report(out) if had_report else None
    code, stdout, err, kernels, seconds = interrupt_during("02_fit", out, env_with(notebooks))
    left = "last good report unchanged" if had_report else "no report was published"
    assert_clean_interrupt(code, err, kernels, out, "02_fit", left)
    assert "[1/5] 01_simulate: done" in stdout
    if had_report:
        assert snapshot(out) == before
    else:
        assert not out.exists()
    assert not (tmp_path / "reports" / "r.failed").exists()  # an interrupt is not a failure to keep
    assert seconds < 60


@pytest.mark.slow
def test_ctrl_c_during_the_fit(tmp_path):
    """The real tiny case, interrupted at a random moment of 02_fit (imports, compiling or sampling). The moment is
    drawn from the stage's first 10 s; with a warm compile cache the tiny fit takes ~8 s in all (CI once
    interrupted 03 instead), so this copy draws 300x more (5000 steps sample in 3-7 s): the stage outlasts the
    window by far, and the interrupt stops the long sampling."""
    params = tmp_path / "tiny.yaml"
    params.write_text(TINY.read_text().replace("tune: 150, draws: 100", "tune: 150, draws: 30000", 1))
    assert params.read_text() != TINY.read_text()
    out = tmp_path / "reports" / "tiny"
    before = fake_report(out)
    code, stdout, err, kernels, seconds = interrupt_during("02_fit", out, env_with(), delay=(1.0, 10.0), params=params)
    assert_clean_interrupt(code, err, kernels, out, "02_fit", "last good report unchanged")
    assert "02_fit: done" not in stdout
    assert snapshot(out) == before
    assert seconds < 60


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
def test_a_failed_first_run_says_no_report_was_published(tmp_path):
    notebooks = stand_in_notebooks(tmp_path / "nb", {"01_simulate": "raise RuntimeError('no data today')"})
    out = tmp_path / "reports" / "r"
    proc = subprocess.run([*CLI, "run", str(TINY), "--out", str(out), "--no-progress"], cwd=ROOT,
                          env=env_with(notebooks), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "stage 01_simulate failed" in proc.stderr and "RuntimeError: no data today" in proc.stderr
    assert "no report was published (there was none before)" in proc.stderr
    assert "untouched" not in proc.stderr
    assert not out.exists() and (out.parent / "r.failed" / "notebooks" / "01_simulate.ipynb").exists()


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
def test_client_on_an_up_to_date_report_renders_its_pages_again(tmp_path):
    """Nothing to re-run but --client changed: no stage runs, the pages are rendered again with code hidden, and no
    temporary folder is left (it crashed with IndexError in _run_stages and left .<case>.tmp-<pid>)."""
    notebooks = stand_in_notebooks(tmp_path / "nb", {"02_fit": "print('build_model(params.model)')"})
    out = tmp_path / "reports" / "tiny"
    args = [*CLI, "run", str(TINY), "--out", str(out), "--no-progress"]
    first = subprocess.run(args, cwd=ROOT, env=env_with(notebooks), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    executed = snapshot(out / "notebooks")
    assert "build_model" in (out / "02_fit.html").read_text()
    proc = subprocess.run([*args, "--client"], cwd=ROOT, env=env_with(notebooks), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "no stage's inputs changed; rendering the pages again (client version: code hidden)" in proc.stdout
    assert "running" not in proc.stdout and "rendering 5 pages" in proc.stdout
    assert not list(out.parent.glob(".tiny.tmp-*")), "staging folder left behind"
    assert snapshot(out / "notebooks") == executed  # nothing re-ran
    assert "print(" not in (out / "02_fit.html").read_text()  # the code is hidden now
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["client"] is True and manifest["stages_run"] == []


def test_an_unexpected_error_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """A bug inside a run (not a failed stage, not Ctrl-C) still removes the run's temporary folder."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "_run_stages", broken)
    out = tmp_path / "reports" / "tiny"
    with pytest.raises(ZeroDivisionError):
        pipeline.run(TINY, out=out, progress=False)
    assert not list(out.parent.glob(".tiny.tmp-*")), "staging folder left behind"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_folders_of_killed_runs_are_removed(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    gone, alive = dead_pid(), os.getppid()
    stale = tmp_path / f".r.tmp-{gone}"
    mine = tmp_path / f".r.tmp-{alive}"  # a run still going
    other = tmp_path / f".rr.tmp-{gone}"  # another report's
    unlike = tmp_path / ".r.tmp-backup"  # not our naming
    for d in (stale, mine, other, unlike):
        (d / "notebooks").mkdir(parents=True)
    pipeline.remove_stale(out)
    assert not stale.exists()
    assert mine.exists() and other.exists() and unlike.exists() and out.exists()
    assert f".r.tmp-{gone}" in capsys.readouterr().out


def test_a_report_left_half_published_is_restored(tmp_path):
    out = tmp_path / "r"
    old = tmp_path / f".r.old-{dead_pid()}"  # killed between its two renames: no report at out
    old.mkdir()
    (old / "index.html").write_text("last good")
    pipeline.remove_stale(out)
    assert (out / "index.html").read_text() == "last good" and not old.exists()


DIAG = {"sampler": "nutpie", "chains": 2, "draws": 100, "tune": 150, "compile_seconds": 20.0,
        "sampling_seconds": 5.0, "divergences": 3, "rhat_max": 1.0312, "ess_bulk_min": 212.4, "ess_tail_min": 150.0,
        "bfmi_min": 0.25, "ess_bulk_min_variable": "saturation_lam[x1]", "rhat_max_variable": "y_sigma",
        "ess_bulk_per_second": 8.5, "health": "red"}


def test_gates_name_each_failure_and_its_value():
    diag = Diagnostics.model_validate(DIAG)
    gates = FitSpec.FailOn(divergences=0, rhat=1.01, ess_bulk=400, bfmi=0.3)
    assert gate_failures(diag, gates) == [
        "3 divergences > 0", "max R-hat 1.031 > 1.01 (y_sigma)", "min bulk ESS 212 < 400 (saturation_lam[x1])",
        "min E-BFMI 0.25 < 0.3"]
    assert gate_failures(diag, FitSpec.FailOn(divergences=3, rhat=1.05, ess_bulk=200, bfmi=0.2)) == []
    assert gate_failures(diag, None) == []
    assert gate_failures(diag, FitSpec.FailOn(ess_bulk=1e6)) == ["min bulk ESS 212 < 1,000,000 (saturation_lam[x1])"]
    one_chain = Diagnostics.model_validate({**DIAG, "rhat_max": float("nan")})
    assert gate_failures(one_chain, FitSpec.FailOn(rhat=1.01)) == ["max R-hat could not be computed (gate 1.01)"]


def test_gates_are_optional_and_checked():
    assert FitSpec().fail_on is None
    assert FitSpec.model_validate({"fail_on": {"rhat": 1.01}}).fail_on.divergences is None
    with pytest.raises(ValueError, match="ess_bulkk"):
        FitSpec.model_validate({"fail_on": {"ess_bulkk": 400}})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        FitSpec.model_validate({"fail_on": {"rhat": 0.99}})


def test_progress_lines_are_printed_once_and_only_when_complete(tmp_path):
    from mmmhelpers.pipeline import _ProgressLines
    from mmmhelpers.report import progress

    (tmp_path / ".progress").write_text("said in an earlier stage\n")
    lines = _ProgressLines(tmp_path / ".progress")
    assert lines.new() == []
    progress(tmp_path, "compiled in 3.0 s")
    with open(tmp_path / ".progress", "a") as f:
        f.write("sampling: about")  # a line still being written
    assert lines.new() == ["compiled in 3.0 s"]
    with open(tmp_path / ".progress", "a") as f:
        f.write(" 40 s expected\n")
    assert lines.new() == ["sampling: about 40 s expected"] and lines.new() == []


PARALLEL = " + ".join(STAGES[2:])


def test_independent_stages_form_one_wave():
    """Recovery, out-of-sample and optimization read only the data and the fit (cache.UPSTREAM): they run side by
    side after the fit; a stage never runs beside one whose artifacts it reads."""
    assert pipeline.waves(STAGES) == [["01_simulate"], ["02_fit"], STAGES[2:]]
    assert pipeline.waves(["02_fit", "04_out_of_sample"]) == [["02_fit"], ["04_out_of_sample"]]
    assert pipeline.waves(["04_out_of_sample", "05_optimize"]) == [["04_out_of_sample", "05_optimize"]]


def test_progress_goes_to_the_stage_s_own_file(tmp_path, monkeypatch):
    from mmmhelpers.report import progress, progress_file

    monkeypatch.setenv("MMM_STAGE", "05_optimize")
    progress(tmp_path, "plan 1 of 3")
    assert (tmp_path / progress_file("05_optimize")).read_text() == "plan 1 of 3\n"
    assert not (tmp_path / progress_file(None)).exists()


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
def test_the_wave_runs_side_by_side_and_a_failure_names_its_stage(tmp_path):
    """Each stand-in of the last three stages records when it ran; they overlap. The one that fails is named, the
    others finish and are timed, and the failed run is kept with its notebook."""
    stamp = ("import os, time\nt0 = time.time(); time.sleep(2)\n"
             "with open(os.environ['MMM_STAGE'] + '.t', 'w') as f:\n    f.write(f'{t0} {time.time()}')")
    code = {s: stamp for s in STAGES[2:]}
    code["04_out_of_sample"] += "\nraise ValueError('holdout went wrong')"
    notebooks = stand_in_notebooks(tmp_path / "nb", code)
    out = tmp_path / "reports" / "r"
    proc = subprocess.run([*CLI, "run", str(TINY), "--out", str(out), "--no-progress"], cwd=ROOT,
                          env=env_with(notebooks), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "stage 04_out_of_sample failed" in proc.stderr and "holdout went wrong" in proc.stderr, proc.stderr
    assert "[3/5] 03_recovery: done in" in proc.stdout and "[5/5] 05_optimize: done in" in proc.stdout
    failed = tmp_path / "reports" / "r.failed"
    assert (failed / "notebooks" / "04_out_of_sample.ipynb").exists() and not out.exists()
    spans = [tuple(map(float, (failed / f"{s}.t").read_text().split())) for s in STAGES[2:]]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans  # all three ran at once


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
@pytest.mark.parametrize("open_files", [None, 128], ids=["inherited", "soft-limit-128"])
def test_ctrl_c_during_the_wave_kills_every_kernel(tmp_path, open_files):
    """Also where the soft limit of open files is near what the wave's kernel clients hold (about 130): CI once
    printed a heartbeat thread's "Too many open files" here."""
    notebooks = stand_in_notebooks(tmp_path / "nb", {s: "import time\ntime.sleep(600)" for s in STAGES[2:]})
    out = tmp_path / "reports" / "r"
    before = fake_report(out)
    code, stdout, err, kernels, seconds = interrupt_during("05_optimize", out, env_with(notebooks), delay=(1.0, 2.0),
                                                           open_files=open_files, kernels_up=3)
    assert_clean_interrupt(code, err, kernels, out, PARALLEL, "last good report unchanged")
    assert len(kernels) >= 3  # the three stages' kernels (a stand-in's kernel starts no process of its own)
    assert snapshot(out) == before


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
@pytest.mark.parametrize("when", ["starting", "ready"])
def test_a_case_that_fails_its_checks_leaves_no_kernel(tmp_path, when):
    """The first stage's kernel starts before the case is checked. A case that fails its checks stops the run, and
    that kernel is shut down whether it was still starting or already warm."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("scenarios: [0.5, 1.5]", "bounds: {tv: [0, 1]}"))
    first = kernels.prestart(kernels.ensure_kernel())
    if when == "ready":
        assert first.ready.wait(120) and first.error is None
    with pytest.raises(pipeline.RunError, match="unknown channel 'tv'"):
        pipeline.run(bad, out=tmp_path / "out", progress=False, kernel=first)
    assert first.ready.wait(120)
    time.sleep(0.5)
    assert not running(kernels_of(os.getpid())), "a kernel was left running"
    assert not (tmp_path / "out").exists()
