"""Argument checks of the graph builders: sizes, densities, shapes and whole ops."""

from __future__ import annotations

from ..errors import GraphError, SparsityError
from ..validate import MAX_MACS, MAX_TENSOR_ELEMS, integer, show
from ..validate.ops import OpVocabulary, check_op_fields, check_op_inputs
from .op import BINARY_FNS, DTYPE_BYTES, ELEMENTWISE_FNS, OP_KINDS, OP_PATTERNS, Op

LOSS_FNS = ("cross_entropy", "bce", "kl", "bce+kl", "mse")
"""Loss functions :meth:`Graph.loss` takes (the cost model reads only the tensor sizes)."""


def vocabulary() -> OpVocabulary:
    """The graph's names, read when checked (so kinds or fns added later are known)."""
    return OpVocabulary(frozenset(OP_KINDS), frozenset(DTYPE_BYTES), tuple(OP_PATTERNS),
                        frozenset(ELEMENTWISE_FNS) | frozenset(BINARY_FNS), LOSS_FNS)


def _positive_int(op: str, what: str, value) -> int:
    return integer(f"op {op!r}: {what}", value, 1, MAX_TENSOR_ELEMS, error=GraphError,
                   fix="a size is a positive integer")


def _density(op: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise SparsityError(f"op {op!r}: {what} must be in [0, 1], got {value!r}")
    return float(value)


def _dims(op: str, what: str, value) -> tuple:
    """A shape or permutation given as a list or tuple (of what the caller then checks)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise GraphError(f"op {op!r}: {what} must be a tuple of integers, got {show(value)} "
                         f"({type(value).__name__}); e.g. (784,)")
    for d in value:
        if isinstance(d, bool) or not isinstance(d, int):
            raise GraphError(f"op {op!r}: {what} must hold integers, got {show(value)}")
    return tuple(value)


def _check_op(op, graph: str, shape_of=None, fields: bool = True) -> None:
    """An :class:`Op` whose names are strings, whose fields pass
    :func:`wse_sim.validate.ops.check_op_fields` and whose sizes stay inside int64 counts.
    With ``shape_of`` (name -> output shape, raising for an unknown op), its inputs must exist
    and its ``in_shapes`` must equal their outputs. ``fields=False``: the names only."""
    if not isinstance(op, Op):
        raise GraphError(f"{graph}: expected an Op, got {show(op)} ({type(op).__name__})")
    if not isinstance(op.name, str) or not op.name or not isinstance(op.kind, str) \
            or not isinstance(op.inputs, tuple) or not all(isinstance(i, str) for i in op.inputs):
        raise GraphError(f"{graph}: op names, kinds and inputs must be non-empty strings, got "
                         f"name={show(op.name)}, kind={show(op.kind)}, inputs={show(op.inputs)}")
    if not fields:
        return
    producers = {src: shape_of(src) for src in op.inputs} if shape_of is not None else None
    check_op_fields(op, vocabulary())  # types, ranges, kind rules: every field
    elems, macs, weights = op.out_elems, op.training_macs, op.weight_count
    if elems > MAX_TENSOR_ELEMS or weights > MAX_TENSOR_ELEMS or macs > MAX_MACS:
        raise GraphError(f"op {op.name!r}: {elems:,} output elements, {weights:,} weights and "
                         f"{macs:,} MACs per sample are beyond any machine (limits "
                         f"{MAX_TENSOR_ELEMS:,} elements, {MAX_MACS:,} MACs); use smaller sizes")
    if producers is not None:
        check_op_inputs(op, producers)


def _conv_args(op: str, c_in: int, out_channels, kernel, stride, groups, dilation,
               padding) -> tuple[int, int, int, int, int, int]:
    """``(c_out, k, stride, groups, dilation, padding)`` of a conv2d, checked; 'same' pads half
    the dilated kernel."""
    c_out = _positive_int(op, "out_channels", out_channels)
    k, s = _positive_int(op, "kernel", kernel), _positive_int(op, "stride", stride)
    grp, d = _positive_int(op, "groups", groups), _positive_int(op, "dilation", dilation)
    if c_in % grp or c_out % grp:
        raise GraphError(f"op {op!r}: groups={grp} must divide the input channels "
                         f"({c_in}) and out_channels ({c_out})")
    if not (padding == "same" or (isinstance(padding, int)
                                  and not isinstance(padding, bool) and padding >= 0)):
        raise GraphError(f"op {op!r}: padding must be 'same' or an int >= 0, got {padding!r}")
    p = (d * (k - 1) + 1) // 2 if padding == "same" else padding
    return c_out, k, s, grp, d, p
