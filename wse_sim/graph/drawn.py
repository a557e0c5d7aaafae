"""Synthetic weight masks: the one mask a sparsified op stands for, drawn once, kept as bits.

An op sparsified with a synthetic pattern (``"unstructured"``, ``"n:m"``, ``"block"``) has one
weight mask, a pure function of its matrix view shape ``W (K x N)``, density, pattern and
``mask_seed``. Every consumer reads that same mask: the placer and the engine count it per
column tile (:func:`drawn_row_counts`), the functional forward pass multiplies by it
(:func:`drawn_matrix`). So a 7-column and a 9-column tiling of one op split the same non-zeros,
and the functional run's zeros are the ones whose MACs the placer skipped.

``"unstructured"`` is an i.i.d. Bernoulli(density) mask made as bits by
:func:`wse_sim.kernels.bitmask.bernoulli_bits` (never as a ``bool`` array; BERT-Large's 302M
weights take 38 MB and ~0.1 s), nested in density for one seed. ``"n:m"`` and ``"block"`` are
drawn by :func:`wse_sim.kernels.masks.sparsity_mask` and packed. Masks are kept in a
least-recently-used store of at most :data:`DRAWN_CACHE_BYTES`, so the placer's many tilings
of one op, and a sweep's many wafers at one seed, draw it once.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..errors import SparsityError
from ..kernels.bitmask import bernoulli_bits, bit_row_tile_nnz, pack_mask, unpack_mask
from ..kernels.masks import KernelArgumentError, sparsity_mask
from .op import Op

DRAWN_PATTERNS = ("unstructured", "n:m", "block")
"""Sparsity patterns whose mask is drawn from the op's ``mask_seed`` (not given by a user)."""

DRAWN_CACHE_BYTES = 256 * 2**20
"""Bytes of packed masks kept between calls (assumed: BERT-Large at any density is 38 MB, so a
model and a few what-ifs stay; past it, the least recently used mask is dropped and redrawn
when asked for again, the same bits)."""

_KEPT: OrderedDict = OrderedDict()
_KEPT_BYTES = [0]


def view_shape(op: Op) -> tuple[int, int]:
    """(K, N) of the op's weight matrix view: dense and embedding as stored, conv2d
    ``(c_in*kh*kw, c_out)`` (im2col order), conv_transpose2d ``(c_in, c_out*kh*kw)``."""
    shape = op.weight_shape
    if op.kind == "conv2d":
        return math.prod(shape[1:]), shape[0]
    if op.kind == "conv_transpose2d":
        return shape[0], math.prod(shape[1:])
    if len(shape) != 2:
        raise SparsityError(f"op {op.name!r} of kind {op.kind!r} has weight shape {shape}; a "
                            "drawn mask needs a 2-D weight (dense, embedding) or a conv")
    return int(shape[0]), int(shape[1])


def drawn_bits(op: Op) -> np.ndarray:
    """The op's synthetic mask on its view, packed: uint64 (K, ceil(N / 64)), read-only.

    Bit ``c % 64`` of word ``c // 64`` in row ``k`` is weight ``W[k, c]`` (see
    :mod:`wse_sim.kernels.bitmask`). Raises :class:`SparsityError` for a dense or a
    user-masked op, which have no drawn mask.
    """
    if op.sparsity_pattern not in DRAWN_PATTERNS:
        raise SparsityError(f"op {op.name!r} has sparsity_pattern {op.sparsity_pattern!r}; only "
                            f"{DRAWN_PATTERNS} masks are drawn (a real mask is counted as given)")
    seed = op.mask_seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SparsityError(f"op {op.name!r} has mask_seed {seed!r}; a drawn mask needs an "
                            "integer seed >= 0 (sparsify() sets one per op)")
    k, n = view_shape(op)
    d = float(op.weight_density)
    key = (k, n, d, op.sparsity_pattern, int(seed))
    hit = _KEPT.get(key)
    if hit is not None:
        _KEPT.move_to_end(key)
        return hit
    try:
        if op.sparsity_pattern == "unstructured":
            bits = bernoulli_bits(k, n, d, seed=int(seed))
        else:
            bits = pack_mask(sparsity_mask((k, n), d, pattern=op.sparsity_pattern,
                                           seed=int(seed)))
    except KernelArgumentError as e:
        raise SparsityError(f"op {op.name!r}: cannot draw its weight mask: {e}") from None
    bits.setflags(write=False)  # shared by every caller
    _KEPT[key] = bits
    _KEPT_BYTES[0] += bits.nbytes
    while _KEPT_BYTES[0] > DRAWN_CACHE_BYTES and len(_KEPT) > 1:
        _KEPT_BYTES[0] -= _KEPT.popitem(last=False)[1].nbytes
    return bits


def drawn_row_counts(op: Op, b: int, coarse: int = 1) -> np.ndarray:
    """Non-zeros of the drawn mask's rows inside each of ``b`` column tiles (N split like
    ``numpy.array_split``): int64 (ceil(K / coarse), b), ``coarse`` consecutive rows summed."""
    return bit_row_tile_nnz(drawn_bits(op), view_shape(op)[1], b, coarse)


def drawn_matrix(op: Op) -> np.ndarray:
    """The drawn mask as bool (K, N) on the op's view (for the functional forward pass)."""
    return unpack_mask(drawn_bits(op), view_shape(op)[1])


def clear_drawn_cache() -> None:
    """Forget every kept mask (benchmarks of a first call; the next call redraws the same)."""
    _KEPT.clear()
    _KEPT_BYTES[0] = 0
