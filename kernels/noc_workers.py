"""The router visits of one cycle of :func:`wse_sim.kernels.noc.simulate_network`, on one
thread or spread over several (numba).

**Why several threads give the same result.** Inside a cycle a router's visit reads and writes
its own queues and the input queues it feeds in its four neighbours, and nothing it writes is
visible to another router before the next cycle (a flit written is ready at ``t + t_net`` or
later, a freed slot gives credit from ``t + t_credit >= t + 1``). So the routers of a cycle
may be visited in any order, and two routers may be visited at the same time when neither
touches the other's queues: router r touches r +- 1 and r +- cols, so two spans of routers
with at least two rows between them never meet.

**How the work is shared.** Every cycle, the listed routers (the flag words of ``cur``) are
cut into W contiguous spans holding about the same number of listed routers (a reduction's
wavefront is a band of rows that moves down the mesh, so fixed spans would leave a thread
idle), each followed by a separator of at least two rows' words. The W spans are visited at
once, then the separators one after another (well under 1% of the routers on a wafer). Each
worker sweeps its span in index order, as one thread would, so it keeps the cache reuse of
the south neighbour's queues. The deliveries and task completions of a cycle run on the
workers too, each from its own wheels (a router ejects one flit a cycle, so a wheel slot's
routers are distinct across workers).

Each worker keeps its own counters (merged after each stage: sums, and maxima for the peak
queue and the last event), ejection wheel, task wheel and allocator scratch; the rows of
these per-worker arrays are ``PAD`` int64s longer than they need, so two workers never write
one cache line. Synthetic traffic draws random numbers as routers are visited, so its visit
order is part of its result: it always runs on one worker.

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._noc_layout import C_DONE_CYCLE, C_N_CUR, C_PEAK, N_COUNTERS, N_PORTS, OK, PAD, _popcount64
from .noc_router import visit_range
from .noc_stages import deliver, tasks_done


def available_threads() -> int:
    """Threads numba may use (``numba.set_num_threads``; NUMBA_NUM_THREADS, else the cores)."""
    return int(numba.get_num_threads())


@njit(cache=True, error_model="numpy", _nrt=False)
def _visit_worker(w, w0, w1, t, cfg, net, rs, ej2, src, sp, pin, pst2, scr2, ct, link_count,
                  cur, nxt, curw):
    """The listed routers of flag words w0 <= i < w1 with worker w's wheels and scratch;
    ``ct`` is its counter row (or the run's counters on one worker)."""
    vcs, M = cfg[2], cfg[15]
    tw = pst2[5].shape[1] - PAD
    ej = (ej2[0][w, :M], ej2[1][w], ej2[2][w], ej2[3][w])
    pst = (pst2[0], pst2[1], pst2[2], pst2[3], pst2[4], pst2[5][w, :tw], pst2[6][w])
    scr = (scr2[0][w, :N_PORTS], scr2[1][w, :N_PORTS], scr2[2][w, :N_PORTS],
           scr2[3][w, :N_PORTS * vcs], scr2[4][w, :N_PORTS * vcs])
    return visit_range(w0, w1, t, cfg, net, rs, ej, src, sp, pin, pst, scr, ct, link_count,
                       cur, nxt, curw)


@njit(cache=True, parallel=True, error_model="numpy")
def _phase(W, span, t, cfg, net, rs, ej2, src, sp, pin, pst2, scr2, ctw, link_count, cur, nxt,
           curw, errs):
    """The W workers' row spans at once."""
    for w in prange(W):
        errs[w] = _visit_worker(np.int64(w), span[w, 0], span[w, 1], t, cfg, net, rs, ej2, src,
                                sp, pin, pst2, scr2, ctw[w, :N_COUNTERS], link_count, cur, nxt,
                                curw)


@njit(cache=True, error_model="numpy")
def _split(W, cols, ct, curw, span):
    """Cut the flag words into W spans holding about the same number of listed routers,
    consecutive spans ``L`` words apart, L 8-router words >= two rows (``span[W + k]``: the
    words after span k, visited after the spans). Spans of words, from / to, in ``span``
    (rows: 2W - 1). Sets the listed count ``ct[C_N_CUR]`` from the flags."""
    nw = curw.shape[0]
    n_cur = 0  # recounted: two workers may have listed one core at once (tasks_done)
    for i in range(nw):
        n_cur += _popcount64(curw[i])
    ct[C_N_CUR] = n_cur
    L = (2 * cols + 7) // 8
    prev = -L  # the cut before span 0, less one separator
    seen = 0
    i = 0
    for k in range(1, W):
        target = n_cur * k // W
        while i < nw and seen < target:
            seen += _popcount64(curw[i])
            i += 1
        c = max(min(max(i, prev + L), nw - L * (W - k)), prev + L)
        span[k - 1, 1] = c
        span[k, 0] = c + L
        span[W + k - 1, 0] = c
        span[W + k - 1, 1] = c + L
        prev = c
    span[0, 0] = 0
    span[W - 1, 1] = nw


@njit(cache=True, parallel=True, error_model="numpy")
def _arrivals_phase(W, t, cfg, ej2, src, slot_base, recv, node_core, pst2, ctw, cur, lat, nlat,
                    errs):
    for w in prange(W):
        c = ctw[w, :N_COUNTERS]
        errs[w] = deliver(t, cfg, ej2, src, slot_base, recv, c, cur, lat, nlat, w, w + 1)
        tasks_done(t, node_core, pst2, c, cur, w, w + 1)


@njit(cache=True, error_model="numpy")
def arrivals(t, cfg, W, ej2, src, slot_base, recv, node_core, pst2, ct, ctw, cur, lat, nlat,
             errs):
    """A program's flits leaving the ejection channels and tasks finishing in cycle t (each
    worker's wheels; at once on W > 1 workers). Returns an error code."""
    if W == 1:
        err = deliver(t, cfg, ej2, src, slot_base, recv, ct, cur, lat, nlat, 0, 1)
        if err == OK:
            tasks_done(t, node_core, pst2, ct, cur, 0, 1)
        return err
    _arrivals_phase(W, t, cfg, ej2, src, slot_base, recv, node_core, pst2, ctw, cur, lat, nlat,
                    errs)
    _merge(ct, ctw)
    for w in range(W):
        if errs[w]:
            return errs[w]
    return OK


@njit(cache=True, error_model="numpy")
def _merge(ct, ctw):
    """Add the workers' counters into the run's: sums, but maxima for the peak queue and the
    cycle of the last event; the rows are zeroed for the next cycle."""
    for w in range(ctw.shape[0]):
        for i in range(N_COUNTERS):
            v = ctw[w, i]
            if i == C_PEAK or i == C_DONE_CYCLE:
                if v > ct[i]:
                    ct[i] = v
            else:
                ct[i] += v
            ctw[w, i] = 0


@njit(cache=True, error_model="numpy")
def _cycle(t, cfg, W, net, rs, ej2, src, sp, pin, pst2, scr2, ct, ctw, span, errs, link_count,
           cur, nxt, curw):
    """The visits of cycle t: on one worker, in index order with the run's counters; else W
    row spans at once, then the rows between them. Returns an error code (the first
    worker's that failed)."""
    if W == 1:
        # int64 zeros, not literals: a literal argument compiles the visit once more per call
        # site (~10 s of cold compile a copy)
        zero = np.int64(0)
        return _visit_worker(zero, zero, np.int64(curw.shape[0]), t, cfg, net, rs, ej2, src, sp,
                             pin, pst2, scr2, ct, link_count, cur, nxt, curw)
    _split(W, cfg[1], ct, curw, span)
    _phase(W, span, t, cfg, net, rs, ej2, src, sp, pin, pst2, scr2, ctw, link_count, cur, nxt,
           curw, errs)
    err = OK
    for w in range(W):
        if errs[w] and err == OK:
            err = errs[w]
    for k in range(W - 1):
        if err == OK:
            err = _visit_worker(np.int64(0), span[W + k, 0], span[W + k, 1], t, cfg, net, rs,
                                ej2, src, sp, pin, pst2, scr2, ctw[0, :N_COUNTERS], link_count,
                                cur, nxt, curw)
    _merge(ct, ctw)
    return err


@njit(cache=True, inline="always", error_model="numpy")
def _with_mode(cfg, program):
    """cfg with its mode (index 10) replaced: a literal here lets the compiler drop the other
    mode's branches from the visit (fewer live values, fewer register spills)."""
    return (cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], cfg[6], cfg[7], cfg[8], cfg[9],
            program, cfg[11], cfg[12], cfg[13], cfg[14], cfg[15], cfg[16], cfg[17])


@njit(cache=True, inline="always", error_model="numpy")
def _is_wse_pipeline(cfg):
    """Whether cfg is the ``wse`` preset's pipeline (see _wse_cfg)."""
    return (cfg[3] == 4 and cfg[4] == 0 and cfg[5] == 0 and cfg[6] == 1 and cfg[7] == 2
            and cfg[8] == 2 and cfg[9] == 1 and cfg[16] == 0 and cfg[17] == 0)


@njit(cache=True, inline="always", error_model="numpy")
def _wse_cfg(cfg):
    """cfg of a program on the ``wse`` preset's pipeline with its timing as literals: FIFO
    depth 4, no RC / VA stage, 1-cycle hop, 2-cycle ejection and injection channels, 1-cycle
    credit, routing on arrival. The same code as the general path; the literals let the
    compiler fold the depth arithmetic and drop dead branches (the whole-wafer run's path)."""
    return (cfg[0], cfg[1], cfg[2], 4, 0, 0, 1, 2, 2, 1,
            1, cfg[11], cfg[12], cfg[13], cfg[14], 3, 0, 0)


@njit(cache=True, error_model="numpy")
def routers_step(t, cfg, W, net, rs, ej2, src, sp, pin, pst2, scr2, ct, ctw, span, errs,
                 link_count, cur, nxt, curw):
    """One cycle of the routers: synthetic traffic (cfg's mode 0) on one worker; a program on
    static routes (mode 1) on W workers, the ``wse`` pipeline with its timing compiled in."""
    if cfg[10] == 0:
        zero = np.int64(0)  # not a literal (see _cycle)
        return _visit_worker(zero, zero, np.int64(curw.shape[0]), t, _with_mode(cfg, 0), net,
                             rs, ej2, src, sp, pin, pst2, scr2, ct, link_count, cur, nxt, curw)
    if _is_wse_pipeline(cfg):
        return _cycle(t, _wse_cfg(cfg), W, net, rs, ej2, src, sp, pin, pst2, scr2, ct, ctw,
                      span, errs, link_count, cur, nxt, curw)
    return _cycle(t, _with_mode(cfg, 1), W, net, rs, ej2, src, sp, pin, pst2, scr2, ct, ctw,
                  span, errs, link_count, cur, nxt, curw)
