"""Compile a PyMC model for nutpie with C callbacks that numba caches on disk.

``nutpie.compile_pymc_model`` spends 20–30 s in every process, even with PyTensor's numba cache on:

- PyTensor caches the logp function as a whole under a key built from the *rewritten* graph, and its
  rewrites are not deterministic (the nesting of the shape asserts changes from process to process),
  so that key, and with it the cache entry, changes each run: the logp function is compiled anew;
- nutpie builds its two C callbacks (logp + gradient, expand) with ``numba.cfunc`` from closures that
  numba cannot cache, so their type inference and LLVM optimization (of the whole inlined graph) are
  paid again every time.

Here the two callbacks are generated as source text (no closures: every value they need is a constant
of the source or comes through nutpie's ``user_data`` pointer at run time) and registered with
PyTensor's numba cache locator under a key of our own: a structural hash of the model as built (random
and value variables, transforms, observed data, potentials, deterministics; order-independent, so the
same in every process), the layout of the parameter and trace vectors, the shared data's names, shapes
and dtypes (not their values) and the library versions. A later process with the same model structure
loads both callbacks from disk in about a second, whatever the data values; a new structure, a new
shape or a new library version compiles (and caches) once. The number of periods is not a shape of the key: the
fit's trace holds only the parameters' unconstrained values (``UNCONSTRAINED_ONLY``: the fit computes the rest after
sampling), and
the callbacks read the periods only as data, so a refresh with new periods, and every holdout fold and stability
refit, loads what the first run compiled. scipy.special functions (``erfcx`` in the
TruncatedNormal likelihood) get a cacheable numba implementation (see
:func:`_register_cacheable_cython_scalars`).

A miss is compiled with :class:`_OneFunctionPerNode`, PyTensor's numba linker giving each distinct node one numba
function (PyTensor's own compiles one per node, each wrapped for its disk cache), in another process (a fork
on Linux; elsewhere a new Python process that ``cloudpickle`` carries the model to), and then loaded from the cache,
like any later run: a process that compiled
the callbacks itself samples with code that differs in the last bits from what later processes load, and NUTS turns
last bits into other draws (the first run of a case would not be reproducible by the second).

The result is nutpie's own ``CompiledPyMCModel``: ``nutpie.sample``, ``with_data`` and
``shared_data`` work as they do on ``nutpie.compile_pymc_model``'s, and the logp and draws are the
same. On a cache hit its ``logp_func`` and ``expand_func`` (PyTensor functions nutpie itself never
calls while sampling) are ``None``; its ``shared_data`` holds every shared variable of the model's
graphs (a superset of nutpie's: dims' lengths too).

Caveats: nutpie's compile options (initial points, jitter, ``freeze_model``) are its defaults; the
cache lives in ``cache_dir()`` (about 3 MB per model structure and shape, never pruned: delete the
``*mmm_*_cfunc*`` and ``mmmhelpers-nutpie-cfunc-*`` files to clear it); entries are written
atomically (numba's temp-file-and-rename, then our description file last), and a structure compiles under a
lock (``mmmhelpers-nutpie-cfunc-<key>.lock``), so processes that miss it at once compile it once: the others wait
and load it; a model the key cannot describe (an op without
``__props__``, a class made at run time such as CustomDist's) compiles as nutpie does, uncached.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from importlib.metadata import version
from math import prod
from pathlib import Path
from typing import Any, NoReturn, cast

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.compile import optdb
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.graph.traversal import applys_between, graph_inputs, io_toposort
from pytensor.link.numba.linker import NumbaLinker  # numba itself is imported when a function compiles
from pytensor.raise_op import Assert
from pytensor.tensor.blockwise import Blockwise, BlockwiseWithCoreShape
from pytensor.tensor.random.type import RandomGeneratorType

from .numba_codegen import machine_code_on_demand
from .numba_ops import core_outputs_copied, own_implementation

__all__ = ["compile_model", "compile_ahead", "key_of", "numbers_as_data", "cache_dir", "CacheInfo", "ObjectModeError"]

CACHE_FORMAT = "mmmhelpers-nutpie-cfunc-13"  # bump when the generated source or the key changes
_VERSIONED = ("nutpie", "pytensor", "pymc", "numba", "llvmlite", "numpy")


class ObjectModeError(RuntimeError):
    """An op of the model has no numba implementation: numba would run it in object mode, which nutpie's C
    callbacks cannot (they fail at the first evaluation)."""


class _Uncacheable(Exception):
    """The graph holds something the key cannot describe safely (compile without the cache)."""


@dataclass
class CacheInfo:
    """How the last :func:`compile_model` call went (for timings and tests)."""

    key: str | None = None
    hit: bool = False
    reason: str = ""
    numba_opt: int | None = None  # LLVM's optimization level the callbacks were compiled at (None: not recorded)
    ahead: bool = False  # compiled by compile_ahead in this process, then loaded (a miss of this run)


last_info = CacheInfo()
_AHEAD: dict[str, list[str]] = {}  # key -> how compile_ahead compiled it (empty until it has, or if it failed)


def cache_dir() -> Path:
    """Where the callbacks are cached: PyTensor's numba cache directory (``config.base_compiledir``)."""
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    return Path(NUMBA_CACHE_PATH)


# --- the graphs ------------------------------------------------------------------------------------


@dataclass
class _Graphs:
    """The layout of the flat parameter vector and of the trace vector, as nutpie makes them."""

    value_vars: list[Variable]
    joined_names: list[str]
    joined_slices: list[slice]
    joined_shapes: list[tuple[int, ...]]
    remaining: list[Variable]  # trace-only variables (deterministics, untransformed values)
    all_names: list[str]
    all_slices: list[slice]
    all_shapes: list[tuple[int, ...]]

    @property
    def n_dim(self) -> int:
        return self.joined_slices[-1].stop if self.joined_slices else 0

    @property
    def n_expanded(self) -> int:
        return self.all_slices[-1].stop if self.all_slices else 0


def model_graphs(model: pm.Model, var_names: Iterable[str] | None) -> _Graphs:
    """The layouts, as in nutpie's ``_make_functions``."""
    from nutpie.compile_pymc import _compute_shapes

    shapes = _compute_shapes(model)
    count = 0
    joined_names, joined_slices, joined_shapes = [], [], []
    for var in model.free_RVs:
        value_var = model.rvs_to_values[var]
        shape = tuple(int(s) for s in shapes[value_var.name])
        joined_names.append(value_var.name)
        joined_shapes.append(shape)
        joined_slices.append(slice(count, count + prod(shape)))
        count += prod(shape)
    remaining = [var for var in model.unobserved_value_vars if var.name not in joined_names]
    if var_names is not None:
        names = set(var_names)
        remaining = [var for var in remaining if var.name in names]
    all_names, all_slices, all_shapes = joined_names.copy(), joined_slices.copy(), joined_shapes.copy()
    for var in remaining:
        shape = tuple(int(s) for s in shapes[var.name])
        all_names.append(var.name)
        all_shapes.append(shape)
        all_slices.append(slice(count, count + prod(shape)))
        count += prod(shape)
    value_vars = [model.rvs_to_values[var] for var in model.free_RVs]
    return _Graphs(value_vars, joined_names, joined_slices, joined_shapes, remaining, all_names, all_slices,
                   all_shapes)


def _checked_numbers_only(var: Variable) -> bool:
    """Whether ``var`` is computed from constants and checked prior numbers alone (``numbers_as_data``)."""
    return all(isinstance(v, Constant) or getattr(v.tag, "checked_number", False) for v in graph_inputs([var]))


def _checks_of_numbers_removed(logp: Variable) -> Variable:
    """``logp`` without PyMC's parameter checks of the prior numbers that passed them when the model was built
    (:func:`priors.number_problem`). As constants, PyTensor folded those checks away; as data, each evaluation
    would repeat them (about 1.5 µs of the default case's 18 µs gradient). Checks of anything else stay."""
    from pymc.logprob.utils import CheckParameterValue

    replacements = []
    for node in applys_between(list(graph_inputs([logp])), [logp]):
        if not isinstance(node.op, CheckParameterValue):
            continue
        value, *conditions = node.inputs
        kept = [c for c in conditions if not _checked_numbers_only(c)]
        if len(kept) < len(conditions):
            replacements.append((node.outputs[0], node.op(value, *kept) if kept else value))
    return pytensor.graph.graph_replace(logp, dict(replacements)) if replacements else logp


def _functions(model: pm.Model, g: _Graphs):
    """nutpie's two PyTensor functions (NUMBA mode): ``(logp, grad)`` and the joined trace vector."""
    from pymc.pytensorf import compile as compile_pymc

    rewrites = ["canonicalize", "stabilize"]
    if not model.check_bounds:
        rewrites.append("local_remove_check_parameter")
    # both typed for any graph: one variable in, one out; a list of value variables, a list of gradients
    logp = cast(Variable, pytensor.graph.rewrite_graph(_checks_of_numbers_removed(model.logp()), include=rewrites))
    grads = cast(list[Variable], pytensor.gradient.grad(logp, g.value_vars))
    grad = pt.concatenate([pt.as_tensor(gr, allow_xtensor_conversion=True).ravel() for gr in grads])
    joined = pt.TensorType("float64", shape=(g.n_dim,))(name="_unconstrained_point")
    variables = [joined[slice_val] for slice_val in zip(g.joined_slices)]
    replacements = {
        model.rvs_to_values[var]: value.reshape(shape).astype(var.dtype)
        for var, shape, value in zip(model.free_RVs, g.joined_shapes, variables)
    }
    logp, grad = pytensor.clone_replace([logp, grad], replacements)
    allvars = [pt.concatenate([joined, *[pt.as_tensor(v, allow_xtensor_conversion=True).ravel() for v in g.remaining]])]
    shared_nodes: dict = {}  # one numba function per distinct node, over both functions
    with model, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        logp_fn = compile_pymc((joined,), (logp, grad), mode=_numba_mode(shared_nodes))
        expand_fn = compile_pymc((joined,), allvars, givens=list(replacements.items()), mode=_numba_mode(shared_nodes))
    object_mode = [str(w.message) for w in caught if "Numba will use object mode" in str(w.message)]
    for w in caught:
        if str(w.message) not in object_mode:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if object_mode:
        raise ObjectModeError("; ".join(sorted(set(object_mode))))
    return logp_fn, expand_fn


def _numba_mode(shared_nodes: dict):
    """PyTensor's NUMBA mode with :class:`_OneFunctionPerNode` as its linker (``shared_nodes`` shared by the
    functions compiled with it), without the shape graph's broadcast checks (:func:`broadcast_checks_removed`)."""
    from pytensor.compile.mode import NUMBA, Mode

    return Mode(linker=_OneFunctionPerNode(shared_nodes), optimizer=NUMBA.provided_optimizer).register(
        (dfs_rewriter(broadcast_checks_removed), 101))


@node_rewriter([Assert])
def broadcast_checks_removed(fgraph, node):
    """An ``Assert`` that two arrays' lengths broadcast, in the graph that computes a broadcast's shape, replaced by
    the length it checks. Arrays of the data whose lengths are not static (every ``pm.Data``) get one such check per
    broadcast, with the lengths, comparisons and ``All`` that feed it: in the default case's log density 44 of 167
    nodes, about 5% of a cold compile. Numba's elementwise ops check their inputs' shapes themselves as they run (a
    mismatch is an error, never a read past an array), so nothing goes unchecked: a test feeds the callbacks data of
    other lengths and gets nutpie's error code."""
    if isinstance(node.op, Assert) and node.op.msg.startswith("Could not broadcast dimensions"):
        return [node.inputs[0]]
    return None


class _OneFunctionPerNode(NumbaLinker):
    """PyTensor's numba linker, compiling one numba function per distinct node instead of one per node.

    PyTensor's own linker gives every node of a graph a numba function of its own, and wraps each in a second,
    disk-cached one (and the graph's function in a third): numba compiles each to machine code on its own before
    the callback links them all and optimizes the whole again. Here nodes that PyTensor's per-op cache key and
    the node's input and output types say are the same (about 60% of the nodes of the default case's two
    functions) share one numba function, and nothing is wrapped: the callbacks are cached whole by
    :func:`compile_model`. Measured: the default case's cold compile 56 -> 43 s (benchmarks/notes.md).
    """

    def __init__(self, shared_nodes: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shared_nodes = {} if shared_nodes is None else shared_nodes

    def _node_function(self, op, node=None, **kwargs):
        from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

        own = own_implementation(node)
        if own is not None:  # ours (numba_ops), built once per distinct node
            same, build = own
            if same not in self.shared_nodes:
                self.shared_nodes[same] = build()
            return self.shared_nodes[same]
        with core_outputs_copied() if isinstance(op, BlockwiseWithCoreShape) else nullcontext():
            fn, key = numba_funcify_and_cache_key(op, node=node, **kwargs)
        if key is None or node is None:
            return fn
        same = (key, tuple(v.type for v in node.inputs), tuple(v.type for v in node.outputs))
        return self.shared_nodes.setdefault(same, fn)

    def fgraph_convert(self, fgraph, **kwargs):
        from pytensor.link.numba.dispatch.basic import numba_typify
        from pytensor.link.utils import fgraph_to_python

        return fgraph_to_python(fgraph, op_conversion_fn=self._node_function, type_conversion_fn=numba_typify,
                                fgraph_name="numba_funcified_fgraph", **kwargs)

    def jit_compile(self, fn):
        from pytensor.link.numba.dispatch.basic import numba_njit

        return numba_njit(fn, final_function=True, inline="always")


# --- the cache key ---------------------------------------------------------------------------------


class _Hasher:
    """Stable hashes of graphs and of the objects their ops hold: the same in every process.

    A variable's hash covers its op and its inputs' hashes (a Merkle hash), so it does not depend on
    the order in which the graph was built; texts never contain ids, addresses or set order.
    """

    def __init__(self) -> None:
        self.keys: dict[Variable, str] = {}
        self.shared: dict[str, SharedVariable] = {}  # the data the graphs read, by name (no RNGs)

    def graph(self, outputs: list[Variable]) -> list[str]:
        outputs = [o for o in outputs if o is not None]
        for var in graph_inputs(outputs):
            if var not in self.keys:
                self.keys[var] = _sha(self._root(var))
        for node in io_toposort(list(graph_inputs(outputs)), outputs):
            if all(out in self.keys for out in node.outputs):
                continue
            head = self.op(node.op) + "|" + ",".join(self.keys[i] for i in node.inputs)
            for k, out in enumerate(node.outputs):
                self.keys[out] = _sha(f"{head}|{k}|{self.type(out.type)}")
        return [self.keys[o] for o in outputs]

    def _root(self, var: Variable) -> str:
        if isinstance(var.type, RandomGeneratorType):
            return f"rng({self.type(var.type)})"  # its state never enters logp or the trace
        if isinstance(var, SharedVariable):
            if var.name is None or self.shared.get(var.name, var) is not var:
                raise _Uncacheable(f"shared variables need unique names: {var.name}")
            self.shared[var.name] = var
            return f"shared({var.name},{self.type(var.type)})"
        if isinstance(var, Constant):
            return f"const({self.type(var.type)},{self.text(var.data)})"
        return f"input({var.name},{self.type(var.type)})"

    def op(self, op) -> str:
        if isinstance(op, OpFromGraph):
            return self._inner_graph_op(op)
        if not hasattr(op, "__props__"):
            raise _Uncacheable(f"op without __props__: {op}")
        return self.cls(type(op)) + self.text(op._props_dict())

    def _inner_graph_op(self, op: OpFromGraph) -> str:
        """An op defined by a graph (PyMC's ``Censored``, and its other symbolic random variables): its class, the
        attributes that shape it and the hash of its inner graph, with the inner inputs named by position."""
        if any(getattr(op, k, None) is not None for k in ("lop_overrides", "grad_overrides", "rop_overrides")) or \
                op.shared_inputs or op.destroy_map:
            raise _Uncacheable(f"an op of a graph with overrides, shared inputs or in-place outputs: {op}")
        inner = _Hasher()
        for i, var in enumerate(op.inner_inputs):
            inner.keys[var] = _sha(f"inner({i},{self.type(var.type)})")
        outputs = inner.graph(list(op.inner_outputs))
        if inner.shared:
            raise _Uncacheable(f"an op whose graph reads shared variables: {op}")
        attrs = {k: getattr(op, k) for k in ("extended_signature", "ndim_supp", "is_inline") if hasattr(op, k)}
        return self.cls(type(op)) + self.text(attrs) + "|" + ",".join(outputs)

    def type(self, t) -> str:
        if isinstance(t, pt.TensorType):
            return f"tensor({t.dtype},{t.shape})"
        return f"{self.cls(type(t))}:{t}"

    @staticmethod
    def cls(c: builtins.type) -> str:  # the class body's ``type`` is the method above
        """A class by where it is defined; classes made at run time (e.g. CustomDist's) are refused."""
        if "<locals>" in c.__qualname__ or getattr(sys.modules.get(c.__module__), c.__qualname__, None) is not c:
            raise _Uncacheable(f"class made at run time: {c.__module__}.{c.__qualname__}")
        return f"{c.__module__}.{c.__qualname__}"

    def text(self, obj: Any, depth: int = 0) -> str:
        """A stable text of ``obj`` (props, transforms, constants); ``_Uncacheable`` when there is none."""
        if depth > 20:
            raise _Uncacheable("nested too deeply")
        rec = lambda o: self.text(o, depth + 1)  # noqa: E731
        if obj is None or isinstance(obj, bool | int | float | str | bytes):
            return repr(obj)
        if isinstance(obj, np.generic):
            return f"np({obj.dtype.str},{obj.tobytes().hex()})"
        if isinstance(obj, np.ndarray):
            return f"nd({obj.dtype.str},{obj.shape},{_sha(np.ascontiguousarray(obj).tobytes())})"
        if isinstance(obj, np.dtype):
            return f"dtype({obj.str})"
        if isinstance(obj, tuple | list):
            return "(" + ",".join(rec(o) for o in obj) + ")"
        if isinstance(obj, Mapping):
            return "{" + ",".join(sorted(f"{rec(k)}:{rec(v)}" for k, v in obj.items())) + "}"
        if isinstance(obj, set | frozenset):
            return "set(" + ",".join(sorted(rec(o) for o in obj)) + ")"
        if isinstance(obj, type):
            return f"type({self.cls(obj)})"
        if isinstance(obj, Variable):
            return f"var({self.graph([obj])[0]})"
        if isinstance(obj, pytensor.graph.type.Type):
            return self.type(obj)
        if hasattr(obj, "__props__"):  # ops, and objects that declare their props the same way (ZeroSumTransform)
            return self.cls(type(obj)) + rec({p: getattr(obj, p) for p in obj.__props__})
        if isinstance(obj, types.CodeType):
            return f"code({_sha(obj.co_code)},{rec(obj.co_consts)},{rec(obj.co_names)})"
        if isinstance(obj, types.FunctionType):
            cells = [c.cell_contents for c in obj.__closure__ or ()]
            return (f"fn({obj.__module__}.{obj.__qualname__},{rec(obj.__code__)},{rec(obj.__defaults__)},"
                    f"{rec(cells)})")
        if isinstance(obj, types.BuiltinFunctionType | types.MethodType):
            return f"fn({getattr(obj, '__module__', '')}.{obj.__qualname__})"
        if hasattr(obj, "__dict__") and not callable(obj):  # e.g. a transform: its class and its state
            return self.cls(type(obj)) + rec(vars(obj))
        text = repr(obj)
        if " at 0x" in text or "<locals>" in text:
            raise _Uncacheable(f"no stable description of {text}")
        return f"{self.cls(type(obj))}:{text}"


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# the periods (and a cross-validation fold's observed ones): the log density's code reads them only as data of that
# length, so one compile serves every length, as long as no stored variable has them (``UNCONSTRAINED_ONLY``)
GENERIC_DIMS = ("date", "obs")


# what nutpie stores with each draw as the fit compiles a model: the free parameters' unconstrained values only (the
# ``var_names`` of :func:`compile_model`); ``fit.with_deterministics`` computes the constrained values and every
# deterministic from them after sampling. So the expand callback copies the parameter vector (a compile of seconds, not
# the ten or so of one computing the deterministics), and a refresh with new periods compiles nothing.
UNCONSTRAINED_ONLY: list[str] = []


def _generic_dims(model: pm.Model, g: _Graphs) -> set[str]:
    """The dims whose length the compiled code does not depend on: the periods, which only data of that length
    read, when no stored variable (a parameter or a deterministic in the trace) has them."""
    stored = {d for name in g.all_names for d in (model.named_vars_to_dims.get(name) or ())}
    return {d for d in GENERIC_DIMS if d in model.dim_lengths and d not in stored}


def _shape(shape: tuple[int, ...], dims, generic: set[str]) -> tuple:
    """A shared variable's shape in the key: a generic dim's length left out."""
    return tuple("any" if dims and i < len(dims) and dims[i] in generic else n for i, n in enumerate(shape))


def structure_key(model: pm.Model, g: _Graphs) -> tuple[str, dict[str, SharedVariable]]:
    """The key of the compiled callbacks: structure, shapes and versions, never data values.

    It hashes the model as built (its random variables, value variables, transforms, observed data,
    potentials and deterministics) rather than ``model.logp()``: deriving the logp graph runs
    rewrites whose result changes from process to process (the order of the operands of some shape
    checks), while the built model is the same each time and determines the logp graph. The number of periods (and
    of a fold's observed ones) is left out when no stored variable has them (``UNCONSTRAINED_ONLY``): a refresh with new
    periods, and the holdout folds and stability refits, load the callbacks the first run compiled.
    """
    h = _Hasher()
    free = [(h.graph([rv])[0], h.graph([model.rvs_to_values[rv]])[0], h.text(model.rvs_to_transforms.get(rv)))
            for rv in model.free_RVs]
    observed = [(h.graph([rv])[0], h.graph([model.rvs_to_values[rv]])[0]) for rv in model.observed_RVs]
    dim_lengths = {}
    generic = _generic_dims(model, g)
    for name, length in model.dim_lengths.items():  # dims are structure: their lengths are shapes (but the periods')
        if name not in generic:
            dim_lengths[name] = int(length.get_value()) if isinstance(length, SharedVariable) else h.text(length)
    dims_of = model.named_vars_to_dims
    parts = {
        "format": CACHE_FORMAT,
        "python": sys.version,
        "versions": {p: version(p) for p in _VERSIONED},
        "config": [pytensor.config.floatX, pytensor.config.numba__fastmath, pytensor.config.optimizer_including,
                   pytensor.config.optimizer_excluding, pytensor.config.optimizer_requiring],
        "check_bounds": bool(model.check_bounds),
        "free": free,
        "observed": observed,
        "potentials": h.graph(list(model.potentials)),
        "deterministics": [(d.name, k) for d, k in zip(model.deterministics, h.graph(list(model.deterministics)))],
        "layout": [g.all_names, [(s.start, s.stop) for s in g.all_slices], g.all_shapes, g.n_dim],
        "shared": sorted((n, str(v.type.dtype), _shape(np.shape(v.get_value(borrow=True)), dims_of.get(n), generic),
                          list(dims_of.get(n) or ())) for n, v in h.shared.items()),  # dims: the length checks
        "dims": dim_lengths,
    }
    return _sha(json.dumps(parts, sort_keys=True, default=str)), h.shared


# --- Blockwise ops in numba --------------------------------------------------------------------------
# PyTensor's numba backend runs a Blockwise (our adstock's batched ``convolve1d`` and its gradient) only once
# ``introduce_explicit_core_shape_blockwise`` has given it its core output shape; that rewrite takes the shape from
# the graph's shape feature and gives up when another Blockwise appears in it, which depends on the rewrites' order
# and so on the process (``PYTHONHASHSEED``): in about half the processes the HSGP models' convolution gradient was
# left to numba's object mode, which a C callback cannot run ("Logp function returned error", then a segfault).


@node_rewriter([Blockwise])
def core_shape_from_inputs(fgraph, node):
    """The same rewrite with the core shape taken from the Blockwise's own inputs' shapes (its ``infer_shape``)."""
    if type(node.op) is not Blockwise:
        return None
    batch_ndim = node.op.batch_ndim(node)
    shapes = node.op.infer_shape(fgraph, node, [tuple(inp.shape) for inp in node.inputs])
    core = [pt.as_tensor(s[batch_ndim:]) if len(s) > batch_ndim else pt.constant([], dtype="int64") for s in shapes]
    if any(isinstance(n.op, Blockwise) for n in applys_between(node.inputs, core)):
        return None
    return BlockwiseWithCoreShape([*node.inputs, *core], node.outputs, destroy_map=node.op.destroy_map)(
        *node.inputs, *core, return_list=True)


optdb.register(core_shape_from_inputs.__name__, dfs_rewriter(core_shape_from_inputs), "numba", position=100.5)


# --- the C callbacks -------------------------------------------------------------------------------
# As nutpie's, but only the PyTensor function's call sits in the ``try`` block: numba's SSA reconstruction
# takes minutes on a try block holding the dozens of calls that read the shared arrays (they cannot raise).
# The data's lengths are checked before it (``_length_checks``): inside it a failed check would not stop the graph.
# The copies are loops, not ``out[...] = grad``: numba's broadcasting assignment compiles its string helpers for
# a shape-error message (about 2 s of a cold compile; see numba_ops).

_LOGP = '''
def mmm_logp_cfunc(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    x = carray(x_, ({n_dim},))
    out = carray(out_, ({n_dim},))
    logp = carray(logp_, ())
{extract}
    try:
        logp_val, grad = inner(x{args})
        logp[()] = logp_val
        if grad.shape[0] != {n_dim}:
            return 1
        for i in range({n_dim}):
            out[i] = grad[i]
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
'''

_EXPAND = '''
def mmm_expand_cfunc(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    x = carray(x_, ({n_dim},))
    out = carray(out_, ({n_expanded},))
{extract}
    try:
        (values,) = inner(x{args})
        if values.shape[0] != {n_expanded}:
            return -2
        for i in range({n_expanded}):
            out[i] = values[i]
    except Exception:  # noqa: BLE001
        return -2
    return 0
'''


def _extract(names: list[str], ndims: dict[str, int]) -> tuple[str, str]:
    """Source lines reading each shared array from nutpie's user-data record (pointer, size, shape)."""
    if not names:
        return "", ""
    lines = ["    user_data = carray(user_data_, (), record_dtype)", '    shared = user_data["shared"]']
    for k, name in enumerate(names):
        n = repr(name)
        lines.append(f'    flat{k} = carray(address_as_void_pointer(shared["data"][{n}][()]), '
                     f'int(shared["size"][{n}][()]), dtype{k})')
        lines.append(f'    shape{k} = shared["shape"][{n}]')
        dims = "".join(f"int(shape{k}[{i}]), " for i in range(ndims[name]))
        lines.append(f"    a{k} = flat{k}.reshape(({dims}))")
    return "\n".join(lines), "".join(f", a{k}" for k in range(len(names)))


def _length_checks(names: list[str], dims: dict[str, list]) -> str:
    """Source lines returning ``LENGTHS_DISAGREE`` before the graph runs when the arrays it reads disagree in length:
    along a dim they share, or with more observed periods (``obs``) than dates.

    The graph's function is inlined into the callback's ``try`` block, where numba carries on after a node raises
    (it only records the error until the block ends): a shape check failing there would let the next node write past
    an array. Data swapped in (``with_data``) are checked here instead, before anything reads them."""
    where: dict[str, list[tuple[int, int]]] = {}
    for k, name in enumerate(names):
        for axis, dim in enumerate(dims.get(name) or ()):
            if dim is not None:
                where.setdefault(dim, []).append((k, axis))
    pairs = [(f"shape{k}[{i}] != shape{k0}[{i0}]") for (k0, i0), *rest in where.values() for k, i in rest]
    if "obs" in where and "date" in where:
        (ko, io), (kd, idd) = where["obs"][0], where["date"][0]
        pairs.append(f"shape{ko}[{io}] > shape{kd}[{idd}]")
    return "".join(f"    if {p}:\n        return {LENGTHS_DISAGREE}\n" for p in pairs)


LENGTHS_DISAGREE = -3
"""The callbacks' error code for data whose lengths disagree (negative: nutpie stops rather than retries)."""


def _source(kind: str, names: list[str], meta: dict) -> str:
    extract, args = _extract(names, meta["ndims"])
    checks = _length_checks(names, meta["dims"])
    template = _LOGP if kind == "logp" else _EXPAND
    return template.format(n_dim=meta["n_dim"], n_expanded=meta["n_expanded"], extract=extract + "\n" + checks,
                           args=args)


def _signature(kind: str):
    import numba

    p = numba.types.CPointer(numba.types.double)
    if kind == "logp":
        return numba.types.int64(numba.types.uint64, p, p, p, numba.types.voidptr)
    return numba.types.int64(numba.types.uint64, numba.types.uint64, p, p, numba.types.voidptr)


def _cfunc(kind: str, key: str | None, meta: dict, record_dtype, inner, load_only: bool):
    """The numba C callback of ``kind``; with ``load_only`` from the disk cache or None."""
    import numba
    from numba.core.ccallback import CFunc
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    names = meta[f"{kind}_shared"]
    src = _source(kind, names, meta)
    env = {"__name__": __name__, "carray": numba.carray, "np": np, "address_as_void_pointer": address_as_void_pointer,
           "record_dtype": record_dtype, "inner": inner,
           **{f"dtype{k}": np.dtype(meta["dtypes"][name]) for k, name in enumerate(names)}}
    name = f"mmm_{kind}_cfunc"
    fn = compile_numba_function_src(src, name, global_env=env, cache_key=None if key is None else f"{key}-{kind}")
    sig = _signature(kind)
    cf = CFunc(fn, (sig.args, sig.return_type), locals={}, options={})
    if key is not None:
        cf.enable_caching()
    if load_only:
        try:
            cres = cf._cache.load_overload(cf._sig, cf._targetdescr.target_context)
        except Exception:  # noqa: BLE001 - an unreadable entry is a miss: compile and overwrite it
            return None
        if cres is None:
            return None
        cf._cache_hits += 1
        cf._library = cres.library
        cf._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
        cf._wrapper_address = cf._library.get_pointer_to_function(cf._wrapper_name)
        return cf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", numba.NumbaWarning)
        cf.compile()
    for w in caught:
        if "Cannot cache" in str(w.message):
            cf.uncached_reason = str(w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return cf


# --- scipy.special functions without dynamic globals ----------------------------------------------

_CYTHON_REGISTERED = False


def _cython_address(capsule: str) -> int:
    """The address of a ``scipy.special.cython_special`` C function (looked up once per process)."""
    from numba.core.extending import get_cython_function_address

    return get_cython_function_address("scipy.special.cython_special", capsule)


def _cython_scalar_funcify(op, node, original, **kwargs):
    """PyTensor's numba implementation of a scalar op, cacheable when it calls ``scipy.special`` (see
    :func:`_register_cacheable_cython_scalars`); other ops get ``original``'s."""
    import numba
    import scipy.special.cython_special as cython_special
    from numba.core import types as nbtypes
    from pytensor.link.numba.cache import _call_cached_ptr, compile_numba_function_src
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch.cython_support import wrap_cython_function

    spec = getattr(op, "nfunc_spec", None)
    func = None
    if spec and spec[0].startswith("scipy.special.") and len(node.outputs) == 1:
        func = getattr(cython_special, spec[0].rsplit(".", 1)[1], None)
    if func is None:
        return original(op, node, **kwargs)
    in_dtypes = [np.dtype(i.type.dtype) for i in node.inputs]
    out_dtype = np.dtype(node.outputs[0].type.dtype)
    try:
        wrapper = wrap_cython_function(func, out_dtype, in_dtypes)
    except NotImplementedError:
        return original(op, node, **kwargs)
    capsule = next(k for k, c in cython_special.__pyx_capi__.items() if c is wrapper._keep_alive)

    @numba_basic.numba_njit
    def get_ptr():
        with numba.objmode(ptr=nbtypes.intp):
            ptr = _cython_address(capsule)
        return ptr

    names = [f"x{i}" for i in range(len(node.inputs))]
    args = ", ".join(f"direct_cast({n}, in_dtype{i})" for i, n in enumerate(names))
    if wrapper.has_pyx_skip_dispatch():
        args += ", np.intc(1)"
    fn_name = f"scipy_special_{capsule}"
    src = (f"def {fn_name}({', '.join(names)}):\n"
           f"    fn = _call_cached_ptr(get_ptr_func=get_ptr, func_type_ref=func_type, "
           f"unique_func_name_lit={fn_name!r})\n"
           f"    return direct_cast(fn({args}), out_dtype)\n")
    env = {"np": np, "_call_cached_ptr": _call_cached_ptr, "get_ptr": get_ptr, "direct_cast": numba_basic.direct_cast,
           "func_type": nbtypes.FunctionType(wrapper.signature()),
           "out_dtype": np.dtype(wrapper.numpy_output_dtype()),
           **{f"in_dtype{i}": np.dtype(d) for i, d in enumerate(wrapper.numpy_arg_dtypes())}}
    fn = compile_numba_function_src(src, fn_name, global_env=env)
    key = _sha(f"{CACHE_FORMAT}|cython|{type(op).__module__}.{type(op).__qualname__}|{in_dtypes}|{out_dtype}|{capsule}")
    return numba_basic.numba_njit(fn), key


def _register_cacheable_cython_scalars() -> None:
    """Let PyTensor's numba backend cache scalar ops that call ``scipy.special`` (``erfcx``: the
    TruncatedNormal likelihood; ``gammaincc``, ...).

    PyTensor calls them through a function pointer that numba bakes into the code as a *dynamic
    global*: such code cannot be cached, nor can anything that inlines it, our callbacks included.
    Here the pointer is looked up at run time, once per process, as PyTensor does for LAPACK
    (``_call_cached_ptr``); the same C function is called with the same arguments, so results are
    unchanged. Other scalar ops keep PyTensor's own implementation.
    """
    global _CYTHON_REGISTERED
    if _CYTHON_REGISTERED:
        return
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch import scalar as numba_scalar
    from pytensor.scalar.basic import ScalarOp

    original = numba_scalar.numba_funcify_ScalarOp

    def funcify(op, node, **kwargs):
        return _cython_scalar_funcify(op, node, original, **kwargs)

    numba_basic.register_funcify_and_cache_key(ScalarOp)(funcify)
    _CYTHON_REGISTERED = True


# --- the compiled model ----------------------------------------------------------------------------


def _meta_path(key: str) -> Path:
    return cache_dir() / f"{CACHE_FORMAT}-{key}.json"


def _write_meta(key: str, meta: dict) -> None:
    """Write the callbacks' description last and atomically: its presence means both are cached."""
    path = _meta_path(key)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f)
    os.replace(tmp, path)


def _read_meta(key: str) -> dict | None:
    try:
        return json.loads(_meta_path(key).read_text())
    except (OSError, ValueError):
        return None


def _user_data(meta: dict, shared: dict[str, SharedVariable]):
    """Copies of the shared data and nutpie's user-data record pointing at them.

    The record holds every shared variable of the model's graphs in name order (not only those the
    compiled functions read, in PyTensor's order, which changes from process to process): the
    callbacks read their fields by offset, so one layout must serve every process with the same key.
    """
    from nutpie.compile_pymc import make_user_data

    shared_data = {}
    for name in meta["record"]:
        value = np.array(shared[name].get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[name] = value
    return shared_data, make_user_data({name: shared[name] for name in meta["record"]}, shared_data)


def _initial_point_fn(model: pm.Model, g: _Graphs):
    """nutpie's default initial points: support points jittered, as a flat float64 array."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(model=model, overrides=None, default_strategy="support_point",
                               jitter_rvs=set(model.free_RVs), return_transformed=True)
    return _rv_dict_to_flat_array_wrapper(_wrap_with_lock(fn), names=g.joined_names, shapes=g.joined_shapes)


def _load(key: str, meta: dict, record_dtype) -> list | None:
    """Both callbacks from the cache, or None (a miss)."""
    compiled = [_cfunc(kind, key, meta, record_dtype, None, load_only=True) for kind in ("logp", "expand")]
    return None if any(c is None for c in compiled) else compiled


def _loaded(key: str | None, shared: dict[str, SharedVariable]):
    """``(meta, shared_data, user_data, callbacks)`` from the cache, or None on a miss."""
    meta = _read_meta(key) if key is not None else None
    if key is None or meta is None or meta.get("record") != sorted(shared):
        return None
    shared_data, user_data = _user_data(meta, shared)
    compiled = _load(key, meta, user_data.dtype)
    return None if compiled is None else (meta, shared_data, user_data, compiled)


@contextmanager
def _compile_lock(key: str, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``key``'s structure while it compiles: stages run side by side (out-of-sample and
    the stability refits build the same cross-validation model) compile it once, the others wait and load it.
    Yields whether this process holds it (always, unless ``wait`` is False and another process held it)."""
    import fcntl

    path = cache_dir() / f"mmmhelpers-nutpie-cfunc-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


FORK = sys.platform == "linux"
"""Compile in a fork of this process (its imports done, the model in memory: ~5 s sooner than a new Python
process, which is what other platforms get, where a fork is not safe or does not exist)."""


def _compile_in_child(model: pm.Model, var_names: list[str] | None) -> str | None:
    """Compile and cache ``model`` in another process; None when it worked, else why not.

    A process that compiled the callbacks itself gets code that differs in the last bits from what every later
    process loads from the cache (the numba functions of PyTensor's nodes, compiled fresh vs loaded), and NUTS
    turns last bits into other draws. Compiling in a child and loading here makes the first run sample with
    exactly the code of every later run.
    """
    started = _start_child(model, var_names)
    return started if isinstance(started, str) else started()


def _start_child(model: pm.Model, var_names: list[str] | None) -> str | Callable[[], str | None]:
    """Start the child of :func:`_compile_in_child`: a fork (``FORK``) or a new Python process that the model
    reaches through ``cloudpickle``. Returns a function that waits for it (None when it worked, else why not), or
    why it could not start."""
    if FORK:
        return _fork(model, var_names)
    import subprocess

    import cloudpickle

    try:
        payload = cloudpickle.dumps((model, var_names))
    except Exception as err:  # noqa: BLE001 - a model that cannot travel compiles here
        return f"cannot pickle the model ({type(err).__name__}: {err})"
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    env = {**os.environ, "PYTENSOR_FLAGS": f"{flags},base_compiledir={pytensor.config.base_compiledir}".lstrip(",")}
    child = subprocess.Popen([sys.executable, "-c", "from mmmhelpers.compile import _child_main; _child_main()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def wait() -> str | None:
        _, err = child.communicate(payload)
        if child.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else f"exit code {child.returncode}"
        return None

    return wait


def _fork(model: pm.Model, var_names: list[str] | None) -> Callable[[], str | None]:
    """Fork; the child compiles and caches ``model`` (:func:`_child_compile`). Returns the wait of
    :func:`_start_child`."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns of a fork in a process with threads (a kernel's): the
        warnings.simplefilter("ignore", DeprecationWarning)  # child runs only the compile, no other thread's locks
        pid = os.fork()
    if pid == 0:
        os.close(read)
        _child_compile(model, var_names, write)
    os.close(write)

    def wait() -> str | None:
        _, status = os.waitpid(pid, 0)
        os.set_blocking(read, False)
        try:
            why = os.read(read, 1 << 16).decode(errors="replace").strip()
        except BlockingIOError:
            why = ""
        finally:
            os.close(read)
        code = os.waitstatus_to_exitcode(status)
        return None if code == 0 else (why.splitlines() or [f"exit code {code}"])[-1]

    return wait


def _child_compile(model: pm.Model, var_names: list[str] | None, report: int) -> NoReturn:
    """The forked child: compile and cache ``model``, write why not to the pipe ``report``, and exit at once (none of
    the parent's exit handlers: a kernel's sockets are the parent's). Its output goes nowhere, as a new process's did."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process ends with os._exit
        compile_model(model, var_names, in_child=False)
        if last_info.key is None or _read_meta(last_info.key) is None:
            raise RuntimeError(f"not cached: {last_info.reason}")
        code = 0
    except BaseException as err:  # noqa: BLE001 - anything: said to the parent, which compiles itself
        with suppress(OSError):
            os.write(report, f"{type(err).__name__}: {err}"[-4000:].encode())
    finally:
        os._exit(code)


def compile_ahead(model: pm.Model, var_names: list[str] | None = None) -> threading.Thread | None:
    """Start compiling ``model``'s callbacks now, in another process (:func:`_start_child`), so that the work a fit
    does before sampling (the prior predictive, the model's tables and graph) runs while it compiles;
    :func:`compile_model` later waits for it under the structure's lock and loads what it cached. A thread waits on
    the child (it runs no PyTensor code); None when there is nothing to compile (already cached, compiling in
    another process, or a model the cache cannot describe)."""
    _register_cacheable_cython_scalars()
    try:
        model = numbers_as_data(model)
        key, _ = structure_key(model, model_graphs(model, var_names))
    except Exception:  # noqa: BLE001 - uncacheable: compile_model compiles it as before
        return None
    if not pytensor.config.numba__cache or _read_meta(key) is not None or key in _AHEAD:
        return None
    lock = ExitStack()
    try:  # the lock stays held until the child is done, by the thread below: released here on any other way out
        if not lock.enter_context(_compile_lock(key, wait=False)) or _read_meta(key) is not None:
            lock.close()  # another process compiles it, or cached it since the first look: load it later
            return None
        t0 = time.perf_counter()
        started = _start_child(model, var_names)
    except BaseException:
        lock.close()  # (a lock left held would make this process's compile_model wait on itself forever)
        raise
    if isinstance(started, str):  # a child that could not start: compile_model compiles it
        lock.close()
        return None
    outcome: list[str] = []

    def work() -> None:
        with lock:
            if started() is None:  # a failure leaves it to compile_model, which says why
                outcome.append(f"compiled ahead in a new process ({time.perf_counter() - t0:.1f} s)")

    thread = threading.Thread(target=work, name=f"compile-ahead-{key[:8]}", daemon=True)
    _AHEAD[key] = outcome
    thread.start()
    return thread


def _child_main() -> None:
    """The new Python process of :func:`_start_child`: read ``(model, var_names)`` from stdin, compile and cache."""
    import cloudpickle

    model, var_names = cloudpickle.loads(sys.stdin.buffer.read())
    compile_model(model, var_names, in_child=False)
    if last_info.key is None or _read_meta(last_info.key) is None:
        raise SystemExit(f"not cached: {last_info.reason}")


def _compiled_here(logp_fn, expand_fn, g: _Graphs, key: str | None, shared: dict, reason: str, dims_of: dict):
    """Both callbacks compiled in this process from the PyTensor functions (and cached under ``key`` when it
    describes every shared variable they use): the shared data, nutpie's user data, the callbacks and how it went."""
    used = {v.name: v for v in [*logp_fn.get_shared(), *expand_fn.get_shared()]}
    if key is not None and not used.keys() <= shared.keys():
        key, reason = None, f"not cached: shared variables outside the model graph: {sorted(used.keys() - shared.keys())}"
    if key is None:
        shared = used
    import numba

    record = sorted(shared)
    meta = {"n_dim": g.n_dim, "n_expanded": g.n_expanded, "record": record,
            "logp_shared": [v.name for v in logp_fn.get_shared()],
            "expand_shared": [v.name for v in expand_fn.get_shared()],
            "ndims": {n: shared[n].type.ndim for n in record}, "dtypes": {n: str(shared[n].type.dtype) for n in record},
            "dims": {n: list(dims_of.get(n) or ()) for n in record},
            "numba_opt": int(numba.config.OPT)}
    shared_data, user_data = _user_data(meta, shared)
    compiled = [_cfunc(kind, key, meta, user_data.dtype, fn.vm.jit_fn, load_only=False)
                for kind, fn in (("logp", logp_fn), ("expand", expand_fn))]
    refused = [c.uncached_reason for c in compiled if hasattr(c, "uncached_reason")]
    if key is not None and not refused:
        _write_meta(key, meta)
    return shared_data, user_data, compiled, CacheInfo(key, False, "; ".join(refused) or reason, int(numba.config.OPT))


def numbers_as_data(model: pm.Model) -> pm.Model:
    """A copy of ``model`` whose :class:`priors.PriorNumber` constants (the priors' numbers) are
    shared variables of the same name, type and value, or ``model`` itself when it has none. Compiled from the copy,
    the callbacks read those numbers at run time, and the key holds their names and shapes only: a model that differs
    in them loads the first one's callbacks. (The model itself keeps constants: PyMC's forward sampling would take a
    shared variable it does not know for changed data and draw the variables that depend on it afresh.)"""
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph

    from .priors import CheckedNumber, PriorNumber

    fg, _ = fgraph_from_model(model)
    numbers = [v for v in fg.variables if isinstance(v, PriorNumber)]
    if not numbers:
        return model
    names = [str(v.name) for v in numbers]
    if len(set(names)) < len(names):
        raise _Uncacheable(f"the numbers given as data need unique names: {sorted(names)}")
    replacements = []
    for v in numbers:
        data = pytensor.shared(v.data, name=v.name, shape=v.type.shape)
        data.tag.checked_number = isinstance(v, CheckedNumber)  # its parameter checks passed: see _checks_of_numbers
        replacements.append((v, data))
    fg.replace_all(replacements, import_missing=True)
    copy = model_from_fgraph(fg, mutate_fgraph=True)
    copy.check_bounds = model.check_bounds
    for kind in ("free_RVs", "observed_RVs", "deterministics", "potentials"):  # the model's order: its parameter layout
        setattr(copy, kind, [copy[v.name] for v in getattr(model, kind)])
    return copy


def key_of(model: pm.Model, var_names: list[str] | None = UNCONSTRAINED_ONLY) -> str:
    """The key :func:`compile_model` caches ``model``'s callbacks under."""
    model = numbers_as_data(model)
    return structure_key(model, model_graphs(model, var_names))[0]


def compile_model(model: pm.Model, var_names: list[str] | None = None, before_compile=None, in_child: bool = True):
    """``nutpie.compile_pymc_model(model, var_names=var_names)`` with its C callbacks cached on disk.

    The first compile of a model structure costs what nutpie's does; later ones, in any process and
    with any data values of the same shapes, load the callbacks (see the module docstring).
    ``before_compile`` (no arguments) is called when the cache misses, before the long compile starts.
    With ``in_child`` (the default) a miss is compiled in a new process and then loaded from the cache, so
    that the first run samples with the same code as every later one (:func:`_compile_in_child`).
    """
    from nutpie.compile_pymc import CompiledPyMCModel, _prepare_dims_and_coords

    global last_info
    _register_cacheable_cython_scalars()
    model = numbers_as_data(model)
    g = model_graphs(model, var_names)
    try:
        key, shared = structure_key(model, g)
        reason = "compiled and cached"
    except _Uncacheable as err:
        key, shared, reason = None, {}, f"not cached: {err}"
    if key is not None and not pytensor.config.numba__cache:
        key, reason = None, "not cached: pytensor.config.numba__cache is off"
    found = _loaded(key, shared)
    hit = found is not None
    if found is None and key is not None and in_child:
        with _compile_lock(key):  # another process compiling this structure: wait, then load what it cached
            found = _loaded(key, shared)
            hit = found is not None
            if found is None:
                if before_compile is not None:
                    before_compile()
                    before_compile = None
                why_not = _compile_in_child(model, var_names)
                found = _loaded(key, shared) if why_not is None else None
                reason = ("compiled in a new process, cached and loaded" if found is not None else
                          f"compiled here: the compile in a new process failed ({why_not or 'nothing cached'})")
    logp_fn = expand_fn = None
    ahead = _AHEAD.pop(key, []) if key is not None else []
    if ahead:  # compiled by compile_ahead in this process: a miss of this run
        hit, reason = False, f"{ahead[0]}, cached and loaded"
    if found is not None:
        meta, shared_data, user_data, compiled = found
        last_info = CacheInfo(key, hit, "loaded from the cache" if hit else reason, meta.get("numba_opt"),
                              ahead=bool(ahead))
    else:
        if before_compile is not None:
            before_compile()
        with machine_code_on_demand():  # the callbacks' libraries optimized and made machine code once, at the top
            logp_fn, expand_fn = _functions(model, g)
            shared_data, user_data, compiled, last_info = _compiled_here(logp_fn, expand_fn, g, key, shared, reason,
                                                                         model.named_vars_to_dims)
    shape_info = (g.all_names, g.all_slices, g.all_shapes)
    dims, coords = _prepare_dims_and_coords(model, shape_info)
    return CompiledPyMCModel(
        _n_dim=g.n_dim, dims=dims, _coords=coords, _shapes={n: tuple(s) for n, _, s in zip(*shape_info)},
        compiled_logp_func=compiled[0], compiled_expand_func=compiled[1],
        initial_point_func=_initial_point_fn(model, g), shared_data=shared_data, user_data=user_data,
        n_expanded=g.n_expanded, shape_info=shape_info, logp_func=logp_fn, expand_func=expand_fn)
