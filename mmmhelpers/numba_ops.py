"""Numba implementations of PyTensor ops whose own ones compile numba's string machinery for nothing.

PyTensor's numba ``SpecifyShape`` formats its error message at run time (an f-string of the shapes); its
``Alloc`` fills with ``res[...] = val`` and its ``Blockwise`` stores each core output with ``out[...] = core``,
whose broadcasting errors format the shapes too. Numba compiles its integer-to-string, ``repr`` and
string-concatenation helpers for those messages: about 2 to 2.5 s each in a cold compile of the default case,
for messages a sampled model never raises. Here the same checks raise constant messages (what failed, not the
numbers). Its ``DimShuffle`` calls numba's ``as_strided``, three more helper functions per array type; ours makes
the same view directly. :class:`compile._OneFunctionPerNode` uses these for the nodes they cover and PyTensor's own
for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from pytensor.graph.basic import Apply
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.shape import SpecifyShape
from pytensor.tensor.type_other import NoneTypeT

__all__ = ["own_implementation", "core_outputs_copied"]


def _jit(src: str, name: str, **env) -> Callable:
    """The numba function ``name`` defined by the source ``src`` (numpy as ``np`` and ``env`` its globals)."""
    from pytensor.link.numba.cache import compile_numba_function_src
    from pytensor.link.numba.dispatch.basic import numba_njit

    return numba_njit(compile_numba_function_src(src, name, global_env={"np": np, **env}))


def _specify_shape(node: Apply) -> Callable:
    """``x`` after checking each specified dim (a constant message naming the dim)."""
    names = [f"s{i}" for i in range(len(node.inputs) - 1)]
    checks = [f"    if x.shape[{i}] != {s}.item():\n"
              f"        raise ValueError('SpecifyShape: dim {i} of the input has another length than specified')"
              for i, (s, inp) in enumerate(zip(names, node.inputs[1:], strict=True))
              if not isinstance(inp.type, NoneTypeT)]
    src = f"def specify_shape(x, {', '.join(names)}):\n" + "\n".join(checks) + "\n    return x\n"
    return _jit(src, "specify_shape")


def _alloc_scalar(node: Apply) -> Callable:
    """An array of the given shape filled with a 0-d value."""
    names = [f"s{i}" for i in range(len(node.inputs) - 1)]
    shape = "".join(f"{s}.item(), " for s in names)
    src = (f"def alloc(val, {', '.join(names)}):\n"
           f"    return np.full(({shape}), val.item(), dtype=np.{node.outputs[0].type.dtype})\n")
    return _jit(src, "alloc")


def _dimshuffle(node: Apply) -> Callable:
    """PyTensor's ``DimShuffle`` (transpose, new axes of length 1, dropped axes of length 1) as one view of ``x``:
    numba's ``reshape_unchecked``, which its ``as_strided`` calls through three helper functions (compiled per
    array type and process). Shape and strides are built as constant tuples, not PyTensor's loop of tuple updates.
    A cold compile of the default case: about 2.5 s less (benchmarks/notes.md), the gradient as fast."""
    from numba.np.arrayobj import reshape_unchecked

    order, drop = node.op.new_order, node.op.drop
    # a 0-d input through asarray, as PyTensor's: numba may hand a 0-d value over as a scalar
    view = "np.asarray(x)" if node.op.input_ndim == 0 else "x"
    shape = "".join("1, " if o == "x" else f"s[{o}], " for o in order)
    strides = "".join("0, " if o == "x" else f"t[{o}], " for o in order)
    checks = "".join(f"    if s[{d}] != 1:\n        raise ValueError('DimShuffle: a dropped axis has a length other "
                     "than one')\n" for d in drop)
    src = (f"def dimshuffle(x):\n    a = {view}\n    s = a.shape\n    t = a.strides\n{checks}"
           f"    return reshape_unchecked(a, ({shape}), ({strides}))\n")
    return _jit(src, "dimshuffle", reshape_unchecked=reshape_unchecked)


def own_implementation(node: Apply | None) -> tuple[tuple, Callable[[], Callable]] | None:
    """A key for sharing one function between nodes of the same types and what builds our numba function for
    ``node``; None for the nodes PyTensor's implementation serves."""
    if node is None:
        return None
    types = (tuple(v.type for v in node.inputs), tuple(v.type for v in node.outputs))
    if isinstance(node.op, SpecifyShape):
        return ("SpecifyShape", *types), lambda: _specify_shape(node)
    if isinstance(node.op, Alloc) and node.inputs[0].type.ndim == 0:
        return ("Alloc", *types), lambda: _alloc_scalar(node)
    if isinstance(node.op, DimShuffle) and (node.op.input_ndim > 0 or node.op.new_order):  # (not a 0-d no-op)
        return ("DimShuffle", node.op.input_ndim, tuple(node.op.new_order), *types), lambda: _dimshuffle(node)
    return None


def _store_core_outputs(core_op_fn: Callable, nin: int, nout: int) -> Callable:
    """PyTensor's ``store_core_outputs`` for a Blockwise: each core output copied element by element after a
    shape check (PyTensor's assigns with broadcasting)."""
    ins, outs = [f"i{k}" for k in range(nin)], [f"o{k}" for k in range(nout)]
    body = [f"    {', '.join('t' + o for o in outs)} = core_op_fn({', '.join(ins)})"]
    for o in outs:
        body += [f"    if {o}.shape != t{o}.shape:",
                 "        raise ValueError('Blockwise: a core output has another shape than its op said')",
                 f"    for idx in np.ndindex({o}.shape):", f"        {o}[idx] = t{o}[idx]"]
    src = f"def store_core_outputs({', '.join(ins + outs)}):\n" + "\n".join(body) + "\n"
    return _jit(src, "store_core_outputs", core_op_fn=core_op_fn)


@contextmanager
def core_outputs_copied() -> Iterator[None]:
    """PyTensor's numba Blockwise built with :func:`_store_core_outputs` inside the block (a module global of
    PyTensor's swapped for the block: the compiles that use it run one at a time, in the compiling process)."""
    from pytensor.link.numba.dispatch import blockwise

    original = blockwise.store_core_outputs
    blockwise.store_core_outputs = _store_core_outputs
    try:
        yield
    finally:
        blockwise.store_core_outputs = original
