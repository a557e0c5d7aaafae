"""ONNX node -> graph IR, one handler per op family: ``HANDLERS[op_type](imp, node, ctx)``.

Each handler reads its inputs from ``imp.env`` (an :class:`~._acts.Act` or
:class:`~._acts.Const` per tensor) and writes its outputs there, building ops with ``imp.b``
(the :class:`~._build.Builder`). ``ctx`` is the node's :class:`Ctx`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wse_sim.errors import GraphError

from ._acts import Act, Const
from ._onnx_check import ALIAS, BINARY, LAYOUT, UNARY
from ._onnx_data import DATA_HANDLERS, take


@dataclass(frozen=True)
class Ctx:
    """A node being translated: attributes, op name, resolved inputs, first output's shape."""

    attrs: dict
    name: str
    ins: list
    full: tuple | None

    @property
    def x(self):
        return self.ins[0] if self.ins else None


def _alias(imp, n, c: Ctx) -> None:
    imp.env[n.output[0]] = c.x  # (a split projection's pieces stay pieces)


def _layout(imp, n, c: Ctx) -> None:
    if isinstance(c.x, _SwappedLast):  # reshape the leading axes of the unswapped tensor
        full = (*c.full[:-2], c.full[-1], c.full[-2])
        imp.env[n.output[0]] = _SwappedLast(imp.b.view(c.x.act, full, c.name))
        return
    if isinstance(c.x, _Pieces):  # a reshape of a split projection, before its Split
        imp.env[n.output[0]] = c.x
        return
    imp.env[n.output[0]] = imp.b.view(c.x, c.full, c.name)


class _SwappedLast:
    """An activation with its last two axes swapped, read only as the second operand of a
    product of activations: the product takes ``transpose_b`` (as the zoo's ``q k^T``)."""

    def __init__(self, act: Act) -> None:
        self.act = act


def _transpose(imp, n, c: Ctx) -> None:
    perm = c.attrs.get("perm") or list(range(len(c.x.full)))[::-1]
    rank = len(perm)
    t, nxt = n.output[0], imp.sole_consumer(n.output[0])
    last2 = tuple(c.full[-2:])
    while nxt is not None and ((nxt.op_type in ("Mul", "Div") and any(
            imp.is_const(i) and math.prod(imp.env[i].shape) == 1 for i in nxt.input)) or (
            nxt.op_type in LAYOUT and tuple(imp.shapes.get(nxt.output[0], ())[-2:]) == last2)):
        t, nxt = nxt.output[0], imp.sole_consumer(nxt.output[0])  # a scale or a reshape
    if rank >= 2 and list(perm) == [*range(rank - 2), rank - 1, rank - 2] and nxt is not None \
            and nxt.op_type == "MatMul" and nxt.input[1] == t \
            and nxt.input[0] != t and not imp.is_const(nxt.input[0]):
        imp.env[n.output[0]] = _SwappedLast(c.x)
        return
    imp.env[n.output[0]] = imp.b.transpose(c.name, c.x, perm, c.full)


def _dropout(imp, n, c: Ctx) -> None:
    p = c.attrs.get("ratio", 0.5)
    if len(n.input) > 1 and n.input[1]:
        r = imp.const(n.input[1], n)
        p = float(r.value) if r.value is not None else 0.5
    imp.env[n.output[0]] = imp.b.unary(c.name, "dropout", c.x, p=float(p))


def _unary(imp, n, c: Ctx) -> None:
    imp.env[n.output[0]] = imp.b.unary(c.name, UNARY[n.op_type], c.x)


def _clip(imp, n, c: Ctx) -> None:
    """Clip to [0, 6] is ReLU6 (MobileNetV2); other bounds are not modelled."""
    bounds = [c.attrs.get("min"), c.attrs.get("max")]
    for j, i in enumerate(n.input[1:3]):
        if i:
            v = imp.const(i, n).value
            bounds[j] = None if v is None else float(np.asarray(v).reshape(-1)[0])
    if bounds != [0.0, 6.0] and bounds != [0, 6]:
        raise GraphError(f"node {c.name!r} (Clip): bounds {bounds} are not [0, 6]; only ReLU6 "
                         "is modelled")
    imp.env[n.output[0]] = imp.b.unary(c.name, "relu6", c.x)


def _softmax(imp, n, c: Ctx) -> None:
    out = imp.env[n.output[0]] = imp.b.softmax(c.name, c.x, c.attrs.get("axis", -1))
    if n.output[0] in imp.causal:  # its scores and, when translated, its context too
        _mark_causal(imp, out.op, c.x.op)


def _norm(imp, n, c: Ctx) -> None:
    if n.op_type == "LayerNormalization":
        consts = [imp.const(i, n) for i in n.input[1:3] if i]
        imp.env[n.output[0]] = imp.b.norm(c.name, "layernorm", c.x, consts)
    else:
        consts = [imp.const(i, n) for i in n.input[1:3]]
        imp.env[n.output[0]] = imp.b.norm(c.name, "batchnorm", c.x, consts)


def _binary(imp, n, c: Ctx) -> None:
    out = n.output[0]
    if out in imp.env:  # already produced: a bias folded into its MatMul or Gemm
        return
    swapped = [v for v in c.ins if isinstance(v, _SwappedLast)]
    if swapped:  # the scale of a transposed key: folded into the softmax, as the zoo does
        imp.env[out] = swapped[0]
        return
    acts = [v for v in c.ins if isinstance(v, Act)]
    consts = [v for v in c.ins if isinstance(v, Const)]
    fn = BINARY[n.op_type]
    if len(acts) == 2:
        imp.env[out] = imp.b.binary(c.name, fn, acts[0], acts[1], c.full)
        return
    if fn in ("sub", "div") and isinstance(c.ins[0], Const):
        fn = "add" if fn == "sub" else "mul"  # c - x, c / x: still one op per element
    if math.prod(c.full) > math.prod(acts[0].full):
        raise GraphError(
            f"node {c.name!r} ({n.op_type}): a constant of shape {consts[0].shape} "
            f"broadcasts the activation {acts[0].full} to {c.full}"
        )
    const = consts[0]
    nxt = imp.sole_consumer(out)
    if fn in ("mul", "div") and math.prod(const.shape) == 1 and _beside_attention(imp, n, nxt):
        imp.env[out] = acts[0]  # the 1/sqrt(d) scale: folded into the softmax, as the zoo does
        return
    if fn == "add" and nxt is not None and nxt.op_type == "Softmax" and _is_mask(const):
        imp.env[out] = acts[0]  # a constant attention mask: folded into the softmax (the zoo's)
        if _causal(const.value):
            imp.causal.add(nxt.output[0])
        return
    if fn == "add" and nxt is not None and nxt.op_type == "Softmax" and const.value is None \
            and const.key in imp.inits:  # an unread stored tensor: taken for a mask
        const = Const(const.key, const.shape, const.value)
    looked = imp.lookups.get(next(i for i in n.input if isinstance(imp.env.get(i), Const)))
    if fn == "add" and looked is None and const.sources and _per_position(imp, acts[0], const):
        seq = const.shape[-2]  # a learned row per position, stored already looked up
        looked = (Const(const.key, (seq, const.shape[-1]), None if const.value is None else
                        np.asarray(const.value).reshape(seq, -1), const.sources), np.arange(seq))
    if fn == "add" and looked is not None:
        imp.env[out] = _position_table(imp, c, acts[0], *looked)
        return
    imp.env[out] = imp.b.with_constant(c.name, fn, acts[0], const)


def _act_product(imp, node) -> bool:
    return node is not None and node.op_type == "MatMul" and not any(
        imp.is_const(i) for i in node.input)


def _beside_attention(imp, n, nxt) -> bool:
    """True when a scalar scale sits on an attention product: it reads q k^T, or it feeds a
    product of two activations (directly or through a transpose)."""
    src = imp.producer.get(next(i for i in n.input if isinstance(imp.env.get(i), Act)))
    if _act_product(imp, src):
        return True
    if nxt is not None and nxt.op_type == "Transpose":
        nxt = imp.sole_consumer(nxt.output[0])
    return _act_product(imp, nxt)


def _causal(m) -> bool:
    """A mask that keeps exactly ``j <= i`` in its last two axes (0 kept, very negative not)."""
    if m is None or np.ndim(m) < 2 or np.shape(m)[-1] != np.shape(m)[-2]:
        return False
    keep = np.asarray(m, dtype=np.float64) > -1e4
    tri = np.tril(np.ones(np.shape(m)[-2:], dtype=bool))
    return bool((keep == tri).all())


def _mark_causal(imp, *ops) -> None:
    g = imp.b.g
    for op in ops:
        g.replace_op(op, attrs={**g.op(op).attrs, "causal": True})


def _is_mask(c: Const) -> bool:
    """A constant of zeros and large negatives (-inf or below -1e4: the minimum of a float
    type), or one made of no stored float tensor: an additive attention mask."""
    if not c.sources:
        return True
    if c.value is None:
        return False
    v = np.asarray(c.value, dtype=np.float64)
    return bool(((v == 0) | (v <= -1e4)).all())


def _per_position(imp, x: Act, c: Const) -> bool:
    """True for a learned ``(1, seq, d)`` or ``(seq, d)`` table added to a ``(seq, d)`` sequence
    whose token ids are a graph input of length ``seq``."""
    shape = tuple(d for d in c.shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    return len(shape) == 2 and imp.b.per_sample(x) == shape and \
        imp.sequence_input(shape[:1]) is not None


def _position_table(imp, c: Ctx, x: Act, table: Const, ids) -> Act:
    """``x + table[constant ids]``: an embedding op on the sequence input (as the zoo builds a
    position embedding), then the add."""
    seq = imp.sequence_input(tuple(ids.shape[-1:]))
    if seq is None:
        return imp.b.with_constant(c.name, "add", x, Const(table.key, table.shape, None,
                                                             table.sources))
    emb = imp.b.embedding(table.key.removesuffix(".weight"), seq, table,
                          (*seq.full, table.shape[1]))
    pos = (ids.reshape(-1, ids.shape[-1]) == np.arange(ids.shape[-1])).all()
    g = imp.b.g
    g.replace_op(emb.op, attrs={**g.op(emb.op).attrs, "index": "position" if pos else "constant"})
    return imp.b.binary(c.name, "add", x, emb, c.full)


def _folded_bias(imp, n, n_out: int):
    """A constant ``Add`` of shape (n_out,) right after ``n`` becomes its bias:
    ``(bias or None, (output tensor, its shape))``."""
    out = n.output[0]
    add = imp.sole_consumer(out)
    if add is not None and add.op_type == "Add":
        other = [i for i in add.input if i != out]
        if len(other) == 1 and imp.is_const(other[0]):
            bias = imp.env[other[0]]
            if bias.shape in ((n_out,), (1, n_out)):
                return bias, (add.output[0], imp.shape(add.output[0], add))
    return None, (out, imp.shape(out, n))


def _matmul(imp, n, c: Ctx) -> None:
    if isinstance(c.ins[1], _SwappedLast):
        imp.env[n.output[0]] = imp.b.matmul(c.name, c.x, c.ins[1].act, c.full, transpose_b=True)
        return
    if not imp.is_const(n.input[1]):
        out = imp.env[n.output[0]] = imp.b.matmul(c.name, c.x, c.ins[1], c.full)
        src = imp.b.g.op(imp.b.g.op(out.op).inputs[0])
        if src.kind != "softmax" and src.inputs:  # probabilities through their dropout
            src = imp.b.g.op(src.inputs[0])
        if src.kind == "softmax" and src.attrs.get("causal"):
            _mark_causal(imp, out.op)
        return
    w = imp.const(n.input[1], n)
    if len(w.shape) != 2:
        raise GraphError(
            f"node {c.name!r} (MatMul): constant operand of shape {w.shape} is not a matrix"
        )
    bias, (out, full) = _folded_bias(imp, n, w.shape[1])
    _dense_or_pieces(imp, n, c, c.x, w, w.value, bias, out, full)


class _Pieces(list):
    """One dense per piece of a projection whose outputs are split along the last axis."""


def _split_widths(imp, out: str):
    """Widths of the pieces when tensor ``out`` only reaches a Split of its last axis through
    reshapes that keep that axis, else None."""
    t = out
    last = imp.shapes.get(out, (0,))[-1]
    nxt = imp.sole_consumer(t)
    while nxt is not None and nxt.op_type in LAYOUT | ALIAS \
            and imp.shapes.get(nxt.output[0], (None,))[-1] == last:
        t = nxt.output[0]
        nxt = imp.sole_consumer(t)
    if nxt is None or nxt.op_type not in ("Split", "SplitToSequence"):
        return None
    rank = len(imp.shapes.get(t, ()))
    if not rank or attrs_axis(nxt) % rank != rank - 1:
        return None
    if nxt.op_type == "SplitToSequence":
        sizes = imp.env.get(nxt.input[1]) if len(nxt.input) > 1 else None
        v = None if not isinstance(sizes, Const) or sizes.value is None else sizes.value
        if v is None:
            return None
        widths = [int(w) for w in np.ravel(v)]
        if len(widths) == 1:  # one size: equal pieces
            widths = widths * (last // widths[0]) if last % widths[0] == 0 else []
        return widths if len(widths) > 1 else None
    widths = [imp.shapes.get(o, (None,))[-1] for o in nxt.output]
    return widths if None not in widths and len(widths) > 1 else None


def attrs_axis(node) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 0)


def _dense_or_pieces(imp, n, c: Ctx, x, w: Const, wv, bias, out, full) -> None:
    widths = _split_widths(imp, out)
    if widths is None or w.key in imp.b.owner:
        imp.env[out] = imp.b.dense(c.name, x, w, wv, bias, full)
        return
    pieces, start = _Pieces(), 0
    n_in = int(x.full[-1])
    for i, width in enumerate(widths):
        cols = slice(start, start + width)
        key = f"{w.key}[:, {start}:{start + width}]"
        wp = Const(key, (n_in, width), None if wv is None else wv[:, cols],
                   ((key, n_in * width),) if w.sources else ())
        bp = None
        if bias is not None:
            bkey = f"{bias.key}[{start}:{start + width}]"
            bval = None if bias.value is None else np.asarray(bias.value).reshape(-1)[cols]
            bp = Const(bkey, (width,), bval, ((bkey, width),) if bias.sources else ())
        pieces.append(imp.b.dense(f"{c.name}.{i}", x, wp, None if wv is None else wv[:, cols],
                                  bp, (*full[:-1], width)))
        start += width
    imp.env[out] = pieces


def _gemm(imp, n, c: Ctx) -> None:
    w = imp.const(n.input[1], n)
    trans = bool(c.attrs.get("transB", 0))
    n_out = w.shape[0] if trans else w.shape[1]
    wv = None if w.value is None else (w.value.T if trans else w.value)
    bias = imp.const(n.input[2], n) if len(n.input) > 2 and n.input[2] else None
    out, full = n.output[0], c.full
    if bias is None:
        bias, (out, full) = _folded_bias(imp, n, n_out)
    _dense_or_pieces(imp, n, c, c.x, w, wv, bias, out, full)


def _pad(a: dict, k: int, s: int, h_in: int, h_out: int, transposed: bool = False) -> int:
    """The symmetric padding of a window op (explicit pads or auto_pad)."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = max(k - s, 0) if transposed else max((h_out - 1) * s + k - h_in, 0)
        return total // 2 + total % 2 if transposed else total // 2
    if auto == "VALID":
        return 0
    return int(a.get("pads", [0])[0])


def _conv(imp, n, c: Ctx) -> None:
    p = c.attrs.get("pads", [0, 0, 0, 0])
    if n.op_type == "Conv" and len(set(p)) > 1 and c.attrs.get("auto_pad", b"NOTSET") in (
            b"NOTSET", "NOTSET"):  # asymmetric (TF 'same'): a pad op, then an unpadded conv
        full = (*c.x.full[:2], c.x.full[2] + p[0] + p[2], c.x.full[3] + p[1] + p[3])
        x = imp.b.pad(f"{c.name}.pad", c.x, (p[0], p[2], p[1], p[3]), full)
        c = Ctx({**c.attrs, "pads": [0, 0, 0, 0]}, c.name, [x, *c.ins[1:]], c.full)
    w = imp.const(n.input[1], n)
    bias = imp.const(n.input[2], n) if len(n.input) > 2 and n.input[2] else None
    k, s = w.shape[2], c.attrs.get("strides", [1, 1])[0]
    transposed = n.op_type == "ConvTranspose"
    dil = int(c.attrs.get("dilations", [1, 1])[0])
    pad = _pad(c.attrs, dil * (k - 1) + 1, s, c.x.full[2], c.full[2], transposed=transposed)
    if not transposed:
        imp.env[n.output[0]] = imp.b.conv2d(c.name, c.x, w, bias, s, pad, c.full,
                                            groups=int(c.attrs.get("group", 1)), dilation=dil)
        return
    out_pad = c.full[2] - ((c.x.full[2] - 1) * s - 2 * pad + k)
    imp.env[n.output[0]] = imp.b.conv_transpose2d(c.name, c.x, w, bias, s, pad, out_pad,
                                                  c.full)


def _pool(imp, n, c: Ctx) -> None:
    if n.op_type == "GlobalAveragePool" or (n.op_type == "AveragePool" and c.full[-2:] == (1, 1)
                                            and c.attrs["kernel_shape"][0] >= c.x.full[-2]):
        imp.env[n.output[0]] = imp.b.pool(c.name, c.x, "global_avg", full=c.full)
        return
    k = c.attrs["kernel_shape"][0]
    s = c.attrs.get("strides", [1, 1])[0]
    pad = _pad(c.attrs, k, s, c.x.full[2], c.full[2])
    kind = "max" if n.op_type == "MaxPool" else "avg"
    imp.env[n.output[0]] = imp.b.pool(c.name, c.x, kind, kernel=k, stride=s, padding=pad,
                                      full=c.full)


def _gather(imp, n, c: Ctx) -> None:
    if isinstance(c.x, Act):
        take(imp, n, c)
        return
    table = imp.const(n.input[0], n)
    if c.attrs.get("axis", 0) != 0 or len(table.shape) != 2:
        raise GraphError(
            f"node {c.name!r} (Gather): only a lookup along axis 0 of a 2-D "
            f"table is an embedding; got table {table.shape}"
        )
    imp.env[n.output[0]] = imp.b.embedding(c.name, c.ins[1], table, c.full)


def _concat(imp, n, c: Ctx) -> None:
    """Concatenation; constant parts (a class token) are rows the op stores."""
    axis = c.attrs.get("axis", 0) % len(c.full)
    lengths = [imp.shape(i, n)[axis] for i in n.input]
    imp.env[n.output[0]] = imp.b.concat(c.name, list(c.ins), axis, c.full, lengths)


def _split(imp, n, c: Ctx) -> None:
    if isinstance(c.x, _Pieces):
        for o, piece in zip([o for o in n.output if o], c.x, strict=True):
            imp.env[o] = imp.b.view(piece, imp.shape(o, n), piece.hint)
        return
    axis, start = c.attrs.get("axis", 0), 0
    for o in n.output:
        if not o:
            continue
        piece = imp.shape(o, n)
        imp.env[o] = imp.b.part(f"{c.name}.{o}", c.x, axis, start, piece)
        start += piece[axis if axis >= 0 else axis + len(piece)]


HANDLERS = {
    **dict.fromkeys(ALIAS, _alias),
    **dict.fromkeys(LAYOUT, _layout),
    **dict.fromkeys(UNARY, _unary),
    **dict.fromkeys(BINARY, _binary),
    "Transpose": _transpose,
    "Dropout": _dropout,
    "Softmax": _softmax,
    "Clip": _clip,
    "LayerNormalization": _norm,
    "BatchNormalization": _norm,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "ConvTranspose": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _pool,
    "Gather": _gather,
    **DATA_HANDLERS,
    "Concat": _concat,
    "Split": _split,
}
"""Translation of every activation op type in ``SUPPORTED`` (``Constant`` is always folded)."""
NO_SHAPE = frozenset({"Split", "Dropout", "SplitToSequence", "SequenceAt"})
"""Op types whose first output has no tensor shape to read (read per output, or a sequence)."""
