"""Deterministic, masked weights for the functional forward pass."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import SimulationError
from ..graph import MASK_PATTERN, Graph, Op
from ..graph.drawn import drawn_matrix
from ..graph.masks import weight_mask

_WEIGHT_STREAM, _NOISE_STREAM = 0, 1  # per-op random streams: weights, dropout/reparam noise


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
    ``(vocab, dim)``. A real mask (pattern ``"mask"``) is used as it is.
    """
    if op.sparsity_pattern == MASK_PATTERN:
        return weight_mask(op)
    if op.weight_density >= 1.0 or op.sparsity_pattern == "dense":
        return None
    m = drawn_matrix(op)  # the very mask the placer counted, on the matrix view (K, N)
    if op.kind == "conv2d":
        return np.ascontiguousarray(m.T).reshape(op.weight_shape)
    return m.reshape(op.weight_shape)


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
