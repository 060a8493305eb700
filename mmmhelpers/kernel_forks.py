"""Kernels forked from one process that imported the stack once (Linux).

Every stage runs in a Jupyter kernel of its own, and a kernel started as a new Python process imports PyMC, ArviZ,
matplotlib and this package anew: about 5 s of CPU each, for five or more kernels per report. Here one server per
process that starts kernels (:func:`spawn` starts it on first use) imports them once (:data:`PRELOAD`); a kernel is
a fork of the server that runs ``ipykernel`` with its own connection file, folder and environment, in a session of
its own. Its manager sees it through :class:`ForkedKernel`: what jupyter_client's provisioner does with a Popen.

The server reads one JSON request per line on its standard input and answers one JSON line on the descriptor named
on its command line. It leaves when its input closes (the process that started it is gone); the kernels it forked
then leave too (ipykernel watches its parent). ``MMM_KERNEL_FORKS=0`` starts every kernel as a new process.
This module imports only the standard library: the server imports the rest.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import IO

__all__ = ["FIRST_IMPORTS", "PRELOAD", "SERVER_MODULE", "ForkedKernel", "available", "spawn"]

SERVER_MODULE = "mmmhelpers.kernel_forks"
# What every stage's notebook imports first: each kernel imports it before its stage begins (kernels.WARM_UP)
FIRST_IMPORTS = ("matplotlib.pyplot", "mmmhelpers.artifacts", "mmmhelpers.plots", "mmmhelpers.report")
# What the server imports before it forks: that, ipykernel itself, PyMC and the modules the notebooks call
PRELOAD = ("IPython", "ipykernel.kernelapp", "matplotlib_inline.backend_inline", *FIRST_IMPORTS, "pymc", "arviz",
           "mmmhelpers.calibration", "mmmhelpers.case_data", "mmmhelpers.checks", "mmmhelpers.contributions",
           "mmmhelpers.fit", "mmmhelpers.fit_page", "mmmhelpers.optimize", "mmmhelpers.out_of_sample",
           "mmmhelpers.recovery", "mmmhelpers.response")


class ForkedKernel:
    """A kernel the server forked, as jupyter_client's LocalProvisioner uses a Popen: ``pid``, ``poll``, ``wait``,
    signals. The process is not our child: a pidfd follows it (never another process that reuses its pid); its
    exit status is the server's to collect, so ``returncode`` is 0 once it has gone, whatever it was."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._fd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        return self.wait(0.0) if self.returncode is None else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:  # the pidfd stays open until this object goes: threads may poll it at once
            if not select.select([self._fd], [], [], timeout)[0]:
                if timeout == 0.0:
                    return None
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0.0)
            self.returncode = 0
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel if it is still there (as Popen's: nothing once it has gone)."""
        if self.poll() is None:
            try:
                signal.pidfd_send_signal(self._fd, signum)
            except ProcessLookupError:  # it went since the poll
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def __del__(self) -> None:
        if hasattr(self, "_fd"):
            os.close(self._fd)


class _Server:
    """The server process (Python started with the kernels' ``options``) and its two pipes; one request at a time."""

    def __init__(self, options: list[str]) -> None:
        read, write = os.pipe()
        self.options, self.env = options, dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, *options, "-m", SERVER_MODULE, str(write)],
                                     stdin=subprocess.PIPE, pass_fds=(write,), cwd=tempfile.gettempdir())
        os.close(write)
        self.replies: IO[bytes] = os.fdopen(read, "rb")
        self.lock = threading.Lock()
        self.seen: dict[str, str] | None = None  # the environment its imports saw (:func:`_seen`), once it is ready
        self.set_by_imports: set[str] = set()  # what they put in its environment themselves

    def fork(self, options: list[str], args: list[str], cwd: str, env: dict[str, str]) -> int | None:
        """The pid of a kernel forked with ``args`` in ``cwd``; None when the server's imports ran with other
        Python options or saw another environment than ``env`` (what jupyter_client sets for each kernel and what
        the imports set themselves aside): such a kernel starts as a new process."""
        with self.lock:
            if self.seen is None:
                ready = self._reply()
                if "error" in ready:
                    raise RuntimeError(f"kernel server: {ready['error']}")
                self.set_by_imports = set(ready["set"])
                self.seen = _seen(self.env, self.set_by_imports)
            if options != self.options or _seen(env, self.set_by_imports) != self.seen:
                return None
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"args": args, "cwd": cwd, "env": env}).encode() + b"\n")
            self.proc.stdin.flush()
            reply = self._reply()
        if "error" in reply:
            raise RuntimeError(f"kernel server: {reply['error']}")
        return int(reply["pid"])

    def _reply(self) -> dict:
        line = self.replies.readline()
        if not line:
            raise RuntimeError(f"kernel server: gone (exit code {self.proc.poll()})")
        return json.loads(line)


def _seen(env: Mapping[str, str], set_by_imports: set[str]) -> dict[str, str]:
    """What of an environment the server's imports may have read (PyTensor's and numba's flags, ...): all but what
    jupyter_client sets for each kernel and what the imports set themselves (``KMP_DUPLICATE_LIB_OK``, ...)."""
    return {k: v for k, v in env.items() if not k.startswith(("JPY_", "PYDEVD_")) and k not in set_by_imports}


_SERVER: _Server | None = None
_BROKEN: list[str] = []  # why forking failed in this process: every kernel is then a new process
_START = threading.Lock()


def available() -> bool:
    """Kernels are forked here: Linux with pidfds (5.3 and later, not refused by a sandbox), not turned off, and no
    failure so far in this process."""
    return sys.platform == "linux" and _pidfds() and not _BROKEN and os.environ.get("MMM_KERNEL_FORKS", "1") != "0"


@functools.cache
def _pidfds() -> bool:
    """This system gives pidfds (how :class:`ForkedKernel` follows a kernel that is not our child)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


def _launcher(cmd: list[str]) -> tuple[list[str], list[str]] | None:
    """``cmd`` as (Python's options, ipykernel's arguments) when it is ``this-python [-X...] -m ipykernel_launcher
    ARGS`` (the kernel spec :func:`mmmhelpers.kernels.ensure_kernel` installs); else None."""
    if not cmd or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable) or "ipykernel_launcher" not in cmd:
        return None
    at = cmd.index("ipykernel_launcher")
    options = cmd[1:at - 1]
    if cmd[at - 1] != "-m" or not all(o.startswith("-X") for o in options):
        return None
    return options, cmd[at + 1:]


def spawn(cmd: list[str], cwd: str | os.PathLike | None, env: dict[str, str] | None) -> ForkedKernel | None:
    """A kernel forked for ``cmd`` (``python -m ipykernel_launcher ARGS``) in folder ``cwd`` with environment
    ``env``; None when this command or this process cannot have one (start it as a new process then)."""
    global _SERVER
    launcher = _launcher(cmd)
    if not available() or launcher is None:
        return None
    options, args = launcher
    try:
        with _START:
            if _SERVER is None or _SERVER.proc.poll() is not None:
                _SERVER = _Server(options)
            server = _SERVER
        pid = server.fork(options, args, str(cwd or os.getcwd()), dict(env or os.environ))
        return None if pid is None else ForkedKernel(pid)
    except (OSError, RuntimeError, ValueError) as err:
        _BROKEN.append(str(err))
        return None


# --- the server ---------------------------------------------------------------------------------------------------

def _reap(signum: int, frame: object) -> None:
    """SIGCHLD: collect every kernel that has ended (they are this process's children)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kernel(args: list[str], cwd: str, env: dict[str, str], server_fds: set[int]) -> None:
    """In the forked child: close the server's descriptors ``server_fds`` and become ``python -m ipykernel_launcher
    ARGS`` in ``cwd``; never returns."""
    code = 1
    try:
        os.setsid()  # a session and process group of its own, as jupyter_client starts a kernel
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a new Python process
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for fd in server_fds:
            os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # leave when this server is gone
        if sys.path and sys.path[0] in ("", os.path.realpath(tempfile.gettempdir())):
            del sys.path[0]  # as ipykernel_launcher does with the folder it started in
        from ipykernel import kernelapp

        # ipykernel reads JPY_PARENT_PID when it is imported (here: in the server, which has none)
        sys.argv = [kernelapp.__file__, *args, f"--IPKernelApp.parent_handle={os.getppid()}"]
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    finally:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - closed already
                pass
        os._exit(code)


def serve(reply_fd: int) -> None:
    """Import :data:`PRELOAD`, then fork a kernel for each request on standard input until it closes."""
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run: it kills the kernels it needs to
    replies = os.fdopen(reply_fd, "w", buffering=1)
    before = dict(os.environ)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # as ipykernel sets it
    try:
        for name in PRELOAD:
            importlib.import_module(name)
        if threading.active_count() != 1:  # a fork copies the calling thread only (the native pools of OpenBLAS and
            # pyarrow's jemalloc start again in the child: their libraries fork-proof them)
            raise RuntimeError(f"{threading.active_count()} Python threads after the imports: a fork copies one")
    except Exception as err:  # noqa: BLE001 - said to the caller, which starts its kernels as new processes
        replies.write(json.dumps({"error": f"{type(err).__name__}: {err}"}) + "\n")
        return
    signal.signal(signal.SIGCHLD, _reap)
    changed = [k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)]
    replies.write(json.dumps({"set": changed}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            pid = os.fork()
        except OSError as err:
            replies.write(json.dumps({"error": f"fork: {err}"}) + "\n")
            continue
        if pid == 0:
            _kernel(request["args"], request["cwd"], request["env"], {reply_fd})
        replies.write(json.dumps({"pid": pid}) + "\n")


if __name__ == "__main__":
    serve(int(sys.argv[1]))
