"""One router (and its core) for one cycle of :func:`wse_sim.kernels.noc.simulate_network`:
injection from the core, VC allocation, switch allocation (input then output stage), switch
traversal into the next router or the ejection channel, and retiring served flits (numba).

The state travels as tuples of arrays built by the caller (``cfg`` scalars, ``net`` tables,
``rs`` router buffers, ``ej`` ejection wheel, ``src`` synthetic sources, ``pin`` / ``pst``
program inputs / state, ``scr`` scratch) and the shared counters ``ct``
(:mod:`wse_sim.kernels._noc_layout`). Each stage returns an error code (``OK`` = 0).

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._noc_layout import (
    C_BUFFERED,
    C_EJCHAN,
    C_FLUSHING,
    C_FORKS,
    C_N_NXT,
    C_OWED,
    C_PEAK,
    C_ROUTER_CYCLES,
    ERR_NO_QUEUE,
    ERR_ROUTE,
    N_PORTS,
    OK,
    PREFETCH_AHEAD,
    QR,
    QRP,
    QW,
    QWP,
    RAMP,
    SF,
    SM,
    SP,
    SR,
    _bump,
    _ctz,
    _has_credit,
    _popcount,
    _prefetch_router,
    _u,
    _va_stage,
    _xy_mask,
)
from .noc_inject import _busy, _fire_task, _push_flit, _send_wavelet, _start_packet


@njit(cache=True, inline="always", error_model="numpy")
def _sa_input(r, t, cfg, net, rs, scr):
    """Switch allocation, input stage: each input port requests with one ready VC (round-robin)
    the outputs it has credit for; returns (outputs requested as a mask, error code)."""
    depth, program = cfg[3], cfg[10]
    q_vc, port_q0, q_down, r_pm = net[3], net[6], net[7], net[10]
    bs, qh, q_ovc, q_sa, rr_in = rs[0], rs[1], rs[2], rs[3], rs[6]
    req_q, req_m, got_m = scr[0], scr[1], scr[2]
    any_req = 0
    pm = r_pm[_u(r)]  # ports with a queue: the others are skipped without a look-up
    for p in range(N_PORTS):
        req_m[_u(p)] = 0
        got_m[_u(p)] = 0
        if (pm >> p) & 1 == 0:
            continue
        qa = port_q0[_u(r * N_PORTS + p)]
        nv = port_q0[_u(r * N_PORTS + p + 1)] - qa
        if nv == 0:
            continue
        start = rr_in[_u(r * N_PORTS + p)]
        for j in range(nv):
            jj = start + j
            if jj >= nv:
                jj -= nv
            q = qa + jj
            if qh[_u(q * 4 + QW)] == qh[_u(q * 4 + QR)]:
                continue
            s = q * depth + qh[_u(q * 4 + QRP)]
            if bs[_u(s * 4 + SR)] > t:
                continue
            if program == 0:
                if q_ovc[q] < 0 or q_sa[q] > t:
                    continue
                dv = q_ovc[q] - q_vc[_u(q)]  # dense queues: VCs of a port adjacent
            else:
                dv = 0
            m = bs[_u(s * 4 + SM)]
            ok_m = 0
            for o in range(4):
                if (m >> o) & 1 == 0:
                    continue
                dq = q_down[_u(q * 4 + o)]
                if dq < 0:
                    return any_req, ERR_NO_QUEUE
                if _has_credit(dq + dv, t, qh, bs, depth):
                    ok_m |= 1 << o
            ok_m |= m & 16
            if ok_m:
                req_q[_u(p)] = q
                req_m[_u(p)] = ok_m
                any_req |= ok_m
                break
    return any_req, OK


@njit(cache=True, inline="always", error_model="numpy")
def _forward(r, o, q, pay, t, cfg, net, rs, p_dst, q_m, ct, link_count, nxt):
    """Switch traversal: the copy of queue q's head for output o enters the next router."""
    depth, t_rc, t_va, t_net, program, flits = cfg[3], cfg[4], cfg[5], cfg[6], cfg[10], cfg[11]
    cols, win_lo, win_hi = cfg[1], cfg[12], cfg[13]
    q_vc, q_down, r_row, r_col = net[3], net[7], net[8], net[9]
    bs, qh, q_ovc, occ = rs[0], rs[1], rs[2], rs[4]
    # the neighbour towards o (it exists: _sa_input found a queue there)
    nb = r + 1 if o == 0 else (r - 1 if o == 1 else (r + cols if o == 2 else r - cols))
    if program == 0:
        ov = q_ovc[q]
        dq = q_down[_u(q * 4 + o)] + ov - q_vc[_u(q)]
        pid = pay // flits
        head = pay - pid * flits == 0
        ds = dq * depth + qh[_u(dq * 4 + QWP)]
        bs[_u(ds * 4 + SR)] = t + t_net + (t_rc if head else 0)
        m2 = _xy_mask(nb, p_dst[pid], r_row, r_col)
    else:
        ov = q_vc[_u(q)]
        dq = q_down[_u(q * 4 + o)]
        ds = dq * depth + qh[_u(dq * 4 + QWP)]
        bs[_u(ds * 4 + SR)] = t + t_net + t_rc + t_va
        m2 = q_m[_u(dq)]  # the route of (nb, OPP[o], ov)
        if m2 == 0:
            return ERR_ROUTE
    bs[_u(ds * 4 + SP)] = pay
    bs[_u(ds * 4 + SM)] = m2
    qh[_u(dq * 4 + QW)] += 1
    qh[_u(dq * 4 + QWP)] = _bump(qh[_u(dq * 4 + QWP)], depth)
    occ[_u(nb)] += 1
    ct[C_BUFFERED] += 1
    pc = _popcount(m2)
    ct[C_OWED] += pc
    ct[C_FORKS] += pc - 1
    if qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)] > ct[C_PEAK]:
        ct[C_PEAK] = qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)]
    if program or (win_lo <= t < win_hi):
        link_count[_u(r * 4 + o)] += 1
    if nxt[_u(nb)] == 0:
        nxt[_u(nb)] = 1
        ct[C_N_NXT] += 1
    return OK


@njit(cache=True, inline="always", error_model="numpy")
def _sa_output(r, t, es, any_req, cfg, net, rs, ej, p_dst, q_m, scr, ct, link_count,
               nxt):
    """Switch allocation, output stage: each requested output grants one input port
    (round-robin) and the granted copy leaves, to the next router or the ejection channel
    (wheel slot ``es`` = (t + t_eject) mod its length, computed once per cycle)."""
    rows, cols, depth = cfg[0], cfg[1], cfg[3]
    R = rows * cols
    q_vc = net[3]
    bs, qh, rr_out = rs[0], rs[1], rs[7]
    ew_n, ew_pay, ew_r, ew_vc = ej
    req_q, req_m, got_m = scr[0], scr[1], scr[2]
    for o in range(N_PORTS):
        if (any_req >> o) & 1 == 0:
            continue
        po = r * N_PORTS + o
        start = rr_out[_u(po)]
        for j in range(N_PORTS):
            p = start + j
            if p >= N_PORTS:
                p -= N_PORTS
            if (req_m[_u(p)] >> o) & 1 == 0:
                continue
            got_m[_u(p)] |= 1 << o
            rr_out[_u(po)] = p + 1 if p + 1 < N_PORTS else 0
            q = req_q[_u(p)]
            s = q * depth + qh[_u(q * 4 + QRP)]
            pay = bs[_u(s * 4 + SP)]
            ct[C_OWED] -= 1
            if o == RAMP:
                ei = es * R + ew_n[_u(es)]
                ew_pay[_u(ei)] = pay
                ew_r[_u(ei)] = r
                ew_vc[_u(ei)] = q_vc[_u(q)]
                ew_n[_u(es)] += 1
                ct[C_EJCHAN] += 1
            else:
                err = _forward(r, o, q, pay, t, cfg, net, rs, p_dst, q_m, ct, link_count,
                               nxt)
                if err:
                    return err
            break
    return OK


@njit(cache=True, inline="always", error_model="numpy")
def _retire(r, t, cfg, net, rs, scr, ct):
    """Retire the copies just granted; dequeue flits whose every output has been served and
    release a packet's output VC with its tail."""
    vcs, depth, t_rc, t_va, t_credit, program, flits = cfg[2], cfg[3], cfg[4], cfg[5], cfg[9], \
        cfg[10], cfg[11]
    rc_front, t_vfree = cfg[16], cfg[17]
    port_q0 = net[6]
    bs, qh, q_ovc, occ, out_owner, rr_in, out_free = rs[0], rs[1], rs[2], rs[4], rs[5], rs[6], \
        rs[10]
    req_q, got_m = scr[0], scr[2]
    for p in range(N_PORTS):
        if got_m[_u(p)] == 0:
            continue
        q = req_q[_u(p)]
        s = q * depth + qh[_u(q * 4 + QRP)]
        left = bs[_u(s * 4 + SM)] & ~got_m[_u(p)]
        bs[_u(s * 4 + SM)] = left
        # the input pointer moves past the VC just served
        qa = port_q0[_u(r * N_PORTS + p)]
        nv = port_q0[_u(r * N_PORTS + p + 1)] - qa
        rr_in[_u(r * N_PORTS + p)] = q - qa + 1 if q - qa + 1 < nv else 0
        if left == 0:
            qh[_u(q * 4 + QR)] += 1
            qh[_u(q * 4 + QRP)] = _bump(qh[_u(q * 4 + QRP)], depth)
            bs[_u(s * 4 + SF)] = t + t_credit
            occ[_u(r)] -= 1
            ct[C_BUFFERED] -= 1
            tail = True
            if program == 0:
                pay = bs[_u(s * 4 + SP)]
                pid = pay // flits
                tail = pay - pid * flits == flits - 1
                if tail:
                    o = 0
                    while (got_m[_u(p)] >> o) & 1 == 0:
                        o += 1
                    key = (r * N_PORTS + o) * vcs + q_ovc[q]
                    out_owner[key] = -1
                    out_free[key] = t + t_vfree
                    q_ovc[q] = -1
            if rc_front and tail and qh[_u(q * 4 + QW)] > qh[_u(q * 4 + QR)]:
                # the next packet's head reaches the front now: its route computation (and,
                # on static routes, its VC stage) starts next cycle, not on arrival
                s2 = q * depth + qh[_u(q * 4 + QRP)]
                ready = t + 1 + t_rc + (t_va if program else 0)
                if bs[_u(s2 * 4 + SR)] < ready:
                    bs[_u(s2 * 4 + SR)] = ready


@njit(cache=True, inline="always", error_model="numpy")
def _switch(r, t, es, cfg, net, rs, ej, p_dst, q_m, scr, ct, link_count, nxt):
    """VC allocation and switch allocation / traversal of router r for cycle t.

    With a VA stage (t_va >= 1) VA runs after switch allocation, so an output VC freed by a
    tail leaving this cycle is taken again at once (its SA is next cycle anyway); with none
    (t_va = 0) it runs first, so the head can win SA in the same cycle."""
    vcs, depth, t_va, program = cfg[2], cfg[3], cfg[5], cfg[10]
    router_q0 = net[4]
    bs, qh, q_ovc, q_sa, occ, out_owner, _, _, rr_va, va_start, out_free = rs
    va_q, va_key = scr[3], scr[4]
    q0 = router_q0[r]
    q1 = router_q0[r + 1]
    if t_va == 0 and occ[_u(r)] > 0 and program == 0:
        _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, out_free,
                  rr_va, va_start, va_q, va_key)
    if occ[_u(r)] > 0:
        any_req, err = _sa_input(r, t, cfg, net, rs, scr)
        if err:
            return err
        if any_req:
            err = _sa_output(r, t, es, any_req, cfg, net, rs, ej, p_dst, q_m, scr, ct,
                             link_count, nxt)
            if err:
                return err
            _retire(r, t, cfg, net, rs, scr, ct)
    if t_va > 0 and occ[_u(r)] > 0 and program == 0:
        _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, out_free,
                  rr_va, va_start, va_q, va_key)
    return OK


# Not inlined into its callers (one compiled copy per cfg type instead): numba inlines by
# copying the callee's IR at each call site, a cost that grows with the callee's size times
# its variables, and this function holds every stage (most of the cold compile time). The
# literal timing still reaches it, as literal types in cfg's tuple type.
@njit(cache=True, error_model="numpy", _nrt=False)
def visit_range(w0, w1, t, cfg, net, rs, ej, src, sp, pin, pst, scr, ct, link_count, cur, nxt,
                curw):
    """Visit the routers 8 w0 <= r < 8 w1 listed in ``cur`` (index order) for cycle t; lists in
    ``nxt`` those with work next cycle. ``curw`` is ``cur`` seen as 8-byte words (its length
    is padded to a multiple of 8), so runs of idle routers are passed over 8 at a time.
    Returns an error code."""
    rows, cols, program, t_eject, M = cfg[0], cfg[1], cfg[10], cfg[7], cfg[15]
    R = rows * cols
    # wheel slots of this cycle, once (a division per flit or task costs more than its visit)
    es = (t + t_eject) % M
    tt = t % pst[5].shape[0]
    tcap = pst[6].shape[0] // pst[5].shape[0]
    for w in range(w0, w1):
        wd = curw[_u(w)]
        r0 = w * 8
        while wd:
            # the flags are 0 or 1, so the lowest set bit is a listed router's whole byte
            r = r0 + (_ctz(wd) >> 3)
            wd &= wd - np.uint64(1)
            cur[_u(r)] = 0
            ct[C_ROUTER_CYCLES] += 1
            if program:
                # the buffers of a router a few ahead and of its south neighbour (whose
                # queues this one's south output writes): see PREFETCH_AHEAD
                _prefetch_router(r + PREFETCH_AHEAD, R, cfg[3], net[4], rs[1], rs[0], net[7],
                                 True)
                _prefetch_router(r + PREFETCH_AHEAD + cols, R, cfg[3], net[4], rs[1], rs[0],
                                 net[7], False)
            if program == 0:
                if src[9][r] < 0 and src[7][r] > 0 and ct[C_FLUSHING] == 0:
                    err = _start_packet(r, t, cfg, net, rs, src, sp, ct)
                    if err:
                        return err
                if src[9][r] >= 0:
                    _push_flit(r, t, cfg, net, rs, src, ct)
            elif pin[10][_u(r + 1)] > pin[10][_u(r)]:
                _fire_task(r, tt, tcap, pin, pst, ct)
                err = _send_wavelet(r, t, cfg, net, rs, pin, pst, ct)
                if err:
                    return err
            err = _switch(r, t, es, cfg, net, rs, ej, src[0], pin[11], scr, ct, link_count,
                          nxt)
            if err:
                return err
            if _busy(r, program, rs, src, pin, pst, ct) and nxt[_u(r)] == 0:
                nxt[_u(r)] = 1
                ct[C_N_NXT] += 1
    return OK
