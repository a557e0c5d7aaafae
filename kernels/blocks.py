"""Per-logical-row tile figures of a region's row groups, all groups in one kernel call.

A region of ``a x b`` logical cores is cut into row groups; a group of ``rows_g`` logical rows
splits the ``K`` counted weight rows into ``rows_g`` bands (``numpy.array_split`` rule) and
every core ``(i, j)`` of it holds band ``i`` of column tile ``j``. For each band this gives the
executed MACs (activation counts times weight row non-zeros), the band's non-zero
activations, its height in weight rows, the tile's non-zeros and whether the tile is stored
compressed (the byte model of :mod:`wse_sim.kernels.tiles`).

Groups repeat (dense activations make every group of one height identical; drawn ones repeat
every few groups), so callers pass each distinct (height, activation counts) pair once and
gather the rows of the groups from the result.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .tiles import INDEX_BYTES

__all__ = ["band_rows"]


@njit(cache=True)
def _band_rows(rtn, xs, rows_u, sizes, widths, vbytes, coarse, want_macs):
    n_u, k_rows = xs.shape
    b = rtn.shape[1]
    n = 0
    for u in range(n_u):
        n += rows_u[u]
    macs = np.zeros((n if want_macs else 0, b), dtype=np.float64)
    x_band = np.empty(n, dtype=np.float64)
    heights = np.empty(n, dtype=np.float64)
    nnz = np.empty((n, b), dtype=np.float64)
    compressed = np.empty((n, b), dtype=np.float64)
    acc = np.zeros(b, dtype=np.int64)
    row = 0
    for u in range(n_u):
        rows_g = rows_u[u]
        base, extra = k_rows // rows_g, k_rows % rows_g
        k0 = 0
        for i in range(rows_g):
            k1 = k0 + base + (1 if i < extra else 0)
            # stored non-zeros and weight rows of band i; int64 sums are exact in any order
            acc[:] = 0
            h = 0
            xb = 0
            for k in range(k0, k1):
                h += sizes[k]
                xb += xs[u, k]
                for j in range(b):
                    acc[j] += rtn[k, j]
            heights[row] = float(h)
            x_band[row] = float(xb)
            for j in range(b):
                nnz[row, j] = float(acc[j])
                dense_b = h * widths[j] * vbytes
                comp_b = acc[j] * (vbytes + INDEX_BYTES) + (widths[j] + 1) * INDEX_BYTES
                compressed[row, j] = 0.0 if dense_b <= comp_b else 1.0
            if want_macs:
                acc[:] = 0
                for k in range(k0, k1):
                    wk = xs[u, k]
                    if wk == 0:
                        continue
                    for j in range(b):
                        acc[j] += wk * rtn[k, j]
                for j in range(b):
                    # coarse counted rows: exact for dense activations, in expectation otherwise
                    macs[row, j] = float(acc[j]) / float(coarse)
            k0 = k1
            row += 1
    return macs, x_band, heights, nnz, compressed


def band_rows(rtn: np.ndarray, xs: np.ndarray, rows_u: np.ndarray, sizes: np.ndarray,
              widths: np.ndarray, vbytes: int, coarse: int, want_macs: bool):
    """Band figures of distinct row groups, stacked group after group.

    Parameters
    ----------
    rtn : int64 (K, b), non-zeros of each counted weight row in each column tile
    xs : int64 (u, K), non-zero activation rows per counted weight row of each distinct group
    rows_u : int64 (u,), logical rows (bands) of each distinct group, each >= 1
    sizes : int64 (K,), weight rows in each counted row
    widths : int64 (b,), weight columns of each column tile
    vbytes : bytes per stored value; coarse : weight rows merged into one counted row

    Returns
    -------
    ``(macs, x_band, heights, nnz, compressed)``, float64, ``n = rows_u.sum()`` rows:
    ``macs`` (n, b) MACs per core over ``coarse`` (empty when not ``want_macs``), ``x_band``
    (n,) non-zero activations of each band, ``heights`` (n,) weight rows per band, ``nnz``
    (n, b) stored weights per core, ``compressed`` (n, b) 1.0 where the tile keeps indices.
    """
    return _band_rows(np.ascontiguousarray(rtn, dtype=np.int64),
                      np.ascontiguousarray(xs, dtype=np.int64),
                      np.ascontiguousarray(rows_u, dtype=np.int64),
                      np.ascontiguousarray(sizes, dtype=np.int64),
                      np.ascontiguousarray(widths, dtype=np.int64), int(vbytes), int(coarse),
                      bool(want_macs))
