"""Per-core MAC counts and weight bytes from masks alone, no arithmetic (the wafer-scale path).

A core (i, j) of a pr x pc region holds rows ``row_splits[i]:row_splits[i + 1]`` (inputs k) and
columns ``col_splits[j]:col_splits[j + 1]`` (outputs) of the weight. For each activation row b with
``x[b, k] != 0`` it multiplies the non-zeros of weight row k inside its column range, so::

    macs[i, j] = sum_{k in rows of i} x_count[k] * row_tile_nnz[k, j]

where ``x_count[k]`` is the number of activation rows with ``x[:, k] != 0`` and
``row_tile_nnz[k, j]`` the non-zeros of weight row k inside column tile j. Splits follow
``numpy.array_split`` (first tiles one larger).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .masks import KernelArgumentError, check_density, check_int
from .tiles import check_grid, normalize_dtype, splits, tile_bytes, value_bytes

__all__ = [
    "macs_from_row_counts",
    "row_tile_nnz",
    "row_tile_nnz_binomial",
    "tile_macs",
    "tile_weight_bytes",
]


@njit(cache=True)
def _row_tile_nnz(mask_u8, col_splits):
    """int64 (n_in, pc): sum of mask_u8[k, cols of tile j].

    Serial on purpose: it streams the mask at memory speed (~2 ms for 4096 x 1024), and on a
    shared 2-core machine a parallel launch measured 3x slower.
    """
    n_in = mask_u8.shape[0]
    pc = col_splits.shape[0] - 1
    out = np.empty((n_in, pc), dtype=np.int64)
    for k in range(n_in):
        for j in range(pc):
            # int32 accumulator: a row tile never exceeds 2**31 columns and it vectorizes wider.
            s = np.int32(0)
            for c in range(col_splits[j], col_splits[j + 1]):
                s += mask_u8[k, c]
            out[k, j] = s
    return out


@njit(cache=True)
def band_weighted_sums(row_counts, weights, row_splits):
    """int64 (pr, pc): ``sum_{k in band i} weights[k] * row_counts[k, j]``.

    With ``weights = x_count`` this is the per-core MAC count; with ones, the per-tile nnz.
    """
    pr = row_splits.shape[0] - 1
    pc = row_counts.shape[1]
    out = np.zeros((pr, pc), dtype=np.int64)
    for i in range(pr):
        for k in range(row_splits[i], row_splits[i + 1]):
            wk = weights[k]
            if wk == 0:  # an input no activation row uses costs no core anything
                continue
            for j in range(pc):
                out[i, j] += wk * row_counts[k, j]
    return out


def _as_mask(name: str, a, ndim: int) -> np.ndarray:
    """``a`` as a C-contiguous bool array with ``ndim`` axes (non-zero means True)."""
    a = np.asarray(a)
    if a.ndim != ndim:
        raise KernelArgumentError(
            f"{name} must have {ndim} axes, got shape {a.shape}; reshape it to {ndim}-D"
        )
    if a.dtype != np.bool_:
        if a.dtype.kind not in "iuf":
            raise KernelArgumentError(
                f"{name} must be a bool mask (True where non-zero), got dtype {a.dtype}"
            )
        a = a != 0
    return np.ascontiguousarray(a)


def _as_counts(name: str, a, ndim: int) -> np.ndarray:
    """``a`` as a C-contiguous int64 array of non-negative counts with ``ndim`` axes."""
    a = np.asarray(a)
    if a.ndim != ndim or a.dtype.kind not in "iub":
        raise KernelArgumentError(
            f"{name} must be a {ndim}-D integer array of counts, got shape {a.shape} "
            f"dtype {a.dtype}"
        )
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a.size and a.min() < 0:
        raise KernelArgumentError(f"{name} holds a negative count ({a.min()}); counts are >= 0")
    return a


def row_tile_nnz(w_mask, pc: int) -> np.ndarray:
    """Non-zeros of each weight row inside each of ``pc`` column tiles.

    Parameters
    ----------
    w_mask : bool (n_in, n_out), True where the weight is non-zero
    pc : int >= 1, core columns; n_out is split over them like ``numpy.array_split``

    Returns
    -------
    int64 (n_in, pc)

    >>> row_tile_nnz(np.array([[1, 1, 0], [0, 0, 1]], dtype=bool), 2).tolist()
    [[2, 0], [0, 1]]
    """
    mask = _as_mask("w_mask", w_mask, 2)
    pc = check_int("pc", pc, 1)
    return _row_tile_nnz(mask.view(np.uint8), splits(mask.shape[1], pc))


def row_tile_nnz_binomial(n_in: int, n_out: int, density: float, pc: int, seed: int = 0):
    """Per-(row, column tile) non-zero counts of an i.i.d. Bernoulli(density) mask, never built.

    Each count is drawn from Binomial(tile_width_j, density), which is exactly the distribution
    of :func:`row_tile_nnz` on a mask whose entries are independently non-zero with probability
    ``density``. (The ``"unstructured"`` mask of :func:`sparsity_mask` fixes the total count, so
    its per-tile counts are slightly less variable: hypergeometric, not binomial.)

    Parameters
    ----------
    n_in, n_out : int >= 0, weight shape
    density : float in [0, 1], probability a weight is non-zero
    pc : int >= 1, core columns (n_out split like ``numpy.array_split``)
    seed : int, for ``numpy.random.default_rng``; same seed, same counts

    Returns
    -------
    int64 (n_in, pc)
    """
    n_in = check_int("n_in", n_in, 0)
    n_out = check_int("n_out", n_out, 0)
    density = check_density("density", density)
    pc = check_int("pc", pc, 1)
    seed = check_int("seed", seed, 0)
    widths = np.diff(splits(n_out, pc))
    rng = np.random.default_rng(seed)
    return rng.binomial(widths[None, :], density, size=(n_in, pc)).astype(np.int64)


def macs_from_row_counts(row_tile_nnz, x_count, pr: int) -> np.ndarray:
    """Per-core MACs from per-row tile non-zeros and per-input activation counts.

    Parameters
    ----------
    row_tile_nnz : int (n_in, pc), from :func:`row_tile_nnz` or :func:`row_tile_nnz_binomial`
    x_count : int (n_in,), activation rows with ``x[:, k] != 0`` (summed over the batch)
    pr : int >= 1, core rows; n_in is split over them like ``numpy.array_split``

    Returns
    -------
    int64 (pr, pc): multiply-accumulates each core executes
    """
    rtn = _as_counts("row_tile_nnz", row_tile_nnz, 2)
    xc = _as_counts("x_count", x_count, 1)
    pr = check_int("pr", pr, 1)
    if xc.shape[0] != rtn.shape[0]:
        raise KernelArgumentError(
            f"x_count has {xc.shape[0]} entries but row_tile_nnz has {rtn.shape[0]} rows; "
            "pass one activation count per weight row (input k)"
        )
    return band_weighted_sums(rtn, xc, splits(rtn.shape[0], pr))


def tile_macs(w_mask, x_nonzero, pr: int, pc: int) -> np.ndarray:
    """Per-core MACs of a pr x pc region from the weight and activation masks.

    Parameters
    ----------
    w_mask : bool (n_in, n_out), True where the weight is non-zero
    x_nonzero : bool (batch_rows, n_in), True where the activation is non-zero
    pr, pc : int >= 1, core grid

    Returns
    -------
    int64 (pr, pc): for core (i, j), the sum over batch rows b and inputs k of tile row i with
    ``x[b, k] != 0`` of the non-zeros of ``w[k, cols of tile j]``.

    >>> tile_macs(np.ones((4, 4), bool), np.ones((3, 4), bool), 2, 2).tolist()
    [[12, 12], [12, 12]]
    """
    w = _as_mask("w_mask", w_mask, 2)
    x = _as_mask("x_nonzero", x_nonzero, 2)
    pr, pc = check_grid(pr, pc)
    if x.shape[1] != w.shape[0]:
        raise KernelArgumentError(
            f"x_nonzero has {x.shape[1]} columns but w_mask has {w.shape[0]} rows (n_in); "
            "x_nonzero is (batch_rows, n_in) and w_mask is (n_in, n_out)"
        )
    x_count = np.count_nonzero(x, axis=0).astype(np.int64)
    rtn = _row_tile_nnz(w.view(np.uint8), splits(w.shape[1], pc))
    return band_weighted_sums(rtn, x_count, splits(w.shape[0], pr))


def tile_weight_bytes(row_tile_nnz, pr: int, dtype: str = "fp16", *, n_out: int) -> np.ndarray:
    """SRAM bytes of each core's weight tile, equal to ``SparseTiles.bytes_per_core``.

    Uses the byte model of :mod:`wse_sim.kernels.tiles` (the smaller of dense and compressed)
    without building the tiles, so it also works on :func:`row_tile_nnz_binomial` counts.

    Parameters
    ----------
    row_tile_nnz : int (n_in, pc), non-zeros of each weight row in each column tile
    pr : int >= 1, core rows
    dtype : "fp16" or "fp32", on-core value type
    n_out : int, keyword-only, weight columns (tile widths, hence dense size and pointer count,
        cannot be recovered from the counts)

    Returns
    -------
    int64 (pr, pc), bytes
    """
    rtn = _as_counts("row_tile_nnz", row_tile_nnz, 2)
    pr = check_int("pr", pr, 1)
    vb = value_bytes(normalize_dtype(dtype))
    n_out = check_int("n_out", n_out, 0)
    n_in, pc = rtn.shape
    if pc < 1:
        raise KernelArgumentError(
            f"row_tile_nnz has shape {rtn.shape}: it needs at least one column tile (pc >= 1)"
        )
    col_splits = splits(n_out, pc)
    widths = np.diff(col_splits)
    if (rtn > widths[None, :]).any():
        raise KernelArgumentError(
            f"row_tile_nnz has a count above its tile width for n_out={n_out} over pc={pc} "
            f"(widths {widths[:4].tolist()}...); pass the n_out the counts were made for"
        )
    row_splits = splits(n_in, pr)
    nnz = band_weighted_sums(rtn, np.ones(n_in, dtype=np.int64), row_splits)
    nbytes, _ = tile_bytes(nnz, np.diff(row_splits)[:, None], widths[None, :], vb)
    return nbytes
