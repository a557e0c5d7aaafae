"""Link loads on the 2D mesh: XY routes, multicasts and reductions, accumulated per link.

Every core ``(r, c)`` of a ``rows x cols`` mesh has a router with four outgoing links. Direction
convention (the last axis of a loads array)::

    DIR_E = 0   east,  to (r, c + 1)   (+col)
    DIR_W = 1   west,  to (r, c - 1)   (-col)
    DIR_S = 2   south, to (r + 1, c)   (+row)
    DIR_N = 3   north, to (r - 1, c)   (-row)

``loads[r, c, d]`` (float64, shape ``(rows, cols, 4)``) is the load on the link LEAVING core
``(r, c)`` in direction ``d``, in wavelets (per sample, by the engine's convention). Links that
would leave the mesh (east of the last column, ...) always stay 0.

All traffic is reduced to *link rectangles*: "add ``w`` to direction ``d`` of every core in rows
``[r_lo, r_hi)`` x cols ``[c_lo, c_hi)``". A straight segment is a one-row (or one-column)
rectangle; a row multicast over a region is one or two rectangles; so is a column reduction.
Rectangles are accumulated either

- by a 2D difference array and a prefix sum (``method="prefix"``): O(n_rects + rows * cols),
  whatever the lengths; or
- by walking every link (``method="walk"``): O(n_rects + links touched), cheaper for a few short
  flows on a big mesh.

``method="auto"`` (the default) walks while the links touched are fewer than 3x the mesh's
cores and uses the prefix sum otherwise, so a call is O(n + min(links, rows * cols)). Both give
the same loads up to float round-off: the walk sums exactly in input order; the prefix sum leaves
links no rectangle covers at exactly 0. The prefix path costs O(rows * cols) per call whatever
n is, so batch all the flows of a pass into one call.

Weights must be finite and >= 0. Bad arguments raise ``KernelArgumentError`` (a ``ValueError``)
naming the argument, the offending index and the value, before any kernel runs.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._route_args import (
    _as_ints,
    _as_weights,
    _check_loads,
    _check_method,
    _first_bad,
)
from ._route_kernels import (
    DIR_E,
    DIR_N,
    DIR_NAMES,
    DIR_S,
    DIR_W,
    N_DIRS,
    _rects_prefix,
    _rects_walk,
    _region_max_kernel,
    _routes_through_kernel,
    _segment_rects_kernel,
)
from .masks import KernelArgumentError, check_int

__all__ = [
    "DIR_E", "DIR_N", "DIR_NAMES", "DIR_S", "DIR_W", "N_DIRS",
    "add_column_reduce", "add_link_rects", "add_row_multicast", "add_segments", "add_xy_routes",
    "busiest_link", "column_reduce_segments", "link_cycles", "max_link_load",
    "region_max_link_load", "routes_through", "row_multicast_segments", "zero_loads",
]

# method="auto" walks while the links touched are fewer than this many times the cores.
_WALK_FACTOR = 3


def zero_loads(rows: int, cols: int) -> np.ndarray:
    """A fresh ``(rows, cols, 4)`` float64 array of link loads, all 0 wavelets."""
    rows = check_int("rows", rows, 0)
    cols = check_int("cols", cols, 0)
    return np.zeros((rows, cols, N_DIRS), dtype=np.float64)


def _apply_rects(loads, d, r_lo, r_hi, c_lo, c_hi, w, method) -> float:
    """Accumulate validated, in-mesh link rectangles; returns the wavelet-hops added."""
    if d.shape[0] == 0:
        return 0.0
    # Empty rectangles (lo == hi) have area 0 and are skipped by the kernels.
    area = np.maximum(r_hi - r_lo, 0) * np.maximum(c_hi - c_lo, 0)
    links = int(area.sum())
    # Walking a link costs ~2-7 ns, one cell of the prefix pass ~25 ns (measured, 994 x 750).
    if method == "walk" or (method == "auto" and links < _WALK_FACTOR * loads[..., 0].size):
        _rects_walk(loads, d, r_lo, r_hi, c_lo, c_hi, w)
    else:
        _rects_prefix(loads, d, r_lo, r_hi, c_lo, c_hi, w)
    # An elementwise product then numpy's pairwise sum: the same bits on every machine (a BLAS
    # dot product may sum in a thread-dependent order).
    return float((w * area).sum())


def add_link_rects(loads, direction, r_lo, r_hi, c_lo, c_hi, w, method: str = "auto") -> float:
    """Add ``w`` to direction ``direction`` of every core in rows ``[r_lo, r_hi)`` x cols
    ``[c_lo, c_hi)``, for arrays (or scalars) of rectangles, in place on ``loads``.

    Every link named must exist (e.g. no east link from the last column). Empty rectangles add
    nothing. ``w`` is in wavelets, >= 0. Returns the wavelet-hops added (``sum(w * area)``).
    """
    rows, cols = _check_loads(loads)
    method = _check_method(method)
    rects = _checked_link_rects(rows, cols, direction, r_lo, r_hi, c_lo, c_hi, w)
    return _apply_rects(loads, *rects, method)


def _checked_link_rects(rows, cols, direction, r_lo, r_hi, c_lo, c_hi, w):
    """The link rectangles as owned int64 / float64 arrays, checked against the mesh."""
    names = ("direction", "r_lo", "r_hi", "c_lo", "c_hi")
    d, r0, r1, c0, c1 = _as_ints(names, (direction, r_lo, r_hi, c_lo, c_hi))
    w = _as_weights("w", w, d.shape[0])
    bad = (d < 0) | (d >= N_DIRS)
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(f"direction[{k}] = {d[k]}; use DIR_E, DIR_W, DIR_S or DIR_N")
    # The cores a direction's links may leave from: [lo, hi) per axis.
    r_min = np.where(d == DIR_N, 1, 0)
    r_max = np.where(d == DIR_S, rows - 1, rows)
    c_min = np.where(d == DIR_W, 1, 0)
    c_max = np.where(d == DIR_E, cols - 1, cols)
    nonempty = (r1 > r0) & (c1 > c0)
    bad = (r0 > r1) | (c0 > c1) | (
        nonempty & ((r0 < r_min) | (r1 > r_max) | (c0 < c_min) | (c1 > c_max))
    )
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(
            f"link rectangle {k}: direction {DIR_NAMES[d[k]]}, rows [{r0[k]}, {r1[k]}) x cols "
            f"[{c0[k]}, {c1[k]}) is reversed or names links outside the {rows} x {cols} mesh; "
            f"{DIR_NAMES[d[k]]} links leave rows [{r_min[k]}, {r_max[k]}) x cols "
            f"[{c_min[k]}, {c_max[k]})"
        )
    return d, r0, r1, c0, c1, w


def _segment_rects(r0, c0, r1, c1):
    """Direction and link rectangle of each straight segment (validated beforehand)."""
    return _segment_rects_kernel(r0, c0, r1, c1)


def _check_segments(rows, cols, r0, c0, r1, c1, what="segment"):
    diag = (r0 != r1) & (c0 != c1)
    if diag.any():
        k = _first_bad(diag)
        raise KernelArgumentError(
            f"{what} {k} is diagonal: ({r0[k]}, {c0[k]}) -> ({r1[k]}, {c1[k]}); a segment must be "
            "horizontal (r0 == r1) or vertical (c0 == c1): split it in two (XY routing)"
        )
    outside = (
        (np.minimum(r0, r1) < 0) | (np.maximum(r0, r1) >= rows)
        | (np.minimum(c0, c1) < 0) | (np.maximum(c0, c1) >= cols)
    )
    if outside.any():
        k = _first_bad(outside)
        raise KernelArgumentError(
            f"{what} {k}: ({r0[k]}, {c0[k]}) -> ({r1[k]}, {c1[k]}) leaves the {rows} x {cols} "
            f"mesh; rows must be in [0, {rows}) and cols in [0, {cols})"
        )


def add_segments(loads, r0, c0, r1, c1, w, method: str = "auto") -> float:
    """Add ``w`` to every link a straight segment traverses from ``(r0, c0)`` to ``(r1, c1)``.

    Arrays (or scalars, broadcast) of int core indices and float64 weights in wavelets (>= 0).
    Each segment is horizontal (``r0 == r1``) or vertical (``c0 == c1``); a zero-length one adds
    nothing; a diagonal one raises ``KernelArgumentError`` (a ``ValueError``) naming it.
    In place on ``loads`` (float64 ``(rows, cols, 4)``); O(n + rows * cols) at most.
    Returns the wavelet-hops added (``sum(w * length)``).

    >>> loads = zero_loads(1, 4)
    >>> add_segments(loads, 0, 0, 0, 3, 2.0)
    6.0
    >>> loads[0, :, DIR_E].tolist()
    [2.0, 2.0, 2.0, 0.0]
    """
    rows, cols = _check_loads(loads)
    method = _check_method(method)
    r0, c0, r1, c1 = _as_ints(("r0", "c0", "r1", "c1"), (r0, c0, r1, c1))
    w = _as_weights("w", w, r0.shape[0])
    _check_segments(rows, cols, r0, c0, r1, c1)
    d, rlo, rhi, clo, chi = _segment_rects(r0, c0, r1, c1)
    return _apply_rects(loads, d, rlo, rhi, clo, chi, w, method)


def add_xy_routes(loads, sr, sc, dr, dc, w, method: str = "auto") -> float:
    """Route flows from ``(sr, sc)`` to ``(dr, dc)`` by dimension-ordered XY routing, in place.

    X first: along the source row to column ``dc`` (E/W links of row ``sr``), then Y: along column
    ``dc`` to row ``dr`` (S/N links). ``w`` wavelets (>= 0) per route, scalar or per route.
    Returns the total wavelet-hops, ``sum(w * (|dr - sr| + |dc - sc|))``.
    """
    rows, cols = _check_loads(loads)
    method = _check_method(method)
    sr, sc, dr, dc = _as_ints(("sr", "sc", "dr", "dc"), (sr, sc, dr, dc))
    w = _as_weights("w", w, sr.shape[0])
    _check_routes(rows, cols, sr, sc, dr, dc)
    seg = _segment_rects(
        np.concatenate([sr, sr]), np.concatenate([sc, dc]),
        np.concatenate([sr, dr]), np.concatenate([dc, dc]),
    )
    return _apply_rects(loads, *seg, np.concatenate([w, w]), method)


def _check_routes(rows, cols, sr, sc, dr, dc):
    outside = (
        (np.minimum(sr, dr) < 0) | (np.maximum(sr, dr) >= rows)
        | (np.minimum(sc, dc) < 0) | (np.maximum(sc, dc) >= cols)
    )
    if outside.any():
        k = _first_bad(outside)
        raise KernelArgumentError(
            f"route {k}: ({sr[k]}, {sc[k]}) -> ({dr[k]}, {dc[k]}) leaves the {rows} x {cols} "
            f"mesh; rows must be in [0, {rows}) and cols in [0, {cols})"
        )


def routes_through(rows: int, cols: int, sr, sc, dr, dc) -> np.ndarray:
    """Number of XY routes touching each router, int32 ``(rows, cols)``.

    A route touches its source, its destination and every router in between, the corner
    ``(sr, dc)`` once; a zero-length route touches one router. O(n + rows * cols).
    """
    rows = check_int("rows", rows, 0)
    cols = check_int("cols", cols, 0)
    sr, sc, dr, dc = _as_ints(("sr", "sc", "dr", "dc"), (sr, sc, dr, dc))
    _check_routes(rows, cols, sr, sc, dr, dc)
    return _routes_through_kernel(rows, cols, sr, sc, dr, dc)


def _region_args(r_lo, r_hi, c_lo, c_hi, src, src_name, w, w_name):
    names = ("r_lo", "r_hi", "c_lo", "c_hi", src_name)
    r_lo, r_hi, c_lo, c_hi, src = _as_ints(names, (r_lo, r_hi, c_lo, c_hi, src))
    w = _as_weights(w_name, w, r_lo.shape[0])
    bad = (r_lo < 0) | (c_lo < 0) | (r_hi < r_lo) | (c_hi < c_lo) | (src < 0)
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(
            f"rectangle {k}: rows [{r_lo[k]}, {r_hi[k]}) x cols [{c_lo[k]}, {c_hi[k]}), "
            f"{src_name} {src[k]}: need 0 <= r_lo <= r_hi, 0 <= c_lo <= c_hi, {src_name} >= 0"
        )
    return r_lo, r_hi, c_lo, c_hi, src, w


def _check_regions_in_mesh(rows, cols, r_lo, r_hi, c_lo, c_hi, src, src_name, src_limit):
    bad = (r_hi > rows) | (c_hi > cols) | (src >= src_limit)
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(
            f"rectangle {k}: rows [{r_lo[k]}, {r_hi[k]}) x cols [{c_lo[k]}, {c_hi[k]}), "
            f"{src_name} {src[k]} is outside the {rows} x {cols} mesh"
        )


def _multicast_rects(r_lo, r_hi, c_lo, c_hi, c_src, w):
    nonempty = (r_hi > r_lo) & (c_hi > c_lo)
    east = nonempty & (c_hi - 1 > c_src)
    west = nonempty & (c_src > c_lo)
    d = np.concatenate([np.full(int(east.sum()), DIR_E), np.full(int(west.sum()), DIR_W)])
    rlo = np.concatenate([r_lo[east], r_lo[west]])
    rhi = np.concatenate([r_hi[east], r_hi[west]])
    clo = np.concatenate([c_src[east], c_lo[west] + 1])
    chi = np.concatenate([c_hi[east] - 1, c_src[west] + 1])
    return d.astype(np.int64), rlo, rhi, clo, chi, np.concatenate([w[east], w[west]])


def _reduce_rects(r_lo, r_hi, c_lo, c_hi, r_sink, w):
    nonempty = (r_hi > r_lo) & (c_hi > c_lo)
    south = nonempty & (r_sink > r_lo)
    north = nonempty & (r_hi - 1 > r_sink)
    d = np.concatenate([np.full(int(south.sum()), DIR_S), np.full(int(north.sum()), DIR_N)])
    rlo = np.concatenate([r_lo[south], r_sink[north] + 1])
    rhi = np.concatenate([r_sink[south], r_hi[north]])
    clo = np.concatenate([c_lo[south], c_lo[north]])
    chi = np.concatenate([c_hi[south], c_hi[north]])
    return d.astype(np.int64), rlo, rhi, clo, chi, np.concatenate([w[south], w[north]])


def add_row_multicast(
    loads, r_lo, r_hi, c_lo, c_hi, c_src, w_per_row, method: str = "auto"
) -> float:
    """Row multicast over rectangles, in place: O(n_rects + rows * cols) whatever their area.

    Each row ``r`` of rectangle ``[r_lo, r_hi) x [c_lo, c_hi)`` receives ``w_per_row`` wavelets
    at column ``c_src`` of that row that must reach every column ``[c_lo, c_hi)``: the E links
    from ``c_src`` to ``c_hi - 1`` and the W links from ``c_src`` to ``c_lo`` carry it once each.
    ``c_src`` may lie outside ``[c_lo, c_hi)`` (the data then also crosses the columns between).
    Scalars or arrays of rectangles. Same loads as :func:`row_multicast_segments` fed to
    :func:`add_segments`. Returns the wavelet-hops added.
    """
    rows, cols = _check_loads(loads)
    method = _check_method(method)
    r_lo, r_hi, c_lo, c_hi, c_src, w = _region_args(
        r_lo, r_hi, c_lo, c_hi, c_src, "c_src", w_per_row, "w_per_row"
    )
    _check_regions_in_mesh(rows, cols, r_lo, r_hi, c_lo, c_hi, c_src, "c_src", cols)
    return _apply_rects(loads, *_multicast_rects(r_lo, r_hi, c_lo, c_hi, c_src, w), method)


def add_column_reduce(
    loads, r_lo, r_hi, c_lo, c_hi, r_sink, w_per_col, method: str = "auto"
) -> float:
    """Chain reduction down/up each column of rectangles toward row ``r_sink``, in place.

    In every column ``c`` of ``[r_lo, r_hi) x [c_lo, c_hi)`` partial sums of ``w_per_col``
    wavelets flow to row ``r_sink``: S links from ``r_lo`` down to ``r_sink`` and N links from
    ``r_hi - 1`` up to ``r_sink`` each carry ``w_per_col`` once. ``r_sink`` may lie outside the
    rectangle. Scalars or arrays of rectangles; O(n_rects + rows * cols).
    Same loads as :func:`column_reduce_segments` fed to :func:`add_segments`.
    Returns the wavelet-hops added.
    """
    rows, cols = _check_loads(loads)
    method = _check_method(method)
    r_lo, r_hi, c_lo, c_hi, r_sink, w = _region_args(
        r_lo, r_hi, c_lo, c_hi, r_sink, "r_sink", w_per_col, "w_per_col"
    )
    _check_regions_in_mesh(rows, cols, r_lo, r_hi, c_lo, c_hi, r_sink, "r_sink", rows)
    return _apply_rects(loads, *_reduce_rects(r_lo, r_hi, c_lo, c_hi, r_sink, w), method)


def _expand(lo, hi):
    """For ranges [lo[k], hi[k]): (owner k of each item, item value), item-major in k."""
    n = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(lo.shape[0]), n)
    starts = np.cumsum(n) - n
    return owner, lo[owner] + (np.arange(owner.shape[0]) - starts[owner])


def _rects_to_segments(d, rlo, rhi, clo, chi, w):
    """Segments (r0, c0, r1, c1, w) of E/W rectangles (one per row) or S/N (one per column)."""
    horizontal = (d == DIR_E) | (d == DIR_W)
    out = []
    idx = np.flatnonzero(horizontal)
    k, r = _expand(rlo[idx], rhi[idx])
    k = idx[k]
    east = d[k] == DIR_E
    out.append((r, np.where(east, clo[k], chi[k] - 1), r,
                np.where(east, chi[k], clo[k] - 1), w[k]))
    idx = np.flatnonzero(~horizontal)
    k, c = _expand(clo[idx], chi[idx])
    k = idx[k]
    south = d[k] == DIR_S
    out.append((np.where(south, rlo[k], rhi[k] - 1), c,
                np.where(south, rhi[k], rlo[k] - 1), c, w[k]))
    return tuple(np.concatenate([o[i] for o in out]) for i in range(5))


def row_multicast_segments(r_lo, r_hi, c_lo, c_hi, c_src, w_per_row):
    """Segments ``(r0, c0, r1, c1, w)`` of a row multicast (see :func:`add_row_multicast`).

    Per rectangle and row: ``(r, c_src) -> (r, c_hi - 1)`` if ``c_hi - 1 > c_src`` and
    ``(r, c_src) -> (r, c_lo)`` if ``c_src > c_lo``. O(total rows) output; for many large regions
    :func:`add_row_multicast` is cheaper.

    >>> r0, c0, r1, c1, w = row_multicast_segments(0, 2, 0, 5, 0, 1.0)
    >>> list(zip(r0.tolist(), c0.tolist(), r1.tolist(), c1.tolist()))
    [(0, 0, 0, 4), (1, 0, 1, 4)]
    """
    args = _region_args(r_lo, r_hi, c_lo, c_hi, c_src, "c_src", w_per_row, "w_per_row")
    return _rects_to_segments(*_multicast_rects(*args))


def column_reduce_segments(r_lo, r_hi, c_lo, c_hi, r_sink, w_per_col):
    """Segments ``(r0, c0, r1, c1, w)`` of a column chain reduction (see
    :func:`add_column_reduce`): per column ``(r_lo, c) -> (r_sink, c)`` if ``r_sink > r_lo`` and
    ``(r_hi - 1, c) -> (r_sink, c)`` if ``r_hi - 1 > r_sink``.
    """
    args = _region_args(r_lo, r_hi, c_lo, c_hi, r_sink, "r_sink", w_per_col, "w_per_col")
    return _rects_to_segments(*_reduce_rects(*args))


def max_link_load(loads) -> float:
    """The largest load on any link, in wavelets (0.0 for an empty mesh)."""
    _check_loads(loads)
    return float(loads.max()) if loads.size else 0.0


def busiest_link(loads) -> tuple[int, int, int, float]:
    """``(r, c, direction, load)`` of the busiest link (the first in C order on ties)."""
    _check_loads(loads)
    if loads.size == 0:
        raise KernelArgumentError("busiest_link of an empty mesh: loads has shape " +
                                  f"{loads.shape}; use a mesh of at least 1 x 1 cores")
    r, c, d = np.unravel_index(int(np.argmax(loads)), loads.shape)
    return int(r), int(c), int(d), float(loads[r, c, d])


def region_max_link_load(loads, r_lo, r_hi, c_lo, c_hi) -> np.ndarray:
    """Per rectangle ``[r_lo, r_hi) x [c_lo, c_hi)``, the largest load on a link leaving one of
    its cores (float64 ``(n,)``, 0.0 for an empty rectangle). O(total area).
    """
    rows, cols = _check_loads(loads)
    r_lo, r_hi, c_lo, c_hi = _as_ints(("r_lo", "r_hi", "c_lo", "c_hi"), (r_lo, r_hi, c_lo, c_hi))
    bad = (r_lo < 0) | (c_lo < 0) | (r_hi > rows) | (c_hi > cols)
    if bad.any():
        k = _first_bad(bad)
        raise KernelArgumentError(
            f"rectangle {k}: rows [{r_lo[k]}, {r_hi[k]}) x cols [{c_lo[k]}, {c_hi[k]}) is outside "
            f"the {rows} x {cols} mesh"
        )
    return _region_max_kernel(loads, r_lo, r_hi, c_lo, c_hi)


def link_cycles(loads, wavelets_per_cycle) -> np.ndarray:
    """Cycles each link is busy: ``loads / wavelets_per_cycle`` (link width, > 0)."""
    _check_loads(loads)
    if (
        isinstance(wavelets_per_cycle, bool)
        or not isinstance(wavelets_per_cycle, numbers.Real)
        or not wavelets_per_cycle > 0
        or not np.isfinite(wavelets_per_cycle)
    ):
        raise KernelArgumentError(
            f"wavelets_per_cycle must be a number > 0 (link width), got {wavelets_per_cycle!r}"
        )
    return loads / float(wavelets_per_cycle)
