"""Numba's code generation for a C callback: each library optimized and made machine code once, at the end.

Numba compiles every function it meets (PyTensor's node functions, numba's own helpers: about 380 in the tiny
case's log density) into a library of its own and *finalizes* it at once: links in its callees' modules, runs LLVM's
full module optimization over the lot, and makes machine code of it, so that Python could call it. A C callback
only ever runs the last library, which links every other one in and is optimized whole again: the other libraries'
module optimization and machine code are thrown away (about a quarter of a cold compile).

Inside :func:`machine_code_on_demand` a library compiled by numba keeps its function-level passes but skips the
module optimization and machine code; both happen when something asks for the library's code: a pointer to a
function it defines (the C callback's, a function Python calls) or its object code (numba's disk cache). That
library is then optimized once over everything it linked in, as numba would have at the top. Measured on a cold
compile (benchmarks/notes.md): the tiny case 14 -> 10 s, the default case 15 -> 11.7 s, the knowledge case 31 -> 22 s,
the gradient as fast.

Outside the context numba behaves as before; a library deferred inside it is finished the first time its code is
asked for, in or out of the context. Without the numba internals this relies on (:func:`supported`), the context
changes nothing.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["machine_code_on_demand", "supported"]

_STATE = {"depth": 0, "installed": False}
_LOCK = threading.Lock()
_PENDING_ENVS: dict[str, object] = {}  # env global -> its environment, for libraries not yet machine code
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def supported() -> bool:
    """Whether numba's codegen has the methods this module wraps (numba 0.6x)."""
    try:
        from numba.core import codegen as cg
    except ImportError:
        return False
    needed = {cg.CPUCodeLibrary: ("_optimize_final_module", "_finalize_final_module", "serialize_using_object_code",
                                  "_finalize_dynamic_globals", "_verify_declare_only_symbols"),
              cg.JITCodeLibrary: ("get_pointer_to_function", "_finalize_specific"),
              cg.JITCPUCodegen: ("set_env", "_add_module")}
    return all(hasattr(cls, name) for cls, names in needed.items() for name in names)


@contextmanager
def machine_code_on_demand() -> Iterator[None]:
    """Numba libraries compiled inside are optimized and made machine code only when their code is asked for."""
    if not supported():
        yield
        return
    _install()
    with _LOCK:
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1


def _set_pointer(address: int, env: object) -> None:
    (ctypes.c_void_p * 1).from_address(address)[0] = ctypes.c_void_p(id(env))


def _finish(library) -> None:
    """Optimize a deferred library over what it linked in and make it machine code (once)."""
    if not getattr(library, "_mmm_deferred", False):
        return
    library._mmm_deferred = False
    _ORIGINAL["optimize"](library)
    codegen = library._codegen
    codegen._add_module(library._final_module)
    library._finalize_specific()
    for name in list(_PENDING_ENVS):  # environments of functions now in machine code
        address = codegen._engine.get_global_value_address(name)
        if address:
            _set_pointer(address, _PENDING_ENVS.pop(name))


def _install() -> None:
    """Wrap numba's codegen methods (once per process); they act as numba's own for libraries not deferred."""
    with _LOCK:
        if _STATE["installed"]:
            return
        _STATE["installed"] = True
    from numba.core import codegen as cg

    _ORIGINAL.update(optimize=cg.CPUCodeLibrary._optimize_final_module, final=cg.CPUCodeLibrary._finalize_final_module,
                     pointer=cg.JITCodeLibrary.get_pointer_to_function,
                     serialize=cg.CPUCodeLibrary.serialize_using_object_code, set_env=cg.JITCPUCodegen.set_env)

    def optimize_final_module(self) -> None:
        if _STATE["depth"] and isinstance(self, cg.JITCodeLibrary):
            self._mmm_skipped = True  # finalize() -> optimized by _finish, if ever
            return
        _ORIGINAL["optimize"](self)

    def finalize_final_module(self) -> None:
        if not getattr(self, "_mmm_skipped", False):
            _ORIGINAL["final"](self)
            return
        self._mmm_skipped = False
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._final_module._CPUCodeLibrary__library = weakref.proxy(self)  # numba's object-cache hooks
        self._mmm_deferred = True
        self._finalized = True

    def get_pointer_to_function(self, name: str) -> int:
        self._ensure_finalized()
        if getattr(self, "_mmm_deferred", False):
            try:
                defined = not self._final_module.get_function(name).is_declaration
            except NameError:
                defined = False
            if defined:
                _finish(self)
        return _ORIGINAL["pointer"](self, name)

    def serialize_using_object_code(self):
        self._ensure_finalized()
        _finish(self)
        return _ORIGINAL["serialize"](self)

    def set_env(self, env_name: str, env: object) -> None:
        address = self._engine.get_global_value_address(env_name)
        if address:
            _set_pointer(address, env)
        else:  # its library is not machine code yet: set when it is
            _PENDING_ENVS[env_name] = env

    cg.CPUCodeLibrary._optimize_final_module = optimize_final_module
    cg.CPUCodeLibrary._finalize_final_module = finalize_final_module
    cg.JITCodeLibrary.get_pointer_to_function = get_pointer_to_function
    cg.CPUCodeLibrary.serialize_using_object_code = serialize_using_object_code
    cg.JITCPUCodegen.set_env = set_env
