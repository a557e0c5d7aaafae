"""Rules for a whole :class:`~wse_sim.graph.Op`: what :meth:`Graph.add`, :meth:`Graph.replace_op`
and :meth:`Graph.from_ops` accept.

An op added by hand (or by an importer) must hold what the mapping, the engine and the GPU
baseline read later: names that are strings, a known kind and dtype, shapes of positive
integers that agree with the ops feeding it, a weight shape that agrees with the shapes,
non-negative counts, densities in [0, 1], a known sparsity pattern and the ``attrs`` its kind
is read through. Anything else is refused here, naming the field and the fix, instead of
failing later with a ``KeyError`` deep in the placer or being simulated as if valid.

The graph passes its vocabularies (:class:`OpVocabulary`), so this package still imports
nothing of wse-sim but :mod:`wse_sim.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

from ..errors import GraphError, SparsityError
from .checks import MAX_MACS, MAX_SEED, MAX_TENSOR_ELEMS, show

MAX_MASK_SEED = MAX_SEED * 1_000_003 + 2**31  # sparsify: seed * 1,000,003 + op index; derived

COUNT_FIELDS = ("params", "macs_fwd", "macs_bwd_input", "macs_bwd_weight", "vector_ops")
DENSITY_FIELDS = ("weight_density", "out_density")
# attrs each kind is read through (mapping/view.py, functional/, baselines/roofline.py)
REQUIRED_ATTRS: dict[str, tuple[str, ...]] = {
    "dense": ("rows",),
    "embedding": ("rows",),
    "matmul": ("batch", "m", "k", "n"),
    "conv2d": ("kernel", "stride", "padding"),
    "conv_transpose2d": ("kernel", "stride", "padding"),
    "pool": ("pool",),
    "transpose": ("perm",),
}
"""The ``attrs`` each kind is read through unconditionally."""


@dataclass(frozen=True)
class OpVocabulary:
    """The names a graph knows: op kinds, dtypes, sparsity patterns, elementwise and loss
    functions (passed in by :mod:`wse_sim.graph`, which owns them)."""

    kinds: frozenset
    dtypes: frozenset
    patterns: tuple
    elementwise_fns: frozenset
    loss_fns: tuple


def _int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _shape(name: str, what: str, value, empty_ok: bool) -> tuple:
    if not isinstance(value, tuple) or not all(_int(d) and d >= 1 for d in value) \
            or (not value and not empty_ok):
        need = "a tuple of integers >= 1" + ("" if empty_ok else " with at least one dimension")
        raise GraphError(f"op {name!r}: {what} must be {need}, got {show(value)}; e.g. (8, 16) "
                         "(per sample, no batch dimension)")
    return value


def check_op_fields(op, vocab: OpVocabulary) -> None:
    """Every field of ``op`` alone (its inputs' shapes are :func:`check_op_inputs`'s)."""
    name = op.name
    if op.kind not in vocab.kinds:
        raise GraphError(f"op {name!r}: unknown kind {op.kind!r}; known: "
                         f"{', '.join(sorted(vocab.kinds))}")
    if not isinstance(op.dtype, str) or op.dtype not in vocab.dtypes:
        raise GraphError(f"op {name!r}: unknown dtype {show(op.dtype)}; use one of "
                         f"{', '.join(sorted(vocab.dtypes))}")
    if not isinstance(op.inputs, tuple):
        raise GraphError(f"op {name!r}: inputs must be a tuple of op names, got "
                         f"{show(op.inputs)}")
    if not isinstance(op.in_shapes, tuple) or len(op.in_shapes) != len(op.inputs):
        raise GraphError(f"op {name!r}: in_shapes must be a tuple of one shape per input "
                         f"({len(op.inputs)}), got {show(op.in_shapes)}")
    for i, s in enumerate(op.in_shapes):
        _shape(name, f"in_shapes[{i}]", s, False)
    _shape(name, "out_shape", op.out_shape, False)
    _shape(name, "weight_shape", op.weight_shape, True)
    for f in COUNT_FIELDS:
        v = getattr(op, f)
        if not _int(v) or not 0 <= v <= MAX_MACS:
            raise GraphError(f"op {name!r}: {f} must be an integer in [0, {MAX_MACS:,}] (per "
                             f"sample), got {show(v)}; counts are never negative")
    for f in DENSITY_FIELDS:
        v = getattr(op, f)
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) \
                or not 0 <= v <= 1:
            raise SparsityError(f"op {name!r}: {f} must be a finite number in [0, 1] (the "
                                f"fraction of non-zeros), got {show(v)}")
    if not isinstance(op.sparsity_pattern, str) or op.sparsity_pattern not in vocab.patterns:
        raise SparsityError(f"op {name!r}: unknown sparsity_pattern {show(op.sparsity_pattern)}"
                            f"; use one of {', '.join(map(repr, vocab.patterns))}")
    if not _int(op.mask_seed) or not 0 <= op.mask_seed <= MAX_MASK_SEED:
        raise SparsityError(f"op {name!r}: mask_seed must be an integer in [0, "
                            f"{MAX_MASK_SEED:,}], got {show(op.mask_seed)}")
    if not isinstance(op.attrs, dict):
        raise GraphError(f"op {name!r}: attrs must be a dict, got {show(op.attrs)}")
    if op.weight_count > MAX_TENSOR_ELEMS:
        raise GraphError(f"op {name!r}: {op.weight_count:,} weights are beyond any machine "
                         f"(limit {MAX_TENSOR_ELEMS:,}); use smaller sizes")
    _check_kind(op, vocab)


def _need_attrs(op) -> None:
    missing = [a for a in REQUIRED_ATTRS.get(op.kind, ()) if a not in op.attrs]
    if missing:
        raise GraphError(f"op {op.name!r} ({op.kind}) needs attrs {', '.join(map(repr, missing))}"
                         f" (the mapping reads them); build it with Graph.{op.kind}(...) or give "
                         "them in attrs")


def _positive_attr(op, key: str, want: int | None = None) -> None:
    v = op.attrs[key]
    if not _int(v) or v < 1 or (want is not None and v != want):
        exp = f"{want}" if want is not None else "an integer >= 1"
        raise GraphError(f"op {op.name!r} ({op.kind}): attrs[{key!r}] must be {exp} for its "
                         f"shapes, got {show(v)}")


def _weights(op, want: str, ok: bool) -> None:
    if not ok:
        raise GraphError(f"op {op.name!r} ({op.kind}): weight_shape {op.weight_shape} disagrees "
                         f"with in_shapes {op.in_shapes} and out_shape {op.out_shape}; it must "
                         f"be {want}")


def _check_kind(op, vocab: OpVocabulary) -> None:
    """The per-kind rules: attrs present, weight shape consistent with the shapes."""
    _need_attrs(op)
    k, w, out = op.kind, op.weight_shape, op.out_shape
    x = op.in_shapes[0] if op.in_shapes else ()
    if k in ("dense", "embedding", "matmul", "conv2d", "conv_transpose2d") and not x:
        raise GraphError(f"op {op.name!r} ({k}) needs at least one input, got none")
    if k == "dense":
        _weights(op, f"(n_in, n_out) = ({x[-1]}, {out[-1]})", w == (x[-1], out[-1]))
        _positive_attr(op, "rows", math.prod(out[:-1]))
    elif k == "embedding":
        _weights(op, f"(vocab, dim) with dim = {out[-1]}", len(w) == 2 and w[1] == out[-1])
        _positive_attr(op, "rows")
    elif k == "matmul":
        for a in ("batch", "m", "k", "n"):
            _positive_attr(op, a)
        if len(out) < 2 or op.attrs["m"] != out[-2] or op.attrs["n"] != out[-1] \
                or op.attrs["batch"] != math.prod(out[:-2]):
            raise GraphError(f"op {op.name!r} (matmul): attrs batch, m, n = "
                             f"{op.attrs['batch']}, {op.attrs['m']}, {op.attrs['n']} disagree "
                             f"with out_shape {out}")
    elif k in ("conv2d", "conv_transpose2d"):
        if len(x) != 3 or len(out) != 3:
            raise GraphError(f"op {op.name!r} ({k}): in and out shapes must be (channels, "
                             f"height, width), got {x} and {out}")
        # (c_out, c_in / groups, kh, kw) for conv2d, (c_in, c_out / groups, kh, kw) transposed
        c_w_out, per_group = (w[0], w[1]) if k == "conv2d" and len(w) == 4 else \
            ((w[1], w[0]) if len(w) == 4 else (0, 0))
        c_in, c_out = x[0], out[0]
        ok = len(w) == 4 and (
            (k == "conv2d" and c_w_out == c_out and c_in % per_group == 0)
            or (k == "conv_transpose2d" and per_group == c_in and c_out % c_w_out == 0))
        _weights(op, "(c_out, c_in, kh, kw)" if k == "conv2d" else "(c_in, c_out, kh, kw)", ok)
    elif k in ("layernorm", "batchnorm") and w:
        _weights(op, "(dim,)", len(w) == 1)
    # an elementwise or loss fn is free: its cost is the op's vector_ops; functional
    # simulation names an fn it cannot run


def check_op_inputs(op, producers: Mapping[str, tuple]) -> None:
    """``op.in_shapes`` equal the output shapes of the ops named in ``op.inputs``."""
    for i, (src, shape) in enumerate(zip(op.inputs, op.in_shapes, strict=True)):
        have = producers[src]
        if tuple(shape) != tuple(have):
            raise GraphError(f"op {op.name!r}: in_shapes[{i}] = {shape} but its input {src!r} "
                             f"produces {have}; set in_shapes[{i}] = {have}")


def check_loss_args(name: str, inputs: tuple, fn, loss_fns) -> None:
    """A loss over at least one tensor with a known function."""
    if not inputs:
        raise GraphError(f"op {name!r}: a loss needs at least one tensor, got none; e.g. "
                         f"g.loss({name!r}, 'logits')")
    if not isinstance(fn, str) or fn not in loss_fns:
        raise GraphError(f"op {name!r}: unknown loss fn {show(fn)}; use one of "
                         f"{', '.join(map(repr, loss_fns))}")


def check_padding(name: str, what: str, value, same_ok: bool = True) -> int | str:
    """A convolution padding: 'same' (where allowed) or an integer >= 0 (not a bool)."""
    if same_ok and isinstance(value, str) and value == "same":
        return value
    if not _int(value) or value < 0 or value > MAX_TENSOR_ELEMS:
        allowed = "'same' or an integer >= 0" if same_ok else "an integer >= 0"
        raise GraphError(f"op {name!r}: {what} must be {allowed}, got {show(value)} "
                         f"({type(value).__name__})")
    return int(value)
