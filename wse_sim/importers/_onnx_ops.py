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
    imp.env[n.output[0]] = c.x


def _layout(imp, n, c: Ctx) -> None:
    imp.env[n.output[0]] = imp.b.view(c.x, c.full, c.name)


def _transpose(imp, n, c: Ctx) -> None:
    perm = c.attrs.get("perm") or list(range(len(c.x.full)))[::-1]
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
    imp.env[n.output[0]] = imp.b.softmax(c.name, c.x, c.attrs.get("axis", -1))


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
    imp.env[out] = imp.b.with_constant(c.name, fn, acts[0], consts[0])


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
    if not imp.is_const(n.input[1]):
        imp.env[n.output[0]] = imp.b.matmul(c.name, c.x, c.ins[1], c.full)
        return
    w = imp.const(n.input[1], n)
    if len(w.shape) != 2:
        raise GraphError(
            f"node {c.name!r} (MatMul): constant operand of shape {w.shape} is not a matrix"
        )
    bias, (out, full) = _folded_bias(imp, n, w.shape[1])
    imp.env[out] = imp.b.dense(c.name, c.x, w, w.value, bias, full)


def _gemm(imp, n, c: Ctx) -> None:
    w = imp.const(n.input[1], n)
    trans = bool(c.attrs.get("transB", 0))
    n_out = w.shape[0] if trans else w.shape[1]
    wv = None if w.value is None else (w.value.T if trans else w.value)
    bias = imp.const(n.input[2], n) if len(n.input) > 2 and n.input[2] else None
    out, full = n.output[0], c.full
    if bias is None:
        bias, (out, full) = _folded_bias(imp, n, n_out)
    imp.env[out] = imp.b.dense(c.name, c.x, w, wv, bias, full)


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
    if n.op_type == "GlobalAveragePool":
        imp.env[n.output[0]] = imp.b.pool(c.name, c.x, "global_avg", full=c.full)
        return
    k = c.attrs["kernel_shape"][0]
    s = c.attrs.get("strides", [1, 1])[0]
    pad = _pad(c.attrs, k, s, c.x.full[2], c.full[2])
    kind = "max" if n.op_type == "MaxPool" else "avg"
    imp.env[n.output[0]] = imp.b.pool(c.name, c.x, kind, kernel=k, stride=s, padding=pad,
                                      full=c.full)


def _gather(imp, n, c: Ctx) -> None:
    table = imp.const(n.input[0], n)
    if c.attrs.get("axis", 0) != 0 or len(table.shape) != 2:
        raise GraphError(
            f"node {c.name!r} (Gather): only a lookup along axis 0 of a 2-D "
            f"table is an embedding; got table {table.shape}"
        )
    imp.env[n.output[0]] = imp.b.embedding(c.name, c.ins[1], table, c.full)


def _concat(imp, n, c: Ctx) -> None:
    acts = [v for v in c.ins if isinstance(v, Act)]
    if len(acts) != len(c.ins):
        raise GraphError(
            f"node {c.name!r} (Concat): concatenating constants with activations is not "
            "supported"
        )
    imp.env[n.output[0]] = imp.b.merge(c.name, acts, c.attrs.get("axis", 0), c.full)


def _split(imp, n, c: Ctx) -> None:
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
    "Concat": _concat,
    "Split": _split,
}
"""Translation of every activation op type in ``SUPPORTED`` (``Constant`` is always folded)."""
NO_SHAPE = frozenset({"Split", "Dropout"})  # shapes read per output, or not needed
