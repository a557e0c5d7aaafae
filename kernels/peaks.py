"""The busiest link of each stage's region with all traffic routed, without a loads array.

:func:`region_peaks` gives the same bits as :func:`~wse_sim.kernels.routes.add_link_rects`,
then :func:`~wse_sim.kernels.routes.add_xy_routes` on an all-zero mesh, then
:func:`~wse_sim.kernels.routes.region_max_link_load`: it streams the mesh row by row (one row
of loads and each rectangle set's running prefix sums), adding every float in the order the
loads array would have, so a placer round needs no mesh-sized array.
"""

from __future__ import annotations

import numpy as np

from ._route_args import _as_ints, _as_weights, _check_method, _first_bad
from ._route_kernels import _peaks_kernel
from .masks import KernelArgumentError, check_int
from .routes import _WALK_FACTOR, _check_routes, _checked_link_rects, _segment_rects

__all__ = ["region_peaks"]


def _walks(rows, cols, r_lo, r_hi, c_lo, c_hi, method) -> bool:
    """Whether :func:`_apply_rects` walks these rectangles (else it takes the prefix sum)."""
    links = int((np.maximum(r_hi - r_lo, 0) * np.maximum(c_hi - c_lo, 0)).sum())
    return method == "walk" or (method == "auto" and links < _WALK_FACTOR * rows * cols)


def region_peaks(rows: int, cols: int, link_rects, routes, r_lo, r_hi, c_lo, c_hi,
                 method: str = "auto") -> np.ndarray:
    """:func:`region_max_link_load` of the loads that :func:`add_link_rects` with
    ``link_rects`` then :func:`add_xy_routes` with ``routes`` would leave on an all-zero
    ``rows x cols`` mesh, without building that array (the same bits, row by row).

    ``link_rects`` is ``(direction, r_lo, r_hi, c_lo, c_hi, w)``, ``routes`` is
    ``(sr, sc, dr, dc, w)``; the regions ``[r_lo, r_hi) x [c_lo, c_hi)`` must not overlap
    (the stages of one replica tile). Returns float64 (n,), 0.0 for an empty region.
    """
    rows = check_int("rows", rows, 0)
    cols = check_int("cols", cols, 0)
    method = _check_method(method)
    a = _checked_link_rects(rows, cols, *link_rects)
    sr, sc, dr, dc = _as_ints(("sr", "sc", "dr", "dc"), routes[:4])
    w = _as_weights("w", routes[4], sr.shape[0])
    _check_routes(rows, cols, sr, sc, dr, dc)
    seg = _segment_rects(np.concatenate([sr, sr]), np.concatenate([sc, dc]),
                         np.concatenate([sr, dr]), np.concatenate([dc, dc]))
    b = (*seg, np.concatenate([w, w]))
    g_lo, g_hi, h_lo, h_hi = _as_ints(("r_lo", "r_hi", "c_lo", "c_hi"), (r_lo, r_hi, c_lo, c_hi))
    bad = (g_lo < 0) | (h_lo < 0) | (g_hi > rows) | (h_hi > cols)
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(
            f"rectangle {k}: rows [{g_lo[k]}, {g_hi[k]}) x cols [{h_lo[k]}, {h_hi[k]}) is "
            f"outside the {rows} x {cols} mesh")
    owner = np.full((rows, cols), -1, dtype=np.int32)
    for k in range(g_lo.shape[0]):
        owner[g_lo[k]:g_hi[k], h_lo[k]:h_hi[k]] = k
    area = np.maximum(g_hi - g_lo, 0) * np.maximum(h_hi - h_lo, 0)
    if int(np.count_nonzero(owner >= 0)) != int(area.sum()):
        raise KernelArgumentError("region_peaks: the regions overlap; use "
                                  "region_max_link_load on a loads array instead")
    return _peaks_kernel(rows, cols, owner, g_lo.shape[0],
                         *a, _walks(rows, cols, *a[1:5], method),
                         *b, _walks(rows, cols, *b[1:5], method))
