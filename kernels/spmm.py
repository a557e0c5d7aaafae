"""Sparse x dense product on a pr x pc region: y = x @ w, skipping zero weights and activations.

Each core (i, j) holds tile (i, j) of ``w`` (see :class:`~wse_sim.kernels.tiles.SparseTiles`).
When activation ``x[b, k]`` is non-zero it arrives at the cores of tile row i holding input k, and
each multiplies it by the non-zeros of its part of weight row k; zeros are never sent. Partial
sums of tile column j reduce over the pr cores of that column. The kernel below computes the same
sums on the host, in float32, and counts the multiply-accumulates each core executed.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .masks import KernelArgumentError
from .tiles import SparseTiles, as_real_array

__all__ = ["spmm"]


# Cache blocking: the slice of x.T one k-block touches, and the block of y.T a thread accumulates,
# stay near these sizes so both live in L2 (2 MB per core on the reference machine); measured.
_K_BLOCK_BYTES = 512 * 1024
_COL_BLOCK_BYTES = 256 * 1024
# Below this many multiply-accumulates a call runs on one thread: waking a second thread costs
# more than it saves, and on a busy machine it can cost a whole scheduler slice.
_SERIAL_MACS = 1 << 20


@njit(cache=True, parallel=True)
def _transpose_count(x, xt):
    """Fill ``xt`` (n_in, batch) float32 with ``x.T``; return the non-zeros of each column of x.

    Each write is a run of 16 batch rows (one 64-byte line of ``xt``) read from 16 streams of
    ``x``, which prefetch well (measured faster than square 32 x 32 blocks). One thread per
    range of inputs k, so the counts need no atomics. Returns int64 (n_in,).
    """
    batch, n_in = x.shape
    x_count = np.zeros(n_in, dtype=np.int64)
    k_chunk = 64
    for kb in prange((n_in + k_chunk - 1) // k_chunk):
        k0 = kb * k_chunk
        k1 = min(n_in, k0 + k_chunk)
        for b0 in range(0, batch, 16):
            b1 = min(batch, b0 + 16)
            for k in range(k0, k1):
                s = 0
                for b in range(b0, b1):
                    v = x[b, k]
                    xt[k, b] = v
                    s += v != 0
                x_count[k] += s
    return x_count


@njit(cache=True)
def _row_nonzeros(xt):
    """int64 (n_in,): non-zeros of each row of ``xt`` (n_in, batch), i.e. of each column of x."""
    n_in, batch = xt.shape
    x_count = np.zeros(n_in, dtype=np.int64)
    for k in range(n_in):
        s = 0
        for b in range(batch):
            s += xt[k, b] != 0
        x_count[k] = s
    return x_count


@njit(cache=True, parallel=True)
def _spmm_t(yt, col_macs, indptr, indices, values, row_splits, xt, x_count, col_block):
    """Accumulate ``yt += (x @ w).T`` in float32 and ``col_macs`` from band-CSC storage.

    Shapes: ``yt`` float32 (n_out, batch), zeroed; ``col_macs`` int64 (pr, n_out), zeroed, gets
    the MACs band i spends on output column c; ``xt`` is ``x.T`` float32 (n_in, batch) and
    ``x_count[k]`` the non-zeros of ``xt[k]``.

    One thread owns a block of ``col_block`` output columns (no write races). Batch-minor layout
    makes a stored weight ``v`` at input k one contiguous SIMD axpy ``yt[c] += v * xt[k]``.
    Each output sums over k ascending whatever the blocking or thread count, so results are
    deterministic. A zero activation adds nothing: it is selected out, so even a non-finite
    weight cannot leak through a skipped product. Used when a band's slice of ``xt`` fits in
    cache; :func:`_spmm_t_kblocked` handles tall bands.
    """
    batch = xt.shape[1]
    n_out = yt.shape[0]
    pr = row_splits.shape[0] - 1
    for blk in prange((n_out + col_block - 1) // col_block):
        c0 = blk * col_block
        c1 = min(n_out, c0 + col_block)
        for i in range(pr):
            r0 = row_splits[i]
            base = i * n_out
            if indptr[base + c0] == indptr[base + c1]:
                continue  # band i stores nothing in these columns
            for c in range(c0, c1):
                yc = yt[c]
                macs = 0
                for p in range(indptr[base + c], indptr[base + c + 1]):
                    k = r0 + indices[p]
                    nz = x_count[k]
                    if nz == 0:  # no activation row uses input k: the core never fires
                        continue
                    macs += nz
                    v = values[p]
                    xk = xt[k]
                    for b in range(batch):
                        xb = xk[b]
                        yc[b] += v * xb if xb != 0 else np.float32(0.0)
                if macs:  # col_macs arrives zeroed; untouched pages are never written
                    col_macs[i, c] = macs


@njit(cache=True, parallel=True)
def _spmm_t_kblocked(yt, col_macs, indptr, indices, values, row_splits, xt, x_count, col_block,
                     k_block):
    """:func:`_spmm_t` for tall bands: inputs visited in blocks of ``k_block`` rows.

    The slice ``xt[k0:k0 + k_block]`` then stays in cache while every column of the block
    uses it; a cursor per column remembers where its entries for the next k-block start.
    Same arguments, results and summation order as :func:`_spmm_t`.
    """
    batch = xt.shape[1]
    n_out = yt.shape[0]
    pr = row_splits.shape[0] - 1
    for blk in prange((n_out + col_block - 1) // col_block):
        c0 = blk * col_block
        c1 = min(n_out, c0 + col_block)
        cursor = np.empty(c1 - c0, dtype=np.int64)
        for i in range(pr):
            r0 = row_splits[i]
            if indptr[i * n_out + c0] == indptr[i * n_out + c1]:
                continue
            for c in range(c0, c1):
                cursor[c - c0] = indptr[i * n_out + c]
            for k_end in range(k_block, row_splits[i + 1] - r0 + k_block, k_block):
                for c in range(c0, c1):
                    p = cursor[c - c0]
                    p_end = indptr[i * n_out + c + 1]
                    yc = yt[c]
                    macs = 0
                    while p < p_end and indices[p] < k_end:
                        k = r0 + indices[p]
                        v = values[p]
                        p += 1
                        nz = x_count[k]
                        if nz == 0:
                            continue
                        macs += nz
                        xk = xt[k]
                        for b in range(batch):
                            xb = xk[b]
                            yc[b] += v * xb if xb != 0 else np.float32(0.0)
                    cursor[c - c0] = p
                    col_macs[i, c] += macs


@njit(cache=True)
def _sum_column_tiles(col_macs, col_splits):
    """int64 (pr, pc): sum of ``col_macs[i, cols of tile j]``."""
    pr = col_macs.shape[0]
    pc = col_splits.shape[0] - 1
    out = np.zeros((pr, pc), dtype=np.int64)
    for i in range(pr):
        for j in range(pc):
            for c in range(col_splits[j], col_splits[j + 1]):
                out[i, j] += col_macs[i, c]
    return out


def _blocks(batch: int, n_out: int) -> tuple[int, int]:
    """(col_block, k_block) sizes for the spmm kernels at this batch and thread count."""
    row_bytes = 4 * max(batch, 1)
    k_block = max(8, _K_BLOCK_BYTES // row_bytes)
    # At least ~4 column blocks per thread, so prange balances uneven tiles.
    per_thread = -(-n_out // (4 * numba.get_num_threads()))
    col_block = max(1, min(_COL_BLOCK_BYTES // row_bytes, per_thread))
    return col_block, k_block


def spmm(tiles: SparseTiles, x) -> tuple[np.ndarray, np.ndarray]:
    """``y = x @ w`` for ``w`` held in ``tiles``, skipping zero weights and zero activations.

    Parameters
    ----------
    tiles : SparseTiles of a weight (n_in, n_out) over pr x pc cores
    x : array (batch, n_in) of float16 or float32 (any real dtype is accepted and cast to float32)

    Returns
    -------
    y : float32 (batch, n_out); products and sums in float32. Returned Fortran-ordered (the
        transpose of the batch-minor result, no copy); ``np.ascontiguousarray(y)`` if C order is
        needed. Passing it on to the next ``spmm`` skips that call's transpose.
    macs : int64 (pr, pc); multiply-accumulates core (i, j) executed, summed over the batch: for
        each b, each input k of tile row i with ``x[b, k] != 0``, the non-zeros of ``w[k, cols j]``

    Notes
    -----
    Runs on numba's threads (``numba.set_num_threads``), one thread below 2**20 MACs. The result
    is the same bit for bit whatever the thread count. On a machine shared with other busy
    processes one thread is often faster: a parallel region waits for its slowest thread.

    Examples
    --------
    >>> t = SparseTiles.from_dense(np.array([[1.0, 0.0], [0.0, 2.0]]), 1, 2)
    >>> y, macs = spmm(t, np.array([[3.0, 0.0]], dtype=np.float32))
    >>> y.tolist(), macs.tolist()
    ([[3.0, 0.0]], [[1, 0]])
    """
    if not isinstance(tiles, SparseTiles):
        raise KernelArgumentError(
            f"tiles must be a SparseTiles, got {type(tiles).__name__}; "
            "build one with SparseTiles.from_dense(w, pr, pc)"
        )
    x = as_real_array("x", x, 2)
    n_in, n_out = tiles.shape
    if x.shape[1] != n_in:
        raise KernelArgumentError(
            f"x has shape {x.shape} but the weight has n_in={n_in} rows; "
            f"x must be (batch, {n_in})"
        )
    threads = numba.get_num_threads()
    if tiles.values.size * x.shape[0] < _SERIAL_MACS:
        numba.set_num_threads(1)  # thread-local setting, restored below
    try:
        yt, col_macs = _spmm_batch_minor(tiles, x)
    finally:
        numba.set_num_threads(threads)
    return yt.T, _sum_column_tiles(col_macs, tiles.col_splits)


def _spmm_batch_minor(tiles: SparseTiles, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x @ w).T`` float32 (n_out, batch) and MACs per band and column, int64 (pr, n_out)."""
    n_in, n_out = tiles.shape
    # Batch-minor layout makes the inner loop a contiguous axpy. An F-ordered x (such as the y of
    # a previous spmm) already is batch-minor; otherwise one blocked transpose, O(batch * n_in).
    if x.flags.f_contiguous and not x.flags.c_contiguous:
        xt = np.ascontiguousarray(x.T, dtype=np.float32)
        x_count = _row_nonzeros(xt)
    else:
        # numpy puts large arrays on huge pages; numba's allocator would page-fault per 4 KB.
        xt = np.empty((n_in, x.shape[0]), dtype=np.float32)
        x_count = _transpose_count(np.ascontiguousarray(x, dtype=np.float32), xt)
    values = np.ascontiguousarray(tiles.values, dtype=np.float32)
    # Zeroed by calloc: pages of col_macs no core writes cost nothing.
    yt = np.zeros((n_out, x.shape[0]), dtype=np.float32)
    col_macs = np.zeros((tiles.pr, n_out), dtype=np.int64)
    col_block, k_block = _blocks(x.shape[0], n_out)
    args = (yt, col_macs, tiles.indptr, tiles.indices, values, tiles.row_splits, xt, x_count,
            col_block)
    if n_in and np.diff(tiles.row_splits).max() > k_block:
        _spmm_t_kblocked(*args, k_block)
    else:
        _spmm_t(*args)
    return yt, col_macs
