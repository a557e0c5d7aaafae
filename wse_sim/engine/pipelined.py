"""Pipelined execution: per-sample stage times, then the schedule.

Inference runs a tandem queue with finite FIFOs (a max-plus recurrence). Training runs the
forward pass through the stages and the backward pass back through the same regions in a
one-forward-one-backward order, with the optimizer step on each region once per batch:
``sync`` drains the pipeline around each step (exact gradients, a bubble per batch), ``async``
never drains (weights updated while older samples are in flight). Replicas multiply the
throughput, less their gradient all-reduce; the host feeds every replica through the wafer's
I/O edge.
"""

from __future__ import annotations

import numpy as np

from ..fabric import add_host_io, link_loads
from ..graph import DTYPE_BYTES
from ..kernels.pipeline import pipeline_summary, pipeline_times
from ..kernels.routes import region_max_link_load
from ..kernels.schedule import train_schedule
from ..placer import Placement, allreduce_cycles_per_step, host_io
from ..placer.stages import StreamUnits, chunk_in_flight, edge_delays
from .energy import energy_j_per_sample
from .result import SimResult, StageRow, bound_kind, build_result
from .sampling import PassCosts, StageSamples

SHOWN_SAMPLES = 16  # samples whose timeline the result keeps
ASYNC_BATCHES = 3  # async: batches simulated past the warm-up to reach the steady state
MAX_ASYNC_SAMPLES = 8192  # async: cap on simulated samples (cost is linear in it)
WARM_SCALES = (2, 4)  # streaming: deeper warm-ups tried (x the round trip) where SRAM allows


def run_pipelined(placement: Placement, ss: StageSamples, *, mode: str, batch: int,
                  samples: int, drain_per_step: bool, settings: dict,
                  sim_wall_s) -> SimResult:
    """The :class:`SimResult` of a pipelined placement from its sampled stage costs.

    ``settings`` is completed with the schedule's figures; ``sim_wall_s`` is a callable giving
    the seconds spent so far.
    """
    training = mode == "train"
    spec = placement.wafer
    physics = placement.physics
    loads, hops = _wafer_loads(placement, ss.total.mean_costs, training)
    t_tot = _pass_times(placement, ss.total, loads)
    if training:
        f_loads, _ = _wafer_loads(placement, ss.forward.mean_costs, False)
        t_fwd = _pass_times(placement, ss.forward, f_loads)
        t_bwd = {k: np.maximum(t_tot[k] - t_fwd[k], 0.0) for k in t_tot}
    feed = _host_feed_cycles(placement)
    vb = DTYPE_BYTES[placement.graph.dtype]
    nnz = np.array([d.nnz for d in placement.data], dtype=np.float64)
    ar = allreduce_cycles_per_step(nnz, [st.rect for st in placement.stages],
                                   placement.replicas, placement.tile_shape, spec,
                                   vb) if training else 0.0
    if training:
        tf, tb = _split_passes(_bound(t_fwd), _bound(t_bwd), _bound(t_tot))
        tf = np.maximum(tf, feed[None, :])  # a stage that reads input waits for the host
        sched = _train(placement, tf, tb, ss.update_cycles, batch, samples, physics.schedule)
        step_cycles = sched["step_cycles"] + ar
        stage_t = tf + tb
        start, finish = sched["start"], sched["finish"]
        latency = sched["latency_cycles"]
    else:
        stage_t = np.maximum(_bound(t_tot), feed[None, :])
        start, finish, depart = _infer_times(placement, stage_t)
        period = 1.0 / pipeline_summary(depart, stage_t).throughput_samples_per_cycle
        step_cycles = batch * period + (_fill(placement, depart) if drain_per_step else 0.0)
        latency = _fill(placement, depart)
        sched = {"schedule": "inference", "bubble_fraction": 0.0, "staleness_steps": 0.0,
                 "in_flight": np.ones(len(placement.stages), dtype=np.int64)}
    step_s = step_cycles / spec.clock_hz
    sps = placement.replicas * batch / step_s
    period = step_cycles / batch
    rows = _stage_rows(placement, ss, t_tot, stage_t, feed)
    busy_tile = np.zeros(placement.tile_shape)
    for s, st in enumerate(placement.stages):
        r0, c0, h, w = st.rect
        busy_tile[r0:r0 + h, c0:c0 + w] = ss.core_cycles[s] / period
    shown = min(SHOWN_SAMPLES, samples, len(start))
    settings.update(period_cycles=period, allreduce_cycles_per_step=ar,
                    schedule=sched["schedule"], bubble_fraction=sched["bubble_fraction"],
                    weight_staleness_steps=sched["staleness_steps"],
                    physics=physics.to_dict(),
                    host_feed_cycles_per_sample=float(feed.max(initial=0.0)),
                    granularity=physics.granularity,
                    samples_in_flight_max=int(sched["in_flight"].max(initial=1)),
                    samples_in_flight=[int(w) for w in sched["in_flight"]],
                    stream_units=[f"{st.unit}x{st.chunks}" for st in placement.stages])
    _auto_note(placement, sps, settings)
    return build_result(
        placement, mode=mode, execution="pipelined", rows=rows, samples_per_s=sps,
        step_time_s=step_s, latency_s=latency / spec.clock_hz, replicas=placement.replicas,
        energy_j_per_sample=energy_j_per_sample(spec, ss.macs_per_sample, hops,
                                                ss.sram_bytes_per_sample, sps),
        wavelet_hops_per_sample=hops, macs_per_sample=ss.macs_per_sample,
        sim_wall_s=sim_wall_s(), settings=settings,
        busy_fraction=np.minimum(_tile_to_wafer(busy_tile, placement), 1.0),
        link_loads=loads, timeline_start=start[:shown].copy(),
        timeline_finish=finish[:shown].copy(), schedule=sched["schedule"],
        bubble_fraction=sched["bubble_fraction"],
        weight_staleness_steps=sched["staleness_steps"],
        timeline_bwd_start=sched["bwd_start"][:shown].copy() if training else None,
        timeline_bwd_finish=sched["bwd_finish"][:shown].copy() if training else None)


def _auto_note(placement: Placement, sps: float, settings: dict) -> None:
    """Say what ``replicas='auto'`` would give (its count, and this run's samples/s scaled by
    the sizing model's rate ratio), so the what-if stays one flag away."""
    if not placement.replicas_auto:
        return
    r, gain = placement.replicas_auto
    settings["replicas_auto"] = {"replicas": int(r), "samples_per_s_estimate": sps * gain}
    if r != placement.replicas:
        settings["placement_notes"] = [*settings.get("placement_notes", []), (
            f"{r} replica{'s' if r != 1 else ''} (replicas='auto', --replicas auto) would give "
            f"about {sps * gain:,.0f} samples/s (this run x the sizing model's ratio {gain:.2f}"
            f"); this run places {placement.replicas}")]


def _wafer_loads(placement: Placement, costs, training: bool) -> tuple[np.ndarray, float]:
    """Link loads over the whole wafer (every replica, plus the host's traffic when
    ``physics.ingress``) and the wavelet-hops per sample of one replica and its host I/O."""
    loads_tile, hops = link_loads(placement.stages, costs, placement.flows,
                                  placement.tile_shape, training)
    loads = _tile_to_wafer(loads_tile, placement)
    if placement.physics.ingress:
        into, out = _host_io(placement)
        if training:
            out = np.zeros_like(out)  # only the loss leaves; its scalar is negligible
        rects, w_in, w_out = _replica_rects(placement, into, out)
        hops += add_host_io(loads, rects, w_in, w_out) / placement.replicas
    return loads, hops


def _replica_rects(placement: Placement, *per_stage: np.ndarray):
    """The wafer rectangle of every (replica, stage) pair whose per-stage value is non-zero,
    and those values."""
    keep = np.zeros(len(placement.stages), dtype=bool)
    for v in per_stage:
        keep |= v > 0
    rects, vals = [], [[] for _ in per_stage]
    for oy, ox in placement.replica_origins:
        for s in np.flatnonzero(keep):
            r0, c0, h, w = placement.stages[s].rect
            rects.append((oy + r0, ox + c0, h, w))
            for lst, v in zip(vals, per_stage, strict=True):
                lst.append(v[s])
    return (np.array(rects, dtype=np.int64).reshape(-1, 4),
            *(np.array(v, dtype=np.float64) for v in vals))


def _pass_times(placement: Placement, pc: PassCosts, loads: np.ndarray) -> dict:
    """Per-sample bounds of one pass, cycles (samples, S): compute, ramp, fabric (the stage's
    busiest link over every replica, routed traffic and host I/O included, scaled per sample
    by its own internal traffic) and memory."""
    spec = placement.wafer
    S = len(placement.stages)
    rects, idx = [], []
    for oy, ox in placement.replica_origins:
        for s, st in enumerate(placement.stages):
            r0, c0, h, w = st.rect
            rects.append((oy + r0, ox + c0, h, w))
            idx.append(s)
    r = np.array(rects, dtype=np.int64)
    peak = region_max_link_load(loads, r[:, 0], r[:, 0] + r[:, 2], r[:, 1], r[:, 1] + r[:, 3])
    region_link = np.zeros(S)
    np.maximum.at(region_link, np.array(idx), peak)
    mean = pc.link.mean(axis=0)
    ratio = np.divide(pc.link, mean, out=np.ones_like(pc.link), where=mean > 0)
    fabric = region_link[None, :] * ratio / spec.link_wavelets_per_cycle
    ramp = pc.ramp if placement.physics.ramp else np.zeros_like(pc.ramp)
    return {"compute": pc.compute, "ramp": ramp, "fabric": fabric, "memory": pc.memory}


def _split_passes(tf: np.ndarray, tb: np.ndarray, tt: np.ndarray):
    """Forward and backward task times whose sum is the whole sample's bound ``tt``.

    A region's compute, links and SRAM port work at once, and a dataflow core runs the
    forward of one sample while the backward traffic of another crosses its links, so per
    sample a region is busy for the largest of its summed resource times (``tt``), not for
    the sum of each pass's largest (``tf + tb``). Each task keeps its pass's share of it."""
    both = tf + tb
    share = np.divide(tf, both, out=np.full_like(tf, 0.5), where=both > 0)
    return tt * share, tt * (1.0 - share)


def _bound(t: dict) -> np.ndarray:
    return np.maximum(np.maximum(t["compute"], t["ramp"]), np.maximum(t["fabric"], t["memory"]))


def _host_feed_cycles(placement: Placement) -> np.ndarray:
    """Cycles per sample the off-wafer link needs to feed each stage's graph inputs to every
    replica (and, at inference, to take its outputs away): (S,), 0 without ``ingress``."""
    S = len(placement.stages)
    if not placement.physics.ingress:
        return np.zeros(S)
    into, out = _host_io(placement)
    if placement.training:
        out = np.zeros_like(out)
    spec = placement.wafer
    per_cycle = spec.offwafer_bytes_per_s / spec.clock_hz
    wavelet_bytes = spec.wavelet_bits / 8
    # the off-wafer link is shared by every replica and every stage that reads the host
    total = (into.sum() + out.sum()) * wavelet_bytes * placement.replicas / per_cycle
    return np.where((into > 0) | (out > 0), total, 0.0)


def _host_io(placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Host traffic per stage (:func:`wse_sim.placer.host_io`), inputs at the density the
    simulation uses for each stage (measured or overridden, else the graph's)."""
    g = placement.graph
    into, out = host_io(g, [st.ops for st in placement.stages])
    for s, st in enumerate(placement.stages):
        op = g.op(st.heavy)
        graph_density = g.op(op.inputs[0]).out_density if op.inputs else 1.0
        if into[s] > 0 and graph_density > 0:
            into[s] *= st.in_density / graph_density
    return into, out


def _edges(placement: Placement) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stage DAG's edges and each one's latency: hops between the two regions at one cycle
    per hop, and the ramp into and out of the cores (:func:`wse_sim.placer.stages.edge_delays`)."""
    src = np.array([f.src for f in placement.flows], dtype=np.int64)
    dst = np.array([f.dst for f in placement.flows], dtype=np.int64)
    delay = edge_delays([st.rect for st in placement.stages], placement.flows, placement.wafer)
    return src, dst, delay


def _streams(placement: Placement) -> bool:
    """True when some stage moves a sample in more than one chunk."""
    return any(st.chunks > 1 for st in placement.stages)


def _chunk_args(placement: Placement) -> dict:
    """The streaming arguments of :func:`~wse_sim.kernels.schedule.train_schedule`: chunks per
    stage, input FIFOs in chunks, and each flow's lead fractions (all 1 for whole samples)."""
    return {"chunks": np.array([st.chunks for st in placement.stages], dtype=np.int64),
            "lead": np.array([f.lead for f in placement.flows], dtype=np.float64),
            "back_lead": np.array([f.back_lead for f in placement.flows], dtype=np.float64)}


def _infer_times(placement: Placement, stage_t: np.ndarray):
    """Start, finish and departure of every sample on every stage at inference: the stages as
    a chain with finite FIFOs (whole samples), or streaming chunks when they stream (a stage's
    lead is that of its flow from the stage before it, else the largest of its in-flows')."""
    if not _streams(placement):
        fifo = np.array([st.fifo_samples for st in placement.stages], dtype=np.int64)
        return pipeline_times(stage_t, fifo[1:] if len(fifo) > 1 else 1)
    S = len(placement.stages)
    fifo = np.array([st.fifo_chunks for st in placement.stages], dtype=np.int64)
    lead = np.ones(S)
    for s in range(1, S):
        ins = [f for f in placement.flows if f.dst == s]
        prev = [f.lead for f in ins if f.src == s - 1]
        lead[s] = prev[0] if prev else max((f.lead for f in ins), default=1.0)
    chunks = np.array([st.chunks for st in placement.stages], dtype=np.int64)
    return pipeline_times(stage_t, fifo[1:] if S > 1 else 1, chunks=chunks, lead=lead)


def _stash(placement: Placement, tf: np.ndarray, tb: np.ndarray, delay: np.ndarray,
           warm: np.ndarray, fifo: np.ndarray, scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Samples each streaming stage stashes (its 1F1B warm-up) and its FIFO in chunks.

    The placer sized each stage for ``in_flight`` samples from its predicted times; the
    schedule needs what the sampled times ask (:func:`~wse_sim.placer.stages.chunk_in_flight`
    on the mean forward and backward times and the flows' latencies). A stage that needs more
    takes it from the SRAM its FIFO would use, one ``stash_bytes_per_sample`` each, as far as
    that room goes (its FIFO shrinks in proportion, to one chunk at least). ``scale``
    multiplies what it asks for: a deeper warm-up the SRAM allows is the compiler's choice."""
    st = placement.stages
    units = StreamUnits(tuple(s.unit for s in st), np.array([s.chunks for s in st]),
                        np.array([f.lead for f in placement.flows]),
                        np.array([f.back_lead for f in placement.flows]))
    need = chunk_in_flight(len(st), placement.flows, units, tf.mean(axis=0), tb.mean(axis=0),
                           delay)
    spec = placement.wafer
    room = np.array([spec.sram_bytes_per_core - s.sram_max_bytes + spec.io_buffer_bytes
                     for s in st])
    per = np.array([s.stash_bytes_per_sample for s in st])
    extra = np.where(per > 0, np.floor(np.maximum(room, 0.0) / np.maximum(per, 1e-300)),
                     need.max(initial=1))
    add = np.minimum(np.maximum(need * scale - warm, 0), extra).astype(np.int64)
    left = np.where(room > 0, 1.0 - add * per / np.maximum(room, 1e-300), 1.0)
    fifo = np.maximum(1, np.floor(fifo * np.clip(left, 0.0, 1.0))).astype(np.int64)
    warm = warm + add
    for f in sorted(placement.flows, key=lambda f: (-f.src, -f.dst)):  # no consumer above
        warm[f.src] = max(warm[f.src], warm[f.dst])  # its producer
    return warm, fifo


def _work_floor(tf: np.ndarray, tb: np.ndarray, upd: np.ndarray, warm: np.ndarray,
                fs: np.ndarray, fe: np.ndarray, bs: np.ndarray, be: np.ndarray) -> float:
    """A floor on a sync step of the streaming schedule, whose two streams per region may
    overlap while one waits for data: each region does all its own work from the first
    sample's arrival, idles before its first backward for what its warm-up forwards do not
    fill, and after its last forward for what its last backwards do not fill; then its
    update runs while the upstream regions finish their last backward."""
    n = tf.shape[0]
    w = np.minimum(warm, n)
    cols = np.arange(tf.shape[1])
    ctf = np.cumsum(tf, axis=0)
    ctb = np.vstack([np.zeros((1, tb.shape[1])), np.cumsum(tb, axis=0)])
    idle_in = np.maximum(0.0, bs[0] - fs[0] - ctf[w - 1, cols])
    last = ctb[n - 1] - ctb[n - w, cols]  # backwards n-w .. n-2, left after the last forward
    idle_out = np.maximum(0.0, bs[n - 1] - fe[n - 1] - last)
    end = fs[0] + (tf + tb).sum(axis=0) + idle_in + idle_out
    return float((end + np.maximum(be[n - 1].max() - be[n - 1], upd)).max())


def _train(placement: Placement, tf: np.ndarray, tb: np.ndarray, upd: np.ndarray, batch: int,
           samples: int, schedule: str) -> dict:
    """The training schedule's step, timeline, bubble and staleness (cycles)."""
    src, dst, delay = _edges(placement)
    warm = np.array([max(1, st.in_flight) for st in placement.stages], dtype=np.int64)
    fifo = np.array([st.fifo_chunks if _streams(placement) else st.fifo_samples
                     for st in placement.stages], dtype=np.int64)
    kw = _chunk_args(placement) if _streams(placement) else {}
    planned = (warm, fifo)
    if kw:
        warm, fifo = _stash(placement, tf, tb, delay, *planned)
    # the busiest region's own work per step (its forward, backward and update): what the
    # step would be with no fill or drain
    ideal = float((batch * (tf.mean(axis=0) + tb.mean(axis=0)) + upd).max())
    if schedule == "sync":
        n = batch
        rows = np.arange(n) % tf.shape[0]
        fs, fe, bs, be = train_schedule(tf[rows], tb[rows], warm, src, dst, delay, fifo, **kw)
        step = float((be[n - 1] + upd).max())
        if kw:
            step = max(step, _work_floor(tf[rows], tb[rows], upd, warm, fs, fe, bs, be))
            for scale in WARM_SCALES:  # a deeper warm-up where the SRAM has room for it
                w2, f2 = _stash(placement, tf, tb, delay, *planned, scale=scale)
                if (w2 == warm).all():
                    continue
                out = train_schedule(tf[rows], tb[rows], w2, src, dst, delay, f2, **kw)
                s2 = max(float((out[3][n - 1] + upd).max()),
                         _work_floor(tf[rows], tb[rows], upd, w2, *out))
                if s2 < step:
                    (fs, fe, bs, be), step, warm = out, s2, w2
        return {"schedule": "sync", "step_cycles": step, "start": fs, "finish": fe,
                "bwd_start": bs, "bwd_finish": be,
                "latency_cycles": float(be[0].max()),
                "bubble_fraction": max(0.0, 1.0 - ideal / step), "staleness_steps": 0.0,
                "in_flight": warm}
    n = int(min(MAX_ASYNC_SAMPLES, max(samples, 2 * int(warm.max()) + ASYNC_BATCHES * batch)))
    rows = np.arange(n) % tf.shape[0]
    fs, fe, bs, be = train_schedule(tf[rows], tb[rows], warm, src, dst, delay, fifo, upd,
                                    batch, **kw)
    done = be.max(axis=1)  # a sample is done when its last backward task is
    # steady state: a window of one batch before the last warm-up's worth of samples, whose
    # backwards drain faster at the end of the simulated run
    hi = n - 1 - int(warm.max())
    lo = max(0, hi - batch)
    period = (done[hi] - done[lo]) / (hi - lo) if hi > lo else float(done[-1]) / n
    if kw:  # no region does more than its own work per sample (see the sync floor)
        period = max(period, float(((tf[rows] + tb[rows]).mean(axis=0) + upd / batch).max()))
    return {"schedule": "async", "step_cycles": float(batch * period), "start": fs,
            "finish": fe, "bwd_start": bs, "bwd_finish": be,
            "latency_cycles": float(be[0].max()), "bubble_fraction": 0.0,
            # a sample's forward and its gradient's update are in_flight samples apart
            "staleness_steps": float((warm.max() - 1) / batch), "in_flight": warm}


def _fill(placement: Placement, depart: np.ndarray) -> float:
    """Cycles for the first sample to leave the pipeline, hop and ramp latencies included."""
    spec = placement.wafer
    hops = sum(abs(placement.stages[f.src].rect[0] - placement.stages[f.dst].rect[0])
               + abs(placement.stages[f.src].rect[1] - placement.stages[f.dst].rect[1])
               for f in placement.flows)
    return (float(depart[0, -1]) + hops * spec.hop_latency_cycles
            + 2 * spec.ramp_latency_cycles * len(placement.stages))


def _stage_rows(placement: Placement, ss: StageSamples, t_tot: dict, stage_t: np.ndarray,
                feed: np.ndarray) -> list[StageRow]:
    rows = []
    for s, st in enumerate(placement.stages):
        cm = float(t_tot["compute"][:, s].mean())
        rm = float(t_tot["ramp"][:, s].mean())
        fm = float(t_tot["fabric"][:, s].mean())
        mm = float(t_tot["memory"][:, s].mean())
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, cm, float(ss.core_cycles[s].mean()),
                             fm, mm, 0.0, float(stage_t[:, s].mean()),
                             bound_kind(cm, fm, mm, 0.0, rm, float(feed[s])), rm,
                             float(ss.update_cycles[s]) if len(ss.update_cycles) else 0.0))
    return rows


def _tile_to_wafer(tile_arr: np.ndarray, placement: Placement) -> np.ndarray:
    """A per-core array of one replica tile copied to every replica; 0 elsewhere."""
    spec = placement.wafer
    th, tw = placement.tile_shape
    if (th, tw) == (spec.rows, spec.cols) and len(placement.replica_origins) == 1:
        # one replica tiles the whole wafer: the tile is the wafer array (float64; the
        # caller's own array, not a copy, when it is float64 already)
        return np.array(tile_arr, dtype=np.float64, copy=tile_arr.dtype != np.float64)
    out = np.zeros((spec.rows, spec.cols, *tile_arr.shape[2:]), dtype=np.float64)
    for oy, ox in placement.replica_origins:
        out[oy:oy + th, ox:ox + tw] = tile_arr
    return out
