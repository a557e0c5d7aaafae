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

    Serial on purpose: the pass is memory-bound, and a parallel version was no faster on 2
    cores and much slower when the cores are shared (sweeps in several processes).
    """
    rows, cols = loads.shape[0], loads.shape[1]
    dw = np.zeros((rows, cols, 4), dtype=np.float64)
    # How many rectangles cover each link: where none does, the load is exactly 0 (no round-off
    # residue from +w ... -w), and the running sums restart clean.
    dn = np.zeros((rows, cols, 4), dtype=np.int32)
    for k in range(d.shape[0]):
        dk, wk = d[k], w[k]
        r0, r1, c0, c1 = r_lo[k], r_hi[k], c_lo[k], c_hi[k]
        if r1 <= r0 or c1 <= c0:
            continue
        dw[r0, c0, dk] += wk
        dn[r0, c0, dk] += 1
        if c1 < cols:
            dw[r0, c1, dk] -= wk
            dn[r0, c1, dk] -= 1
        if r1 < rows:
            dw[r1, c0, dk] -= wk
            dn[r1, c0, dk] -= 1
            if c1 < cols:
                dw[r1, c1, dk] += wk
                dn[r1, c1, dk] += 1
    # In place: S[r, c] = S[r-1, c] + (prefix of row r up to c), one streaming pass.
    run_w = np.zeros(4, dtype=np.float64)
    run_n = np.zeros(4, dtype=np.int64)
    for r in range(rows):
        run_w[:] = 0.0
        run_n[:] = 0
        for c in range(cols):
            for dd in range(4):
                run_w[dd] += dw[r, c, dd]
                run_n[dd] += dn[r, c, dd]
                n = run_n[dd]
                v = run_w[dd]
                if r > 0:
                    n += dn[r - 1, c, dd]
                    v += dw[r - 1, c, dd]
                if n == 0:
                    v = 0.0
                else:
                    loads[r, c, dd] += v
                dn[r, c, dd] = n
                dw[r, c, dd] = v


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
