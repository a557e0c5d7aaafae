"""A stage's per-core cost figures for its activation draws, in one pass over its cores.

The engine reads only a few figures of a draw's per-core costs: the slowest core's compute
cycles, the busiest ramp and the busiest SRAM port (read and write bytes), and, averaged over
the draws, each core's compute cycles, MACs and SRAM bytes. This kernel computes those
figures core by core without building the dozen per-core arrays of the full cost model, so a
stage on a whole wafer (weight streaming: ~745k cores per layer) costs one pass, not twenty.

Every float is formed with the same operations, in the same order, as the array form of the
cost model (``wse_sim.mapping.costs.region_costs``), so the figures are the same bits; the
caller passes the scalars that model computes once per stage (``P_*`` entries of a pass's
parameter vector) and the per-row and per-(group, column) terms.

Per-core quantities of a logical core ``(r, j)`` in row group ``g = grp[r]``:
``m = macs_u[ridx[r], j]`` MACs per pass, ``ps = col_wave[g, j]`` partial sums arriving from
above, ``rw[r]`` multicast wavelets along the row, ``xb[r]`` the row band's non-zero
activations (the dx partial sums of backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["N_PARAMS", "P_ACC", "P_CONST", "P_K1", "P_NPASS", "P_OVH", "P_READ", "P_TRAIN",
           "P_WRITE", "draw_costs"]

# entries of a pass's float64 parameter vector
P_K1 = 0  # matrix products per sample / FMAC lanes: compute cycles per MAC
P_OVH = 1  # cycles per received wavelet
P_CONST = 2  # fixed cycles per sample: task overheads and the cheap ops riding on the stage
P_NPASS = 3  # matrix products per sample (1, 2 or 3)
P_READ = 4  # read bytes per MAC: per MAC and pass (stored weights) or per MAC of all passes
P_WRITE = 5  # write bytes per MAC of all passes
P_ACC = 6  # received partial sums accumulated per sample (2 in training: forward, gradient)
P_TRAIN = 7  # 1.0: the training pass (gradients and dx partials flow back)
N_PARAMS = 8


@njit(cache=True)
def _row(m, cp, ps, rw_r, xb_r, xbb_r, st_r, p, first, ramp, stored, per_mac, idx_bytes,
         vbytes, ramp_wpc, cyc, rc, rd, wr):
    """One logical row's cycles, ramp cycles, read and write bytes per core in one pass, into
    ``cyc``, ``rc``, ``rd``, ``wr`` (b,); ``m``, ``cp``, ``ps`` are the row's (b,) MACs,
    compressed flags and arriving partial sums. Branch-free per core, so it vectorises."""
    b = m.shape[0]
    train = p[P_TRAIN] != 0.0
    k1, ovh, const, npass = p[P_K1], p[P_OVH], p[P_CONST], p[P_NPASS]
    readk, writek, acck = p[P_READ], p[P_WRITE], p[P_ACC]
    add_x = 0.0 if first else xb_r
    for j in range(b):
        w_in = rw_r + ps[j]
        if train:  # gradients arrive down the columns, dx partials along the rows
            w_in = (w_in + ps[j]) + add_x
        cyc[j] = (k1 * m[j] + ovh * w_in) + const
        if stored:
            rd[j] = (npass * m[j]) * (per_mac + idx_bytes * cp[j])
        else:
            rd[j] = readk * m[j]
        wr[j] = writek * m[j]
        if ramp:
            w_out = ps[j]
            if train and not first:
                w_out = ps[j] + xbb_r
            rc[j] = (w_in if w_in >= w_out else w_out) / ramp_wpc
            acc = ps[j] * acck
            rd[j] = rd[j] + acc * vbytes
            wr[j] = wr[j] + acc * vbytes
            if train:
                rd[j] = rd[j] + st_r
                wr[j] = wr[j] + st_r
        else:
            rc[j] = 0.0


@njit(cache=True)
def _max(x, cur):
    """max(cur, x.max()) with four running maxima (exact in any order; shorter chains)."""
    m0 = m1 = m2 = m3 = cur
    b = x.shape[0]
    j = 0
    while j + 4 <= b:
        m0 = max(m0, x[j])
        m1 = max(m1, x[j + 1])
        m2 = max(m2, x[j + 2])
        m3 = max(m3, x[j + 3])
        j += 4
    while j < b:
        m0 = max(m0, x[j])
        j += 1
    return max(max(m0, m1), max(m2, m3))


@njit(cache=True)
def draw_costs(macs_u, comp_u, ridx, grp, col_wave, rw, xb, xbb, stash, p_tot, p_fwd, want_fwd,
               first, ramp, stored, per_mac, idx_bytes, vbytes, ramp_wpc, acc_c, acc_m, acc_r,
               acc_w):
    """Maxima of each draw's per-core costs, and the per-core means over the ``n`` draws.

    Parameters
    ----------
    macs_u, comp_u : float64 (u, b), MACs per pass and 1.0 where the tile is stored compressed,
        of the distinct logical rows of all draws; ``ridx`` int64 (n, a) maps logical row r of
        draw d to its row there
    grp : int64 (a,), row group of each logical row; ``col_wave`` float64 (groups, b)
    rw, xb, xbb, stash : float64 (n, a): row multicast wavelets, the band's non-zero
        activations, those over b (dx partials each core sends on) and stashed bytes per core
    p_tot, p_fwd : float64 (N_PARAMS,), the pass costed and averaged (``total``) and, when
        ``want_fwd``, the forward pass of a training step (maxima only)
    acc_c, acc_m, acc_r, acc_w : float64 (a, b), filled with the mean over the draws of
        ``p_tot``'s compute cycles, MACs, read and write bytes (draws added in order, the sum
        then times 1 / n, as the cost arrays' own mean is formed)

    Returns
    -------
    float64 (n, 8): per draw, max compute cycles, ramp cycles, read bytes, write bytes of
    ``p_tot``, then the same of ``p_fwd`` (-inf, 0, -inf, -inf when not ``want_fwd``); ramp
    maxima start at 0.
    """
    n, a = ridx.shape
    b = macs_u.shape[1]
    mx = np.empty((n, 8))
    for d in range(n):
        for k in range(2):
            mx[d, 4 * k] = -np.inf
            mx[d, 4 * k + 1] = 0.0
            mx[d, 4 * k + 2] = -np.inf
            mx[d, 4 * k + 3] = -np.inf
    scale = 1.0 / n
    npass = p_tot[P_NPASS]
    cyc, rc, rd, wr = np.empty(b), np.empty(b), np.empty(b), np.empty(b)
    for r in range(a):
        ps = col_wave[grp[r]]
        sc, sm, sr, sw = acc_c[r], acc_m[r], acc_r[r], acc_w[r]
        for d in range(n):
            m = macs_u[ridx[d, r]]
            cp = comp_u[ridx[d, r]]
            for q in range(2 if want_fwd else 1):
                _row(m, cp, ps, rw[d, r], xb[d, r], xbb[d, r], stash[d, r],
                     p_tot if q == 0 else p_fwd, first, ramp, stored, per_mac, idx_bytes,
                     vbytes, ramp_wpc, cyc, rc, rd, wr)
                mx[d, 4 * q] = _max(cyc, mx[d, 4 * q])
                mx[d, 4 * q + 1] = _max(rc, mx[d, 4 * q + 1])
                mx[d, 4 * q + 2] = _max(rd, mx[d, 4 * q + 2])
                mx[d, 4 * q + 3] = _max(wr, mx[d, 4 * q + 3])
                if q == 1:
                    continue
                if d == 0:  # the draws are added in order, as the cost arrays' mean is
                    for j in range(b):
                        sc[j], sm[j], sr[j], sw[j] = cyc[j], npass * m[j], rd[j], wr[j]
                else:
                    for j in range(b):
                        sc[j] = sc[j] + cyc[j]
                        sm[j] = sm[j] + npass * m[j]
                        sr[j] = sr[j] + rd[j]
                        sw[j] = sw[j] + wr[j]
        if n > 1:  # a single draw is its own mean
            for j in range(b):
                sc[j] = sc[j] * scale
                sm[j] = sm[j] * scale
                sr[j] = sr[j] * scale
                sw[j] = sw[j] * scale
    return mx
