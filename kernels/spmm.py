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
# Batch rows of one thread's chunk are a multiple of this (64 bytes of float32: one cache line),
# so two threads never write the same line of x.T or y.T.
_CHUNK_ALIGN = 16


@njit(cache=True)
def _transpose_chunk(x, xt, x_count, b0, b1):
    """``xt[:, b0:b1] = x[b0:b1].T`` and ``x_count[k]`` = non-zeros of ``x[b0:b1, k]``.

    Blocked 32 x 32 so reads and writes both touch whole cache lines.
    """
    n_in = x.shape[1]
    for k0 in range(0, n_in, 32):
        k1 = min(n_in, k0 + 32)
        for bb in range(b0, b1, 32):
            for b in range(bb, min(b1, bb + 32)):
                for k in range(k0, k1):
                    xt[k, b] = x[b, k]
        _count_chunk(xt, x_count, k0, k1, b0, b1)


@njit(cache=True)
def _count_chunk(xt, x_count, k0, k1, b0, b1):
    """``x_count[k]`` = non-zeros of ``xt[k, b0:b1]`` for k in [k0, k1)."""
    for k in range(k0, k1):
        s = 0
        for b in range(b0, b1):
            s += xt[k, b] != 0
        x_count[k] = s


@njit(cache=True)
def _axpy_skip(yc, xk, v, b0, b1):
    """``yc[b] += v * xk[b]`` for b in [b0, b1), adding nothing where ``xk[b] == 0``.

    The zero activation is selected out rather than multiplied, so even a non-finite weight
    cannot leak through a skipped product; contiguous and branch-free, so it vectorizes.
    """
    for b in range(b0, b1):
        xb = xk[b]
        yc[b] += v * xb if xb != 0 else np.float32(0.0)


@njit(cache=True)
def _column_block(yt, macs, col_tile, indptr, indices, values, row_splits, xt, x_count, b0, b1,
                  c0, c1, k_block):
    """Accumulate ``yt[c0:c1, b0:b1]`` over every band, and the MACs into ``macs`` (pr, pc).

    Entries of a column are sorted by input k, so every output sums over k ascending: the result
    does not depend on blocking or threads. Bands taller than ``k_block`` rows are walked in
    k-blocks, each column keeping a cursor, so the slice of ``xt`` stays in cache while every
    column of the block uses it.
    """
    n_out = yt.shape[0]
    for i in range(row_splits.shape[0] - 1):
        r0 = row_splits[i]
        base = i * n_out
        if indptr[base + c0] == indptr[base + c1]:
            continue  # band i stores nothing in these columns
        n_rows = row_splits[i + 1] - r0
        if n_rows <= k_block:
            for c in range(c0, c1):
                m = 0
                for p in range(indptr[base + c], indptr[base + c + 1]):
                    k = r0 + indices[p]
                    if x_count[k]:  # an input no activation row uses never fires the core
                        m += x_count[k]
                        _axpy_skip(yt[c], xt[k], values[p], b0, b1)
                macs[i, col_tile[c]] += m
            continue
        cursor = indptr[base + c0:base + c1].copy()
        for k_end in range(k_block, n_rows + k_block, k_block):
            for c in range(c0, c1):
                p = cursor[c - c0]
                p_end = indptr[base + c + 1]
                m = 0
                while p < p_end and indices[p] < k_end:
                    k = r0 + indices[p]
                    if x_count[k]:
                        m += x_count[k]
                        _axpy_skip(yt[c], xt[k], values[p], b0, b1)
                    p += 1
                cursor[c - c0] = p
                macs[i, col_tile[c]] += m


@njit(cache=True, parallel=True)
def _spmm_chunks(x, xt, have_xt, yt, macs, col_tile, indptr, indices, values, row_splits,
                 col_block, k_block):
    """``yt += (x @ w).T`` float32 (n_out, batch) and per-core MACs, one batch chunk per thread.

    Shapes: ``x`` (batch, n_in) float32, ``xt`` (n_in, batch) float32 to fill with ``x.T`` (or
    already holding it when ``have_xt``), ``yt`` zeroed; ``macs`` int64 (n_chunks, pr, pc),
    zeroed, one slice per chunk (summed by the caller); ``col_tile`` int64 (n_out,) the core
    column of each output column. One parallel region per call: each thread transposes and
    counts its own batch rows, then runs every column block on them, so threads never wait on
    each other mid-call and never write the same cache line.
    """
    batch = xt.shape[1]
    n_out = yt.shape[0]
    n_chunks = macs.shape[0]
    per = -(-batch // n_chunks)
    per = -(-per // _CHUNK_ALIGN) * _CHUNK_ALIGN
    for ch in prange(n_chunks):
        b0 = min(batch, ch * per)
        b1 = min(batch, b0 + per)
        x_count = np.zeros(xt.shape[0], dtype=np.int64)
        if have_xt:
            _count_chunk(xt, x_count, 0, xt.shape[0], b0, b1)
        else:
            _transpose_chunk(x, xt, x_count, b0, b1)
        for c0 in range(0, n_out, col_block):
            _column_block(yt, macs[ch], col_tile, indptr, indices, values, row_splits, xt,
                          x_count, b0, b1, c0, min(n_out, c0 + col_block), k_block)


def _plan(batch: int, work: int) -> tuple[int, int, int]:
    """(n_chunks, col_block, k_block) for a call of ``work`` MACs on ``batch`` rows."""
    threads = numba.get_num_threads() if work >= _SERIAL_MACS else 1
    n_chunks = max(1, min(threads, batch // _CHUNK_ALIGN))
    row_bytes = 4 * max(1, -(-batch // n_chunks))
    return n_chunks, max(1, _COL_BLOCK_BYTES // row_bytes), max(8, _K_BLOCK_BYTES // row_bytes)


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
    batch = x.shape[0]
    n_chunks, col_block, k_block = _plan(batch, tiles.values.size * batch)
    # Batch-minor layout makes the inner loop a contiguous axpy. An F-ordered x (such as the y of
    # a previous spmm) already is batch-minor; otherwise each thread transposes its rows.
    have_xt = bool(x.flags.f_contiguous and not x.flags.c_contiguous)
    if have_xt:
        xt = np.ascontiguousarray(x.T, dtype=np.float32)
        x = np.empty((0, n_in), dtype=np.float32)
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)
        # numpy allocates large arrays on huge pages; numba's allocator would page-fault per 4 KB.
        xt = np.empty((n_in, batch), dtype=np.float32)
    yt = np.zeros((n_out, batch), dtype=np.float32)
    macs = np.zeros((n_chunks, tiles.pr, tiles.pc), dtype=np.int64)
    col_tile = np.repeat(np.arange(tiles.pc, dtype=np.int64), np.diff(tiles.col_splits))
    values = np.ascontiguousarray(tiles.values, dtype=np.float32)
    _spmm_chunks(x, xt, have_xt, yt, macs, col_tile, tiles.indptr, tiles.indices, values,
                 tiles.row_splits, col_block, k_block)
    return yt.T, macs.sum(axis=0)
