"""Weight masks stored as bits: a seeded Bernoulli mask per weight matrix, counted per tile.

A synthetic sparse weight ``(n_rows, n_cols)`` is one mask, whatever tiling the placer tries:
bit ``c`` of row ``r`` is a pure function of ``(seed, r, c)``, so the counts of a 7-column
and a 9-column tiling of the same op sum to the same row totals and come from the same
non-zeros. The mask is packed 64 columns to a ``uint64`` word (bit ``c % 64`` of word
``c // 64``, little-endian), 1/8 the bytes of a ``bool`` array, and counted with popcounts.

Random bits come from a counter-based generator (SplitMix64's output function on
``seed_key + index * golden_gamma``; Steele, Lea and Flood, "Fast splittable pseudorandom
number generators", OOPSLA 2014), so any word can be made without the words before it. A
Bernoulli(``d``) word is built from ``K`` uniform words by the binary expansion of ``d``
(lowest set bit first: a 1-bit ORs a fresh word in, a 0-bit ANDs one), which gives each bit
probability exactly ``m / 2**K`` with ``m = round(d * 2**K)``; ``K = 32`` here, so ``d`` is
quantized to 2**-32 and ``d = 0.5`` costs one uniform word per 64 weights. Each plane has a
fixed counter, so the masks of one seed are nested in density: a what-if at lower sparsity
keeps every non-zero and adds some, and per-core work can only grow.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .masks import KernelArgumentError, check_density, check_int
from .tiles import splits

__all__ = ["bernoulli_bits", "bit_row_tile_nnz", "pack_mask", "unpack_mask"]

DENSITY_BITS = 32  # binary digits of the density kept (derived: error < 2**-32, far below noise)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # stated: SplitMix64's increment (Steele et al. 2014)


@njit(cache=True, inline="always")
def _mix64(z):
    """SplitMix64's output function (Steele et al. 2014): a bijection of uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _bernoulli_words(n_rows, n_words, n_cols, m, k_bits, key):
    """uint64 (n_rows, n_words): Bernoulli(m / 2**k_bits) bits, columns >= n_cols zero.

    Plane ``i`` of word ``(r, w)`` is the uniform word of counter ``(r * n_words + w) * k_bits
    + i`` whatever the density, so bit = [V < m / 2**k_bits] for one uniform V per weight
    (V's binary digit ``i`` is the complement of plane ``i``'s bit): the masks of one seed are
    nested, a denser one holds every non-zero of a sparser one.
    """
    out = np.empty((n_rows, n_words), dtype=np.uint64)
    low = 0  # planes below the lowest set digit of m AND into zero: skipped, same bits
    while low < k_bits and (m >> low) & 1 == 0:
        low += 1
    kb = np.uint64(k_bits)
    for r in range(n_rows):
        for w in range(n_words):
            base = (np.uint64(r) * np.uint64(n_words) + np.uint64(w)) * kb
            x = np.uint64(0)
            for i in range(low, k_bits):
                u = _mix64(key + (base + np.uint64(i)) * _GAMMA)
                if (m >> i) & 1:
                    x |= u
                else:
                    x &= u
            out[r, w] = x
    tail = n_cols % 64
    if tail and n_words:
        keep = (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
        for r in range(n_rows):
            out[r, n_words - 1] &= keep
    return out


def bernoulli_bits(n_rows: int, n_cols: int, density: float, seed: int = 0) -> np.ndarray:
    """An i.i.d. Bernoulli(``density``) mask of shape (n_rows, n_cols), packed as bits.

    Parameters
    ----------
    n_rows, n_cols : int >= 0, mask shape (weight rows K, columns N)
    density : float in [0, 1], probability each weight is non-zero (to 2**-32)
    seed : int >= 0; same seed and shape, same mask

    Returns
    -------
    uint64 (n_rows, ceil(n_cols / 64)); bit ``c % 64`` of word ``c // 64`` is column c

    >>> int(bit_row_tile_nnz(bernoulli_bits(2, 70, 1.0), 70, 1).sum())
    140
    """
    n_rows = check_int("n_rows", n_rows, 0)
    n_cols = check_int("n_cols", n_cols, 0)
    density = check_density("density", density)
    seed = check_int("seed", seed, 0)
    n_words = -(-n_cols // 64)
    m = round(density * 2**DENSITY_BITS)
    if m >= 2**DENSITY_BITS:
        out = np.full((n_rows, n_words), np.uint64(2**64 - 1), dtype=np.uint64)
        if n_cols % 64 and n_words:
            out[:, -1] = np.uint64((1 << (n_cols % 64)) - 1)
        return out
    if m == 0:
        return np.zeros((n_rows, n_words), dtype=np.uint64)
    # seeds land far apart in the counter space
    key = _mix64(np.uint64(((seed + 1) * int(_GAMMA)) % 2**64))
    return _bernoulli_words(n_rows, n_words, n_cols, np.int64(m), DENSITY_BITS, np.uint64(key))


def pack_mask(mask) -> np.ndarray:
    """Pack a bool mask (n_rows, n_cols) into uint64 words, the layout of :func:`bernoulli_bits`.

    >>> pack_mask(np.array([[True, False, True]])).tolist()
    [[5]]
    """
    m = np.asarray(mask)
    if m.ndim != 2 or m.dtype != np.bool_:
        raise KernelArgumentError(f"mask must be a 2-D bool array, got shape {m.shape} "
                                  f"dtype {m.dtype}")
    n_words = -(-m.shape[1] // 64)
    padded = np.zeros((m.shape[0], n_words * 64), dtype=np.bool_)
    padded[:, : m.shape[1]] = m
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_mask(bits, n_cols: int) -> np.ndarray:
    """bool (n_rows, n_cols) of a packed mask (the inverse of :func:`pack_mask`)."""
    b = _as_bits(bits, n_cols)
    raw = np.ascontiguousarray(b.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(raw, axis=1, count=n_cols, bitorder="little").astype(np.bool_)


@njit(cache=True, inline="always")
def _popcount(x):
    """Set bits of a uint64 (the SWAR sum of bits; numba has no popcount intrinsic)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True)
def _bit_counts(bits, col_splits, coarse):
    """int64 (ceil(n_rows / coarse), pc): set bits of each row inside columns
    col_splits[j]:col_splits[j+1], rows summed ``coarse`` at a time.

    One left-to-right pass per row: the count of set bits before each tile boundary (whole
    words, then the boundary word's low bits), differenced; a row costs n_words + pc
    popcounts, however narrow the tiles.
    """
    n_rows = bits.shape[0]
    pc = col_splits.shape[0] - 1
    out = np.zeros(((n_rows + coarse - 1) // coarse, pc), dtype=np.int64)
    one = np.uint64(1)
    for r in range(n_rows):
        o = r // coarse
        w = 0  # words counted so far: whole words before word w
        before = 0
        prev = 0
        for j in range(pc + 1):
            c = col_splits[j]
            while w < c // 64:
                before += _popcount(bits[r, w])
                w += 1
            part = 0
            if c % 64:
                part = _popcount(bits[r, w] & ((one << np.uint64(c % 64)) - one))
            here = before + part
            if j:
                out[o, j - 1] += here - prev
            prev = here
    return out


def bit_row_tile_nnz(bits, n_cols: int, pc: int, coarse: int = 1) -> np.ndarray:
    """Non-zeros of each row of a packed mask inside each of ``pc`` column tiles.

    Parameters
    ----------
    bits : uint64 (n_rows, ceil(n_cols / 64)), from :func:`bernoulli_bits` or :func:`pack_mask`
    n_cols : int, mask columns
    pc : int >= 1, column tiles (split like ``numpy.array_split``)
    coarse : int >= 1, consecutive rows summed into one output row

    Returns
    -------
    int64 (ceil(n_rows / coarse), pc); with ``coarse=1`` equal to
    ``row_tile_nnz(unpack_mask(bits, n_cols), pc)``

    >>> bit_row_tile_nnz(pack_mask(np.array([[1, 1, 0], [0, 0, 1]], bool)), 3, 2).tolist()
    [[2, 0], [0, 1]]
    """
    b = _as_bits(bits, n_cols)
    pc = check_int("pc", pc, 1)
    coarse = check_int("coarse", coarse, 1)
    return _bit_counts(b, splits(n_cols, pc), coarse)


def _as_bits(bits, n_cols: int) -> np.ndarray:
    n_cols = check_int("n_cols", n_cols, 0)
    b = np.asarray(bits)
    if b.ndim != 2 or b.dtype != np.uint64 or b.shape[1] != -(-n_cols // 64):
        raise KernelArgumentError(
            f"bits must be uint64 (n_rows, ceil(n_cols / 64) = {-(-n_cols // 64)}), got shape "
            f"{b.shape} dtype {b.dtype}; make it with bernoulli_bits or pack_mask")
    return np.ascontiguousarray(b)
