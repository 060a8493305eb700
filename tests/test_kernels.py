"""The Jupyter kernels the stages run in (``mmmhelpers.kernels``): a kernel started ahead is usable until it fails or
is gone, and a failed one raises its error when its stage begins; with real kernels (slow): each stage starts in a
warm kernel with nothing defined, and shutting a kernel down prints nothing.

Elsewhere (they test a run that stops early, with a kernel started ahead): tests/test_interrupts.py, in
``test_a_case_that_fails_its_checks_leaves_no_kernel`` and the Ctrl-C tests (``kill_all``).
"""

import asyncio
import gc
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from jupyter_client import AsyncKernelManager
from jupyter_client.channels import HBChannel
from runs import TINY, kernels_of, running, stand_in_notebooks

from mmmhelpers import kernel_forks, kernels, pipeline
from mmmhelpers.kernels import KERNEL, Warm, discard, enter
from mmmhelpers.pipeline import STAGES


def test_a_kernel_started_ahead_is_usable_until_it_fails_or_is_gone(tmp_path):
    """No kernel process is started: a manager that never ran is what a failed or finished start leaves."""
    warm = Warm(AsyncKernelManager(kernel_name=KERNEL), threading.Event())
    assert warm.usable  # still starting
    warm.error = RuntimeError("kernel: died before replying")
    warm.ready.set()
    assert not warm.usable  # started, and failed
    with pytest.raises(RuntimeError, match="died before replying"):  # its stage then starts a kernel of its own
        enter(warm, STAGES[1], tmp_path)
    warm.error = None
    assert not warm.km.has_kernel and not warm.usable  # started well, but its process is gone
    discard(warm)
    assert warm.discarded  # not running: nothing to shut down now, and a start in progress stops at once


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
def test_stages_start_in_warm_kernels_with_nothing_defined(tmp_path, monkeypatch):
    """Each stage's kernel was started ahead and has imported the stack; the notebook's namespace is as new. The
    first stage runs in the kernel the caller started (the CLI starts it before it imports PyMC). Run in this
    process, so that a kernel left running would still be our child (a kernel exits with its parent)."""
    probe = ("import sys\nwith open(sys.modules['os'].environ['MMM_STAGE'] + '.warm', 'w') as f:\n"
             "    f.write(f\"{'mmmhelpers.report' in sys.modules} "
             "{[n for n in dir() if 'matplotlib' in n or 'mmm' in n]} \"\n"
             "            f\"{sys.modules['os'].getpid()}\")")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", stand_in_notebooks(tmp_path / "nb", {s: probe for s in STAGES}))
    monkeypatch.setenv("MMM_RENDERER", "nbconvert")
    cwd = Path.cwd()
    first = kernels.prestart(kernels.ensure_kernel())
    assert first.ready.wait(120) and first.error is None
    pid = first.km.provisioner.process.pid
    out = pipeline.run(TINY, out=tmp_path / "reports" / "r", progress=False, kernel=first)
    said = [(out / f"{s}.warm").read_text().rsplit(" ", 1) for s in STAGES]  # each kernel ran in the run folder
    assert [warm for warm, _ in said] == ["True []"] * 5
    assert int(said[0][1]) == pid and len({p for _, p in said}) == 5  # one kernel per stage, the first one ours
    assert Path.cwd() == cwd  # and ours never moved (papermill's cwd would chdir this process)
    time.sleep(0.5)
    assert not running(kernels_of(os.getpid())), "kernels left running after the run"
    # no client of a stage's kernel is left running: papermill stops its client's channels only for kernels it
    # started itself, and a heartbeat thread left behind pinged its dead kernel every second, re-making its
    # socket each time (CI once saw it fail with zmq's "Too many open files" on stderr after a good run)
    left = [t.name for t in threading.enumerate() if isinstance(t, HBChannel) or "Channel" in type(t).__name__]
    assert not left, left


@pytest.fixture
def own_server(monkeypatch):
    """A kernel server of the test's own, started with the test's environment and stderr (capfd's); stopped after."""
    monkeypatch.setattr(kernel_forks, "_SERVER", None)
    yield
    if kernel_forks._SERVER is not None:
        kernel_forks._SERVER.proc.kill()
        kernel_forks._SERVER.proc.wait()


SLOW_LAST_REPLY = """
import asyncio, time
kernel = get_ipython().kernel
reply = kernel.shell_handlers["kernel_info_request"]

async def slow(*args):  # papermill's last request: the kernel keeps handling it for a second after replying
    result = reply(*args)
    if asyncio.iscoroutine(result):
        await result
    time.sleep(1.0)

kernel.shell_handlers["kernel_info_request"] = slow
"""


@pytest.mark.slow  # starts real kernels or the CLI (seconds each)
def test_kernel_shutdown_prints_nothing(tmp_path, monkeypatch, capfd, own_server):
    """jupyter_client interrupts a kernel before shutting it down; when the SIGINT lands while the kernel
    finishes its last reply, the kernel logs "KeyboardInterrupt caught in kernel" on our stderr."""
    import papermill as pm

    notebooks = stand_in_notebooks(tmp_path / "nb", {"01_simulate": SLOW_LAST_REPLY})
    kernel = pipeline.ensure_kernel()
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    pm.execute_notebook(str(notebooks / "01_simulate.ipynb"), str(tmp_path / "plain.ipynb"), kernel_name=kernel,
                        progress_bar=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])
    assert "KeyboardInterrupt caught in kernel" in capfd.readouterr().err  # the cause, with papermill's own manager
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    pipeline.execute_stage("01_simulate", run, TINY, quick=False, kernel=kernel, progress=False)
    assert capfd.readouterr().err == ""
    assert (run / "notebooks" / "01_simulate.ipynb").exists()


def test_the_soft_limit_of_open_files_is_raised_up_to_the_hard_limit():
    """In a child with a soft limit of 64 (hard: 4096 or what it may be): raised to 4096, never above the hard one."""
    import subprocess
    import sys

    code = ("import resource\nfrom mmmhelpers.kernels import raise_open_files_limit\n"
            "hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], {hard})\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
            "print(raise_open_files_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))")
    for hard, expected in [(8192, 4096), (1000, 1000)]:
        out = subprocess.run([sys.executable, "-c", code.format(hard=hard)], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).parents[1]).stdout.split()
        assert out[:2] == [str(expected), str(expected)], out


@pytest.mark.slow  # starts a real kernel
def test_a_client_left_open_never_hangs_the_garbage_collector():
    """What a run that failed before shutting its kernel down leaves: the kernel gone, its manager never cleaned
    up, a client's channels open. Collected as garbage, that client's zmq context waited forever in its finalizer
    for sockets it could no longer close (a test process of the suite hung there once): such clients stay
    referenced instead."""
    warm = kernels.prestart(kernels.ensure_kernel())
    assert warm.ready.wait(120) and warm.error is None
    kc = warm.km.client()
    kc.start_channels()
    holder = {"client": kc}
    holder["self"] = holder  # papermill's notebook client holds it in a reference cycle: only the collector frees it
    warm.km.provisioner.process.kill()
    warm.km.provisioner.process.wait()
    del kc, warm, holder
    done = threading.Event()
    threading.Thread(target=lambda: (gc.collect(), done.set()), daemon=True).start()
    assert done.wait(60), "the garbage collector hung on a kernel client's zmq context"


@pytest.mark.slow  # starts a kernel server and real kernels
@pytest.mark.skipif(not kernel_forks.available(), reason="kernels are forked on Linux (and not with MMM_KERNEL_FORKS=0)")
def test_a_kernel_is_a_fork_of_a_server_that_imported_the_stack_unless_the_environment_differs(tmp_path, monkeypatch,
                                                                                               own_server):
    """Each kernel is a fork of one server process that imported the stack: PyMC is there before any code runs, the
    kernel runs in a session of its own and leaves when killed. A kernel whose environment the server's imports did
    not see (a PyTensor flag set since), and any kernel with MMM_KERNEL_FORKS=0, is a new process."""
    import psutil

    first, second = kernels.prestart(kernels.ensure_kernel()), kernels.prestart(kernels.ensure_kernel())
    try:
        for warm in (first, second):
            assert warm.ready.wait(120) and warm.error is None
            pid = warm.km.provisioner.pid
            assert isinstance(warm.km.provisioner.process, kernel_forks.ForkedKernel)
            assert kernel_forks.SERVER_MODULE in " ".join(psutil.Process(pid).parent().cmdline())
            assert os.getsid(pid) == pid and os.getpgid(pid) == pid  # Ctrl-C's killpg reaches it and its children
        enter(first, STAGES[0], tmp_path)
        probe = ("import os, sys\nopen('probe.txt', 'w').write(f\"{'pymc' in sys.modules} {os.getcwd()} "
                 "{os.environ['MMM_STAGE']} {os.getppid() == int(os.environ['JPY_PARENT_PID'])}\")")
        asyncio.run(kernels._run_code(first.km, probe))
        assert (tmp_path / "probe.txt").read_text() == f"True {tmp_path} {STAGES[0]} True"
        process = second.km.provisioner.process
        assert process.poll() is None
        kernels._kill(second.km)
        assert process.wait(10) == 0 and process.poll() == 0  # gone (its exit status is the server's to collect)
        with pytest.raises(subprocess.TimeoutExpired):
            first.km.provisioner.process.wait(0.1)
    finally:
        for warm in (first, second):
            discard(warm)
    orphan = kernels.prestart(kernels.ensure_kernel())  # its server killed: it leaves too (ipykernel sees its parent go)
    assert orphan.ready.wait(120) and orphan.error is None
    kernel_forks._SERVER.proc.kill()
    assert orphan.km.provisioner.process.wait(20) == 0
    discard(orphan)
    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    third = kernels.prestart(kernels.ensure_kernel())
    monkeypatch.setenv("MMM_KERNEL_FORKS", "0")
    fourth = kernels.prestart(kernels.ensure_kernel())
    try:
        for warm in (third, fourth):
            assert warm.ready.wait(120) and warm.error is None
            assert isinstance(warm.km.provisioner.process, subprocess.Popen)
    finally:
        for warm in (third, fourth):
            discard(warm)
    time.sleep(0.5)
    assert not running(kernels_of(os.getpid())), "kernels left running"


@pytest.mark.skipif(not kernel_forks.available(), reason="kernels are forked on Linux (and not with MMM_KERNEL_FORKS=0)")
def test_a_forked_kernel_is_followed_by_its_pidfd_and_only_the_kernel_spec_s_command_is_forked(monkeypatch):
    """ForkedKernel on a process that is not a kernel: alive until killed, then gone for good; the kernel spec's
    command (Python options, ``-m ipykernel_launcher``, its arguments) is split, anything else is not forked."""
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        followed = kernel_forks.ForkedKernel(proc.pid)
        assert followed.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            followed.wait(0.05)
        followed.kill()
        proc.wait(10)  # ours to collect: the pidfd says it is gone all the same
        assert followed.wait(10) == 0 and followed.poll() == 0
        followed.kill()  # gone: nothing is signalled (its pid may be another process's by now)
    finally:
        proc.kill()
    spec = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert kernel_forks._launcher(spec) == (["-Xfrozen_modules=off"], ["-f", "{connection_file}"])
    assert kernel_forks._launcher(["/usr/bin/python3", *spec[1:]]) in (None, (["-Xfrozen_modules=off"], spec[4:]))
    assert kernel_forks._launcher([sys.executable, "-O", "-m", "ipykernel_launcher"]) is None
    assert kernel_forks._launcher([sys.executable, "-m", "other_kernel", "ipykernel_launcher"]) is None
    monkeypatch.setenv("MMM_KERNEL_FORKS", "0")
    assert not kernel_forks.available() and kernel_forks.spawn(spec, None, None) is None
