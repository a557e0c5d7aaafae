"""The core side of one router visit of :func:`wse_sim.kernels.noc.simulate_network`:
synthetic packet injection, program task firing and wavelet injection, and whether the
router stays listed (numba; inlined into :func:`wse_sim.kernels.noc_router.routers_step`).

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._noc_layout import (
    C_BUFFERED,
    C_DONE_CYCLE,
    C_FLUSHING,
    C_FORKS,
    C_INJECTED,
    C_N_FREE,
    C_NODES_LEFT,
    C_OWED,
    C_PEAK,
    C_TASKS_PENDING,
    ERR_NO_QUEUE,
    ERR_POOL,
    ERR_ROUTE,
    N_PORTS,
    OK,
    QR,
    QW,
    QWP,
    RAMP,
    SM,
    SP,
    SR,
    _bump,
    _has_credit,
    _popcount,
    _u,
    _xy_mask,
)


@njit(cache=True, inline="always", error_model="numpy")
def _start_packet(r, t, cfg, net, rs, src, sp, ct):
    """Synthetic: the core starts its oldest waiting packet on a ramp VC with room."""
    rows, cols, vcs, depth = cfg[0], cfg[1], cfg[2], cfg[3]
    win_lo, win_hi = cfg[12], cfg[13]
    R = rows * cols
    qid = net[0]
    bs, qh = rs[0], rs[1]
    p_dst, p_gen, p_inj, p_tag, free_stack, sq_gen, sq_h, sq_n, _, inj_pid, inj_k, inj_vc, \
        inj_rr = src
    pattern, dest_table, hot_node, hot_frac, cap = sp[0], sp[1], sp[2], sp[3], sp[6]
    for j in range(vcs):
        v = inj_rr[r] + j
        if v >= vcs:
            v -= vcs
        dq = qid[(r * N_PORTS + RAMP) * vcs + v]
        if _has_credit(dq, t, qh, bs, depth):
            if ct[C_N_FREE] == 0:
                return ERR_POOL
            ct[C_N_FREE] -= 1
            pid = free_stack[ct[C_N_FREE]]
            g = sq_gen[r * cap + sq_h[r]]
            sq_h[r] += 1
            if sq_h[r] == cap:
                sq_h[r] = 0
            sq_n[r] -= 1
            if pattern == 1:
                d = dest_table[r]
            elif pattern == 2 and np.random.random() < hot_frac:  # noqa: NPY002
                d = hot_node
            else:
                d = int(np.random.random() * R)  # noqa: NPY002
                if d >= R:
                    d = R - 1
            p_dst[pid] = d
            p_gen[pid] = g
            p_inj[pid] = t
            p_tag[pid] = 1 if win_lo <= g < win_hi else 0
            inj_pid[r] = pid
            inj_k[r] = 0
            inj_vc[r] = v
            inj_rr[r] = v + 1 if v + 1 < vcs else 0
            break
    return OK


@njit(cache=True, inline="always", error_model="numpy")
def _push_flit(r, t, cfg, net, rs, src, ct):
    """Synthetic: the core writes the next flit of its current packet into the ramp buffer."""
    vcs, depth, t_rc, t_ramp_in, flits = cfg[2], cfg[3], cfg[4], cfg[8], cfg[11]
    qid, r_row, r_col = net[0], net[8], net[9]
    bs, qh, occ = rs[0], rs[1], rs[4]
    p_dst, inj_pid, inj_k, inj_vc = src[0], src[9], src[10], src[11]
    pid = inj_pid[r]
    dq = qid[(r * N_PORTS + RAMP) * vcs + inj_vc[r]]
    if _has_credit(dq, t, qh, bs, depth):
        k = inj_k[r]
        s = dq * depth + qh[_u(dq * 4 + QWP)]
        bs[_u(s * 4 + SR)] = t + t_ramp_in + (t_rc if k == 0 else 0)
        bs[_u(s * 4 + SP)] = pid * flits + k
        bs[_u(s * 4 + SM)] = _xy_mask(r, p_dst[pid], r_row, r_col)
        qh[_u(dq * 4 + QW)] += 1
        qh[_u(dq * 4 + QWP)] = _bump(qh[_u(dq * 4 + QWP)], depth)
        occ[_u(r)] += 1
        ct[C_BUFFERED] += 1
        ct[C_OWED] += 1
        ct[C_INJECTED] += 1
        if qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)] > ct[C_PEAK]:
            ct[C_PEAK] = qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)]
        if k == flits - 1:
            inj_pid[r] = -1
        else:
            inj_k[r] = k + 1


@njit(cache=True, inline="always", error_model="numpy")
def _fire_task(r, tt, tcap, pin, pst, ct):
    """Programs: fire one task of core r whose inputs have arrived (round-robin over nodes);
    ``tt`` is this cycle's slot of the task wheel (t mod its length), ``tcap`` a slot's
    capacity: one entry per node (a node fires once a cycle, all its tasks take equally long)."""
    node_count, node_lead, node_task, node_in0, node_in1, core_node0 = pin[5:11]
    fired, _, inj_ready, recv, core_rr, tw_n, tw_node = pst
    TW = tw_n.shape[0]
    n0 = core_node0[_u(r)]
    n1 = core_node0[_u(r + 1)]
    nn = n1 - n0
    for j in range(nn):
        n = n0 + core_rr[_u(r)] + j
        if n >= n1:
            n -= nn
        k = fired[_u(n)]
        if k >= node_count[_u(n)]:
            continue
        ok = True
        need = k - node_lead[_u(n)] + 1
        for sidx in range(node_in0[_u(n)], node_in1[_u(n)]):
            if recv[_u(sidx)] < need:
                ok = False
                break
        if ok:
            fired[_u(n)] = k + 1
            core_rr[_u(r)] = n - n0 + 1 if n + 1 < n1 else 0
            if node_task[_u(n)] == 0:
                inj_ready[_u(n)] += 1
            else:
                ts = tt + node_task[_u(n)]  # node_task < TW
                if ts >= TW:
                    ts -= TW
                tw_node[_u(ts * tcap + tw_n[_u(ts)])] = n
                tw_n[_u(ts)] += 1
                ct[C_TASKS_PENDING] += 1
            break


@njit(cache=True, inline="always", error_model="numpy")
def _send_wavelet(r, t, cfg, net, rs, pin, pst, ct):
    """Programs: core r injects one wavelet (the first node with one ready; sinks finish)."""
    depth, t_rc, t_va, t_ramp_in = cfg[3], cfg[4], cfg[5], cfg[8]
    bs, qh, occ = rs[0], rs[1], rs[4]
    node_color, node_tag, node_count, core_node0, q_m, node_q = pin[3], pin[4], pin[5], \
        pin[10], pin[11], pin[12]
    sent, inj_ready = pst[1], pst[2]
    for n in range(core_node0[_u(r)], core_node0[_u(r + 1)]):
        if inj_ready[_u(n)] == 0:
            continue
        c = node_color[_u(n)]
        if c < 0:
            ct[C_DONE_CYCLE] = t
            sent[_u(n)] += inj_ready[_u(n)]
            inj_ready[_u(n)] = 0
            if sent[_u(n)] == node_count[_u(n)]:
                ct[C_NODES_LEFT] -= 1
            continue
        dq = node_q[_u(n)]  # the ramp queue of (r, c)
        if dq < 0:
            return ERR_NO_QUEUE
        if not _has_credit(dq, t, qh, bs, depth):
            continue
        m = q_m[_u(dq)]
        if m == 0:
            return ERR_ROUTE
        s = dq * depth + qh[_u(dq * 4 + QWP)]
        bs[_u(s * 4 + SR)] = t + t_ramp_in + t_rc + t_va
        bs[_u(s * 4 + SP)] = node_tag[_u(n)]
        bs[_u(s * 4 + SM)] = m
        qh[_u(dq * 4 + QW)] += 1
        qh[_u(dq * 4 + QWP)] = _bump(qh[_u(dq * 4 + QWP)], depth)
        occ[_u(r)] += 1
        ct[C_BUFFERED] += 1
        pc = _popcount(m)
        ct[C_OWED] += pc
        ct[C_FORKS] += pc - 1
        ct[C_INJECTED] += 1
        if qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)] > ct[C_PEAK]:
            ct[C_PEAK] = qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)]
        inj_ready[_u(n)] -= 1
        sent[_u(n)] += 1
        if sent[_u(n)] == node_count[_u(n)]:
            ct[C_NODES_LEFT] -= 1
            ct[C_DONE_CYCLE] = t
        break
    return OK


@njit(cache=True, inline="always", error_model="numpy")
def _busy(r, program, rs, src, pin, pst, ct):
    """Whether router r (or its core) has work next cycle and must stay listed."""
    busy = rs[4][r] > 0
    if program == 0:
        busy = busy or src[9][r] >= 0 or (src[7][r] > 0 and ct[C_FLUSHING] == 0)
    elif not busy:
        node_count, node_lead, _, node_in0, node_in1, core_node0 = pin[5:11]
        fired, _, inj_ready, recv = pst[0], pst[1], pst[2], pst[3]
        for n in range(core_node0[_u(r)], core_node0[_u(r + 1)]):
            if inj_ready[_u(n)] > 0:
                busy = True
                break
            k = fired[_u(n)]
            if k < node_count[_u(n)]:
                need = k - node_lead[_u(n)] + 1
                ok = True
                for sidx in range(node_in0[_u(n)], node_in1[_u(n)]):
                    if recv[_u(sidx)] < need:
                        ok = False
                        break
                if ok:
                    busy = True
                    break
    return busy
