"""Whole-network stages of one cycle of :func:`wse_sim.kernels.noc.simulate_network`: the
stop test, the measurement window, ejection-channel delivery, task completions, synthetic
sources, the conservation check, and the final stats (numba).

State travels as tuples of arrays (see :mod:`wse_sim.kernels.noc_router`) and the shared
counters ``ct`` (:mod:`wse_sim.kernels._noc_layout`).

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._noc_layout import (
    C_BACKLOG_END,
    C_BACKLOG_START,
    C_BUFFERED,
    C_CREATED,
    C_CREATED_WIN,
    C_CREATED_WIN_FLITS,
    C_DELIV_WIN,
    C_DELIVERED,
    C_DONE_CYCLE,
    C_EJCHAN,
    C_FLUSHING,
    C_FORKS,
    C_INJECTED,
    C_LAT_SUM,
    C_N_CUR,
    C_N_FREE,
    C_NLAT_SUM,
    C_NODES_LEFT,
    C_OWED,
    C_PEAK,
    C_ROUTER_CYCLES,
    C_SRC_OVERFLOW,
    C_TAGGED_DONE,
    C_TASKS_PENDING,
    ERR_CONSERVATION,
    ERR_NO_SLOT,
    ERR_RECOUNT,
    ERR_TIMEOUT,
    LAT_BINS,
    OK,
    PAD,
    RECOUNT,
    S_BACKLOG_END,
    S_BACKLOG_START,
    S_CREATED,
    S_CREATED_WIN,
    S_CREATED_WIN_FLITS,
    S_CYCLES,
    S_DELIV_WIN_FLITS,
    S_DELIVERED,
    S_DONE_CYCLE,
    S_DRAINED,
    S_ERROR_CYCLE,
    S_FORKS,
    S_IN_FLIGHT,
    S_INJECTED,
    S_LAT_SUM,
    S_NLAT_SUM,
    S_PEAK_QUEUE,
    S_ROUTER_CYCLES,
    S_SRC_OVERFLOW,
    S_TAGGED_DONE,
    _recount,
    _u,
)

GO_ON = -1  # _stop: keep running


@njit(cache=True, error_model="numpy")
def stop_test(t, program, max_cycles, inject_end, drain_limit, inj_pid, ct, stats):
    """GO_ON, OK (finished) or ERR_TIMEOUT; starts the synthetic flush when the window
    packets have drained (or the drain limit is reached)."""
    if program:
        if ct[C_NODES_LEFT] == 0 and ct[C_TASKS_PENDING] == 0 and ct[C_OWED] == 0 and \
                ct[C_EJCHAN] == 0:
            return OK
        if t >= max_cycles:
            return ERR_TIMEOUT
        return GO_ON
    if t >= inject_end:
        waiting = ct[C_CREATED_WIN] - ct[C_TAGGED_DONE]
        if waiting == 0 or t >= drain_limit:
            if ct[C_FLUSHING] == 0:
                stats[S_DRAINED] = 1 if waiting == 0 else 0
            # flush: no new packets; finish the ones started, empty the network
            ct[C_FLUSHING] = 1
            busy = ct[C_OWED] + ct[C_EJCHAN]
            for n in range(inj_pid.shape[0]):
                if inj_pid[n] >= 0:
                    busy += 1
            if busy == 0:
                return OK
    if t >= drain_limit + 100000:
        return ERR_TIMEOUT
    return GO_ON


@njit(cache=True, error_model="numpy")
def window(t, inject_end, drain_limit, win_lo, win_hi, sq_n, ct):
    """Synthetic: record the source backlog as the window opens / closes; returns whether
    sources create packets this cycle."""
    creating = ct[C_FLUSHING] == 0 and (t < inject_end or (
        ct[C_CREATED_WIN] - ct[C_TAGGED_DONE] > 0 and t < drain_limit))
    if t == win_lo:
        for n in range(sq_n.shape[0]):
            ct[C_BACKLOG_START] += sq_n[n]
    if t == win_hi:
        for n in range(sq_n.shape[0]):
            ct[C_BACKLOG_END] += sq_n[n]
    return creating


@njit(cache=True, error_model="numpy")
def deliver(t, cfg, ej, src, slot_base, recv, ct, cur, lat_hist, nlat_hist, w0, w1):
    """The ejection channels of workers w0 <= w < w1 hand this cycle's flits to their cores.
    Two workers' wheels never hold one router in the same slot (a router ejects one flit a
    cycle, into the wheel of the worker that visited it), so workers may do this at once."""
    rows, cols, program, flits, win_lo, win_hi, n_colors, M = cfg[0], cfg[1], cfg[10], \
        cfg[11], cfg[12], cfg[13], cfg[14], cfg[15]
    R = rows * cols
    ew_n, ew_pay, ew_r, ew_vc = ej  # one wheel per worker (rows)
    p_gen, p_inj, p_tag, free_stack = src[1], src[2], src[3], src[4]
    slot = t % M
    base = slot * R
    for w in range(w0, w1):
        err = _deliver_wheel(t, program, flits, win_lo, win_hi, n_colors, base,
                             ew_n[w, slot], ew_pay[w], ew_r[w], ew_vc[w], p_gen, p_inj, p_tag,
                             free_stack, slot_base, recv, ct, cur, lat_hist, nlat_hist)
        ew_n[w, slot] = 0
        if err:
            return err
    return OK


@njit(cache=True, inline="always", error_model="numpy")
def _deliver_wheel(t, program, flits, win_lo, win_hi, n_colors, base, n, ew_pay, ew_r, ew_vc,
                   p_gen, p_inj, p_tag, free_stack, slot_base, recv, ct, cur, lat_hist,
                   nlat_hist):
    """One worker's wheel slot: its n flits from ``base`` on."""
    err = OK
    for i in range(n):
        r = ew_r[_u(base + i)]
        pay = ew_pay[_u(base + i)]
        ct[C_EJCHAN] -= 1
        ct[C_DELIVERED] += 1
        if program == 0:
            if win_lo <= t < win_hi:
                ct[C_DELIV_WIN] += 1
            pid = pay // flits
            k = pay - pid * flits
            if k == flits - 1:
                if p_tag[_u(pid)]:
                    lat = t - p_gen[_u(pid)]
                    nlat = t - p_inj[_u(pid)]
                    ct[C_LAT_SUM] += lat
                    ct[C_NLAT_SUM] += nlat
                    lat_hist[_u(min(lat, LAT_BINS - 1))] += 1
                    nlat_hist[_u(min(nlat, LAT_BINS - 1))] += 1
                    ct[C_TAGGED_DONE] += 1
                free_stack[_u(ct[C_N_FREE])] = pid
                ct[C_N_FREE] += 1
        else:
            c = ew_vc[_u(base + i)]
            sb = slot_base[_u(r * n_colors + c)]
            if sb < 0:
                err = ERR_NO_SLOT
                break
            recv[_u(sb + pay)] += 1
            ct[C_DONE_CYCLE] = t
            if cur[_u(r)] == 0:
                cur[_u(r)] = 1
                ct[C_N_CUR] += 1
    return err


@njit(cache=True, error_model="numpy")
def tasks_done(t, node_core, pst, ct, cur, w0, w1):
    """Programs: tasks finishing this cycle in the wheels of workers w0 <= w < w1 make their
    wavelet ready; their cores listed. A node is in at most one wheel of a slot; two
    workers may list one core at once (the listed count is then recounted by the caller)."""
    inj_ready, tw_n, tw_node = pst[2], pst[5], pst[6]  # a wheel per worker (rows, padded)
    TW = tw_n.shape[1] - PAD
    cap = tw_node.shape[1] // TW
    ts = t % TW
    for w in range(w0, w1):
        for i in range(tw_n[w, ts]):
            n = tw_node[w, ts * cap + i]
            inj_ready[_u(n)] += 1
            ct[C_TASKS_PENDING] -= 1
            r = node_core[_u(n)]
            if cur[_u(r)] == 0:
                cur[_u(r)] = 1
                ct[C_N_CUR] += 1
        tw_n[w, ts] = 0


@njit(cache=True, error_model="numpy")
def create(t, creating, flits, win_lo, win_hi, src, sp, ct, cur):
    """Synthetic: Bernoulli sources create packets (geometric gaps); routers with a packet to
    inject are listed."""
    rate, log1m, cap = sp[4], sp[5], sp[6]
    sq_gen, sq_h, sq_n, next_gen, inj_pid = src[5], src[6], src[7], src[8], src[9]
    for n in range(sq_n.shape[0]):
        if creating and next_gen[n] == t:
            if sq_n[n] < cap:
                sq_gen[n * cap + (sq_h[n] + sq_n[n]) % cap] = t
                sq_n[n] += 1
            else:
                ct[C_SRC_OVERFLOW] += 1
            ct[C_CREATED] += 1
            if win_lo <= t < win_hi:
                ct[C_CREATED_WIN] += 1
                ct[C_CREATED_WIN_FLITS] += flits
            if rate >= 1.0:
                next_gen[n] = t + 1
            else:
                next_gen[n] = t + 1 + int(np.log(1.0 - np.random.random()) / log1m)  # noqa: NPY002
        if (inj_pid[n] >= 0 or (sq_n[n] > 0 and ct[C_FLUSHING] == 0)) and cur[_u(n)] == 0:
            cur[_u(n)] = 1
            ct[C_N_CUR] += 1


@njit(cache=True, error_model="numpy")
def conserved(ct):
    """The per-cycle identity: injected + forks = delivered + owed + on ejection channels."""
    return ct[C_INJECTED] + ct[C_FORKS] == ct[C_DELIVERED] + ct[C_OWED] + ct[C_EJCHAN]


@njit(cache=True, error_model="numpy")
def check(t, nq, depth, qh, bs, ew_n, ct):
    """Conservation every cycle and, every RECOUNT cycles, the counters against the buffers."""
    if not conserved(ct):
        return ERR_CONSERVATION
    if (t & (RECOUNT - 1)) == 0:
        b2, o2, e2 = _recount(nq, depth, qh, bs, ew_n)
        if b2 != ct[C_BUFFERED] or o2 != ct[C_OWED] or e2 != ct[C_EJCHAN]:
            return ERR_RECOUNT
    return OK


@njit(cache=True, error_model="numpy")
def finish(t, err, program, nq, depth, qh, bs, ew_n, ct, stats):
    """Final recount and conservation check (if no error yet), then the stats; returns err."""
    if err == OK:
        b2, o2, e2 = _recount(nq, depth, qh, bs, ew_n)
        if b2 != ct[C_BUFFERED] or o2 != ct[C_OWED] or e2 != ct[C_EJCHAN]:
            err = ERR_RECOUNT
        if not conserved(ct):
            err = ERR_CONSERVATION
    stats[S_CYCLES] = t
    stats[S_INJECTED] = ct[C_INJECTED]
    stats[S_DELIVERED] = ct[C_DELIVERED]
    stats[S_IN_FLIGHT] = ct[C_OWED] + ct[C_EJCHAN]
    stats[S_FORKS] = ct[C_FORKS]
    stats[S_PEAK_QUEUE] = ct[C_PEAK]
    stats[S_ERROR_CYCLE] = t if err else -1
    stats[S_ROUTER_CYCLES] = ct[C_ROUTER_CYCLES]
    stats[S_CREATED] = ct[C_CREATED]
    stats[S_CREATED_WIN] = ct[C_CREATED_WIN]
    stats[S_DELIV_WIN_FLITS] = ct[C_DELIV_WIN]
    stats[S_TAGGED_DONE] = ct[C_TAGGED_DONE]
    stats[S_SRC_OVERFLOW] = ct[C_SRC_OVERFLOW]
    stats[S_BACKLOG_START] = ct[C_BACKLOG_START]
    stats[S_BACKLOG_END] = ct[C_BACKLOG_END]
    stats[S_DONE_CYCLE] = ct[C_DONE_CYCLE] if program else 0
    stats[S_LAT_SUM] = ct[C_LAT_SUM]
    stats[S_NLAT_SUM] = ct[C_NLAT_SUM]
    stats[S_CREATED_WIN_FLITS] = ct[C_CREATED_WIN_FLITS]
    return err
