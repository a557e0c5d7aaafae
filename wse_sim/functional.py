"""Functional simulation: run a graph's forward pass on real inputs and measure activation zeros.

The synthetic engine draws activation zeros from each op's expected ``out_density``; this module
replaces the guess with a measurement (design rule 4: sparsity is harvested, not discounted). It
draws deterministic weights (masked like the kernels mask them), runs a batch of real-looking
inputs (synthetic contact maps, Zipf token ids) through every op, and reports the per-sample
fraction of non-zero activations each heavy op receives.

Arrays carry a leading batch axis; per-sample shapes are the graph's. Weights come from ``seed``
and the op's position in :meth:`Graph.ops`, so a graph and its :func:`~wse_sim.graph.sparsify`
copy share weights up to the mask. Biases are zero and norm gains one, so they are omitted.

>>> from wse_sim.models import cvae
>>> d = mean_densities(cvae(map_size=16), n_samples=2)
>>> 0 < d["enc.conv2"] < 1
True
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import SimulationError
from .graph import Graph, Op
from .kernels import KernelArgumentError, SparseTiles, conv2d, conv_transpose2d, spmm
from .kernels.masks import sparsity_mask
from .models.data import contact_maps, token_batch

__all__ = ["default_inputs", "forward", "mean_densities", "measured_densities", "weights"]

_EPS = 1e-5  # norm epsilon
_WEIGHT_STREAM, _NOISE_STREAM = 0, 1  # per-op random streams: weights, dropout/reparam noise


# ---- weights ----------------------------------------------------------------------------------
def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SimulationError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The generator of op number ``index`` for ``stream`` (weights or noise)."""
    return np.random.default_rng([seed, index, stream])


def _fan_in(op: Op) -> float:
    """Inputs summed into one output of ``op`` (embedding: its dim, for unit-norm rows)."""
    if op.kind == "dense":
        return op.weight_shape[0]
    if op.kind == "conv2d":
        return math.prod(op.weight_shape[1:])
    if op.kind == "conv_transpose2d":
        c_in, _, kh, kw = op.weight_shape
        return max(1.0, c_in * kh * kw / op.attrs["stride"] ** 2)
    return op.weight_shape[1]  # embedding


def _gain(graph: Graph, op: Op) -> float:
    """2 (He) when a ReLU follows ``op``, else 1 (LeCun/Glorot): keeps activations O(1)."""
    for name in graph.successors(op.name):
        nxt = graph.op(name)
        if nxt.kind == "elementwise" and nxt.attrs.get("fn") == "relu":
            return 2.0
    return 1.0


def _mask(op: Op) -> np.ndarray | None:
    """The op's weight mask in its ``weight_shape`` layout, or None when it is dense.

    Drawn on the matrix view the mapping uses: dense ``(n_in, n_out)``, conv2d im2col
    ``(c_in*kh*kw, c_out)``, conv_transpose2d scatter ``(c_in, c_out*kh*kw)``, embedding
    ``(vocab, dim)``.
    """
    if op.weight_density >= 1.0 or op.sparsity_pattern == "dense":
        return None
    shape = op.weight_shape
    if op.kind == "conv2d":
        view = (math.prod(shape[1:]), shape[0])
    elif op.kind == "conv_transpose2d":
        view = (shape[0], math.prod(shape[1:]))
    else:
        view = shape
    try:
        m = sparsity_mask(view, op.weight_density, pattern=op.sparsity_pattern,
                          seed=op.mask_seed)
    except KernelArgumentError as e:
        raise SimulationError(f"op {op.name!r}: cannot draw its weight mask: {e}") from None
    if op.kind == "conv2d":
        return np.ascontiguousarray(m.T).reshape(shape)
    return m.reshape(shape)


def _draw_weight(graph: Graph, op: Op, index: int, seed: int,
                 tables: dict[str, np.ndarray]) -> np.ndarray:
    """Masked float32 weight of ``op`` in its ``weight_shape`` layout.

    A dense tied to an embedding uses that table transposed (``tables`` holds the embeddings
    drawn so far), then its own mask.
    """
    tied = op.attrs.get("tied_to") if op.kind == "dense" else None
    if tied is not None:
        w = tables[tied].T  # a view: from_dense makes its own contiguous copy
    else:
        w = _rng(seed, index, _WEIGHT_STREAM).standard_normal(op.weight_shape, dtype=np.float32)
        w *= np.float32(math.sqrt(_gain(graph, op) / _fan_in(op)))
    m = _mask(op)
    if m is not None:
        w = np.where(m, w, np.float32(0.0))
    return w


def _weighted(op: Op) -> bool:
    return op.kind in ("dense", "conv2d", "conv_transpose2d", "embedding")


def weights(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """The masked float32 weights :func:`forward` uses, by op name, in ``weight_shape`` layout.

    Dense ``(n_in, n_out)``, conv2d ``(c_out, c_in, kh, kw)``, conv_transpose2d
    ``(c_in, c_out, kh, kw)``, embedding ``(vocab, dim)``. Normal with std
    ``sqrt(gain / fan_in)`` (gain 2 before a ReLU, else 1), zero where the op's mask is.
    """
    seed = _check_seed(seed)
    out: dict[str, np.ndarray] = {}
    for i, op in enumerate(graph.ops()):
        if _weighted(op):
            out[op.name] = _draw_weight(graph, op, i, seed, out)
    return out


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


def _conv2d_ref(x: np.ndarray, w: np.ndarray, s: int, p: int) -> np.ndarray:
    """im2col conv ``x (B, C_in, H, W)``, ``w (C_out, C_in, kh, kw)`` -> (B, C_out, Ho, Wo)."""
    b, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((b, c_in, kh, kw, ho, wo), dtype=np.float32)
    for dh in range(kh):
        for dw in range(kw):
            cols[:, :, dh, dw] = xp[:, :, dh:dh + s * (ho - 1) + 1:s, dw:dw + s * (wo - 1) + 1:s]
    y = np.matmul(w.reshape(c_out, -1), cols.reshape(b, c_in * kh * kw, ho * wo))
    return y.reshape(b, c_out, ho, wo)


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
        if use_kernels:
            return conv2d(x, w, stride=s, padding=p)[0]
        return _conv2d_ref(x, w, s, p)
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


def _elementwise(op: Op, args: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The op's ``attrs['fn']`` on its input(s); dropout (training mode) and reparam use ``rng``."""
    fn = op.attrs.get("fn")
    x = args[0]
    if fn == "relu":
        return np.maximum(x, np.float32(0.0))
    if fn == "gelu":
        return _gelu(x)
    if fn == "sigmoid":
        return np.float32(0.5) * (1 + np.tanh(np.float32(0.5) * x))  # no overflow
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


# ---- forward ----------------------------------------------------------------------------------
def _batch_inputs(graph: Graph, inputs: dict) -> tuple[dict[str, np.ndarray], int]:
    """Inputs as float32 ``(B, *shape)`` arrays, checked against the graph; and B."""
    if not isinstance(inputs, dict):
        raise SimulationError(f"inputs must be a dict of arrays by input op name, got "
                              f"{type(inputs).__name__}")
    out, batch = {}, None
    for op in graph.ops():
        if op.kind != "input":
            continue
        if op.name not in inputs:
            raise SimulationError(f"input op {op.name!r} has no array in inputs (given: "
                                  f"{sorted(inputs)}); pass one of shape (batch, "
                                  f"{', '.join(map(str, op.out_shape))})")
        a = np.asarray(inputs[op.name])
        if a.dtype.kind not in "biuf" or a.shape[1:] != op.out_shape or a.ndim < 1:
            raise SimulationError(f"input {op.name!r}: need a real array of shape (batch, "
                                  f"{', '.join(map(str, op.out_shape))}), got {a.dtype} "
                                  f"{a.shape}")
        if batch is not None and a.shape[0] != batch:
            raise SimulationError(f"input {op.name!r} has batch {a.shape[0]}, others {batch}; "
                                  "all inputs need the same leading batch size")
        batch = a.shape[0]
        out[op.name] = a.astype(np.float32)
    return out, batch or 0


def _run_op(graph: Graph, op: Op, args: list[np.ndarray], w: np.ndarray | None,
            rng_noise, use_kernels: bool) -> np.ndarray:
    """Output ``(B, *op.out_shape)`` of one non-input op given its input arrays."""
    kind = op.kind
    if kind == "dense":
        return _dense(args[0], w, use_kernels)
    if kind in ("conv2d", "conv_transpose2d"):
        return _conv(op, args[0], w, use_kernels)
    if kind == "embedding":
        return _embedding(op, args[0], w)
    if kind == "matmul":
        return _matmul(op, args[0], args[1])
    if kind in ("layernorm", "batchnorm"):
        return _norm(op, args[0])
    if kind == "softmax":
        return _softmax(graph, op, args[0])
    if kind == "elementwise":
        return _elementwise(op, args, rng_noise())
    if kind == "pool":
        return _pool(op, args[0])
    if kind == "reshape":
        return args[0].reshape(args[0].shape[0], *op.out_shape)
    if kind == "transpose":
        return args[0].transpose(0, *(p + 1 for p in op.attrs["perm"]))
    if kind == "loss":  # not the real loss: a per-sample scalar that depends on every input
        return np.stack([a.reshape(a.shape[0], -1).mean(axis=1) for a in args], axis=1) \
            .mean(axis=1, keepdims=True).astype(np.float32)
    raise SimulationError(f"op {op.name!r}: kind {kind!r} is not supported by functional "
                          "simulation")


def forward(graph: Graph, inputs: dict[str, np.ndarray], seed: int = 0,
            use_kernels: bool = True) -> dict[str, np.ndarray]:
    """Run the forward pass of ``graph`` on a batch and return every op's output.

    Parameters
    ----------
    graph : the model
    inputs : ``{input op name: array (B, *per-sample shape)}``; token ids may be float
    seed : weights and dropout/reparam noise (op ``i`` of :meth:`Graph.ops` draws from
        ``default_rng([seed, i, stream])``); same seed, bit-identical outputs
    use_kernels : dense and conv ops through the zero-skipping numba kernels (``spmm``,
        ``conv2d``, ``conv_transpose2d`` on a 1 x 1 region); False: plain numpy references

    Returns
    -------
    ``{op name: float32 array (B, *op.out_shape)}`` in topological order (inputs included).
    """
    seed = _check_seed(seed)
    acts, _ = _batch_inputs(graph, inputs)
    tables: dict[str, np.ndarray] = {}  # embeddings, for dense layers tied to them
    for i, op in enumerate(graph.ops()):
        if op.kind == "input":
            continue
        w = _draw_weight(graph, op, i, seed, tables) if _weighted(op) else None
        if op.kind == "embedding":
            tables[op.name] = w
        args = [acts[name] for name in op.inputs]
        y = _run_op(graph, op, args, w, lambda i=i: _rng(seed, i, _NOISE_STREAM), use_kernels)
        acts[op.name] = np.asarray(y, dtype=np.float32)
    return acts


# ---- inputs and densities -----------------------------------------------------------------------
def _derived_seed(seed: int, index: int) -> int:
    """An int seed for input number ``index`` (so two token inputs draw different ids)."""
    return int(np.random.default_rng([seed, index, 2]).integers(2 ** 31))


def _is_contact_map(graph: Graph, op: Op) -> bool:
    """The CVAE's input, or any one-channel square ``(1, N, N)`` input."""
    s = op.out_shape
    square = len(s) == 3 and s[0] == 1 and s[1] == s[2]
    return square or (graph.meta.get("model") == "cvae" and len(s) == 3)


def default_inputs(graph: Graph, n_samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Real-looking inputs ``{input op name: array (n_samples, *shape)}`` for :func:`forward`.

    - ``(1, N, N)`` inputs (the CVAE's): binary contact maps of random compact chains,
      :func:`~wse_sim.models.data.contact_maps`, as float32.
    - inputs feeding embeddings: Zipf token ids (int32) below the smallest vocabulary they
      index; an input feeding only position embeddings gets positions ``0, 1, ...``.
    - anything else: standard normal float32 with zeros at rate ``1 - op.out_density``.
    """
    seed = _check_seed(seed)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
            or n_samples < 1:
        raise SimulationError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    out = {}
    for i, op in enumerate(graph.ops()):
        if op.kind != "input":
            continue
        embs = [graph.op(s) for s in graph.successors(op.name)]
        embs = [e for e in embs if e.kind == "embedding"]
        vocabs = [e.weight_shape[0] for e in embs if e.attrs.get("index") != "position"]
        if vocabs:
            ids = token_batch(n_samples, math.prod(op.out_shape), min(vocabs),
                              seed=_derived_seed(seed, i))
            out[op.name] = ids.reshape(n_samples, *op.out_shape)
        elif embs:
            pos = np.arange(math.prod(op.out_shape), dtype=np.int32).reshape(op.out_shape)
            out[op.name] = np.broadcast_to(pos, (n_samples, *op.out_shape)).copy()
        elif _is_contact_map(graph, op):
            maps = contact_maps(n_samples, op.out_shape[1], seed=seed)
            out[op.name] = maps.astype(np.float32).reshape(n_samples, *op.out_shape)
        else:
            rng = np.random.default_rng([seed, i, 3])
            x = rng.standard_normal((n_samples, *op.out_shape), dtype=np.float32)
            keep = rng.random(x.shape) < op.out_density
            out[op.name] = np.where(keep, x, np.float32(0.0))
    return out


def measured_densities(graph: Graph, n_samples: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-sample density of the activations each heavy op receives, measured on real inputs.

    Runs :func:`forward` (kernels) on :func:`default_inputs` and returns ``{heavy op name:
    float64 (n_samples,)}``: the fraction of non-zero elements of the op's first input, per
    sample. Embeddings get 1.0: every id is one lookup (one non-zero of a one-hot row),
    id 0 included.
    """
    acts = forward(graph, default_inputs(graph, n_samples, seed), seed=seed)
    out = {}
    for op in graph.heavy_ops():
        if op.kind == "embedding":
            out[op.name] = np.ones(n_samples)
            continue
        x = acts[op.inputs[0]].reshape(n_samples, -1)
        out[op.name] = np.count_nonzero(x, axis=1) / max(x.shape[1], 1)
    return out


def mean_densities(graph: Graph, n_samples: int = 8, seed: int = 0) -> dict[str, float]:
    """:func:`measured_densities` averaged over the samples: ``{heavy op name: density}``."""
    return {k: float(v.mean()) for k, v in measured_densities(graph, n_samples, seed).items()}
