"""The numba kernels behind :mod:`routes`: link-rectangle accumulation (walk and prefix sum),
route counts per router and region maxima. Arguments are checked by the callers in
:mod:`routes`; these take owned, typed arrays only."""

from __future__ import annotations

import numpy as np
from numba import njit

#: Link direction indices (last axis of a loads array).
DIR_E, DIR_W, DIR_S, DIR_N = 0, 1, 2, 3
#: Number of links leaving a core.
N_DIRS = 4
#: Names of the directions, indexed by direction.
DIR_NAMES = ("E", "W", "S", "N")


@njit(cache=True)
def _rects_walk(loads, d, r_lo, r_hi, c_lo, c_hi, w):
    """Add w[k] to loads[r_lo[k]:r_hi[k], c_lo[k]:c_hi[k], d[k]], link by link."""
    for k in range(d.shape[0]):
        dk = d[k]
        wk = w[k]
        for r in range(r_lo[k], r_hi[k]):
            for c in range(c_lo[k], c_hi[k]):
                loads[r, c, dk] += wk


@njit(cache=True)
def _segment_rects_kernel(r0, c0, r1, c1):
    """Direction and link rectangle [rlo, rhi) x [clo, chi) of straight segments."""
    n = r0.shape[0]
    d = np.empty(n, dtype=np.int64)
    rlo = np.empty(n, dtype=np.int64)
    rhi = np.empty(n, dtype=np.int64)
    clo = np.empty(n, dtype=np.int64)
    chi = np.empty(n, dtype=np.int64)
    for k in range(n):
        if r0[k] == r1[k]:
            rlo[k] = r0[k]
            rhi[k] = r0[k] + 1 if c0[k] != c1[k] else r0[k]  # zero length: empty
            if c1[k] >= c0[k]:
                d[k], clo[k], chi[k] = DIR_E, c0[k], c1[k]
            else:
                d[k], clo[k], chi[k] = DIR_W, c1[k] + 1, c0[k] + 1
        else:
            clo[k], chi[k] = c0[k], c0[k] + 1
            if r1[k] > r0[k]:
                d[k], rlo[k], rhi[k] = DIR_S, r0[k], r1[k]
            else:
                d[k], rlo[k], rhi[k] = DIR_N, r1[k] + 1, r0[k] + 1
    return d, rlo, rhi, clo, chi


@njit(cache=True)
def _rects_prefix(loads, d, r_lo, r_hi, c_lo, c_hi, w):
    """Same result as _rects_walk, by 2D difference arrays and one 2D prefix-sum pass.

    The differences live only at rectangle corners, so they are bucketed by row (stably, in
    input order) and the pass keeps one row of running sums: O(n + area of the rectangles'
    bounding box) time and O(cols) scratch, not two mesh-sized scratch arrays. Every float is
    added in the same order as a dense difference array would add it, so the loads are the
    same bits. Rows and columns outside the bounding box hold no difference and no cover.

    Serial on purpose: the pass is memory-bound, and a parallel version was no faster on 2
    cores and much slower when the cores are shared (sweeps in several processes).
    """
    rows, cols = loads.shape[0], loads.shape[1]
    n = d.shape[0]
    # bounding box of the non-empty rectangles and the corner events per row
    rmin, rmax, cmin, cmax = rows, 0, cols, 0
    per_row = np.zeros(rows + 1, dtype=np.int64)
    for k in range(n):
        r0, r1, c0, c1 = r_lo[k], r_hi[k], c_lo[k], c_hi[k]
        if r1 <= r0 or c1 <= c0:
            continue
        rmin = min(rmin, r0)
        rmax = max(rmax, r1)
        cmin = min(cmin, c0)
        cmax = max(cmax, c1)
        ncorner = 2 if c1 < cols else 1
        per_row[r0 + 1] += ncorner
        if r1 < rows:
            per_row[r1 + 1] += ncorner
    if rmax <= rmin:
        return
    start = np.cumsum(per_row)
    cursor = start[:-1].copy()
    ev_c = np.empty(start[-1], dtype=np.int64)
    ev_d = np.empty(start[-1], dtype=np.int64)
    ev_w = np.empty(start[-1], dtype=np.float64)
    ev_n = np.empty(start[-1], dtype=np.int32)
    for k in range(n):  # in input order, so each cell sums its corners in that order
        dk, wk = d[k], w[k]
        r0, r1, c0, c1 = r_lo[k], r_hi[k], c_lo[k], c_hi[k]
        if r1 <= r0 or c1 <= c0:
            continue
        p = cursor[r0]
        ev_c[p], ev_d[p], ev_w[p], ev_n[p] = c0, dk, wk, 1
        p += 1
        if c1 < cols:
            ev_c[p], ev_d[p], ev_w[p], ev_n[p] = c1, dk, -wk, -1
            p += 1
        cursor[r0] = p
        if r1 < rows:
            p = cursor[r1]
            ev_c[p], ev_d[p], ev_w[p], ev_n[p] = c0, dk, -wk, -1
            p += 1
            if c1 < cols:
                ev_c[p], ev_d[p], ev_w[p], ev_n[p] = c1, dk, wk, 1
                p += 1
            cursor[r1] = p
    row_w = np.zeros((cols, 4), dtype=np.float64)  # this row's differences
    row_n = np.zeros((cols, 4), dtype=np.int32)
    prev_w = np.zeros((cols, 4), dtype=np.float64)  # the previous row's sums
    prev_n = np.zeros((cols, 4), dtype=np.int64)
    run_w = np.zeros(4, dtype=np.float64)
    run_n = np.zeros(4, dtype=np.int64)
    for r in range(rmin, rmax):
        for p in range(start[r], start[r + 1]):
            row_w[ev_c[p], ev_d[p]] += ev_w[p]
            row_n[ev_c[p], ev_d[p]] += ev_n[p]
        run_w[:] = 0.0
        run_n[:] = 0
        for c in range(cmin, cmax):
            for dd in range(4):
                run_w[dd] += row_w[c, dd]
                run_n[dd] += row_n[c, dd]
                m = run_n[dd] + prev_n[c, dd]
                v = run_w[dd]
                if r > 0:
                    v += prev_w[c, dd]
                if m == 0:
                    v = 0.0
                else:
                    loads[r, c, dd] += v
                prev_n[c, dd] = m
                prev_w[c, dd] = v
        for p in range(start[r], start[r + 1]):
            row_w[ev_c[p], ev_d[p]] = 0.0
            row_n[ev_c[p], ev_d[p]] = 0


@njit(cache=True)
def _routes_through_kernel(rows, cols, sr, sc, dr, dc):
    """Routers touched per XY route, summed: a 2D difference array of int32 then a prefix sum."""
    acc = np.zeros((rows, cols), dtype=np.int32)
    for k in range(sr.shape[0]):
        # The row part, source row from min(sc, dc) to max(sc, dc), corner included.
        r0, r1 = sr[k], sr[k] + 1
        c0, c1 = min(sc[k], dc[k]), max(sc[k], dc[k]) + 1
        for part in range(2):
            if part == 1:
                # The column part at dc, without the corner (sr, dc) already counted.
                c0, c1 = dc[k], dc[k] + 1
                if dr[k] > sr[k]:
                    r0, r1 = sr[k] + 1, dr[k] + 1
                elif dr[k] < sr[k]:
                    r0, r1 = dr[k], sr[k]
                else:
                    break
            acc[r0, c0] += 1
            if c1 < cols:
                acc[r0, c1] -= 1
            if r1 < rows:
                acc[r1, c0] -= 1
                if c1 < cols:
                    acc[r1, c1] += 1
    for r in range(rows):
        run = 0
        for c in range(cols):
            run += acc[r, c]
            acc[r, c] = run + (acc[r - 1, c] if r > 0 else 0)
    return acc


@njit(cache=True)
def _region_max_kernel(loads, r_lo, r_hi, c_lo, c_hi):
    out = np.zeros(r_lo.shape[0], dtype=np.float64)
    for k in range(r_lo.shape[0]):
        m = 0.0
        for r in range(r_lo[k], r_hi[k]):
            for c in range(c_lo[k], c_hi[k]):
                for dd in range(4):
                    if loads[r, c, dd] > m:
                        m = loads[r, c, dd]
        out[k] = m
    return out


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _row_buckets(r_lo, r_hi, c_lo, c_hi, rows, cols, walk):
    """Per row, in input order, what a rectangle set adds there: for a walk, the rectangles
    covering the row (ids); for a prefix sum, the corner events (ids, sign)."""
    n = r_lo.shape[0]
    count = np.zeros(rows + 1, dtype=np.int64)
    for k in range(n):
        r0, r1, c0, c1 = r_lo[k], r_hi[k], c_lo[k], c_hi[k]
        if r1 <= r0 or c1 <= c0:
            continue
        if walk:
            for r in range(r0, r1):
                count[r + 1] += 1
        else:
            count[r0 + 1] += 1
            if r1 < rows:
                count[r1 + 1] += 1
    start = np.cumsum(count)
    cursor = start[:-1].copy()
    ids = np.empty(start[-1], dtype=np.int64)
    sign = np.empty(start[-1], dtype=np.int64)
    for k in range(n):
        r0, r1, c0, c1 = r_lo[k], r_hi[k], c_lo[k], c_hi[k]
        if r1 <= r0 or c1 <= c0:
            continue
        if walk:
            for r in range(r0, r1):
                ids[cursor[r]] = k
                sign[cursor[r]] = 1
                cursor[r] += 1
        else:
            ids[cursor[r0]] = k
            sign[cursor[r0]] = 1
            cursor[r0] += 1
            if r1 < rows:
                ids[cursor[r1]] = k
                sign[cursor[r1]] = -1
                cursor[r1] += 1
    return start, ids, sign


@njit(cache=True)
def _row_add(rowv, r, cols, d, c_lo, c_hi, w, walk, start, ids, sign, row_w, row_n, prev_w,
             prev_n, run_w, run_n):
    """Add one rectangle set's loads on row ``r`` to ``rowv`` (cols, 4), in the order
    _rects_walk or _rects_prefix adds them to a loads array (the prefix state carried in
    ``prev_w``/``prev_n`` from row to row)."""
    if walk:
        for p in range(start[r], start[r + 1]):
            k = ids[p]
            dk, wk = d[k], w[k]
            for c in range(c_lo[k], c_hi[k]):
                rowv[c, dk] += wk
        return
    for p in range(start[r], start[r + 1]):
        k = ids[p]
        s = sign[p]
        dk = d[k]
        row_w[c_lo[k], dk] += s * w[k]
        row_n[c_lo[k], dk] += s
        if c_hi[k] < cols:
            row_w[c_hi[k], dk] -= s * w[k]
            row_n[c_hi[k], dk] -= s
    run_w[:] = 0.0
    run_n[:] = 0
    for c in range(cols):
        for dd in range(4):
            run_w[dd] += row_w[c, dd]
            run_n[dd] += row_n[c, dd]
            m = run_n[dd] + prev_n[c, dd]
            v = run_w[dd]
            if r > 0:
                v += prev_w[c, dd]
            if m == 0:
                v = 0.0
            else:
                rowv[c, dd] += v
            prev_n[c, dd] = m
            prev_w[c, dd] = v
    for p in range(start[r], start[r + 1]):
        k = ids[p]
        row_w[c_lo[k], d[k]] = 0.0
        row_n[c_lo[k], d[k]] = 0
        if c_hi[k] < cols:
            row_w[c_hi[k], d[k]] = 0.0
            row_n[c_hi[k], d[k]] = 0


@njit(cache=True)
def _peaks_kernel(rows, cols, owner, n_regions, d1, rlo1, rhi1, clo1, chi1, w1, walk1,
                  d2, rlo2, rhi2, clo2, chi2, w2, walk2):
    """Largest link load per region (``owner`` (rows, cols): region id or -1) after two
    rectangle sets are added, in order, to an all-zero loads array; row by row, no array."""
    s1, i1, g1 = _row_buckets(rlo1, rhi1, clo1, chi1, rows, cols, walk1)
    s2, i2, g2 = _row_buckets(rlo2, rhi2, clo2, chi2, rows, cols, walk2)
    rowv = np.zeros((cols, 4), dtype=np.float64)
    row_w = np.zeros((cols, 4), dtype=np.float64)
    row_n = np.zeros((cols, 4), dtype=np.int64)
    pw1 = np.zeros((cols, 4), dtype=np.float64)
    pn1 = np.zeros((cols, 4), dtype=np.int64)
    pw2 = np.zeros((cols, 4), dtype=np.float64)
    pn2 = np.zeros((cols, 4), dtype=np.int64)
    run_w = np.zeros(4, dtype=np.float64)
    run_n = np.zeros(4, dtype=np.int64)
    peak = np.zeros(n_regions, dtype=np.float64)
    for r in range(rows):
        rowv[:, :] = 0.0
        _row_add(rowv, r, cols, d1, clo1, chi1, w1, walk1, s1, i1, g1, row_w, row_n, pw1, pn1,
                 run_w, run_n)
        _row_add(rowv, r, cols, d2, clo2, chi2, w2, walk2, s2, i2, g2, row_w, row_n, pw2, pn2,
                 run_w, run_n)
        for c in range(cols):
            o = owner[r, c]
            if o < 0:
                continue
            for dd in range(4):
                if rowv[c, dd] > peak[o]:
                    peak[o] = rowv[c, dd]
    return peak
