"""numba_ops: our numba SpecifyShape, Alloc, DimShuffle and Blockwise output store, as the fit's linker compiles them.

Each graph compiles through ``compile._numba_mode`` (the linker nutpie's callbacks are built with) and is checked
against hand-computed values; a wrong shape raises our constant message (which also shows ours was used:
PyTensor's formats the numbers).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from mmmhelpers import compile as mc
from mmmhelpers.numba_ops import own_implementation
from mmmhelpers.transforms import lagged_sum


def _fn(inputs, outputs):
    return pytensor.function(inputs, outputs, mode=mc._numba_mode({}))


def test_specify_shape_passes_the_right_shape_and_names_the_wrong_dim():
    x = pt.matrix("x")
    f = _fn([x], pt.specify_shape(x, (None, 3)) * 2.0)
    np.testing.assert_allclose(f(np.ones((4, 3))), np.full((4, 3), 2.0))
    with pytest.raises(ValueError, match="SpecifyShape: dim 1 of the input has another length than specified"):
        f(np.ones((4, 2)))


def test_alloc_of_a_scalar_fills_the_shape_asked_for():
    v = pt.scalar("v")
    n = pt.iscalar("n")
    f = _fn([v, n], pt.alloc(v, n, 3) + pt.zeros((n, 3)))
    assert any(type(node.op).__name__ == "Alloc" for node in f.maker.fgraph.apply_nodes)
    np.testing.assert_array_equal(f(1.5, 4), np.full((4, 3), 1.5))
    assert f(2.0, 0).shape == (0, 3)


def test_blockwise_adstock_of_an_impulse_over_markets_and_its_gradient():
    """The batched convolution (a Blockwise whose core output is a series) over 2 markets x 2 channels: an
    impulse in week 1 spreads over the next weeks by the weights; d/dw[l] sum y^2 = 2 y[1 + l] x[1]."""
    x = pt.tensor3("x")  # (week, market, channel)
    w = pt.tensor("w", shape=(3, None))  # (lag, channel)
    y = lagged_sum(x, w)
    f = _fn([x, w], [y, pytensor.grad((y**2).sum(), w)])
    assert any(type(node.op).__name__ == "BlockwiseWithCoreShape" for node in f.maker.fgraph.apply_nodes)
    xv = np.zeros((5, 2, 2))
    xv[1] = [[1.0, 2.0], [3.0, 0.0]]
    wv = np.array([[0.5, 0.6], [0.3, 0.3], [0.2, 0.1]])
    yv, gv = f(xv, wv)
    for lag in range(3):
        np.testing.assert_allclose(yv[1 + lag], wv[lag] * xv[1])
    np.testing.assert_allclose(yv[[0, 4]], 0.0)
    np.testing.assert_allclose(gv, 2 * (yv[1:4] * xv[1]).sum(axis=1))


def test_the_blockwise_store_copies_a_core_output_and_refuses_another_shape():
    from numba import njit

    from mmmhelpers.numba_ops import _store_core_outputs

    @njit
    def double(a):
        return a * 2.0

    store = _store_core_outputs(double, nin=1, nout=1)  # callable from numba only (no Python wrapper)

    @njit
    def call(a, out):
        store(a, out)

    out = np.zeros((2, 3))
    call(np.arange(6.0).reshape(2, 3), out)
    np.testing.assert_array_equal(out, [[0, 2, 4], [6, 8, 10]])
    with pytest.raises(ValueError, match="Blockwise: a core output has another shape"):
        call(np.arange(2.0), np.zeros(3))


@pytest.mark.parametrize("order, shape", [((1, 0), (3, 4)), (("x", 0, "x", 1), (3, 4)), ((2, "x", 0), (3, 1, 4)),
                                          ((), (1, 1)), (("x", "x"), ())])
def test_dimshuffle_is_numpys_view_of_any_layout(order, shape):
    """Transposes, new axes and dropped axes of length 1 through the fit's linker equal numpy's, on a contiguous
    input and on a strided view of one (every other row and column of a larger array)."""
    x = pt.tensor("x", shape=(None,) * len(shape))
    f = _fn([x], x.dimshuffle(*order) * 1.0)
    shuffles = [n for n in f.maker.fgraph.apply_nodes if type(n.op).__name__ == "DimShuffle"]
    assert shuffles and all(own_implementation(n)[0][0] == "DimShuffle" for n in shuffles)  # ours compiled them
    big = np.arange(float(np.prod([2 * n for n in shape]))).reshape([2 * n for n in shape])
    every_other = big[tuple(slice(None, None, 2) for _ in shape)] if shape else big
    for value in (np.ascontiguousarray(every_other) if shape else big, every_other):
        kept = [o for o in order if o != "x"]
        dropped = [d for d in range(len(shape)) if d not in kept]
        want = np.expand_dims(value.squeeze(axis=tuple(dropped)).transpose(np.argsort(np.argsort(kept))),
                              [i for i, o in enumerate(order) if o == "x"])
        np.testing.assert_array_equal(f(value), want)


def test_dimshuffle_refuses_to_drop_an_axis_longer_than_one():
    from numba import njit

    from mmmhelpers.numba_ops import _dimshuffle

    x = pt.tensor("x", shape=(None, 1))
    dimshuffle = _dimshuffle(x.dimshuffle(0).owner)  # callable from numba only (no Python wrapper)

    @njit
    def call(a):
        return dimshuffle(a).copy()

    np.testing.assert_array_equal(call(np.ones((3, 1))), np.ones(3))
    with pytest.raises(ValueError, match="DimShuffle: a dropped axis has a length other than one"):
        call(np.ones((3, 2)))
