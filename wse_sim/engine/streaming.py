"""Weight-streaming execution on a system (or N in data parallel), a micro-batch at a time.

Per micro-batch of ``m`` samples, each layer runs forward on the whole wafer while its
weights stream in, then (training) backward in reverse order while its weights stream in
again and its gradients stream out. A pass of a layer takes the largest of its compute
(``ceil(m units / tiles)`` waves of one unit on its tile, from the real mapping's per-core
counts), its weight stream and, backward, its gradient stream. Gradients accumulate in the
memory service over the micro-batches of a step; the service runs the optimizer, layer by
layer as each layer's last gradient arrives, and the next step's forward of a layer waits
for its update (the one boundary weight streaming cannot hide). Sources and the rules:
``docs/modeling.md``, "Weight streaming on a system".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import SimulationError
from ..fabric import link_loads
from ..mapping import OPTIMIZER_READ_BYTES, OPTIMIZER_VECTOR_OPS, OPTIMIZER_WRITE_BYTES
from ..placer import Placement
from ..placer.stream_memory import distinct_rows
from ..placer.streaming import run_size
from .cluster import per_system_batch, scaling_efficiency, tree_latency_cycles
from .energy import energy_j_per_sample
from .pipelined import SHOWN_SAMPLES
from .result import SimResult, StageRow, bound_kind, build_result
from .sampling import StageSamples

ROW_ID_BYTES = 4  # a sparse embedding gradient sends an int32 row id per row, assumed
INPUT_BYTES_PER_ELEM = 4  # token ids and other inputs arrive as 32-bit values, assumed


def micro_batches(per_system: int, micro: int) -> np.ndarray:
    """Sizes of the micro-batches of a step, as even as they can be (int64)."""
    n = -(-per_system // max(micro, 1))
    q, r = divmod(per_system, n)
    return np.array([q + 1] * r + [q] * (n - r), dtype=np.int64)


def layer_passes(placement: Placement, c_fwd: np.ndarray, c_bwd: np.ndarray, m: int,
                 training: bool, bw_cycle: float) -> dict[str, np.ndarray]:
    """Each stage's forward and backward on a micro-batch of ``m`` samples, cycles (S,), and
    what bounds them: ``compute_f``, ``compute_b``, ``w_in`` (weight bytes per pass),
    ``g_out`` (gradient bytes), ``spill`` (stash bytes beyond what fits), ``fwd``, ``bwd``."""
    sp = placement.streaming
    waves = np.ceil(m * sp.units / sp.tiles)
    # lookup tables stream only the rows this micro-batch reads; their gradient is sparse
    rows = distinct_rows(sp.table_rows, m * sp.lookups_per_sample)
    w_in = sp.weight_bytes + rows * sp.row_bytes
    g_out = (sp.weight_bytes + rows * (sp.row_bytes + ROW_ID_BYTES)) if training else 0 * w_in
    excess = max(0, m - sp.micro_fit) if training else 0
    spill = excess * sp.stash_bytes
    compute_f = waves * c_fwd
    compute_b = waves * c_bwd if training else np.zeros_like(c_fwd)
    fwd = np.maximum(np.maximum(compute_f, w_in / bw_cycle), spill / bw_cycle)
    bwd = np.maximum(np.maximum(compute_b, (w_in + spill) / bw_cycle), g_out / bw_cycle) \
        if training else np.zeros_like(fwd)
    return {"waves": waves, "compute_f": compute_f, "compute_b": compute_b, "w_in": w_in,
            "g_out": g_out,
            "spill": spill, "fwd": fwd, "bwd": bwd}


def update_cycles_service(placement: Placement) -> np.ndarray:
    """Cycles (wafer clock) the memory service takes to update each stage's weights once:
    the Adam arithmetic or its memory traffic, whichever is longer (S,)."""
    sys = placement.streaming.system
    # a layer tied to another's weights (a GPT's LM head) is updated with them, once
    nnz = np.array([float(sd.nnz) if sd.view.stored_weights and not sd.op.attrs.get("tied_to")
                    else 0.0 for sd in placement.data])
    flops = nnz * OPTIMIZER_VECTOR_OPS / sys.optimizer_flops
    mem = nnz * (OPTIMIZER_READ_BYTES + OPTIMIZER_WRITE_BYTES) / sys.optimizer_memory_bytes_per_s
    return np.maximum(flops, mem) * placement.wafer.clock_hz


def step_cycles(placement: Placement, c_fwd: np.ndarray, c_bwd: np.ndarray, per_system: int,
                training: bool, system, micro: int | None = None) -> tuple[float, dict]:
    """Cycles of one step on one system of ``system`` running ``per_system`` samples in
    micro-batches of at most ``micro`` (default: the placement's), and its parts: the
    micro-batches' layer passes (summed), the exposed update, the stream bytes."""
    clock = placement.wafer.clock_hz
    bw = system.stream_bytes_per_s / clock
    micro = placement.streaming.micro_batch if micro is None else micro
    micro = min(micro, per_system) if training else per_system
    sizes = micro_batches(per_system, micro)
    uniq, counts = np.unique(sizes, return_counts=True)
    S = len(c_fwd)
    acc = {k: np.zeros(S) for k in ("compute", "waves", "w_in", "g_out", "spill", "fwd",
                                    "bwd")}
    per = {}
    for m, n in zip(uniq, counts, strict=True):
        p = layer_passes(placement, c_fwd, c_bwd, int(m), training, bw)
        per[int(m)] = p
        acc["compute"] += n * (p["compute_f"] + p["compute_b"])
        for k in ("waves", "w_in", "g_out", "spill", "fwd", "bwd"):
            acc[k] += n * p[k]
    passes = float(acc["fwd"].sum() + acc["bwd"].sum())
    tree = tree_latency_cycles(system)
    exposed = 0.0
    if training:
        upd = update_cycles_service(placement)
        last, first = per[int(sizes[-1])], per[int(sizes[0])]
        # the last micro-batch: gradient of stage l leaves with its backward (reverse order)
        # and climbs the tree; the service updates stages in the order they arrive
        end_b = passes
        # backward runs from the last stage to the first: stage l's ends sum(bwd_<l) early
        ready = end_b - (np.cumsum(last["bwd"]) - last["bwd"]) + tree
        r_rev, u_rev = ready[::-1], upd[::-1]
        cu = np.cumsum(u_rev)
        done_rev = cu + np.maximum.accumulate(r_rev - (cu - u_rev))
        done = done_rev[::-1]
        # the next step's forward of stage l starts fwd_<l after the step; its weights come
        # down the tree once updated
        start = np.concatenate([[0.0], np.cumsum(first["fwd"])[:-1]])
        need = float(np.max(done + tree - start))
        exposed = max(0.0, need - end_b)
    inputs = sum(op.out_elems for op in placement.graph.ops() if op.kind == "input")
    host = per_system * inputs * INPUT_BYTES_PER_ELEM / system.host_input_bytes_per_s * clock
    total = max(passes + exposed, host)
    return total, {"acc": acc, "sizes": sizes, "exposed": exposed, "tree": tree,
                   "host": host, "micro": micro, "bw": bw}


def best_step_cycles(placement: Placement, c_fwd: np.ndarray, c_bwd: np.ndarray,
                     per_system: int, training: bool, system) -> float:
    """Cycles of the fastest step of ``per_system`` samples on ``system`` with this
    placement's tiles: the micro-batch chosen among all up to the placement's (they fit
    beside its working set), as the placer chooses its own (a compiler searching micro-batch
    sizes for speed). The reference a cluster's scaling is measured against."""
    cap = min(placement.streaming.micro_batch, per_system) if training else per_system
    best, tried = math.inf, set()
    bw = system.stream_bytes_per_s / placement.wafer.clock_hz
    dense = 2.0 * float(placement.streaming.weight_bytes.sum()) / bw  # a micro-batch's floor
    for m in range(cap, 0, -1):
        size = run_size(per_system, m)
        if size in tried:
            continue
        tried.add(size)
        if training and -(-per_system // size) * dense >= best:
            break  # more, smaller micro-batches only stream the weights more often
        best = min(best, step_cycles(placement, c_fwd, c_bwd, per_system, training, system,
                                     size)[0])
    return best


def run_streaming(placement: Placement, ss: StageSamples, *, mode: str, batch: int,
                  samples: int, settings: dict, sim_wall_s) -> SimResult:
    """The :class:`SimResult` of a weight-streaming placement from its sampled stage costs."""
    training = mode == "train"
    spec = placement.wafer
    sp = placement.streaming
    system = sp.system
    width = spec.link_wavelets_per_cycle

    def unit_cycles(t):  # a unit's cycles: the largest of its bounds, mean over the draws
        return np.maximum(np.maximum(t.compute, t.link / width),
                          np.maximum(t.memory, t.ramp)).mean(axis=0)

    c_tot = unit_cycles(ss.total)
    c_fwd = unit_cycles(ss.forward) if training else c_tot
    c_bwd = (c_tot - c_fwd) + sp.recompute * c_fwd if training else np.zeros_like(c_tot)
    b_sys = per_system_batch(batch, system)
    total, parts = step_cycles(placement, c_fwd, c_bwd, b_sys, training, system)
    acc = parts["acc"]
    step_s = total / spec.clock_hz
    sps = batch / step_s
    eff, eff_share, one_sps = 1.0, 1.0, sps
    if system.n_systems > 1:
        # against one system on the same global batch (what a reader comparing N systems
        # with one expects), and against one system alone on its share (the cluster's own
        # overhead: the tree's rate and latency)
        one = system.replace(n_systems=1)
        one_sps = batch / (best_step_cycles(placement, c_fwd, c_bwd, batch, training, one)
                           / spec.clock_hz)
        eff = scaling_efficiency(sps, system.n_systems, one_sps)
        alone, _ = step_cycles(placement, c_fwd, c_bwd, b_sys, training, one)
        eff_share = scaling_efficiency(sps, system.n_systems, b_sys / (alone / spec.clock_hz))
    t = ss.total
    upd = update_cycles_service(placement) if training else np.zeros(len(c_tot))
    rows = _rows(placement, ss, parts, upd, b_sys, training)
    macs = float((ss.stage_macs * sp.units).sum())
    sram_b = float((ss.stage_sram_bytes * sp.units).sum())
    hops = placement.wavelet_hops_per_sample
    busy = float(acc["compute"].sum() / total)  # the share of the step a layer computes
    shown = min(SHOWN_SAMPLES, samples)
    cum = np.cumsum([0.0] + [r.stage_cycles for r in rows])
    service = _service(placement, parts, upd, step_s, training)
    spilled = service["spill_bytes_per_step"] / 2.0
    micro = int(parts["sizes"].max())  # the largest micro-batch the step runs
    settings.update(
        one_system_samples_per_s=float(one_sps), scaling_efficiency_per_share=float(eff_share),
        period_cycles=total / batch, allreduce_cycles_per_step=0.0,
        schedule="layer-by-layer" if training else "inference",
        physics=placement.physics.to_dict(), system=system.to_dict(),
        micro_batches=parts["sizes"].tolist(), memory_service=service,
        attention_stash_bytes_per_sample=dict(sp.attention_stash_bytes),
        spilled=spilled > 0, unit_cycles_fwd=c_fwd.tolist(), unit_cycles_bwd=c_bwd.tolist())
    if spilled > 0:
        settings.setdefault("notes", []).append(
            f"micro_batch={sp.micro_forced} is forced beyond the {sp.micro_fit} samples whose "
            f"activations fit: {2 * spilled:,.0f} bytes per step spill off the wafer and back "
            "(charged on the stream link; bound 'spill')")
    loads = _link_loads(placement, t, training)
    return build_result(
        placement, mode=mode, execution="weight_streaming", rows=rows, samples_per_s=sps,
        step_time_s=step_s, latency_s=step_s, replicas=1,
        energy_j_per_sample=energy_j_per_sample(spec, macs, hops, sram_b,
                                                sps / system.n_systems),
        wavelet_hops_per_sample=hops, macs_per_sample=macs, sim_wall_s=sim_wall_s(),
        settings=settings,
        busy_fraction=np.full(placement.stage_id.shape, min(busy, 1.0)),
        link_loads=loads, schedule="layer-by-layer" if training else "inference",
        timeline_start=np.broadcast_to(cum[:-1], (shown, len(rows))).copy(),
        timeline_finish=np.broadcast_to(cum[1:], (shown, len(rows))).copy(),
        micro_batch=micro, systems=system.n_systems, scaling_efficiency=eff,
        memory_service=service)


def _rows(placement: Placement, ss: StageSamples, parts: dict, upd: np.ndarray, b_sys: int,
          training: bool) -> list[StageRow]:
    """The per-stage table, cycles per sample of the busiest system: a unit's own bounds
    times the unit waves a sample takes (ceil(m units / tiles) per micro-batch of m), the
    layer's streams over the step."""
    sp, acc, bw = placement.streaming, parts["acc"], parts["bw"]
    width = placement.wafer.link_wavelets_per_cycle
    t = ss.total
    per_s = 1.0 / b_sys
    tree = parts["tree"] * per_s if sp.system.n_systems > 1 else 0.0
    rows = []
    for s, st in enumerate(placement.stages):
        comp = acc["compute"][s] * per_s
        s_in = (2.0 if training else 1.0) * acc["w_in"][s] / bw * per_s
        s_out = acc["g_out"][s] / bw * per_s
        spill = 2.0 * acc["spill"][s] / bw * per_s
        layer = (acc["fwd"][s] + acc["bwd"][s]) * per_s
        cm, fm, mm, rm = (float(x[:, s].mean()) for x in (t.compute, t.link, t.memory, t.ramp))
        k = float(acc["waves"][s] * per_s)  # a unit's waves per sample, quantisation included
        bound = _stream_bound(comp, s_in, s_out, spill, bound_kind(cm, fm / width, mm, 0.0, rm))
        rows.append(StageRow(
            s, st.heavy, st.ops, st.cores, cm * k, float(ss.core_cycles[s].mean()) * k,
            fm * k, mm * k, float(max(s_in, s_out, spill)), float(layer), bound, rm * k,
            float(upd[s]), stream_in_cycles=float(s_in), stream_out_cycles=float(s_out),
            reduce_cycles=float(tree), spill_cycles=float(spill)))
    return rows


def _service(placement: Placement, parts: dict, upd: np.ndarray, step_s: float,
             training: bool) -> dict:
    """The memory service's load per step: bytes each way, its link's busy share, the
    update's time and its exposed part, the tree."""
    acc, system, clock = parts["acc"], placement.streaming.system, placement.wafer.clock_hz
    weights_in = float(acc["w_in"].sum() * (2 if training else 1))
    grads_out = float(acc["g_out"].sum())
    spilled = float(acc["spill"].sum())
    stream_in, stream_out = weights_in + spilled, grads_out + spilled
    return {
        "weight_bytes_per_step": weights_in, "gradient_bytes_per_step": grads_out,
        "stream_in_bytes_per_step": stream_in, "stream_out_bytes_per_step": stream_out,
        "stream_bytes_per_s": system.stream_bytes_per_s,
        "link_busy_fraction": max(stream_in, stream_out) / system.stream_bytes_per_s / step_s,
        "update_s_per_step": float(upd.sum() / clock),
        "update_exposed_s": parts["exposed"] / clock,
        "host_input_s_per_step": parts["host"] / clock, "spill_bytes_per_step": 2.0 * spilled,
        "tree_levels": system.tree_levels, "tree_latency_s": parts["tree"] / clock}


def systems_curve(result: SimResult, systems=(1, 2, 4, 8, 16, 32, 64)) -> dict:
    """Samples/s and scaling efficiency of ``result``'s placement on N systems of its kind at
    the same global batch, for each N in ``systems`` (the layers' unit costs and tiles as
    simulated; each system's micro-batch the fastest the placement allows on its share).

    Returns ``{"systems": [...], "samples_per_s": [...], "scaling_efficiency": [...],
    "scaling_efficiency_per_share": [...]}``: efficiency against N times one system on the
    same global batch, and against N times one system alone on its share."""
    p = result.placement
    if p is None or p.streaming is None:
        raise SimulationError("systems_curve needs the SimResult of a weight-streaming "
                              "placement (result.placement with a system)")
    c_fwd = np.asarray(result.settings["unit_cycles_fwd"])
    c_bwd = np.asarray(result.settings["unit_cycles_bwd"])
    training = result.mode == "train"
    batch = int(result.settings["batch"])
    clock = p.wafer.clock_hz
    out = {"systems": [], "samples_per_s": [], "scaling_efficiency": [],
           "scaling_efficiency_per_share": []}
    one = p.streaming.system.replace(n_systems=1)
    one_sps = batch / (best_step_cycles(p, c_fwd, c_bwd, batch, training, one) / clock)
    for n in systems:
        n = int(n)
        if n > batch:
            break
        sys_n = p.streaming.system.replace(n_systems=n)
        b = per_system_batch(batch, sys_n)
        sps = batch / (best_step_cycles(p, c_fwd, c_bwd, b, training, sys_n) / clock)
        alone = best_step_cycles(p, c_fwd, c_bwd, b, training, one)
        out["systems"].append(n)
        out["samples_per_s"].append(float(sps))
        out["scaling_efficiency"].append(scaling_efficiency(sps, n, one_sps))
        out["scaling_efficiency_per_share"].append(
            scaling_efficiency(sps, n, b / (alone / clock)))
    return out


def _stream_bound(compute: float, s_in: float, s_out: float, spill: float, inner: str) -> str:
    """What bounds a layer: its compute (named by the unit's own bound: compute, fabric,
    memory or ramp), the weight stream in, the gradient stream out, or spilled activations."""
    kinds = (inner, "weight_stream", "gradient_stream", "spill")
    return kinds[int(np.argmax((compute, s_in, s_out, spill)))]


def _link_loads(placement: Placement, t, training: bool) -> np.ndarray:
    """Link loads per sample on the wafer: the busiest layer's tile (a layer runs alone)."""
    s = int(np.argmax([st.est_cycles for st in placement.stages]))
    st = placement.stages[s]
    loads, _ = link_loads((_at0(st),), [t.mean_costs[s]], (), placement.tile_shape, training)
    return loads


def _at0(st):
    return dataclasses.replace(st, index=0)
