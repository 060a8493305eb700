"""Numba's code generation for a C callback: machine code made once, for the library that is run.

Numba compiles every function it meets (PyTensor's node functions, numba's own helpers: about 380 in the tiny
case's log density) into a library of its own and *finalizes* it at once: links in its callees' modules, optimizes
the lot and makes machine code of it, so that Python could call it. A C callback only ever runs the last library,
which links every other one in: the other libraries' machine code is never run.

Inside :func:`machine_code_on_demand` a library numba compiles is linked and optimized as before, but made machine
code only when something asks for its code: a pointer to a function it defines (the C callback's, a function Python
calls) or its object code (numba's disk cache). Every library's optimized module is what it was, so the callback's
code is the same whatever the process compiled before (skipping the other libraries' optimization too compiled
faster still, but made the callback's code depend on which helpers the process had compiled before: other draws
from the same model on another machine). Measured on a cold compile: see benchmarks/notes.md.

Outside the context numba behaves as before; a library deferred inside it is finished the first time its code is
asked for, in or out of the context. Without the numba internals this relies on (:func:`supported`), the context
changes nothing.
"""

from __future__ import annotations

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


def _finish(library) -> None:
    """Make a deferred library machine code (once)."""
    if not getattr(library, "_mmm_deferred", False):
        return
    library._mmm_deferred = False
    codegen = library._codegen
    codegen._add_module(library._final_module)
    library._finalize_specific()
    for name in list(_PENDING_ENVS):  # environments of functions now in machine code: numba's own set_env
        if codegen._engine.get_global_value_address(name):
            _ORIGINAL["set_env"](codegen, name, _PENDING_ENVS.pop(name))


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

    def optimize_final_module(self) -> None:  # called by finalize() only: a library numba compiled
        _ORIGINAL["optimize"](self)
        if _STATE["depth"] and isinstance(self, cg.JITCodeLibrary):
            self._mmm_defer = True

    def finalize_final_module(self) -> None:
        if not getattr(self, "_mmm_defer", False):
            _ORIGINAL["final"](self)
            return
        self._mmm_defer = False
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
        if self._engine.get_global_value_address(env_name):
            _ORIGINAL["set_env"](self, env_name, env)
        else:  # its library is not machine code yet: set when it is
            _PENDING_ENVS[env_name] = env

    cg.CPUCodeLibrary._optimize_final_module = optimize_final_module
    cg.CPUCodeLibrary._finalize_final_module = finalize_final_module
    cg.JITCodeLibrary.get_pointer_to_function = get_pointer_to_function
    cg.CPUCodeLibrary.serialize_using_object_code = serialize_using_object_code
    cg.JITCPUCodegen.set_env = set_env
