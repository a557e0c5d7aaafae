"""The link rectangles of regions' internal traffic, generated in one kernel call.

A region of ``a x b`` logical cores (rows of ``groups`` row groups) multicasts each logical
row's activations along the row and reduces partial sums down each logical column within
its group; in training, input-gradient partials run back along the rows and gradients back
up the columns. :func:`region_rects` lists these as link rectangles, region after region, in
the order ``wse_sim.fabric.flow.link_traffic`` lists them (so accumulating them adds every
float in the same order); :func:`add_region_links` adds them to a loads array. Weight
streaming puts every layer on the whole wafer, millions of one-column rectangles that are
cheaper to write here than to build and check as numpy arrays region by region.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._route_kernels import DIR_E, DIR_N, DIR_S, DIR_W
from .routes import _apply_rects

__all__ = ["add_region_links", "region_rects"]


@njit(cache=True)
def _emit(out, out_w, k, d, rlo, rhi, clo, chi, w):
    """Store rectangle k if it names any link (empty ones are dropped); returns the next k."""
    if rhi > rlo and chi > clo:
        out[0, k], out[1, k], out[2, k], out[3, k], out[4, k] = d, rlo, rhi, clo, chi
        out_w[k] = w
        return k + 1
    return k


@njit(cache=True)
def region_rects(geo, row_off, col_off, g_off, bounds, fwd_row, bwd_row, fwd_col, bwd_col,
                 training):
    """Link rectangles of regions' internal traffic.

    Parameters
    ----------
    geo : int64 (R, 7), per region: top row r0, left column c0, logical rows a, logical
        columns b, row groups, 1 if K lies on physical rows (logical rows are physical rows)
        else 0, and how many identical stages the region stands for (its weights' factor)
    row_off, col_off, g_off : int64 (R + 1,), where each region's rows (a), (group, column)
        pairs (groups * b) and group bounds (groups + 1) start in the arrays below
    bounds : int64, each region's logical row bounds of its groups (``groups + 1`` entries)
    fwd_row, bwd_row : float64, wavelets per logical row, forward and backward
    fwd_col, bwd_col : float64, wavelets per (group, logical column), group-major

    Returns
    -------
    ``(rects, w)``: int64 (5, n) rows direction, r_lo, r_hi, c_lo, c_hi, and float64 (n,)
    wavelets.
    """
    n = 0
    for q in range(geo.shape[0]):
        a, b, groups = geo[q, 2], geo[q, 3], geo[q, 4]
        per = (1 + training) * ((a if b > 1 else 0) + (groups * b if a > 1 else 0))
        n += per
    out_i = np.empty((5, n), dtype=np.int64)
    out_w = np.empty(n, dtype=np.float64)
    k = 0
    for q in range(geo.shape[0]):
        r0, c0, a, b, groups = geo[q, 0], geo[q, 1], geo[q, 2], geo[q, 3], geo[q, 4]
        on_rows, mult = geo[q, 5] != 0, geo[q, 6]
        fm = float(mult)
        along0, along1 = (DIR_E, DIR_W) if on_rows else (DIR_S, DIR_N)
        down0, down1 = (DIR_S, DIR_N) if on_rows else (DIR_E, DIR_W)
        ro, co, go = row_off[q], col_off[q], g_off[q]
        if b > 1:
            for t in range(1 + training):  # forward along[0] [0, b - 1), backward [1, b)
                lo, hi = (0, 1) if t == 0 else (1, 0)
                d = along0 if t == 0 else along1
                for i in range(a):
                    w = (fwd_row[ro + i] if t == 0 else bwd_row[ro + i]) * fm
                    if on_rows:
                        k = _emit(out_i, out_w, k, d, r0 + i, r0 + i + 1, c0 + lo, c0 + b - hi, w)
                    else:
                        k = _emit(out_i, out_w, k, d, r0 + lo, r0 + b - hi, c0 + i, c0 + i + 1, w)
        if a > 1:
            for t in range(1 + training):  # partial sums down[0], gradients back down[1]
                lo, hi = (0, 1) if t == 0 else (1, 0)
                d = down0 if t == 0 else down1
                for g in range(groups):
                    g_lo, g_hi = bounds[go + g], bounds[go + g + 1]
                    for j in range(b):
                        w = (fwd_col[co + g * b + j] if t == 0 else bwd_col[co + g * b + j]) * fm
                        if on_rows:
                            k = _emit(out_i, out_w, k, d, r0 + g_lo + lo, r0 + g_hi - hi, c0 + j,
                                      c0 + j + 1, w)
                        else:
                            k = _emit(out_i, out_w, k, d, r0 + j, r0 + j + 1, c0 + g_lo + lo,
                                      c0 + g_hi - hi, w)
    return out_i[:, :k], out_w[:k]


def add_region_links(loads: np.ndarray, rects: np.ndarray, w: np.ndarray) -> float:
    """Add :func:`region_rects`'s rectangles to ``loads`` (float64 (rows, cols, 4), in place)
    as :func:`wse_sim.kernels.routes.add_link_rects` would; returns the wavelet-hops added.
    The rectangles lie in the mesh by construction (regions inside it), so they are not
    checked again."""
    if rects.shape[1] == 0:
        return 0.0
    cols = [np.ascontiguousarray(rects[i]) for i in range(5)]
    return _apply_rects(loads, *cols, np.ascontiguousarray(w), "auto")
