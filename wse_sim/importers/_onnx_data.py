"""ONNX data-movement handlers on activations: positions taken by Gather and Slice, Expand,
Pad, Neg, and ReduceMean as a global pool (``DATA_HANDLERS[op_type](imp, node, ctx)``, as
:mod:`._onnx_ops`)."""

from __future__ import annotations

import math

import numpy as np

from wse_sim.errors import GraphError

from ._acts import Act, Const


def _values(imp, n, i: int, default=None):
    """Input ``i`` of node ``n`` as an int list (a constant), or ``default`` if absent."""
    if len(n.input) <= i or not n.input[i]:
        return default
    v = imp.const(n.input[i], n).value
    if v is None:
        raise GraphError(f"node {n.name!r} ({n.op_type}): input {n.input[i]!r} has no value "
                         "in the file")
    return [int(x) for x in np.asarray(v).reshape(-1)]


def take(imp, n, c) -> None:
    """Gather of constant indices from an activation (``x[:, 0]``): a contiguous run of
    positions is a split (a scalar index drops the axis)."""
    rank = len(c.x.full)
    axis = c.attrs.get("axis", 0) % rank
    idx = _values(imp, n, 1)
    if idx is None or (np.diff(idx) != 1).any():
        raise GraphError(f"node {c.name!r} (Gather): indices {idx} are not a contiguous run; "
                         "only slices of an activation are modelled")
    start = idx[0] % c.x.full[axis]
    one = list(c.x.full)
    one[axis] = len(idx)
    piece = imp.b.part(c.name, c.x, axis, start, one)
    imp.env[n.output[0]] = imp.b.view(piece, c.full, c.name)


def _slice(imp, n, c) -> None:
    rank = len(c.x.full)
    starts, ends = _values(imp, n, 1), _values(imp, n, 2)
    if starts is None:  # opset < 10: attributes
        starts, ends = c.attrs["starts"], c.attrs["ends"]
    axes = _values(imp, n, 3, c.attrs.get("axes", list(range(len(starts)))))
    steps = _values(imp, n, 4, [1] * len(starts))
    out = c.x
    for st, en, ax, step in zip(starts, ends, axes, steps, strict=True):
        ax %= rank
        size = out.full[ax]
        lo = max(0, min(size, st + size if st < 0 else st))
        hi = max(0, min(size, en + size if en < 0 else en))
        if step < 1:
            raise GraphError(f"node {c.name!r} (Slice): step {step}; only forward slices "
                             "of an activation are modelled")
        if (lo, hi, step) == (0, size, 1):
            continue
        shape = list(out.full)
        shape[ax] = len(range(lo, hi, step))
        out = imp.b.part(c.name, out, ax, lo, shape, step=step)
    imp.env[n.output[0]] = out


def _expand(imp, n, c) -> None:
    if math.prod(c.full) == math.prod(c.x.full):
        imp.env[n.output[0]] = imp.b.view(c.x, c.full, c.name)
    else:
        imp.env[n.output[0]] = imp.b.expand(c.name, c.x, c.full)


def _neg(imp, n, c) -> None:
    minus = Const(f"{n.output[0]}.minus_one", (), np.array(-1.0))
    imp.env[n.output[0]] = imp.b.with_constant(c.name, "mul", c.x, minus)


def _pad_node(imp, n, c) -> None:
    pads = _values(imp, n, 1, c.attrs.get("pads"))
    value = _values(imp, n, 2, [0]) if len(n.input) > 2 and n.input[2] else [0]
    if pads is None or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or value[0] != 0:
        raise GraphError(f"node {c.name!r} (Pad): pads {pads} with value {value}; only zero "
                         "padding of an image's height and width is modelled")
    imp.env[n.output[0]] = imp.b.pad(c.name, c.x, (pads[2], pads[6], pads[3], pads[7]), c.full)


def _reduce_mean(imp, n, c) -> None:
    axes = _values(imp, n, 1, c.attrs.get("axes"))
    if sorted(a % 4 for a in (axes or [])) != [2, 3]:
        raise GraphError(f"node {c.name!r} (ReduceMean): over axes {axes} of {c.x.full}; only "
                         "a mean over height and width (a global average pool) is modelled")
    imp.env[n.output[0]] = imp.b.pool(c.name, c.x, "global_avg", full=c.full)


def _split_to_sequence(imp, n, c) -> None:
    """SplitToSequence: the pieces as a list (SequenceAt picks one); a split projection's
    pieces stay its denses."""
    x = c.x
    if not isinstance(x, Act):  # pieces of a projection split into one dense per piece
        imp.env[n.output[0]] = list(x)
        return
    axis = c.attrs.get("axis", 0) % len(x.full)
    sizes = _values(imp, n, 1)
    if sizes is None or len(sizes) == 1:
        step = sizes[0] if sizes else 1
        sizes = [step] * (x.full[axis] // step)
    pieces, start = [], 0
    for i, size in enumerate(sizes):
        full = list(x.full)
        full[axis] = size
        piece = imp.b.part(f"{c.name}.{i}", x, axis, start, full)
        if not c.attrs.get("keepdims", 1) and size == 1:
            del full[axis]
            piece = imp.b.view(piece, full, f"{c.name}.{i}")
        pieces.append(piece)
        start += size
    imp.env[n.output[0]] = pieces


def _sequence_at(imp, n, c) -> None:
    imp.env[n.output[0]] = c.x[_values(imp, n, 1)[0]]


DATA_HANDLERS = {
    "SplitToSequence": _split_to_sequence,
    "SequenceAt": _sequence_at,
    "Slice": _slice,
    "Expand": _expand,
    "Neg": _neg,
    "Pad": _pad_node,
    "ReduceMean": _reduce_mean,
}
