"""Numba libraries made machine code on demand (``numba_codegen``): the same results, the work done once."""

import numpy as np
import pytest

from mmmhelpers import numba_codegen

numba = pytest.importorskip("numba")


def _callee_and_cfunc(offset: float):
    """A helper numba compiles into a library of its own (no Python wrapper), and a C callback calling it."""
    from numba import cfunc, njit, types

    @njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
    def helper(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += np.exp(x[i]) * (i + 1)
        return s + offset

    @cfunc(types.float64(types.CPointer(types.float64), types.int64))
    def callback(ptr, n):
        return helper(numba.carray(ptr, (n,)))

    return helper, callback


def _call(callback, x: np.ndarray) -> float:
    import ctypes

    fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.POINTER(ctypes.c_double), ctypes.c_int64)(callback.address)
    return fn(x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), len(x))


def test_a_callback_compiled_on_demand_computes_what_numba_computes_and_defers_its_helpers():
    assert numba_codegen.supported()
    x = np.array([0.1, -0.5, 2.0])
    expected = sum(np.exp(v) * (i + 1) for i, v in enumerate(x)) + 1.5
    with numba_codegen.machine_code_on_demand():
        helper, callback = _callee_and_cfunc(1.5)
        got = _call(callback, x)
    assert got == pytest.approx(expected, rel=1e-14)
    # the helper was compiled for the callback and never made machine code of its own; the callback's library was
    (helper_lib,) = [cres.library for cres in helper.overloads.values()]
    assert helper_lib._mmm_deferred and not callback._library._mmm_deferred
    _, plain = _callee_and_cfunc(1.5)  # outside: numba as before, the same number
    assert _call(plain, x) == got


def test_a_function_compiled_inside_runs_from_python_and_in_code_compiled_outside():
    """Asking for a deferred library's code (Python calls it; numba's cache serializes it) finishes it then; code
    compiled after the context links it in as usual. The environment of a function raising with a value is set
    when its machine code exists (numba writes it into the compiled code)."""
    from numba import njit

    with numba_codegen.machine_code_on_demand():
        @njit
        def scaled(x, k):
            if k < 0:
                raise ValueError("negative scale", k)
            return x * k

        @njit(no_cpython_wrapper=True)
        def inner(x):
            return x.sum() * 2.0

        @njit
        def outer(x):
            return inner(x) + 1.0

        assert scaled(np.arange(3.0), 2.0).tolist() == [0.0, 2.0, 4.0]
        with pytest.raises(ValueError, match="negative scale"):
            scaled(np.arange(3.0), -1.0)
        assert outer(np.ones(4)) == 9.0

    @njit
    def later(x):
        return inner(x) - 1.0

    assert later(np.ones(4)) == 7.0
    assert scaled(np.ones(2), 3.0).tolist() == [3.0, 3.0]
