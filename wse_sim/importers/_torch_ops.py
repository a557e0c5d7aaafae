"""ATen node -> graph IR, one handler per op family: ``HANDLERS[packet](imp, node, ctx)``.

Each handler writes the node's value into ``imp.env[node.name]``: an :class:`~._acts.Act`, or
a list of them (and None) for ops with several outputs, which ``getitem`` picks from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wse_sim.errors import GraphError

from ._acts import Act, Const
from ._torch_check import (
    ALIASES,
    BINARY,
    CLAMPS,
    CONVS,
    LINEAR,
    NORMS,
    PADS,
    PERMUTES,
    POOLS,
    SPLITS,
    UNARY,
    VIEWS,
    _global_window,
    packet,
    shape_of,
)
from ._torch_small import (
    _clamp,
    _dense_pieces,
    _index_select,
    _neg,
    _pad,
    _Pieces,
    _pool1d,
    _split_reader,
    _stack,
)


@dataclass(frozen=True)
class Ctx:
    """A node being translated: its packet, op name, resolved args and kwargs, output shape
    (None for several outputs) and FX value (``meta['val']``)."""

    p: str
    name: str
    args: list
    kw: dict
    full: tuple | None
    val: object

    @property
    def x(self):
        return self.args[0] if self.args else None

    def arg(self, i: int, key: str, default):
        return self.args[i] if len(self.args) > i else self.kw.get(key, default)


def _first_int(v, default) -> int:
    if v is None:
        return default
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def _getitem(imp, n, c: Ctx) -> None:
    imp.env[n.name] = c.x[c.args[1]] if isinstance(c.x, (list, tuple)) else None


def _alias(imp, n, c: Ctx) -> None:
    imp.env[n.name] = c.x  # (pieces of a fused projection stay pieces)


def _view(imp, n, c: Ctx) -> None:
    if isinstance(c.x, _Pieces):  # a reshape of a fused projection, before its split
        imp.env[n.name] = _Pieces(c.x)
        return
    if c.p in ("expand", "expand_as") and math.prod(c.full) != math.prod(c.x.full):
        imp.env[n.name] = imp.b.expand(c.name, c.x, c.full)
        return
    imp.env[n.name] = imp.b.view(c.x, c.full, c.name)


def _permute(imp, n, c: Ctx) -> None:
    rank = len(c.x.full)
    if c.p == "permute":
        perm = list(c.args[1])
    elif c.p == "t":
        perm = list(range(rank))[::-1]
    else:
        d0, d1 = (a % rank for a in c.args[1:3])
        perm = list(range(rank))
        perm[d0], perm[d1] = perm[d1], perm[d0]
    imp.env[n.name] = imp.b.transpose(c.name, c.x, perm, c.full)


def _unary(imp, n, c: Ctx) -> None:
    imp.env[n.name] = imp.b.unary(c.name, UNARY[c.p], c.x)


def _dropout(imp, n, c: Ctx) -> None:
    prob = float(c.arg(1, "p", 0.5))
    train = c.arg(2, "train", True)
    out = imp.b.unary(c.name, "dropout", c.x, p=prob) if train and prob > 0 else c.x
    imp.env[n.name] = out if c.p in ("dropout", "dropout_") else [out, None]


def _softmax(imp, n, c: Ctx) -> None:
    imp.env[n.name] = imp.b.softmax(c.name, c.x, c.args[1])


def _norm(imp, n, c: Ctx) -> None:
    if "layer_norm" in c.p:
        if len(tuple(c.args[1])) != 1:
            raise GraphError(f"node {n.name!r}: layer_norm over {tuple(c.args[1])} is not over "
                             "the last axis alone")
        consts = [imp.const_of(a, "weight", n) for a in c.args[2:4] if a is not None]
        out = imp.b.norm(c.name, "layernorm", c.x, consts)
        imp.env[n.name] = out if c.p == "layer_norm" else [out, None, None]
        return
    consts = [imp.const_of(a, "weight", n) for a in c.args[1:3] if a is not None]
    out = imp.b.norm(c.name, "batchnorm", c.x, consts)
    imp.env[n.name] = out if c.p == "batch_norm" else [out, None, None, None, None]


def _indexed_table(imp, n, c: Ctx):
    """``act + table[constant ids]`` (a position embedding): the lookup as an embedding op on
    the model's sequence input (as the zoo builds it), or None."""
    if c.p not in ("add", "add_"):
        return None
    for i, arg in enumerate(n.args[:2]):
        looked = imp.lookups.get(getattr(arg, "name", None))
        other = c.args[1 - i]
        if looked is None or not isinstance(other, Act):
            continue
        table, ids = looked
        seq = imp.sequence_input(ids.shape[-1:] if ids.ndim else ())
        if seq is None:
            return None
        emb = imp.b.embedding(table.key.removesuffix(".weight"), seq, table,
                              (*seq.full, table.shape[1]))
        index = "position" if (ids.reshape(-1, ids.shape[-1]) == np.arange(ids.shape[-1])).all() \
            else "constant"
        g = imp.b.g
        g.replace_op(emb.op, attrs={**g.op(emb.op).attrs, "index": index})
        return imp.b.binary(c.name, "add", other, emb, c.full)
    return None


def _binary(imp, n, c: Ctx) -> None:
    a, other = c.args[0], c.args[1] if len(c.args) > 1 else None
    fn = BINARY[c.p]
    looked = _indexed_table(imp, n, c)
    if looked is not None:
        imp.env[n.name] = looked
        return
    if isinstance(a, Act) and isinstance(other, Act):
        imp.env[n.name] = imp.b.binary(c.name, fn, a, other, c.full)
        return
    act, const = (a, other) if isinstance(a, Act) else (other, a)
    const = imp.const_of(const, "the other operand", n)
    if fn in ("sub", "div") and not isinstance(a, Act):
        fn = "add" if fn == "sub" else "mul"
    if math.prod(c.full) > math.prod(act.full):
        raise GraphError(
            f"node {n.name!r} ({c.p}): a constant of shape {const.shape} "
            f"broadcasts the activation {act.full} to {c.full}"
        )
    imp.env[n.name] = imp.b.with_constant(c.name, fn, act, const)


def _linear(imp, n, c: Ctx) -> None:
    if c.p == "linear":
        x, w = c.args[0], imp.const_of(c.args[1], "the linear weight", n)
        bias = c.args[2] if len(c.args) > 2 else None
        wv = None if w.value is None else w.value.T
    elif c.p == "addmm":
        bias, x, w = c.args[0], c.args[1], c.args[2]
        if not isinstance(w, Const):
            raise GraphError(f"node {n.name!r}: addmm of two activations is not supported")
        wv = w.value
    else:
        x, w, bias = c.args[0], c.args[1], None
        if isinstance(w, Act):
            if not isinstance(x, Act):
                raise GraphError(
                    f"node {n.name!r} ({c.p}): a constant first operand is not supported"
                )
            imp.env[n.name] = imp.b.matmul(c.name, x, w, c.full)
            return
        wv = w.value
    if len(w.shape) != 2:
        raise GraphError(f"node {n.name!r} ({c.p}): weight of shape {w.shape} is not a matrix")
    if bias is not None:
        bias = imp.const_of(bias, "the bias", n)
    widths = _split_reader(n)
    if widths is not None and len(widths) > 1 and w.key not in imp.b.owner:
        _dense_pieces(imp, n, c, x, w, wv, bias, widths)
        return
    imp.env[n.name] = imp.b.dense(c.name, x, w, wv, bias, c.full)


def _conv(imp, n, c: Ctx) -> None:
    args = c.args
    x, w = args[0], imp.const_of(args[1], "the convolution weight", n)
    bias = args[2] if len(args) > 2 and args[2] is not None else None
    bias = imp.const_of(bias, "the bias", n) if bias is not None else None
    transposed = c.p == "conv_transpose2d" or (c.p == "convolution" and args[6])
    stride = _first_int(args[3] if len(args) > 3 else None, 1)
    pad_arg = args[4] if len(args) > 4 else 0
    k = w.shape[2]
    dilation = _first_int(args[5] if len(args) > 5 and not transposed else None, 1)
    groups = int(args[8] if c.p == "convolution" else (args[6] if len(args) > 6 else 1))
    pad = (dilation * (k - 1) + 1) // 2 if pad_arg == "same" else (
        0 if pad_arg == "valid" else _first_int(pad_arg, 0))
    if not transposed:
        imp.env[n.name] = imp.b.conv2d(c.name, x, w, bias, stride, pad, c.full, groups=groups,
                                       dilation=dilation)
        return
    out_pad = c.full[2] - ((x.full[2] - 1) * stride - 2 * pad + k)
    imp.env[n.name] = imp.b.conv_transpose2d(c.name, x, w, bias, stride, pad, out_pad, c.full)


def _pool(imp, n, c: Ctx) -> None:
    args = c.args
    if c.p == "avg_pool2d" and _global_window(n):
        imp.env[n.name] = imp.b.pool(c.name, c.x, "global_avg", full=c.full)
        return
    k = _first_int(args[1], 1)
    s = _first_int(args[2] if len(args) > 2 and args[2] else args[1], 1)
    pad = _first_int(args[3] if len(args) > 3 else 0, 0)
    out = imp.b.pool(c.name, c.x, "avg" if c.p == "avg_pool2d" else "max", kernel=k, stride=s,
                     padding=pad, full=c.full)
    imp.env[n.name] = [out, None] if c.p == "max_pool2d_with_indices" else out


def _global_pool(imp, n, c: Ctx) -> None:
    if c.p == "mean":
        dims = sorted(d % len(c.x.full) for d in c.args[1])
        if len(c.x.full) != 4 or dims != [2, 3]:
            raise GraphError(
                f"node {n.name!r}: mean over dims {c.args[1]} of shape {c.x.full} "
                "is not a global average pool over height and width"
            )
    imp.env[n.name] = imp.b.pool(c.name, c.x, "global_avg", full=c.full)


def _embedding(imp, n, c: Ctx) -> None:
    table = imp.const_of(c.args[0], "the embedding table", n)
    imp.env[n.name] = imp.b.embedding(c.name, c.args[1], table, c.full)


def _cat(imp, n, c: Ctx) -> None:
    """Concatenation; constant parts (a class token expanded over the batch) are rows the op
    stores, counted as parameters when they come from one."""
    tensors = list(c.args[0])
    dim = c.arg(1, "dim", 0) % len(c.full)
    lengths = [shape_of(a.meta["val"])[dim] for a in n.args[0]]
    parts = [a if isinstance(a, Act) else imp.const_of(a, "a concatenated tensor", n)
             for a in tensors]
    imp.env[n.name] = imp.b.concat(c.name, parts, dim, c.full, lengths)


def _one(imp, name: str, x: Act, dim: int, index: int, full) -> Act:
    """Element ``index`` of axis ``dim`` of ``x``, that axis dropped (shape ``full``)."""
    one = list(x.full)
    one[dim] = 1
    return imp.b.view(imp.b.part(name, x, dim, index, one), full, name)


def _split(imp, n, c: Ctx) -> None:
    if isinstance(c.x, _Pieces):  # already one dense per piece
        imp.env[n.name] = [imp.b.view(p, shape_of(v), p.hint) for p, v in zip(c.x, c.val,
                                                                              strict=True)]
        return
    x = c.x
    dim = (c.arg(1, "dim", 0) if c.p == "unbind" else c.arg(2, "dim", 0)) % len(x.full)
    pieces, start = [], 0
    for i, v in enumerate(c.val):
        piece_full = shape_of(v)
        if c.p == "unbind":
            pieces.append(_one(imp, f"{c.name}.{i}", x, dim, start, piece_full))
            start += 1
        else:
            pieces.append(imp.b.part(f"{c.name}.{i}", x, dim, start, piece_full))
            start += piece_full[dim]
    imp.env[n.name] = pieces


def _select(imp, n, c: Ctx) -> None:
    imp.env[n.name] = _one(imp, c.name, c.x, c.args[1] % len(c.x.full), c.args[2], c.full)


def _slice(imp, n, c: Ctx) -> None:
    x = c.x
    dim = (c.args[1] if len(c.args) > 1 else 0) % len(x.full)
    if c.full == x.full:
        imp.env[n.name] = x
        return
    start = c.args[2] if len(c.args) > 2 and c.args[2] is not None else 0
    start = start + x.full[dim] if start < 0 else start
    step = c.args[4] if len(c.args) > 4 else 1
    imp.env[n.name] = imp.b.part(c.name, x, dim, start, c.full, step=step)


def _lower_triangular(m) -> bool:
    """True for a boolean (or 0 / -inf) mask that keeps exactly j <= i in its last two axes."""
    if m is None or m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        return False
    if m.dtype == bool or set(np.unique(m)) <= {0.0, 1.0}:
        keep = m != 0
    elif np.isneginf(m).any():
        keep = np.isfinite(m)
    else:
        return False
    tri = np.tril(np.ones(m.shape[-2:], dtype=bool))
    return bool((keep == tri).all())


def _attention(imp, n, c: Ctx) -> None:
    """softmax(q k^T * scale [+ mask]) v, as the zoo's attention builds it."""
    b, g, name = imp.b, imp.b.g, c.name
    q, k, v = c.args[:3]
    mask = c.arg(3, "attn_mask", None)
    p = float(c.arg(4, "dropout_p", 0.0))
    causal = bool(c.arg(5, "is_causal", False))
    groups = {imp.kv_group.get(a.name, 1) for a in n.args[1:3]}
    group = groups.pop() if len(groups) == 1 else 1
    full_out = c.full
    if group > 1:  # grouped-query: each kv head meets its group's queries in one product
        bq, hq, sq, dq = q.full
        q = b.view(q, (bq, hq // group, group * sq, dq), f"{name}.q_groups")
    scores_full = (*q.full[:-1], k.full[-2])
    scores = g.matmul(b.unique(f"{name}.scores"), b.use(q), b.use(k), transpose_b=True)
    s_act = b.out(scores, scores_full, q)
    if isinstance(mask, Act):
        s_act = b.binary(f"{name}.mask", "add", s_act, mask, scores_full)
    elif isinstance(mask, Const) and mask.sources and any(n > 1 for _, n in mask.sources):
        # a learned bias on the scores (T5's relative position bias, looked up by constant
        # buckets): one add per score, its table counted as parameters
        s_act = b.with_constant(f"{name}.bias", "add", s_act, mask)
    elif isinstance(mask, Const) and _lower_triangular(mask.value):
        causal = True  # a constant causal mask (built from positions alone)
    probs = b.softmax(f"{name}.probs", s_act, -1)
    soft = probs.op
    if p > 0:
        probs = b.unary(f"{name}.probs_dropout", "dropout", probs, p=p)
    ctx = b.matmul(f"{name}.context", probs, v, (*q.full[:-1], v.full[-1]))
    for op in (scores, soft, ctx.op):
        extra = {"causal": True} if causal else {}
        if group > 1:
            extra["group"] = group
        g.replace_op(op, attrs={**g.op(op).attrs, **extra})
    imp.env[n.name] = b.view(ctx, full_out, f"{name}.context_ungroup") if group > 1 else ctx


HANDLERS = {
    **dict.fromkeys(ALIASES, _alias),
    **dict.fromkeys(VIEWS, _view),
    **dict.fromkeys(PERMUTES, _permute),
    **dict.fromkeys(UNARY, _unary),
    **dict.fromkeys(BINARY, _binary),
    **dict.fromkeys(NORMS, _norm),
    **dict.fromkeys(LINEAR, _linear),
    **dict.fromkeys(CONVS, _conv),
    **dict.fromkeys(POOLS, _pool),
    **dict.fromkeys(SPLITS, _split),
    "getitem": _getitem,
    "neg": _neg,
    **dict.fromkeys(CLAMPS, _clamp),
    **dict.fromkeys(PADS, _pad),
    "dropout": _dropout,
    "dropout_": _dropout,
    "native_dropout": _dropout,
    "softmax": _softmax,
    "_softmax": _softmax,
    "adaptive_avg_pool2d": _global_pool,
    "adaptive_avg_pool1d": _pool1d,
    "mean": _global_pool,
    "embedding": _embedding,
    "cat": _cat,
    "stack": _stack,
    "select": _select,
    "index_select": _index_select,
    "slice": _slice,
    "scaled_dot_product_attention": _attention,
}
"""Translation of every packet in ``SUPPORTED``."""


def context(imp, n) -> Ctx:
    """The :class:`Ctx` of activation node ``n`` (arguments resolved through ``imp``)."""
    val = n.meta.get("val")
    return Ctx(packet(n), imp.name_of(n), [imp.resolve(a) for a in n.args],
               {k: imp.resolve(v) for k, v in n.kwargs.items()},
               shape_of(val) if hasattr(val, "shape") else None, val)
