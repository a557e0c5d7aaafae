"""Cycle-level mesh network-on-chip: routers, credits, virtual channels, multicast (numba).

One router per core of a ``rows x cols`` mesh. Ports are numbered like the link directions of
:mod:`wse_sim.kernels.routes` plus the ramp::

    0 = E (+col)   1 = W (-col)   2 = S (+row)   3 = N (-row)   4 = ramp (to / from the core)

An *output* port ``o`` sends towards direction ``o``; a flit sent east arrives on the
neighbour's *input* port W (``OPP[o]``). Every input port holds one FIFO per virtual channel
(a *color* on a wafer-scale fabric) of ``depth`` flits. Queues are numbered compactly: only the
(router, input port, VC) triples a run can use get storage (``qid`` maps a triple to its queue,
``-1`` where none), so a whole-wafer program with two colors stores a few queues per router.

Timing (all in cycles, per flit)::

    written into an input buffer at cycle a (visible to the router from a)
    head flit: route computation (t_rc), VC allocation (t_va; packets only)
    switch allocation won at cycle s      ->  in the next router's buffer at s + t_net
                                          ->  at the core at s + t_eject (ejection channel)
    a core injects at cycle s             ->  in its router's ramp buffer at s + t_ramp_in
    a buffer slot freed at cycle s        ->  upstream may refill it from s + t_credit

so the zero-load latency of one packet of L flits over h hops is
``t_ramp_in + (h + 1) (t_rc + t_va) + h t_net + t_eject + (L - 1)``.

Credit flow is kept as the slot-free times of each downstream FIFO (``b_free``): upstream may
write FIFO slot ``w mod depth`` once the slot is empty and ``t_credit`` cycles have passed since
the downstream router read it. That is the credit protocol with a credit delay, without
credit counters to keep in step. Writes become visible no earlier than the next cycle and
freed slots no earlier than ``t_credit >= 1`` cycles later, so the order in which routers are
visited inside a cycle cannot change a result.

Allocation is separable, input first, one iteration, round-robin at both stages: each input
port picks one of its VCs whose head flit is ready and has a credit for some output it wants;
each output port then grants one of the input ports requesting it. VC allocation (packets) is
separable the same way. A multicast flit (programs: static per-color routes) stays at the head
of its FIFO until every output in its route mask has granted it a copy (asynchronous
replication); outputs may grant it in the same cycle or in different ones.

Conservation is checked every cycle: injected + copies made by multicast forks = delivered +
copies owed by buffered flits + flits on ejection channels; every ``RECOUNT`` cycles and at the
end the three counters are recounted from the buffers themselves. A violation stops the run
with an error code (``ERR_*``) for the caller to raise.

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_PORTS = 5
RAMP = 4
OPP = np.array([1, 0, 3, 2, 4], dtype=np.int64)

#: Error codes returned by the kernels.
OK = 0
ERR_CONSERVATION = 1  # the per-cycle identity failed
ERR_NO_QUEUE = 2  # a route leads into a (router, port, VC) that has no queue
ERR_RECOUNT = 3  # counters disagree with the buffers
ERR_TIMEOUT = 4  # a program did not finish within max_cycles (deadlock or too short a limit)
ERR_POOL = 5  # the packet pool ran out (cannot happen with the pool size the caller sizes)
ERR_NO_SLOT = 6  # a wavelet reached a core that has no input for its color
ERR_ROUTE = 7  # a route mask is empty or leaves the mesh

RECOUNT = 4096  # cycles between full recounts of the conservation counters

# stats layout (int64) shared by both kernels
S_CYCLES = 0  # cycles simulated
S_INJECTED = 1  # flits injected into the network (ramp buffers)
S_DELIVERED = 2  # flit copies delivered to cores
S_IN_FLIGHT = 3  # flit copies owed at the end
S_FORKS = 4  # extra copies made by multicast
S_PEAK_QUEUE = 5  # largest occupancy of any input FIFO (flits)
S_ERROR_CYCLE = 6  # cycle of the error, if any
S_ROUTER_CYCLES = 7  # router visits (active routers summed over cycles)
S_CREATED = 8  # packets created by the sources (synthetic)
S_CREATED_WIN = 9  # packets created in the measurement window
S_DELIV_WIN_FLITS = 10  # flits delivered during the measurement window (any packet)
S_TAGGED_DONE = 11  # window packets fully delivered
S_SRC_OVERFLOW = 12  # packets a full source queue could not hold
S_BACKLOG_START = 13  # packets waiting at sources when the window opens
S_BACKLOG_END = 14  # ... when it closes
S_DRAINED = 15  # 1 if every window packet was delivered before the drain limit
S_DONE_CYCLE = 16  # programs: cycle the last task completed (completion time)
S_LAT_SUM = 17  # sum of packet latencies of window packets
S_NLAT_SUM = 18  # sum of network latencies of window packets
S_CREATED_WIN_FLITS = 19
N_STATS = 20

LAT_BINS = 1 << 16  # latency histogram bins (the last one holds longer latencies)


@njit(cache=True, inline="always")
def _neighbour(r, o, cols, rows):
    row = r // cols
    col = r - row * cols
    if o == 0:
        return r + 1 if col + 1 < cols else -1
    if o == 1:
        return r - 1 if col > 0 else -1
    if o == 2:
        return r + cols if row + 1 < rows else -1
    return r - cols if row > 0 else -1


@njit(cache=True, inline="always")
def _xy_mask(r, d, cols):
    """Output mask of dimension-ordered routing at router r for destination d: X first."""
    rc = r % cols
    dc = d % cols
    if dc > rc:
        return 1
    if dc < rc:
        return 2
    rr = r // cols
    dr = d // cols
    if dr > rr:
        return 4
    if dr < rr:
        return 8
    return 16


@njit(cache=True, inline="always")
def _popcount(m):
    n = 0
    while m:
        n += m & 1
        m >>= 1
    return n


@njit(cache=True, inline="always")
def _has_credit(dq, t, q_w, q_r, b_free, depth):
    w = q_w[dq]
    if w - q_r[dq] >= depth:
        return False
    return b_free[dq * depth + w % depth] <= t


@njit(cache=True)
def _recount(nq, depth, q_w, q_r, b_mask, ew_n):
    """(flits buffered, copies owed, flits on ejection channels) counted from the buffers."""
    buffered = 0
    owed = 0
    for q in range(nq):
        for w in range(q_r[q], q_w[q]):
            buffered += 1
            owed += _popcount(b_mask[q * depth + w % depth])
    ej = 0
    for i in range(ew_n.shape[0]):
        ej += ew_n[i]
    return buffered, owed, ej


@njit(cache=True)
def simulate_network(
    rows, cols, vcs, depth, t_rc, t_va, t_net, t_eject, t_ramp_in, t_credit,
    qid, q_router, q_port, q_vc, router_q0,
    program,
    # synthetic traffic
    pattern, dest_table, hot_node, hot_frac, rate, flits, inject_end, win_lo, win_hi,
    drain_limit, sq_cap, seed,
    # programs
    route_tbl, n_colors, slot_base, node_core, node_color, node_tag, node_count, node_lead,
    node_task, node_in0, node_in1, slot_node, core_node0, max_cycles,
    # outputs
    stats, link_count, lat_hist, nlat_hist,
):
    """Run the network cycle by cycle; returns an error code (``OK`` = 0).

    Parameters (int64 scalars unless noted; R = rows * cols routers, Q queues)
    ----------
    vcs, depth : virtual channels per input port, FIFO depth in flits
    t_rc, t_va, t_net, t_eject, t_ramp_in, t_credit : the timing of the module docstring
    qid : int32 (R * 5 * vcs,) queue of (router, port, vc), -1 where none
    q_router, q_port, q_vc : int32 (Q,) owner of each queue, sorted by (router, port, vc)
    router_q0 : int32 (R + 1,) queues of router r are router_q0[r] .. router_q0[r + 1] - 1
    program : 0 = synthetic packets with XY routing; 1 = a program on static color routes
    pattern : 0 uniform, 1 fixed destination (``dest_table``), 2 hotspot (``hot_frac`` of
        packets to ``hot_node``, the rest uniform)
    dest_table : int32 (R,) destination of each source for pattern 1
    rate : packets per node per cycle (Bernoulli); flits : flits per packet
    inject_end : sources create packets in [0, inject_end) and keep creating background
        packets while window packets drain, up to ``drain_limit`` cycles
    win_lo, win_hi : measurement window; packets created in it are tagged and followed
    sq_cap : source queue capacity per node (packets)
    route_tbl : uint8 (R * 5 * n_colors,) output mask of a wavelet of color c entering router
        r on port p (bit o = output o); 0 = none
    slot_base : int32 (R * n_colors,) first input slot of core r for color c (-1: none); a
        wavelet with tag g lands in slot slot_base + g
    node_* : int32/int64 (N,) program nodes: core, output color (-1: a sink), tag carried,
        wavelets to produce, lead (outputs allowed before any input: ring all-reduce),
        task cycles, input slots [in0, in1); a node fires its k-th task when every input
        slot has received more than k - lead wavelets, one task per core per cycle
    slot_node : int32 (S,) node of each input slot
    core_node0 : int32 (R + 1,) nodes of core r are core_node0[r] .. core_node0[r + 1] - 1
    max_cycles : a program that has not finished by then stops with ERR_TIMEOUT
    stats : int64 (N_STATS,) out; link_count : int64 (R * 4,) flits per link (window for
        synthetic traffic, whole run for programs); lat_hist, nlat_hist : int64 (LAT_BINS,)
    """
    R = rows * cols
    nq = q_router.shape[0]
    np.random.seed(seed)
    # ---- buffers (struct of arrays) -------------------------------------------------------
    nslots = nq * depth
    b_ready = np.zeros(nslots, dtype=np.int32)
    b_pay = np.zeros(nslots, dtype=np.int32)
    b_mask = np.zeros(nslots, dtype=np.uint8)
    b_free = np.zeros(nslots, dtype=np.int32)
    q_w = np.zeros(nq, dtype=np.int32)
    q_r = np.zeros(nq, dtype=np.int32)
    q_ovc = np.full(nq, -1, dtype=np.int8)  # packets: output VC held by the head packet
    q_sa = np.zeros(nq, dtype=np.int32)  # packets: cycle the head may enter SA after VA
    occ = np.zeros(R, dtype=np.int32)  # flits buffered in each router
    out_owner = np.full(R * N_PORTS * vcs, -1, dtype=np.int32)  # packets: VC owner queue
    rr_in = np.zeros(R * N_PORTS, dtype=np.int16)
    rr_out = np.zeros(R * N_PORTS, dtype=np.int8)
    rr_va = np.zeros(R * N_PORTS * vcs, dtype=np.int16)  # per output VC, over input queues
    va_start = np.zeros(R * N_PORTS, dtype=np.int16)  # per output port, over its VCs
    # ejection channels: a wheel of t_eject + 1 slots, each holding up to R flits
    M = t_eject + 1
    ew_n = np.zeros(M, dtype=np.int64)
    ew_pay = np.zeros(M * R, dtype=np.int32)
    ew_r = np.zeros(M * R, dtype=np.int32)
    ew_vc = np.zeros(M * R, dtype=np.int8)
    # active routers: this cycle's list and the next one's
    act = np.zeros(R, dtype=np.int32)
    nxt = np.zeros(R, dtype=np.int32)
    mark = np.full(R, -1, dtype=np.int32)  # cycle for which the router is listed last
    n_act = 0
    n_nxt = 0
    # allocator scratch (one router at a time)
    req_q = np.zeros(N_PORTS, dtype=np.int64)
    req_m = np.zeros(N_PORTS, dtype=np.int64)
    got_m = np.zeros(N_PORTS, dtype=np.int64)
    va_q = np.zeros(N_PORTS * vcs, dtype=np.int64)
    va_key = np.zeros(N_PORTS * vcs, dtype=np.int64)
    # ---- synthetic sources ---------------------------------------------------------------
    if program == 0:
        pool = nslots + R * M + R + 16
    else:
        pool = 1
    p_dst = np.zeros(pool, dtype=np.int32)
    p_gen = np.zeros(pool, dtype=np.int32)
    p_inj = np.zeros(pool, dtype=np.int32)
    p_tag = np.zeros(pool, dtype=np.uint8)
    free_stack = np.arange(pool - 1, -1, -1).astype(np.int32)
    n_free = pool
    src_n = 1 if program else R
    cap = sq_cap if program == 0 else 1
    sq_gen = np.zeros(src_n * cap, dtype=np.int32)
    sq_h = np.zeros(src_n, dtype=np.int32)
    sq_n = np.zeros(src_n, dtype=np.int32)
    next_gen = np.zeros(src_n, dtype=np.int64)
    inj_pid = np.full(src_n, -1, dtype=np.int32)
    inj_k = np.zeros(src_n, dtype=np.int32)
    inj_vc = np.zeros(src_n, dtype=np.int32)
    inj_rr = np.zeros(src_n, dtype=np.int32)
    log1m = np.log(1.0 - rate) if 0.0 < rate < 1.0 else 0.0
    if program == 0 and rate > 0.0:
        for n in range(R):
            if rate >= 1.0:
                next_gen[n] = 0
            else:
                next_gen[n] = int(np.log(1.0 - np.random.random()) / log1m)
    else:
        for n in range(src_n):
            next_gen[n] = 1 << 62
    # ---- program state -------------------------------------------------------------------
    n_nodes = node_core.shape[0]
    fired = np.zeros(n_nodes, dtype=np.int64)
    sent = np.zeros(n_nodes, dtype=np.int64)
    inj_ready = np.zeros(n_nodes, dtype=np.int64)
    recv = np.zeros(slot_node.shape[0], dtype=np.int64)
    core_rr = np.zeros(R if program else 1, dtype=np.int32)
    tmax = 0
    for n in range(n_nodes):
        if node_task[n] > tmax:
            tmax = node_task[n]
    TW = tmax + 1
    tw_n = np.zeros(TW, dtype=np.int64)
    tw_node = np.zeros(TW * (R if program else 1), dtype=np.int32)
    nodes_left = 0
    for n in range(n_nodes):
        if node_count[n] > 0:
            nodes_left += 1
    tasks_pending = 0
    # ---- counters ------------------------------------------------------------------------
    injected = 0
    delivered = 0
    forks = 0
    owed = 0
    ejchan = 0
    buffered = 0
    peak = 0
    router_cycles = 0
    created = 0
    created_win = 0
    created_win_flits = 0
    deliv_win = 0
    tagged_done = 0
    src_overflow = 0
    backlog_start = 0
    backlog_end = 0
    lat_sum = 0
    nlat_sum = 0
    done_cycle = 0
    err = OK
    flushing = False
    t = 0
    if program:
        # every core with a node starts active
        for r in range(R):
            if core_node0[r + 1] > core_node0[r]:
                mark[r] = 0
                act[n_act] = r
                n_act += 1
    while True:
        # ---- stop conditions ---------------------------------------------------------------
        if program:
            if nodes_left == 0 and tasks_pending == 0 and owed == 0 and ejchan == 0:
                break
            if t >= max_cycles:
                err = ERR_TIMEOUT
                break
        else:
            if t >= inject_end:
                waiting = created_win - tagged_done
                if waiting == 0 or t >= drain_limit:
                    if t >= drain_limit and waiting > 0:
                        stats[S_DRAINED] = 0
                    else:
                        stats[S_DRAINED] = 1
                    # flush: no new packets; finish the ones started, empty the network
                    flushing = True
                    busy = owed + ejchan
                    for n in range(R):
                        if inj_pid[n] >= 0:
                            busy += 1
                    if busy == 0:
                        break
            if t >= drain_limit + 100000:
                err = ERR_TIMEOUT
                break
        creating = program == 0 and (t < inject_end or (
            created_win - tagged_done > 0 and t < drain_limit))
        if program == 0 and t == win_lo:
            for n in range(R):
                backlog_start += sq_n[n]
        if program == 0 and t == win_hi:
            for n in range(R):
                backlog_end += sq_n[n]
        # ---- ejection channels deliver ------------------------------------------------------
        slot = t % M
        base = slot * R
        for i in range(ew_n[slot]):
            r = ew_r[base + i]
            pay = ew_pay[base + i]
            ejchan -= 1
            delivered += 1
            if program == 0:
                if win_lo <= t < win_hi:
                    deliv_win += 1
                pid = pay // flits
                k = pay - pid * flits
                if k == flits - 1:
                    if p_tag[pid]:
                        lat = t - p_gen[pid]
                        nlat = t - p_inj[pid]
                        lat_sum += lat
                        nlat_sum += nlat
                        lat_hist[min(lat, LAT_BINS - 1)] += 1
                        nlat_hist[min(nlat, LAT_BINS - 1)] += 1
                        tagged_done += 1
                    free_stack[n_free] = pid
                    n_free += 1
            else:
                c = ew_vc[base + i]
                sb = slot_base[r * n_colors + c]
                if sb < 0:
                    err = ERR_NO_SLOT
                    break
                recv[sb + pay] += 1
                done_cycle = t
                if mark[r] != t:
                    mark[r] = t
                    act[n_act] = r
                    n_act += 1
        ew_n[slot] = 0
        if err:
            break
        # ---- task completions (programs) ------------------------------------------------------
        if program:
            ts = t % TW
            for i in range(tw_n[ts]):
                n = tw_node[ts * R + i]
                inj_ready[n] += 1
                tasks_pending -= 1
                r = node_core[n]
                if mark[r] != t:
                    mark[r] = t
                    act[n_act] = r
                    n_act += 1
            tw_n[ts] = 0
        # ---- sources create packets (synthetic) ---------------------------------------------
        if creating and rate > 0.0:
            for n in range(R):
                if next_gen[n] == t:
                    if sq_n[n] < cap:
                        sq_gen[n * cap + (sq_h[n] + sq_n[n]) % cap] = t
                        sq_n[n] += 1
                    else:
                        src_overflow += 1
                    created += 1
                    if win_lo <= t < win_hi:
                        created_win += 1
                        created_win_flits += flits
                    if rate >= 1.0:
                        next_gen[n] = t + 1
                    else:
                        next_gen[n] = t + 1 + int(np.log(1.0 - np.random.random()) / log1m)
                if (sq_n[n] > 0 or inj_pid[n] >= 0) and mark[n] != t:
                    mark[n] = t
                    act[n_act] = n
                    n_act += 1
        elif program == 0:
            for n in range(R):
                if inj_pid[n] >= 0 and mark[n] != t:
                    mark[n] = t
                    act[n_act] = n
                    n_act += 1
        # ---- routers (and their cores) ------------------------------------------------------
        n_nxt = 0
        ia = 0
        while ia < n_act:
            r = act[ia]
            ia += 1
            router_cycles += 1
            q0 = router_q0[r]
            q1 = router_q0[r + 1]
            # -- the core injects one flit into its ramp buffer
            if program == 0:
                if inj_pid[r] < 0 and sq_n[r] > 0 and not flushing:
                    # start the oldest waiting packet on a ramp VC with room (round-robin)
                    for j in range(vcs):
                        v = (inj_rr[r] + j) % vcs
                        dq = qid[(r * N_PORTS + RAMP) * vcs + v]
                        if dq >= 0 and _has_credit(dq, t, q_w, q_r, b_free, depth):
                            if n_free == 0:
                                err = ERR_POOL
                                break
                            n_free -= 1
                            pid = free_stack[n_free]
                            g = sq_gen[r * cap + sq_h[r]]
                            sq_h[r] = (sq_h[r] + 1) % cap
                            sq_n[r] -= 1
                            if pattern == 1:
                                d = dest_table[r]
                            elif pattern == 2 and np.random.random() < hot_frac:
                                d = hot_node
                            else:
                                d = int(np.random.random() * R)
                                if d >= R:
                                    d = R - 1
                            p_dst[pid] = d
                            p_gen[pid] = g
                            p_inj[pid] = t
                            p_tag[pid] = 1 if win_lo <= g < win_hi else 0
                            inj_pid[r] = pid
                            inj_k[r] = 0
                            inj_vc[r] = v
                            inj_rr[r] = (v + 1) % vcs
                            break
                    if err:
                        break
                if inj_pid[r] >= 0:
                    pid = inj_pid[r]
                    dq = qid[(r * N_PORTS + RAMP) * vcs + inj_vc[r]]
                    if _has_credit(dq, t, q_w, q_r, b_free, depth):
                        k = inj_k[r]
                        s = dq * depth + q_w[dq] % depth
                        b_ready[s] = t + t_ramp_in + (t_rc if k == 0 else 0)
                        b_pay[s] = pid * flits + k
                        m = _xy_mask(r, p_dst[pid], cols)
                        b_mask[s] = m
                        q_w[dq] += 1
                        occ[r] += 1
                        buffered += 1
                        owed += 1
                        injected += 1
                        if q_w[dq] - q_r[dq] > peak:
                            peak = q_w[dq] - q_r[dq]
                        if k == flits - 1:
                            inj_pid[r] = -1
                        else:
                            inj_k[r] = k + 1
            else:
                n0 = core_node0[r]
                n1 = core_node0[r + 1]
                nn = n1 - n0
                if nn > 0:
                    # fire one task (round-robin over the core's nodes)
                    for j in range(nn):
                        n = n0 + (core_rr[r] + j) % nn
                        k = fired[n]
                        if k >= node_count[n]:
                            continue
                        ok = True
                        need = k - node_lead[n] + 1
                        for sidx in range(node_in0[n], node_in1[n]):
                            if recv[sidx] < need:
                                ok = False
                                break
                        if ok:
                            fired[n] = k + 1
                            core_rr[r] = (n - n0 + 1) % nn
                            if node_task[n] == 0:
                                inj_ready[n] += 1
                            else:
                                ts = (t + node_task[n]) % TW
                                tw_node[ts * R + tw_n[ts]] = n
                                tw_n[ts] += 1
                                tasks_pending += 1
                            break
                    # inject one wavelet (the lowest node with one ready; sinks just finish)
                    for n in range(n0, n1):
                        if inj_ready[n] == 0:
                            continue
                        c = node_color[n]
                        if c < 0:
                            done_cycle = t
                            sent[n] += inj_ready[n]
                            inj_ready[n] = 0
                            if sent[n] == node_count[n]:
                                nodes_left -= 1
                            continue
                        dq = qid[(r * N_PORTS + RAMP) * vcs + c]
                        if dq < 0:
                            err = ERR_NO_QUEUE
                            break
                        if not _has_credit(dq, t, q_w, q_r, b_free, depth):
                            continue
                        m = route_tbl[(r * N_PORTS + RAMP) * n_colors + c]
                        if m == 0:
                            err = ERR_ROUTE
                            break
                        s = dq * depth + q_w[dq] % depth
                        b_ready[s] = t + t_ramp_in + t_rc + t_va
                        b_pay[s] = node_tag[n]
                        b_mask[s] = m
                        q_w[dq] += 1
                        occ[r] += 1
                        buffered += 1
                        pc = _popcount(m)
                        owed += pc
                        forks += pc - 1
                        injected += 1
                        if q_w[dq] - q_r[dq] > peak:
                            peak = q_w[dq] - q_r[dq]
                        inj_ready[n] -= 1
                        sent[n] += 1
                        if sent[n] == node_count[n]:
                            nodes_left -= 1
                            done_cycle = t
                        break
                    if err:
                        break
            # -- VC allocation (packets): separable, input first, round-robin
            if occ[r] > 0 and program == 0:
                nva = 0
                for q in range(q0, q1):
                    if q_w[q] == q_r[q] or q_ovc[q] >= 0:
                        continue
                    s = q * depth + q_r[q] % depth
                    if b_ready[s] > t:
                        continue
                    m = b_mask[s]
                    o = 0
                    while (m >> o) & 1 == 0:
                        o += 1
                    if o == RAMP:
                        q_ovc[q] = 0
                        q_sa[q] = t + t_va
                        continue
                    # input stage: the first free output VC after this port's pointer
                    po = r * N_PORTS + o
                    start = va_start[po]
                    pick = -1
                    for j in range(vcs):
                        v = (start + j) % vcs
                        if out_owner[po * vcs + v] < 0:
                            pick = v
                            break
                    if pick >= 0:
                        va_q[nva] = q
                        va_key[nva] = po * vcs + pick
                        nva += 1
                # output stage: each requested output VC grants the requester closest after
                # its round-robin pointer (pointer over the router's queues)
                nloc = q1 - q0
                for i in range(nva):
                    key = va_key[i]
                    if key < 0:
                        continue
                    ptr = rr_va[key]
                    best = i
                    bestd = (va_q[i] - q0 - ptr) % nloc
                    for j in range(i + 1, nva):
                        if va_key[j] == key:
                            dj = (va_q[j] - q0 - ptr) % nloc
                            if dj < bestd:
                                best = j
                                bestd = dj
                    for j in range(i, nva):
                        if va_key[j] == key and j != best:
                            va_key[j] = -1
                    q = va_q[best]
                    out_owner[key] = q
                    q_ovc[q] = key % vcs
                    q_sa[q] = t + t_va
                    rr_va[key] = (q - q0 + 1) % nloc
                    # the port-level start pointer moves past the VC just taken
                    va_start[key // vcs] = (key % vcs + 1) % vcs
                    va_key[best] = -1
            # -- switch allocation: input stage
            if occ[r] > 0:
                any_req = 0
                for p in range(N_PORTS):
                    req_q[p] = -1
                    req_m[p] = 0
                    got_m[p] = 0
                # queues are sorted by port: walk each port's run of VCs from its pointer
                qa = q0
                while qa < q1:
                    p = q_port[qa]
                    qb = qa
                    while qb < q1 and q_port[qb] == p:
                        qb += 1
                    nv = qb - qa
                    start = rr_in[r * N_PORTS + p]
                    for j in range(nv):
                        q = qa + (start + j) % nv
                        if q_w[q] == q_r[q]:
                            continue
                        s = q * depth + q_r[q] % depth
                        if b_ready[s] > t:
                            continue
                        if program == 0:
                            if q_ovc[q] < 0 or q_sa[q] > t:
                                continue
                            ov = q_ovc[q]
                        else:
                            ov = q_vc[q]
                        m = b_mask[s]
                        ok_m = 0
                        for o in range(N_PORTS):
                            if (m >> o) & 1 == 0:
                                continue
                            if o == RAMP:
                                ok_m |= 1 << o
                                continue
                            nb = _neighbour(r, o, cols, rows)
                            if nb < 0:
                                err = ERR_ROUTE
                                break
                            dq = qid[(nb * N_PORTS + OPP[o]) * vcs + ov]
                            if dq < 0:
                                err = ERR_NO_QUEUE
                                break
                            if _has_credit(dq, t, q_w, q_r, b_free, depth):
                                ok_m |= 1 << o
                        if err:
                            break
                        if ok_m:
                            req_q[p] = q
                            req_m[p] = ok_m
                            any_req |= ok_m
                            break
                    if err:
                        break
                    qa = qb
                if err:
                    break
                # output stage: each output grants one requesting input port, round-robin
                if any_req:
                    for o in range(N_PORTS):
                        if (any_req >> o) & 1 == 0:
                            continue
                        po = r * N_PORTS + o
                        start = rr_out[po]
                        for j in range(N_PORTS):
                            p = (start + j) % N_PORTS
                            if (req_m[p] >> o) & 1 == 0:
                                continue
                            got_m[p] |= 1 << o
                            rr_out[po] = (p + 1) % N_PORTS
                            q = req_q[p]
                            s = q * depth + q_r[q] % depth
                            pay = b_pay[s]
                            owed -= 1
                            if o == RAMP:
                                es = (t + t_eject) % M
                                ei = es * R + ew_n[es]
                                ew_pay[ei] = pay
                                ew_r[ei] = r
                                ew_vc[ei] = q_vc[q]
                                ew_n[es] += 1
                                ejchan += 1
                            else:
                                if program == 0:
                                    ov = q_ovc[q]
                                else:
                                    ov = q_vc[q]
                                nb = _neighbour(r, o, cols, rows)
                                ip = OPP[o]
                                dq = qid[(nb * N_PORTS + ip) * vcs + ov]
                                ds = dq * depth + q_w[dq] % depth
                                if program == 0:
                                    pid = pay // flits
                                    head = pay - pid * flits == 0
                                    b_ready[ds] = t + t_net + (t_rc if head else 0)
                                    m2 = _xy_mask(nb, p_dst[pid], cols)
                                else:
                                    b_ready[ds] = t + t_net + t_rc + t_va
                                    m2 = route_tbl[(nb * N_PORTS + ip) * n_colors + ov]
                                    if m2 == 0:
                                        err = ERR_ROUTE
                                        break
                                b_pay[ds] = pay
                                b_mask[ds] = m2
                                q_w[dq] += 1
                                occ[nb] += 1
                                buffered += 1
                                pc = _popcount(m2)
                                owed += pc
                                forks += pc - 1
                                if q_w[dq] - q_r[dq] > peak:
                                    peak = q_w[dq] - q_r[dq]
                                if program or (win_lo <= t < win_hi):
                                    link_count[r * 4 + o] += 1
                                if mark[nb] != t + 1:
                                    mark[nb] = t + 1
                                    nxt[n_nxt] = nb
                                    n_nxt += 1
                            break
                        if err:
                            break
                    if err:
                        break
                    # retire copies; dequeue flits whose every output has been served
                    for p in range(N_PORTS):
                        if got_m[p] == 0:
                            continue
                        q = req_q[p]
                        s = q * depth + q_r[q] % depth
                        left = b_mask[s] & ~got_m[p]
                        b_mask[s] = left
                        # the input pointer moves past the VC just served
                        qa = q
                        while qa > q0 and q_port[qa - 1] == p:
                            qa -= 1
                        qb = q
                        while qb < q1 and q_port[qb] == p:
                            qb += 1
                        rr_in[r * N_PORTS + p] = (q - qa + 1) % (qb - qa)
                        if left == 0:
                            q_r[q] += 1
                            b_free[s] = t + t_credit
                            occ[r] -= 1
                            buffered -= 1
                            if program == 0:
                                pay = b_pay[s]
                                pid = pay // flits
                                if pay - pid * flits == flits - 1:
                                    ov = q_ovc[q]
                                    o = 0
                                    while (got_m[p] >> o) & 1 == 0:
                                        o += 1
                                    if o != RAMP:
                                        out_owner[(r * N_PORTS + o) * vcs + ov] = -1
                                    q_ovc[q] = -1
            # -- keep the router listed while it has work
            busy = occ[r] > 0
            if program == 0:
                busy = busy or inj_pid[r] >= 0 or (sq_n[r] > 0 and not flushing)
            else:
                for n in range(core_node0[r], core_node0[r + 1]):
                    if inj_ready[n] > 0:
                        busy = True
                        break
                    k = fired[n]
                    if k < node_count[n]:
                        need = k - node_lead[n] + 1
                        ok = True
                        for sidx in range(node_in0[n], node_in1[n]):
                            if recv[sidx] < need:
                                ok = False
                                break
                        if ok:
                            busy = True
                            break
            if busy and mark[r] != t + 1:
                mark[r] = t + 1
                nxt[n_nxt] = r
                n_nxt += 1
        if err:
            break
        # ---- conservation, every cycle -------------------------------------------------------
        if injected + forks != delivered + owed + ejchan:
            err = ERR_CONSERVATION
            break
        if (t & (RECOUNT - 1)) == 0:
            b2, o2, e2 = _recount(nq, depth, q_w, q_r, b_mask, ew_n)
            if b2 != buffered or o2 != owed or e2 != ejchan:
                err = ERR_RECOUNT
                break
        # swap lists
        tmp = act
        act = nxt
        nxt = tmp
        n_act = n_nxt
        t += 1
    if err == OK:
        b2, o2, e2 = _recount(nq, depth, q_w, q_r, b_mask, ew_n)
        if b2 != buffered or o2 != owed or e2 != ejchan:
            err = ERR_RECOUNT
        if injected + forks != delivered + owed + ejchan:
            err = ERR_CONSERVATION
    stats[S_CYCLES] = t
    stats[S_INJECTED] = injected
    stats[S_DELIVERED] = delivered
    stats[S_IN_FLIGHT] = owed + ejchan
    stats[S_FORKS] = forks
    stats[S_PEAK_QUEUE] = peak
    stats[S_ERROR_CYCLE] = t if err else -1
    stats[S_ROUTER_CYCLES] = router_cycles
    stats[S_CREATED] = created
    stats[S_CREATED_WIN] = created_win
    stats[S_DELIV_WIN_FLITS] = deliv_win
    stats[S_TAGGED_DONE] = tagged_done
    stats[S_SRC_OVERFLOW] = src_overflow
    stats[S_BACKLOG_START] = backlog_start
    stats[S_BACKLOG_END] = backlog_end
    stats[S_DONE_CYCLE] = done_cycle if program else 0
    stats[S_LAT_SUM] = lat_sum
    stats[S_NLAT_SUM] = nlat_sum
    stats[S_CREATED_WIN_FLITS] = created_win_flits
    return err
