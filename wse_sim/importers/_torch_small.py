"""ATen handlers for data movement and small ops (pad, stack, index_select, 1-D pooling,
ReLU6, neg) and the split of a fused projection into one dense per piece; used by
:mod:`._torch_ops` (same ``handler(imp, node, ctx)`` signature)."""

from __future__ import annotations

import numpy as np

from wse_sim.errors import GraphError

from ._acts import Act, Const
from ._torch_check import ALIASES, VIEWS, packet, shape_of


def _neg(imp, n, c) -> None:
    minus = Const(f"{n.name}.minus_one", (), np.array(-1.0))
    imp.env[n.name] = imp.b.with_constant(c.name, "mul", c.x, minus)


class _Pieces(list):
    """The outputs of a dense whose only reader splits them along the last axis, one dense per
    piece (a fused q/k/v projection becomes q, k and v)."""


def _split_reader(n) -> list | None:
    """Widths of the pieces when node ``n``'s only reader splits its last axis, else None."""
    users = list(n.users)
    last = shape_of(n.meta["val"])[-1]
    while len(users) == 1 and packet(users[0]) in VIEWS | ALIASES \
            and shape_of(users[0].meta["val"])[-1] == last:  # a reshape keeping the last axis
        users = list(users[0].users)
    if len(users) != 1 or packet(users[0]) not in ("split", "split_with_sizes", "chunk"):
        return None
    u = users[0]
    rank = len(shape_of(u.args[0].meta["val"]))
    dim = u.args[2] if len(u.args) > 2 else u.kwargs.get("dim", 0)
    if dim % rank != rank - 1:
        return None
    return [shape_of(v)[-1] for v in u.meta["val"]]


def _dense_pieces(imp, n, c, x, w: Const, wv, bias: Const | None, widths) -> None:
    """One dense per piece of the output, each with its columns of the weight and bias."""
    pieces, start = _Pieces(), 0
    for i, width in enumerate(widths):
        cols = slice(start, start + width)
        key = f"{w.key}[:, {start}:{start + width}]"
        n_in = w.shape[1] if c.p == "linear" else w.shape[0]
        wp = Const(key, (n_in, width), None if wv is None else wv[:, cols],
                   ((key, n_in * width),) if w.sources else ())
        bp = None
        if bias is not None:
            bkey = f"{bias.key}[{start}:{start + width}]"
            bp = Const(bkey, (width,), None if bias.value is None else bias.value[..., cols],
                       ((bkey, width),) if bias.sources else ())
        pieces.append(imp.b.dense(f"{c.name}.{i}", x, wp, None if wv is None else wv[:, cols],
                                  bp, (*c.full[:-1], width)))
        start += width
    imp.env[n.name] = pieces


def _pool1d(imp, n, c) -> None:
    """Average over the last axis of ``(b, c, L)`` to ``(b, c, 1)``: a global average pool."""
    image = imp.b.view(c.x, (*c.x.full, 1), c.name)
    imp.env[n.name] = imp.b.pool(c.name, image, "global_avg", full=c.full)


def _clamp(imp, n, c) -> None:
    imp.env[n.name] = imp.b.unary(c.name, "relu6", c.x)


def _pad(imp, n, c) -> None:
    pads = [int(v) for v in c.args[1]]
    if not any(pads):
        imp.env[n.name] = c.x
        return
    left, right = pads[0], pads[1]
    top, bottom = (pads[2], pads[3]) if len(pads) == 4 else (0, 0)
    imp.env[n.name] = imp.b.pad(c.name, c.x, (top, bottom, left, right), c.full)


def _index_select(imp, n, c) -> None:
    """Rows ``index`` of one axis: a contiguous run of constant indices is a slice."""
    x, dim = c.x, c.args[1] % len(c.x.full)
    idx = c.args[2]
    values = None if not isinstance(idx, Const) or idx.value is None else idx.value.reshape(-1)
    if values is None or len(values) == 0 or \
            (values != values[0] + np.arange(len(values))).any():
        raise GraphError(f"node {n.name!r}: index_select needs constant, contiguous indices "
                         "(a slice of the axis); gathering activation rows by data is not "
                         "modelled")
    imp.env[n.name] = imp.b.part(c.name, x, dim, int(values[0]) % x.full[dim], c.full)


def _stack(imp, n, c) -> None:
    """Stack: each tensor gains the new axis (a view), then one concatenation along it."""
    dim = c.arg(1, "dim", 0) % len(c.full)
    parts = []
    for i, a in enumerate(c.args[0]):
        if not isinstance(a, Act):
            raise GraphError(f"node {n.name!r}: stack of constants with activations is not "
                             "supported")
        one = list(a.full)
        one.insert(dim, 1)
        parts.append(imp.b.view(a, one, f"{c.name}.{i}"))
    imp.env[n.name] = imp.b.merge(c.name, parts, dim, c.full)
