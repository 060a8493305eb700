"""The Jupyter kernels the stages run in: started ahead and warm, given their stage when it begins, killed on Ctrl-C.

A kernel starts in the system's temporary folder (never in a run folder, which Ctrl-C may remove while the kernel
is still starting) and imports the stack (:data:`WARM_UP`) while earlier work goes on: the CLI's own imports and
checks for the first stage, the stage before for the others. When its stage begins, :func:`enter` moves it into
the run folder and names the stage (``MMM_STAGE``, for :func:`mmmhelpers.report.progress`). This module imports
only jupyter_client, so that the CLI can start the first kernel before it imports PyMC.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, cast

from jupyter_client import AsyncKernelClient, AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Type

from mmmhelpers import kernel_forks

__all__ = ["KERNEL", "STOP", "Warm", "ensure_kernel", "raise_open_files_limit", "prestart", "enter", "shutdown",
           "discard", "kill_all"]

KERNEL = "mmm-report"
STOP = threading.Event()  # set on Ctrl-C: no new kernel starts, the running ones are killed
_KERNELS: set[AsyncKernelManager] = set()  # kernels of this process that are running
# the clients of our kernels not yet stopped, with their kernel's manager (see _KernelManager)
_CLIENTS: list[tuple[AsyncKernelManager, AsyncKernelClient]] = []

# What every notebook imports first (about 4 s; nothing left to do in a forked kernel). The user namespace stays empty:
# the notebook runs as in a new kernel.
WARM_UP = (f"import {', '.join(kernel_forks.FIRST_IMPORTS)}\n"
           f"del {', '.join(sorted({name.split('.')[0] for name in kernel_forks.FIRST_IMPORTS}))}")


class _Client(AsyncKernelClient):
    """A kernel client without the heartbeat channel.

    A client its kernel manager made asks the manager whether the kernel lives (the process), never the heartbeat;
    yet the heartbeat thread still pings every second and, when a ping is late (three kernels compiling on two
    cores), closes and re-makes its socket. Under that load the re-made socket once failed with zmq's "Too many
    open files", a traceback on stderr after a run that succeeded (CI and a fresh clone, once each).
    """

    def start_channels(self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True,
                       control: bool = True) -> None:
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)


class _Provisioner(LocalProvisioner):
    """jupyter_client's local provisioner, whose kernel is a fork of a process that imported the stack
    (:mod:`mmmhelpers.kernel_forks`) where it can be; else a new process, as before."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        forked = await asyncio.to_thread(kernel_forks.spawn, cmd, kwargs.get("cwd"), kwargs.get("env"))
        if forked is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process, self.pid, self.pgid = forked, forked.pid, forked.pid  # type: ignore[assignment]
        self.cwd = kwargs.get("cwd", Path.cwd())
        return self.connection_info


class _KernelManager(AsyncKernelManager):
    """The kernel manager papermill gets (nbclient's AsyncKernelManager), with four changes.

    * Shutting down does not interrupt the kernel first: the notebook is done and the kernel idle, and the
      interrupt's SIGINT could land while the kernel finishes its last reply, which it logs as
      ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel`` on our stderr after a good run.
    * Each running kernel is known to :func:`kill_all` (Ctrl-C kills it, and every process it started).
    * Its clients (papermill's and ours) run no heartbeat channel (:class:`_Client`), and shutting the kernel
      down stops their channels: papermill stops its client's channels only for a kernel it started itself, and a
      client left running pinged its dead kernel every second. Until then :data:`_CLIENTS` holds each client: a
      client collected as garbage with its channels open makes its zmq context's finalizer wait forever for
      sockets it can no longer close (``Context.__del__`` -> ``term``: a test process hung there once).
    * Its kernel is forked from a process that imported the stack once (:class:`_Provisioner`) where it can be.
    """

    client_factory = Type(_Client, klass=AsyncKernelClient)

    def client(self, **kw: Any) -> AsyncKernelClient:  # type: ignore[override]
        kc = super().client(**kw)
        _CLIENTS.append((self, kc))
        return kc

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.provisioner is None:  # as jupyter_client makes its LocalProvisioner, but ours
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = _Provisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    # jupyter_client's AsyncKernelManager turns KernelManager's synchronous methods into coroutines the same way
    async def start_kernel(self, **kw) -> None:  # type: ignore[override]
        if STOP.is_set():
            raise RuntimeError("interrupted: no new kernel")
        await super().start_kernel(**kw)
        _KERNELS.add(self)
        if STOP.is_set():  # Ctrl-C came while it was starting
            _kill(self)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """What shutting down ends with (``shutdown_kernel`` calls this, not ``cleanup_resources``)."""
        _KERNELS.discard(self)
        for km, kc in list(_CLIENTS):
            if km is self:
                if kc.channels_running:
                    kc.stop_channels()
                _CLIENTS.remove((km, kc))
        await super()._async_cleanup_resources(restart=restart)

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        await self._async_cleanup_resources(restart=restart)


def _kill(km: AsyncKernelManager) -> None:
    """SIGKILL a kernel's process group (it runs in a session of its own: the kernel and its children)."""
    proc = getattr(km.provisioner, "process", None)
    if proc is None or proc.poll() is not None:  # not started, or already gone (and its pid maybe reused)
        return
    try:
        os.killpg(getattr(km.provisioner, "pgid", None) or proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


OPEN_FILES = 4096  # what a run may hold open: each kernel's client holds about 40 (zmq sockets, their event fds)


def raise_open_files_limit(minimum: int = OPEN_FILES) -> int:
    """Raise this process's soft limit of open files to ``minimum`` (at most the hard limit), as Jupyter's server
    does: three kernels side by side and one started ahead hold about 130, and a soft limit near that (some CI
    machines and containers) made a kernel's heartbeat fail with "Too many open files". Returns the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = minimum if hard == resource.RLIM_INFINITY else min(minimum, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def ensure_kernel() -> str:
    """A Jupyter kernel named ``mmm-report`` that runs this Python (installed into sys.prefix); raises the limit of
    open files for the kernels' clients (:func:`raise_open_files_limit`)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    raise_open_files_limit()

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        if spec.argv and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL, display_name="Python (mmm-report)", prefix=sys.prefix)
    return KERNEL


@dataclass
class Warm:
    """A kernel started ahead of its stage (:func:`prestart`); ``ready`` is set once it has imported the stack."""

    km: AsyncKernelManager
    ready: threading.Event
    error: BaseException | None = None
    discarded: bool = False  # not needed after all (:func:`discard`): shut down as soon as it is up
    finished: threading.Event = field(default_factory=threading.Event)  # its thread is done with the kernel's sockets

    @property
    def usable(self) -> bool:
        """Still starting, or started well: not failed, not gone."""
        return not self.ready.is_set() or (self.error is None and self.km.has_kernel)


async def _run_code(km: AsyncKernelManager, code: str, wait_ready: bool = False, timeout: float = 300) -> None:
    """Run ``code`` in the kernel and wait for its reply on the shell channel; raise if it fails.

    The reply is read from the shell channel, not from IOPub: a new client's IOPub subscription can miss the
    kernel's first messages (ZeroMQ's "slow joiner"), and waiting there for the "idle" status then hangs until
    the timeout. That happened once in CI (``enter`` of a warm kernel: "Timeout waiting for output" after 300 s).
    """
    kc = km.client()
    kc.start_channels()
    try:
        if wait_ready:
            await kc.wait_for_ready(timeout=120)
        msg_id = kc.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"kernel: no reply in {timeout:.0f} s to {code.splitlines()[0]!r}")
            try:
                reply = await kc.get_shell_msg(timeout=min(left, 1.0))
            except Empty:
                if not await kc.is_alive():
                    raise RuntimeError("kernel: died before replying") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()


def prestart(kernel: str = KERNEL) -> Warm:
    """Start a kernel now, in the temporary folder, and import the stack in it (in a thread of its own)."""
    km = _KernelManager(kernel_name=kernel)
    warm = Warm(km, threading.Event())

    async def start() -> None:
        await km.start_kernel(extra_arguments=["--IPKernelApp.log_level=ERROR"], cwd=tempfile.gettempdir())
        if warm.discarded:  # after start_kernel registered it: discard() saw it running, or we see the flag
            await km.shutdown_kernel(now=True)
            return
        await _run_code(km, WARM_UP, wait_ready=True)

    def work() -> None:
        try:
            asyncio.run(start())
        except BaseException as err:  # the stage then starts a kernel of its own
            warm.error = err
        finally:
            warm.ready.set()
            if warm.discarded and km in _KERNELS:  # discarded while it warmed up: shut down here, in its own thread
                shutdown(km)
            warm.finished.set()

    threading.Thread(target=work, name="kernel started ahead", daemon=True).start()
    return warm


def enter(warm: Warm, stage: str, folder: Path) -> None:
    """Once ``warm`` is ready: move it into the run ``folder`` and name its ``stage`` (Ctrl-C stops the wait)."""
    while not warm.ready.wait(0.1):
        if STOP.is_set():
            raise KeyboardInterrupt
    if warm.error is not None:
        raise warm.error
    asyncio.run(_run_code(warm.km, f"import os\nos.chdir({str(folder)!r})\nos.environ['MMM_STAGE'] = {stage!r}\ndel os"))


def shutdown(km: AsyncKernelManager) -> None:
    """Stop a kernel papermill did not start (it leaves those running) and remove its connection file."""
    try:
        asyncio.run(cast(Coroutine[Any, Any, None], km.shutdown_kernel(now=True)))  # typed as any Awaitable
    except Exception:  # noqa: BLE001 - already gone
        _kill(km)
        _KERNELS.discard(km)


def discard(warm: Warm, wait: float = 120.0) -> None:
    """A kernel started ahead that no stage will use: shut it down once its thread is done with it.

    Not while that thread still talks to the kernel: shutting down closes the clients' zmq sockets, and a socket
    closed while another thread polls it aborts the whole process (libzmq's ``Assertion failed: pfd.revents &
    POLLIN (src/signaler.cpp)``; a first stage that failed while the next stages' kernels warmed up, once in a
    fresh clone). Its thread shuts it down itself when it sees the flag; a thread still busy after ``wait`` seconds
    gets its kernel killed (no socket closed)."""
    warm.discarded = True
    if STOP.is_set():  # Ctrl-C: every kernel is killed already; its thread sees that and ends
        _kill(warm.km)
        return
    if warm.ready.is_set() and warm.km not in _KERNELS:  # never started, or shut down already: nothing to wait for
        return
    if not warm.finished.wait(wait):
        _kill(warm.km)
    elif warm.km in _KERNELS:  # the flag came after its thread looked
        shutdown(warm.km)


def kill_all(done: list[threading.Event] | None = None, wait: float = 15.0) -> None:
    """Ctrl-C: no new kernel, the running ones killed; then give papermill a moment to see it and return."""
    STOP.set()
    for km in list(_KERNELS):
        _kill(km)
    deadline = time.monotonic() + wait
    for event in done or []:
        event.wait(max(0.0, deadline - time.monotonic()))
