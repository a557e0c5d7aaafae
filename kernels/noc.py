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

With ``rc_front`` (BookSim's iq_router), a head's route computation starts when it reaches
the front of its VC FIFO: on arrival into an empty FIFO, else the cycle after the tail ahead
of it left, so one input VC takes a packet through RC, VA and SA at a time. An output VC freed
by a tail in cycle s can be allocated again from s + ``t_vfree`` (the ejection port's VCs
too).

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

from ._noc_layout import (  # noqa: F401 (the public layout, re-exported)
    C_N_CUR,
    C_N_FREE,
    C_N_NXT,
    C_NODES_LEFT,
    ERR_CONSERVATION,
    ERR_NO_QUEUE,
    ERR_NO_SLOT,
    ERR_POOL,
    ERR_RECOUNT,
    ERR_ROUTE,
    ERR_TIMEOUT,
    LAT_BINS,
    N_COUNTERS,
    N_PORTS,
    N_STATS,
    OK,
    OPP,
    PAD,
    RAMP,
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
    _tables,
)
from .noc_stages import GO_ON, check, create, deliver, finish, stop_test, window
from .noc_workers import arrivals, routers_step


@njit(cache=True, error_model="numpy")
def _router_state(rows, cols, vcs, depth, t_eject, qid, q_router, q_port, q_vc, W):
    """Tables, router buffers (struct of arrays), and each of the W workers' ejection wheel and
    allocator scratch (rows padded: see :mod:`wse_sim.kernels.noc_workers`)."""
    R = rows * cols
    nq = q_router.shape[0]
    tables = _tables(rows, cols, vcs, qid, q_router, q_port, q_vc)
    # per slot [ready cycle, payload, free-from cycle, route mask] and per queue [flits written
    # (by the upstream router), flits read (by the owner), written mod depth, read mod depth]:
    # interleaved, so a visit touches one or two cache lines per queue
    bs = np.zeros(nq * depth * 4, dtype=np.int32)
    qh = np.zeros(nq * 4, dtype=np.int32)
    q_ovc = np.full(nq, -1, dtype=np.int8)  # packets: output VC held by the head packet
    q_sa = np.zeros(nq, dtype=np.int32)  # packets: cycle the head may enter SA after VA
    occ = np.zeros(R, dtype=np.int32)  # flits buffered in each router
    out_owner = np.full(R * N_PORTS * vcs, -1, dtype=np.int32)  # packets: VC owner queue
    rr_in = np.zeros(R * N_PORTS, dtype=np.int16)  # per input port, over its VCs
    rr_out = np.zeros(R * N_PORTS, dtype=np.int8)  # per output port, over input ports
    rr_va = np.zeros(R * N_PORTS * vcs, dtype=np.int16)  # per output VC, over input queues
    va_start = np.zeros(R * N_PORTS, dtype=np.int16)  # per output port, over its VCs
    out_free = np.zeros(R * N_PORTS * vcs, dtype=np.int32)  # packets: VC allocatable from
    rs = (bs, qh, q_ovc, q_sa, occ, out_owner, rr_in, rr_out, rr_va, va_start, out_free)
    # ejection channels: a wheel of t_eject + 1 slots, each holding up to R flits (a router
    # ejects at most one a cycle)
    M = t_eject + 1
    ej = (np.zeros((W, M + PAD), dtype=np.int64), np.zeros((W, M * R), dtype=np.int32),
          np.zeros((W, M * R), dtype=np.int32), np.zeros((W, M * R), dtype=np.int16))
    # allocator scratch (one router at a time): request queue / mask, grants, VA requests
    scr = (np.zeros((W, N_PORTS + PAD), dtype=np.int64),
           np.zeros((W, N_PORTS + PAD), dtype=np.int64),
           np.zeros((W, N_PORTS + PAD), dtype=np.int64),
           np.zeros((W, N_PORTS * vcs + PAD), dtype=np.int64),
           np.zeros((W, N_PORTS * vcs + PAD), dtype=np.int64))
    # the workers' counters, error codes, and their spans of flag words (then the separators)
    wk = (np.zeros((W, N_COUNTERS + PAD), dtype=np.int64), np.zeros(W, dtype=np.int64),
          np.zeros((2 * W - 1, 2), dtype=np.int64))
    return tables, rs, ej, scr, wk


@njit(cache=True, error_model="numpy")
def _sources(program, R, pool_synth, pattern, dest_table, hot_node, hot_frac, rate, sq_cap):
    """Synthetic sources: packet pool (``pool_synth`` packets; 1 for programs), source queues,
    injection state, first creation times; and the pool size."""
    pool = pool_synth if program == 0 else 1
    p_dst = np.zeros(pool, dtype=np.int32)
    p_gen = np.zeros(pool, dtype=np.int32)
    p_inj = np.zeros(pool, dtype=np.int32)
    p_tag = np.zeros(pool, dtype=np.uint8)
    free_stack = np.arange(pool - 1, -1, -1).astype(np.int32)
    src_n = 1 if program else R
    cap = sq_cap if program == 0 else 1
    next_gen = np.zeros(src_n, dtype=np.int64)
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
    src = (p_dst, p_gen, p_inj, p_tag, free_stack, np.zeros(src_n * cap, dtype=np.int32),
           np.zeros(src_n, dtype=np.int32), np.zeros(src_n, dtype=np.int32), next_gen,
           np.full(src_n, -1, dtype=np.int32), np.zeros(src_n, dtype=np.int32),
           np.zeros(src_n, dtype=np.int32), np.zeros(src_n, dtype=np.int32))
    return src, (pattern, dest_table, hot_node, hot_frac, rate, log1m, cap), pool


@njit(cache=True, error_model="numpy")
def _program_state(program, R, node_core, node_count, node_task, n_slots, core_node0, ct, W):
    """Per node: tasks fired, wavelets sent / ready; per slot: wavelets received; per core:
    round-robin pointer; each of the W workers' task-completion wheel. Lists the cores with a
    task in ``cur``, the flags of the routers to visit this cycle (``nxt``: next cycle),
    scanned in index order (memory order)."""
    # padded to whole 8-byte words: the visit scan reads them a word at a time
    cur = np.zeros((R + 7) // 8 * 8, dtype=np.uint8)
    nxt = np.zeros((R + 7) // 8 * 8, dtype=np.uint8)
    n_nodes = node_core.shape[0]
    tmax = 0
    for n in range(n_nodes):
        if node_task[n] > tmax:
            tmax = node_task[n]
    TW = tmax + 1
    # int32 counts (the caller bounds node_count below 2**31): half the bytes a visit streams
    pst = (np.zeros(n_nodes, dtype=np.int32), np.zeros(n_nodes, dtype=np.int32),
           np.zeros(n_nodes, dtype=np.int32), np.zeros(n_slots, dtype=np.int32),
           np.zeros(R if program else 1, dtype=np.int32),
           np.zeros((W, TW + PAD), dtype=np.int64),
           np.zeros((W, TW * max(n_nodes, 1)), dtype=np.int32))
    for n in range(n_nodes):
        if node_count[n] > 0:
            ct[C_NODES_LEFT] += 1
    if program:
        for r in range(R):  # every core with a task starts listed
            if core_node0[r + 1] > core_node0[r]:
                cur[r] = 1
                ct[C_N_CUR] += 1
    return pst, cur, nxt


@njit(cache=True, error_model="numpy")
def _program_tables(program, vcs, n_colors, net, route_tbl, node_core, node_color):
    """Programs: the route mask of each queue's flits (``route_tbl`` of its router, port and
    color; 0 = none) and the ramp queue of each node's output color (-1: none or a sink), so a
    visit reads one byte / int per queue / node instead of the sparse per-router tables."""
    qid, q_router, q_port, q_vc = net[0], net[1], net[2], net[3]
    nq = q_router.shape[0]
    n_nodes = node_core.shape[0]
    q_m = np.zeros(nq if program else 0, dtype=np.uint8)
    node_q = np.full(n_nodes, -1, dtype=np.int32)
    if program:
        for q in range(nq):
            q_m[q] = route_tbl[(q_router[q] * N_PORTS + q_port[q]) * n_colors + q_vc[q]]
        for n in range(n_nodes):
            c = node_color[n]
            if c >= 0:
                node_q[n] = qid[(node_core[n] * N_PORTS + RAMP) * vcs + c]
    return q_m, node_q


@njit(cache=True, error_model="numpy")
def simulate_network(
    rows, cols, vcs, depth, t_rc, t_va, t_net, t_eject, t_ramp_in, t_credit, rc_front, t_vfree,
    qid, q_router, q_port, q_vc, router_q0,
    program, workers,
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
    t_rc, t_va, t_net, t_eject, t_ramp_in, t_credit, rc_front, t_vfree : module docstring
    qid : int32 (R * 5 * vcs,) queue of (router, port, vc), -1 where none
    q_router, q_port, q_vc : int32 (Q,) owner of each queue, sorted by (router, port, vc);
        synthetic traffic needs every (router, port, vc) (a dense map)
    router_q0 : int32 (R + 1,) queues of router r are router_q0[r] .. router_q0[r + 1] - 1
    program : 0 = synthetic packets with XY routing; 1 = a program on static color routes
    workers : threads of a program's visits (noc_workers; rows >= 2 workers); no result
        depends on it. Synthetic traffic runs on one
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
    W = workers if program else 1
    tables, rs, ej, scr, (ctw, errs, span) = _router_state(rows, cols, vcs, depth, t_eject, qid,
                                                           q_router, q_port, q_vc, W)
    net = (qid, q_router, q_port, q_vc, router_q0) + tables
    cfg = (rows, cols, vcs, depth, t_rc, t_va, t_net, t_eject, t_ramp_in, t_credit, program,
           flits, win_lo, win_hi, n_colors, t_eject + 1, rc_front, t_vfree)
    src, sp, pool = _sources(program, R, nq * depth + R * (t_eject + 1) + R + 16, pattern,
                             dest_table, hot_node, hot_frac, rate, sq_cap)
    pin = (route_tbl, slot_base, node_core, node_color, node_tag, node_count, node_lead,
           node_task, node_in0, node_in1, core_node0) + _program_tables(
        program, vcs, n_colors, net, route_tbl, node_core, node_color)
    ct = np.zeros(N_COUNTERS, dtype=np.int64)
    ct[C_N_FREE] = pool
    pst, cur, nxt = _program_state(program, R, node_core, node_count, node_task,
                                   slot_node.shape[0], core_node0, ct, W)
    t = np.int64(0)  # not a literal 0: typing the loop from one compiles the step twice
    while True:
        err = stop_test(t, program, max_cycles, inject_end, drain_limit, src[9], ct, stats)
        if err != GO_ON:
            break
        creating = program == 0 and window(t, inject_end, drain_limit, win_lo, win_hi, src[7], ct)
        if program:
            err = arrivals(t, cfg, W, ej, src, slot_base, pst[3], node_core, pst, ct, ctw, cur,
                           lat_hist, nlat_hist, errs)
        else:
            err = deliver(t, cfg, ej, src, slot_base, pst[3], ct, cur, lat_hist, nlat_hist, 0, 1)
            create(t, creating, flits, win_lo, win_hi, src, sp, ct, cur)
        if err == OK:
            err = routers_step(t, cfg, W, net, rs, ej, src, sp, pin, pst, scr, ct, ctw, span,
                               errs, link_count, cur, nxt, cur.view(np.uint64))
        if err == OK:
            err = check(t, nq, depth, rs[1], rs[0], ej[0], ct)
        if err:
            break
        cur, nxt = nxt, cur  # next cycle's flags become current (cur is all 0 after the scan)
        ct[C_N_CUR] = ct[C_N_NXT]
        ct[C_N_NXT] = 0
        t += 1
    return finish(t, err, program, nq, depth, rs[1], rs[0], ej[0], ct, stats)
