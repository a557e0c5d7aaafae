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

from ..kernels.region_links import add_region_links, region_rects
from ..kernels.routes import add_xy_routes
from ..kernels.tiles import splits
from ..mapping.bounds import StageLinks

MAX_PARALLEL_ROUTES = 256  # routes a flow is spread over at most (one per edge core)
_LINK_FIELDS = ("row_wavelets", "col_wavelets", "bwd_row_wavelets", "bwd_col_wavelets")


def logical_grid(stage):
    """``(split, a, b, group_lo, group_hi, rows, cols)`` of a stage: its split, its logical
    rows and columns, the first and past-last logical row of each row group, and the index
    ranges ``arange(a)``, ``arange(b)``."""
    sp = stage.split
    bounds = splits(sp.a, sp.groups)
    return sp, sp.a, sp.b, bounds[:-1], bounds[1:], np.arange(sp.a), np.arange(sp.b)


def region_traffic(stages, costs, training: bool, mult=None) -> tuple[np.ndarray, np.ndarray]:
    """The regions' internal link rectangles, in one kernel call
    (:func:`wse_sim.kernels.region_links.region_rects`): int64 (5, n) direction, r_lo, r_hi,
    c_lo, c_hi and float64 (n,) wavelets per sample, region after region, empty ones dropped.

    ``mult[i]`` (default 1) is how many identical stages stage ``i`` stands for; its
    wavelets are multiplied by it.
    """
    geo, bounds, rows_w, cols_w = [], [], [], []
    for q, (st, c) in enumerate(zip(stages, costs, strict=True)):
        sp = st.split
        geo.append((st.rect[0], st.rect[1], sp.a, sp.b, sp.groups, int(sp.k_on_rows),
                    1 if mult is None else mult[q]))
        bounds.append(splits(sp.a, sp.groups))
        rows_w.append((c.row_wavelets, c.bwd_row_wavelets))
        cols_w.append((c.col_wavelets.ravel(), c.bwd_col_wavelets.ravel()))
    offs = [np.cumsum([0] + [len(x) for x in parts]) for parts in
            ([r[0] for r in rows_w], [c[0] for c in cols_w], bounds)]
    return region_rects(np.array(geo, dtype=np.int64).reshape(-1, 7), *offs,
                        _cat(bounds, np.int64), _cat([r[0] for r in rows_w]),
                        _cat([r[1] for r in rows_w]), _cat([c[0] for c in cols_w]),
                        _cat([c[1] for c in cols_w]), bool(training))


def _cat(parts, dtype=np.float64) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dtype)


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
    (rects, w), routes = _traffic(stages, costs, flows, training)
    # the regions lie inside the tile (placements are checked when made), so their
    # rectangles go in unchecked: weight streaming lists millions of one-column ones
    hops = 0.0 + add_region_links(loads, rects, w)
    if len(routes[4]):
        hops += add_xy_routes(loads, *routes)
    return loads, hops


def link_traffic(stages, costs, flows, training: bool):
    """The traffic :func:`link_loads` adds, in its order: the regions' link rectangles
    ``(direction, r_lo, r_hi, c_lo, c_hi, w)`` (non-empty ones) and the inter-stage XY routes
    ``(sr, sc, dr, dc, w)``; wavelets per sample."""
    (rects, w), routes = _traffic(stages, costs, flows, training)
    return (*(np.ascontiguousarray(r) for r in rects), w), routes


def _traffic(stages, costs, flows, training: bool):
    # stages on the same rectangle with the same split (weight streaming's layers, which
    # each take the whole wafer) load the same links: their wavelets are summed per logical
    # row and column first, so each rectangle is listed once, not once per layer (the same
    # sums as adding each layer's rectangles: exactly so for integer wavelet counts, to
    # round-off (~1e-14 relative) where a conv's reuse makes them fractional)
    groups: dict = {}
    for st, c in zip(stages, costs, strict=True):
        same = groups.setdefault((st.rect, st.split), [st, {}])[1]
        same.setdefault(id(c), [c, 0])[1] += 1
    kept, kept_costs, mult = [], [], []
    for st, same in groups.values():
        kept.append(st)
        if len(same) == 1:  # one cost object (identical layers): its wavelets times the count
            (c, m), = same.values()
            kept_costs.append(c)
            mult.append(m)
            continue
        kept_costs.append(StageLinks(*(sum(getattr(c, f) * m if m > 1 else getattr(c, f)
                                           for c, m in same.values()) for f in _LINK_FIELDS)))
        mult.append(1)
    rects = region_traffic(kept, kept_costs, training, mult)
    return rects, flow_routes(stages, flows, training)
