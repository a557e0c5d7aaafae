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

# fields of the interleaved queue header (qh) and buffer slot (bs) records, 4 int32 each
QW, QR, QWP, QRP = 0, 1, 2, 3  # flits written, read, write position, read position
SR, SP, SF, SM = 0, 1, 2, 3  # ready cycle, payload, free-from cycle (credit), route mask

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
def _bump(pos, n):
    """pos + 1 modulo n, without a division."""
    return pos + 1 if pos + 1 < n else 0


@njit(cache=True, inline="always")
def _popcount(m):
    n = 0
    while m:
        n += m & 1
        m >>= 1
    return n


@njit(cache=True, inline="always")
def _xy_mask(r, d, r_row, r_col):
    """Output mask of dimension-ordered routing at router r for destination d: X first."""
    rc = r_col[r]
    dc = r_col[d]
    if dc > rc:
        return 1
    if dc < rc:
        return 2
    rr = r_row[r]
    dr = r_row[d]
    if dr > rr:
        return 4
    if dr < rr:
        return 8
    return 16


@njit(cache=True, inline="always")
def _has_credit(dq, t, qh, bs, depth):
    if qh[dq * 4 + QW] - qh[dq * 4 + QR] >= depth:
        return False
    return bs[(dq * depth + qh[dq * 4 + QWP]) * 4 + SF] <= t


@njit(cache=True, error_model="numpy")
def _recount(nq, depth, qh, bs, ew_n):
    """(flits buffered, copies owed, flits on ejection channels) counted from the buffers."""
    buffered = 0
    owed = 0
    for q in range(nq):
        pos = qh[q * 4 + QRP]
        for _ in range(qh[q * 4 + QW] - qh[q * 4 + QR]):
            buffered += 1
            owed += _popcount(bs[(q * depth + pos) * 4 + SM])
            pos += 1
            if pos == depth:
                pos = 0
    ej = 0
    for i in range(ew_n.shape[0]):
        ej += ew_n[i]
    return buffered, owed, ej


@njit(cache=True, error_model="numpy")
def _tables(rows, cols, vcs, qid, q_router, q_port, q_vc):
    """Neighbour of each router per direction, first queue of each (router, port), the
    downstream queue of each queue per direction (same VC), and each router's row and col."""
    R = rows * cols
    nq = q_router.shape[0]
    nbr = np.full(R * 4, -1, dtype=np.int32)
    r_row = np.zeros(R, dtype=np.int32)
    r_col = np.zeros(R, dtype=np.int32)
    for r in range(R):
        row = r // cols
        col = r - row * cols
        r_row[r] = row
        r_col[r] = col
        if col + 1 < cols:
            nbr[r * 4 + 0] = r + 1
        if col > 0:
            nbr[r * 4 + 1] = r - 1
        if row + 1 < rows:
            nbr[r * 4 + 2] = r + cols
        if row > 0:
            nbr[r * 4 + 3] = r - cols
    port_q0 = np.zeros(R * N_PORTS + 1, dtype=np.int32)
    for q in range(nq):
        port_q0[q_router[q] * N_PORTS + q_port[q] + 1] += 1
    for i in range(R * N_PORTS):
        port_q0[i + 1] += port_q0[i]
    q_down = np.full(nq * 4, -1, dtype=np.int32)
    for q in range(nq):
        r = q_router[q]
        for o in range(4):
            nb = nbr[r * 4 + o]
            if nb >= 0:
                q_down[q * 4 + o] = qid[(nb * N_PORTS + OPP[o]) * vcs + q_vc[q]]
    return nbr, port_q0, q_down, r_row, r_col


@njit(cache=True, inline="always", error_model="numpy")
def _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, rr_va, va_start,
              va_q, va_key):
    """VC allocation of the head packets of router r: separable, input first, round-robin."""
    nva = 0
    for q in range(q0, q1):
        if qh[q * 4 + QW] == qh[q * 4 + QR] or q_ovc[q] >= 0:
            continue
        s = q * depth + qh[q * 4 + QRP]
        if bs[s * 4 + SR] > t:
            continue
        m = bs[s * 4 + SM]
        o = 0
        while (m >> o) & 1 == 0:
            o += 1
        if o == RAMP:
            q_ovc[q] = 0
            q_sa[q] = t + t_va
            continue
        # input stage: the first free output VC after the port's pointer
        po = r * N_PORTS + o
        start = va_start[po]
        pick = -1
        for j in range(vcs):
            v = start + j
            if v >= vcs:
                v -= vcs
            if out_owner[po * vcs + v] < 0:
                pick = v
                break
        if pick >= 0:
            va_q[nva] = q
            va_key[nva] = po * vcs + pick
            nva += 1
    # output stage: each requested output VC grants the requester closest after
    # its round-robin pointer (over the router's queues)
    nloc = q1 - q0
    for i in range(nva):
        key = va_key[i]
        if key < 0:
            continue
        ptr = rr_va[key]
        best = i
        bestd = va_q[i] - q0 - ptr
        if bestd < 0:
            bestd += nloc
        for j in range(i + 1, nva):
            if va_key[j] == key:
                dj = va_q[j] - q0 - ptr
                if dj < 0:
                    dj += nloc
                if dj < bestd:
                    best = j
                    bestd = dj
        for j in range(i, nva):
            if va_key[j] == key:
                va_key[j] = -1
        q = va_q[best]
        out_owner[key] = q
        ov = key % vcs
        q_ovc[q] = ov
        q_sa[q] = t + t_va
        rr_va[key] = q - q0 + 1 if q - q0 + 1 < nloc else 0
        va_start[key // vcs] = ov + 1 if ov + 1 < vcs else 0


@njit(cache=True, error_model="numpy")
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
    q_router, q_port, q_vc : int32 (Q,) owner of each queue, sorted by (router, port, vc);
        synthetic traffic needs every (router, port, vc) (a dense map)
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
    slot_base : int32 (R * n_colors,) input slot of core r for color c (-1: none); a wavelet
        with tag g lands in slot slot_base + g
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
    np.random.seed(seed)  # noqa: NPY002 (numba's per-thread generator, seeded in-kernel)
    nbr, port_q0, q_down, r_row, r_col = _tables(rows, cols, vcs, qid, q_router, q_port, q_vc)
    # ---- buffers (struct of arrays) -------------------------------------------------------
    nslots = nq * depth
    # per slot [ready cycle, payload, free-from cycle, route mask] and per queue [flits written
    # (by the upstream router), flits read (by the owner), written mod depth, read mod depth]:
    # interleaved, so a visit touches one or two cache lines per queue
    bs = np.zeros(nslots * 4, dtype=np.int32)
    qh = np.zeros(nq * 4, dtype=np.int32)
    q_ovc = np.full(nq, -1, dtype=np.int8)  # packets: output VC held by the head packet
    q_sa = np.zeros(nq, dtype=np.int32)  # packets: cycle the head may enter SA after VA
    occ = np.zeros(R, dtype=np.int32)  # flits buffered in each router
    out_owner = np.full(R * N_PORTS * vcs, -1, dtype=np.int32)  # packets: VC owner queue
    rr_in = np.zeros(R * N_PORTS, dtype=np.int16)  # per input port, over its VCs
    rr_out = np.zeros(R * N_PORTS, dtype=np.int8)  # per output port, over input ports
    rr_va = np.zeros(R * N_PORTS * vcs, dtype=np.int16)  # per output VC, over input queues
    va_start = np.zeros(R * N_PORTS, dtype=np.int16)  # per output port, over its VCs
    # ejection channels: a wheel of t_eject + 1 slots, each holding up to R flits
    M = t_eject + 1
    ew_n = np.zeros(M, dtype=np.int64)
    ew_pay = np.zeros(M * R, dtype=np.int32)
    ew_r = np.zeros(M * R, dtype=np.int32)
    ew_vc = np.zeros(M * R, dtype=np.int16)
    # routers to visit this cycle and next (flags, scanned in index order: memory order)
    cur = np.zeros(R, dtype=np.uint8)
    nxt = np.zeros(R, dtype=np.uint8)
    n_cur = 0
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
                next_gen[n] = int(np.log(1.0 - np.random.random()) / log1m)  # noqa: NPY002
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
        for r in range(R):  # every core with a task starts listed
            if core_node0[r + 1] > core_node0[r]:
                cur[r] = 1
                n_cur += 1
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
                    if not flushing:
                        stats[S_DRAINED] = 1 if waiting == 0 else 0
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
        creating = program == 0 and not flushing and (t < inject_end or (
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
                if cur[r] == 0:
                    cur[r] = 1
                    n_cur += 1
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
                if cur[r] == 0:
                    cur[r] = 1
                    n_cur += 1
            tw_n[ts] = 0
        # ---- sources create packets (synthetic) ---------------------------------------------
        if program == 0:
            for n in range(R):
                if creating and next_gen[n] == t:
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
                        next_gen[n] = t + 1 + int(np.log(1.0 - np.random.random()) / log1m)  # noqa: NPY002
                if (inj_pid[n] >= 0 or (sq_n[n] > 0 and not flushing)) and cur[n] == 0:
                    cur[n] = 1
                    n_cur += 1
        # ---- routers (and their cores), in index order ----------------------------------------
        seen = 0
        r = -1
        while seen < n_cur:
            r += 1
            if cur[r] == 0:
                continue
            cur[r] = 0
            seen += 1
            router_cycles += 1
            q0 = router_q0[r]
            q1 = router_q0[r + 1]
            # -- the core injects one flit into its ramp buffer
            if program == 0:
                if inj_pid[r] < 0 and sq_n[r] > 0 and not flushing:
                    # start the oldest waiting packet on a ramp VC with room (round-robin)
                    for j in range(vcs):
                        v = inj_rr[r] + j
                        if v >= vcs:
                            v -= vcs
                        dq = qid[(r * N_PORTS + RAMP) * vcs + v]
                        if _has_credit(dq, t, qh, bs, depth):
                            if n_free == 0:
                                err = ERR_POOL
                                break
                            n_free -= 1
                            pid = free_stack[n_free]
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
                    if err:
                        break
                if inj_pid[r] >= 0:
                    pid = inj_pid[r]
                    dq = qid[(r * N_PORTS + RAMP) * vcs + inj_vc[r]]
                    if _has_credit(dq, t, qh, bs, depth):
                        k = inj_k[r]
                        s = dq * depth + qh[dq * 4 + QWP]
                        bs[s * 4 + SR] = t + t_ramp_in + (t_rc if k == 0 else 0)
                        bs[s * 4 + SP] = pid * flits + k
                        bs[s * 4 + SM] = _xy_mask(r, p_dst[pid], r_row, r_col)
                        qh[dq * 4 + QW] += 1
                        qh[dq * 4 + QWP] = _bump(qh[dq * 4 + QWP], depth)
                        occ[r] += 1
                        buffered += 1
                        owed += 1
                        injected += 1
                        if qh[dq * 4 + QW] - qh[dq * 4 + QR] > peak:
                            peak = qh[dq * 4 + QW] - qh[dq * 4 + QR]
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
                        n = n0 + core_rr[r] + j
                        if n >= n1:
                            n -= nn
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
                            core_rr[r] = n - n0 + 1 if n + 1 < n1 else 0
                            if node_task[n] == 0:
                                inj_ready[n] += 1
                            else:
                                ts = (t + node_task[n]) % TW
                                tw_node[ts * R + tw_n[ts]] = n
                                tw_n[ts] += 1
                                tasks_pending += 1
                            break
                    # inject one wavelet (the first node with one ready; sinks just finish)
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
                        if not _has_credit(dq, t, qh, bs, depth):
                            continue
                        m = route_tbl[(r * N_PORTS + RAMP) * n_colors + c]
                        if m == 0:
                            err = ERR_ROUTE
                            break
                        s = dq * depth + qh[dq * 4 + QWP]
                        bs[s * 4 + SR] = t + t_ramp_in + t_rc + t_va
                        bs[s * 4 + SP] = node_tag[n]
                        bs[s * 4 + SM] = m
                        qh[dq * 4 + QW] += 1
                        qh[dq * 4 + QWP] = _bump(qh[dq * 4 + QWP], depth)
                        occ[r] += 1
                        buffered += 1
                        pc = _popcount(m)
                        owed += pc
                        forks += pc - 1
                        injected += 1
                        if qh[dq * 4 + QW] - qh[dq * 4 + QR] > peak:
                            peak = qh[dq * 4 + QW] - qh[dq * 4 + QR]
                        inj_ready[n] -= 1
                        sent[n] += 1
                        if sent[n] == node_count[n]:
                            nodes_left -= 1
                            done_cycle = t
                        break
                    if err:
                        break
            # -- VC allocation (packets). With a VA stage (t_va >= 1) it runs after switch
            # allocation, so an output VC freed by a tail leaving this cycle is taken again at
            # once (its SA is next cycle anyway); with none (t_va = 0) it runs first, so the
            # head can win SA in the same cycle
            if t_va == 0 and occ[r] > 0 and program == 0:
                _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, rr_va,
                          va_start, va_q, va_key)
            # -- switch allocation: input stage
            if occ[r] > 0:
                any_req = 0
                for p in range(N_PORTS):
                    req_m[p] = 0
                    got_m[p] = 0
                    qa = port_q0[r * N_PORTS + p]
                    nv = port_q0[r * N_PORTS + p + 1] - qa
                    if nv == 0:
                        continue
                    start = rr_in[r * N_PORTS + p]
                    for j in range(nv):
                        jj = start + j
                        if jj >= nv:
                            jj -= nv
                        q = qa + jj
                        if qh[q * 4 + QW] == qh[q * 4 + QR]:
                            continue
                        s = q * depth + qh[q * 4 + QRP]
                        if bs[s * 4 + SR] > t:
                            continue
                        if program == 0:
                            if q_ovc[q] < 0 or q_sa[q] > t:
                                continue
                            dv = q_ovc[q] - q_vc[q]  # dense queues: VCs of a port adjacent
                        else:
                            dv = 0
                        m = bs[s * 4 + SM]
                        ok_m = 0
                        for o in range(4):
                            if (m >> o) & 1 == 0:
                                continue
                            dq = q_down[q * 4 + o]
                            if dq < 0:
                                err = ERR_NO_QUEUE
                                break
                            if _has_credit(dq + dv, t, qh, bs, depth):
                                ok_m |= 1 << o
                        if err:
                            break
                        ok_m |= m & 16
                        if ok_m:
                            req_q[p] = q
                            req_m[p] = ok_m
                            any_req |= ok_m
                            break
                    if err:
                        break
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
                            p = start + j
                            if p >= N_PORTS:
                                p -= N_PORTS
                            if (req_m[p] >> o) & 1 == 0:
                                continue
                            got_m[p] |= 1 << o
                            rr_out[po] = p + 1 if p + 1 < N_PORTS else 0
                            q = req_q[p]
                            s = q * depth + qh[q * 4 + QRP]
                            pay = bs[s * 4 + SP]
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
                                nb = nbr[r * 4 + o]
                                if program == 0:
                                    ov = q_ovc[q]
                                    dq = q_down[q * 4 + o] + ov - q_vc[q]
                                    pid = pay // flits
                                    head = pay - pid * flits == 0
                                    ds = dq * depth + qh[dq * 4 + QWP]
                                    bs[ds * 4 + SR] = t + t_net + (t_rc if head else 0)
                                    m2 = _xy_mask(nb, p_dst[pid], r_row, r_col)
                                else:
                                    ov = q_vc[q]
                                    dq = q_down[q * 4 + o]
                                    ds = dq * depth + qh[dq * 4 + QWP]
                                    bs[ds * 4 + SR] = t + t_net + t_rc + t_va
                                    m2 = route_tbl[(nb * N_PORTS + OPP[o]) * n_colors + ov]
                                    if m2 == 0:
                                        err = ERR_ROUTE
                                        break
                                bs[ds * 4 + SP] = pay
                                bs[ds * 4 + SM] = m2
                                qh[dq * 4 + QW] += 1
                                qh[dq * 4 + QWP] = _bump(qh[dq * 4 + QWP], depth)
                                occ[nb] += 1
                                buffered += 1
                                pc = _popcount(m2)
                                owed += pc
                                forks += pc - 1
                                if qh[dq * 4 + QW] - qh[dq * 4 + QR] > peak:
                                    peak = qh[dq * 4 + QW] - qh[dq * 4 + QR]
                                if program or (win_lo <= t < win_hi):
                                    link_count[r * 4 + o] += 1
                                if nxt[nb] == 0:
                                    nxt[nb] = 1
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
                        s = q * depth + qh[q * 4 + QRP]
                        left = bs[s * 4 + SM] & ~got_m[p]
                        bs[s * 4 + SM] = left
                        # the input pointer moves past the VC just served
                        qa = port_q0[r * N_PORTS + p]
                        nv = port_q0[r * N_PORTS + p + 1] - qa
                        rr_in[r * N_PORTS + p] = q - qa + 1 if q - qa + 1 < nv else 0
                        if left == 0:
                            qh[q * 4 + QR] += 1
                            qh[q * 4 + QRP] = _bump(qh[q * 4 + QRP], depth)
                            bs[s * 4 + SF] = t + t_credit
                            occ[r] -= 1
                            buffered -= 1
                            if program == 0:
                                pay = bs[s * 4 + SP]
                                pid = pay // flits
                                if pay - pid * flits == flits - 1:
                                    o = 0
                                    while (got_m[p] >> o) & 1 == 0:
                                        o += 1
                                    if o != RAMP:
                                        out_owner[(r * N_PORTS + o) * vcs + q_ovc[q]] = -1
                                    q_ovc[q] = -1
            if t_va > 0 and occ[r] > 0 and program == 0:
                _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, rr_va,
                          va_start, va_q, va_key)
            # -- keep the router listed while it has work
            busy = occ[r] > 0
            if program == 0:
                busy = busy or inj_pid[r] >= 0 or (sq_n[r] > 0 and not flushing)
            elif not busy:
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
            if busy and nxt[r] == 0:
                nxt[r] = 1
                n_nxt += 1
        if err:
            break
        # ---- conservation, every cycle -------------------------------------------------------
        if injected + forks != delivered + owed + ejchan:
            err = ERR_CONSERVATION
            break
        if (t & (RECOUNT - 1)) == 0:
            b2, o2, e2 = _recount(nq, depth, qh, bs, ew_n)
            if b2 != buffered or o2 != owed or e2 != ejchan:
                err = ERR_RECOUNT
                break
        # the next cycle's flags become the current ones (cur is all zero after the scan)
        tmp = cur
        cur = nxt
        nxt = tmp
        n_cur = n_nxt
        n_nxt = 0
        t += 1
    if err == OK:
        b2, o2, e2 = _recount(nq, depth, qh, bs, ew_n)
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
