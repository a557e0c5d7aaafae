"""The ops of the functional forward pass: heavy ops through the zero-skipping kernels, with
plain numpy references beside them; the cheap ops in numpy."""

from __future__ import annotations

import math

import numpy as np

from ..errors import SimulationError
from ..graph import Graph, Op
from ..kernels import SparseTiles, conv2d, conv_transpose2d, spmm

_EPS = 1e-5  # norm epsilon


# ---- heavy ops --------------------------------------------------------------------------------
def _dense(x: np.ndarray, w: np.ndarray, use_kernels: bool) -> np.ndarray:
    """``x (..., n_in) @ w (n_in, n_out) -> (..., n_out)`` float32; leading dims become rows."""
    rows = x.reshape(-1, w.shape[0])
    if use_kernels:
        # y comes back batch-minor (Fortran order); reshaping it keeps that layout without a
        # copy, and the next spmm then skips its transpose.
        y, _ = spmm(SparseTiles.from_dense(w, 1, 1), rows)
    else:
        y = np.matmul(rows.astype(np.float32), w)
    return y.reshape(*x.shape[:-1], w.shape[1])


def _conv2d_ref(x: np.ndarray, w: np.ndarray, s: int, p: int, groups: int = 1,
                dilation: int = 1) -> np.ndarray:
    """im2col conv ``x (B, C_in, H, W)``, ``w (C_out, C_in // groups, kh, kw)`` ->
    (B, C_out, Ho, Wo); taps ``dilation`` apart."""
    b, c_in, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    d = dilation
    ho, wo = (h + 2 * p - d * (kh - 1) - 1) // s + 1, (wd + 2 * p - d * (kw - 1) - 1) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((b, c_in, kh, kw, ho, wo), dtype=np.float32)
    for dh in range(kh):
        for dw in range(kw):
            r, c = dh * d, dw * d
            cols[:, :, dh, dw] = xp[:, :, r:r + s * (ho - 1) + 1:s, c:c + s * (wo - 1) + 1:s]
    cols = cols.reshape(b, groups, c_g * kh * kw, ho * wo)
    wg = w.reshape(groups, c_out // groups, c_g * kh * kw)
    y = np.einsum("gok,bgkp->bgop", wg, cols)
    return y.reshape(b, c_out, ho, wo).astype(np.float32)


def _conv_transpose2d_ref(x: np.ndarray, w: np.ndarray, s: int, p: int,
                          out_pad: int) -> np.ndarray:
    """Scatter (adjoint of conv2d): ``x (B, C_in, H, W)``, ``w (C_in, C_out, kh, kw)``.

    Every input pixel times every tap lands on an uncropped canvas, which is then cropped by
    ``p`` on each side; ``out_pad`` extra rows/columns at the bottom/right.
    """
    b, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    full = np.zeros((b, c_out, (h - 1) * s + kh + out_pad, (wd - 1) * s + kw + out_pad),
                    dtype=np.float32)
    for dh in range(kh):
        for dw in range(kw):
            contrib = np.tensordot(x, w[:, :, dh, dw], axes=([1], [0]))  # (B, H, W, C_out)
            full[:, :, dh:dh + s * (h - 1) + 1:s, dw:dw + s * (wd - 1) + 1:s] += \
                contrib.transpose(0, 3, 1, 2)
    ho = (h - 1) * s - 2 * p + kh + out_pad
    wo = (wd - 1) * s - 2 * p + kw + out_pad
    return full[:, :, p:p + ho, p:p + wo]


def _conv(op: Op, x: np.ndarray, w: np.ndarray, use_kernels: bool) -> np.ndarray:
    """conv2d or conv_transpose2d of ``op`` on a batch, float32 (B, *op.out_shape)."""
    a = op.attrs
    s, p = a["stride"], a["padding"]
    if op.kind == "conv2d":
        groups, dilation = a.get("groups", 1), a.get("dilation", 1)
        if use_kernels and groups == 1 and dilation == 1:
            return conv2d(x, w, stride=s, padding=p)[0]
        return _conv2d_ref(x, w, s, p, groups, dilation)
    out_pad = a.get("output_padding", 0)
    if use_kernels:
        return conv_transpose2d(x, w, stride=s, padding=p, output_padding=out_pad)[0]
    return _conv_transpose2d_ref(x, w, s, p, out_pad)


def _embedding(op: Op, ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of ``table (vocab, dim)`` for ids ``(B, *shape)`` -> ``(B, *shape, dim)``.

    A position embedding (``attrs['index'] == 'position'``) looks up positions 0, 1, ...
    whatever ids it is fed.
    """
    vocab = table.shape[0]
    if op.attrs.get("index") == "position":
        idx = np.arange(math.prod(ids.shape[1:])).reshape(ids.shape[1:])
        idx = np.broadcast_to(idx, ids.shape)
    else:
        idx = ids.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= vocab):
        raise SimulationError(f"op {op.name!r}: ids must lie in [0, {vocab}), got "
                              f"[{idx.min()}, {idx.max()}]")
    return table[idx]


def _matmul(op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``a (B, ..., m, k) @ b (B, ..., k, n)`` (``b`` transposed if ``transpose_b``)."""
    if op.attrs.get("transpose_b"):
        b = np.swapaxes(b, -1, -2)
    # einsum's own SIMD loops, not BLAS: OpenBLAS threads woken right after a numba parallel
    # kernel fight its OpenMP threads for the cores (measured 0.2-0.4 s per call on 2 cores,
    # against 4 ms here), and each spinning BLAS thread slows the next numba kernel too.
    return np.einsum("...mk,...kn->...mn", a, b)


# ---- cheap ops --------------------------------------------------------------------------------
def _norm(op: Op, x: np.ndarray) -> np.ndarray:
    """Layernorm over the last axis, or training-mode batchnorm over all axes but channels."""
    axes = (x.ndim - 1,) if op.kind == "layernorm" else tuple(i for i in range(x.ndim) if i != 1)
    if op.attrs.get("norm") == "rms":  # RMSNorm (LLaMA): no mean subtraction
        ms = np.mean(x * x, axis=axes, keepdims=True)
        return (x / np.sqrt(ms + np.float32(_EPS))).astype(np.float32)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return ((x - mu) / np.sqrt(var + np.float32(_EPS))).astype(np.float32)


def _softmax(graph: Graph, op: Op, x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; attention scores (``q k^T``) are scaled by 1/sqrt(k) first
    (the builders fold the scale into the softmax) and ``attrs['causal']`` masks j > i."""
    src = graph.op(op.inputs[0])
    if src.kind == "matmul" and src.attrs.get("transpose_b"):
        x = x * np.float32(1.0 / math.sqrt(src.attrs["k"]))
    if op.attrs.get("causal"):
        m, n = x.shape[-2:]
        x = np.where(np.triu(np.ones((m, n), dtype=bool), k=1), -np.inf, x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation."""
    c = np.float32(math.sqrt(2.0 / math.pi))
    t = x * x
    t *= np.float32(0.044715)
    t += 1
    t *= x
    t *= c
    np.tanh(t, out=t)
    t += 1
    t *= x
    t *= np.float32(0.5)
    return t


def _rope(op: Op, x: np.ndarray) -> np.ndarray:
    """Rotary position embedding of ``x (B, ..., seq, d_head)`` on its first ``r`` dims.

    ``r`` is ``attrs['rotary_dim']`` (default: the whole head, even); the dims past it pass
    through. Pair ``i`` of the ``r/2`` pairs at position ``t`` is rotated by the angle
    ``t * theta**(-2i/r)``, so each pair, and hence each row, keeps its norm. The pairs are
    ``(i, i + r/2)`` for ``attrs['layout'] == 'half'`` (the default, GPT-NeoX / LLaMA
    "rotate_half") and ``(2i, 2i + 1)`` for ``'interleaved'`` (RoFormer, Su et al. 2021,
    arXiv 2104.09864, and GPT-J). ``theta`` is ``attrs['theta']``, else RoFormer's 10000.
    """
    seq, d = x.shape[-2], x.shape[-1]
    r = int(op.attrs.get("rotary_dim", d))
    if r % 2 or not 0 < r <= d:
        raise SimulationError(f"op {op.name!r}: rope needs an even rotary_dim in (0, {d}], got "
                              f"{r}; give the heads an even head_dim / rotary_dim")
    half = r // 2
    theta = float(op.attrs.get("theta", 10000.0))
    inv_freq = theta ** (-np.arange(half, dtype=np.float64) * 2.0 / r)
    angle = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]  # (seq, half)
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    out = x.astype(np.float32, copy=True)
    if op.attrs.get("layout", "half") == "interleaved":
        a, b = x[..., 0:r:2], x[..., 1:r:2]
        out[..., 0:r:2] = a * cos - b * sin
        out[..., 1:r:2] = b * cos + a * sin
    else:
        a, b = x[..., :half], x[..., half:r]
        out[..., :half] = a * cos - b * sin
        out[..., half:r] = b * cos + a * sin
    return out


def _elementwise(op: Op, args: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The op's ``attrs['fn']`` on its input(s); dropout (training mode) and reparam use ``rng``."""
    fn = op.attrs.get("fn")
    x = args[0]
    if fn == "relu":
        return np.maximum(x, np.float32(0.0))
    if fn == "gelu":
        return _gelu(x)
    if fn == "relu6":
        return np.clip(x, np.float32(0.0), np.float32(6.0))
    if fn in ("hardsigmoid", "hardswish"):
        hs = np.clip(x / np.float32(6.0) + np.float32(0.5), np.float32(0.0), np.float32(1.0))
        return hs if fn == "hardsigmoid" else x * hs
    if fn == "sigmoid":
        return np.float32(0.5) * (1 + np.tanh(np.float32(0.5) * x))  # no overflow
    if fn == "silu":
        return x * (np.float32(0.5) * (1 + np.tanh(np.float32(0.5) * x)))
    if fn == "rope":
        return _rope(op, x)
    if fn in ("tanh", "exp"):
        return getattr(np, fn)(x)
    if fn == "scale":
        return x * np.float32(op.attrs.get("scale", 1.0))
    if fn == "dropout":
        p = float(op.attrs.get("p", 0.0))
        if p <= 0:
            return x.copy()
        keep = rng.random(x.shape, dtype=np.float32) >= p
        return np.where(keep, x * np.float32(1 / (1 - p)), np.float32(0.0))
    if fn in ("add", "mul", "sub"):
        return getattr(np, {"add": "add", "mul": "multiply", "sub": "subtract"}[fn])(x, args[1])
    if fn == "reparam":
        eps = rng.standard_normal(x.shape, dtype=np.float32)
        return x + np.exp(np.float32(0.5) * args[1]) * eps
    raise SimulationError(f"op {op.name!r}: elementwise fn {fn!r} is not supported by "
                          "functional simulation")


def _pool(op: Op, x: np.ndarray) -> np.ndarray:
    """Max / average (zero padding counted) pooling of ``(B, C, H, W)``, or global average."""
    a = op.attrs
    if a["pool"] == "global_avg":
        return x.mean(axis=(2, 3))
    k, s, p = a["kernel"], a["stride"], a["padding"]
    fill = -np.inf if a["pool"] == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    _, ho, wo = op.out_shape
    taps = [xp[:, :, dh:dh + s * (ho - 1) + 1:s, dw:dw + s * (wo - 1) + 1:s]
            for dh in range(k) for dw in range(k)]
    if a["pool"] == "max":
        return np.maximum.reduce(taps)
    return (np.add.reduce(taps) / np.float32(k * k)).astype(np.float32)
