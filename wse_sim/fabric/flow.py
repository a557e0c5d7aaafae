"""Fabric traffic of a placement: flows -> routes -> link loads.

Three kinds of flow, all in wavelets per sample, accumulated by the numba kernels of
:mod:`wse_sim.kernels.routes` into a ``(rows, cols, 4)`` array:

* inside a region, activations multicast along each logical row (each link once) and partial
  sums reduced down each logical column (a chain); in training, gradients run back up the
  columns and input-gradient partial sums back along the rows;
* between regions, each stage's output is routed XY to the next stage, spread over parallel
  routes between cores on the diagonals of the two rectangles. The compiler picks which core
  ends each column's reduction, so outputs can leave from cores in distinct rows and columns;
  then no two parallel routes share a row (X leg) or a column (Y leg), where edge-to-edge
  routes would funnel into one column. Training sends the gradients back along the reversed
  routes.
"""

from __future__ import annotations

import numpy as np

from ..kernels.routes import DIR_E, DIR_N, DIR_S, DIR_W, add_link_rects, add_xy_routes
from ..kernels.tiles import splits

MAX_PARALLEL_ROUTES = 256  # routes a flow is spread over at most (one per edge core)


def logical_grid(stage):
    """``(split, a, b, group_lo, group_hi, rows, cols)`` of a stage: its split, its logical
    rows and columns, the first and past-last logical row of each row group, and the index
    ranges ``arange(a)``, ``arange(b)``."""
    sp = stage.split
    bounds = splits(sp.a, sp.groups)
    return sp, sp.a, sp.b, bounds[:-1], bounds[1:], np.arange(sp.a), np.arange(sp.b)


def _region_rects(stage, cost, training: bool):
    """Link rectangles (direction, r_lo, r_hi, c_lo, c_hi, w) of one stage's internal traffic."""
    r0, c0, h, w = stage.rect
    sp, a, b, g_lo, g_hi, i, j = logical_grid(stage)
    rects = []
    # logical row i multicasts along its length b; logical column j reduces within its group
    along = (DIR_E, DIR_W) if sp.k_on_rows else (DIR_S, DIR_N)
    down = (DIR_S, DIR_N) if sp.k_on_rows else (DIR_E, DIR_W)
    fwd_row, bwd_row = cost.row_wavelets, cost.bwd_row_wavelets
    col_lo = np.repeat(g_lo, b)
    col_hi = np.repeat(g_hi, b)
    jj = np.tile(j, sp.groups)
    fwd_col = cost.col_wavelets.ravel()
    bwd_col = cost.bwd_col_wavelets.ravel()

    def rowwise(direction, lo_off, hi_off, wts):
        # logical row i spans logical columns [lo_off, b - hi_off) of links in `direction`
        if sp.k_on_rows:
            return (np.full(a, direction), r0 + i, r0 + i + 1,
                    np.full(a, c0 + lo_off), np.full(a, c0 + b - hi_off), wts)
        return (np.full(a, direction), np.full(a, r0 + lo_off), np.full(a, r0 + b - hi_off),
                c0 + i, c0 + i + 1, wts)

    def colwise(direction, lo_off, hi_off, wts):
        n = len(jj)
        if sp.k_on_rows:
            return (np.full(n, direction), r0 + col_lo + lo_off, r0 + col_hi - hi_off,
                    c0 + jj, c0 + jj + 1, wts)
        return (np.full(n, direction), r0 + jj, r0 + jj + 1, c0 + col_lo + lo_off,
                c0 + col_hi - hi_off, wts)

    if b > 1:
        rects.append(rowwise(along[0], 0, 1, fwd_row))
        if training:
            rects.append(rowwise(along[1], 1, 0, bwd_row))
    if a > 1:
        rects.append(colwise(down[0], 0, 1, fwd_col))
        if training:
            rects.append(colwise(down[1], 1, 0, bwd_col))
    del h, w
    return rects


def _spread(stage, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` cores on a diagonal of a stage's rectangle (distinct rows and columns where the
    rectangle's sides allow; ``k`` is at most its longer side)."""
    r0, c0, h, w = stage.rect
    i = np.arange(k)
    return (r0 + (i * h) // k).astype(np.int64), (c0 + (i * w) // k).astype(np.int64)


def flow_routes(stages, flows, training: bool):
    """XY routes of the inter-stage flows: (sr, sc, dr, dc, w) arrays, wavelets per route."""
    parts = []
    for f in flows:
        s, d = stages[f.src], stages[f.dst]
        k = max(1, min(max(s.rect[2:]), max(d.rect[2:]), MAX_PARALLEL_ROUTES))
        sr, sc = _spread(s, k)
        dr, dc = _spread(d, k)
        wts = np.full(k, f.wavelets / k)
        parts.append((sr, sc, dr, dc, wts))
        if training:  # gradients of the same tensor come back along the reversed routes
            parts.append((dr, dc, sr, sc, wts))
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z, np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def link_loads(stages, costs, flows, tile_shape, training: bool) -> tuple[np.ndarray, float]:
    """Link loads of one replica tile, wavelets per sample: float64 (rows, cols, 4), and the
    total wavelet-hops per sample."""
    loads = np.zeros((*tile_shape, 4), dtype=np.float64)
    rects, routes = link_traffic(stages, costs, flows, training)
    hops = 0.0
    if len(rects[0]):
        hops += add_link_rects(loads, *rects)
    if len(routes[4]):
        hops += add_xy_routes(loads, *routes)
    return loads, hops


def link_traffic(stages, costs, flows, training: bool):
    """The traffic :func:`link_loads` adds, in its order: the regions' link rectangles
    ``(direction, r_lo, r_hi, c_lo, c_hi, w)`` (non-empty ones) and the inter-stage XY routes
    ``(sr, sc, dr, dc, w)``; wavelets per sample."""
    # identical stages on the same rectangle (weight streaming's repeated layers) are added
    # once, weighted by how many there are
    groups: dict = {}
    for st, c in zip(stages, costs, strict=True):
        key = (id(c), st.rect, st.split)
        groups.setdefault(key, [st, c, 0])[2] += 1
    rects = []
    for st, c, mult in groups.values():
        for d, rlo, rhi, clo, chi, w in _region_rects(st, c, training):
            rects.append((d, rlo, rhi, clo, chi, w * mult))
    if rects:
        d, rlo, rhi, clo, chi, w = (np.concatenate(x) for x in zip(*rects, strict=True))
        keep = (rhi > rlo) & (chi > clo)
        out = (d[keep], rlo[keep], rhi[keep], clo[keep], chi[keep], w[keep])
    else:
        z = np.zeros(0, dtype=np.int64)
        out = (z, z, z, z, z, np.zeros(0))
    return out, flow_routes(stages, flows, training)
