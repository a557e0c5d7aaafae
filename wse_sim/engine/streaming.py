"""Weight-streaming execution: each layer runs the whole batch on the whole wafer while its
weights stream in (and, training, stream in again for backward and the gradients stream out)."""

from __future__ import annotations

import numpy as np

from ..fabric import link_loads
from ..graph import DTYPE_BYTES
from ..kernels.stream import add_scaled
from ..placer import Placement
from .energy import energy_j_per_sample
from .pipelined import SHOWN_SAMPLES
from .result import SimResult, StageRow, bound_kind, build_result
from .sampling import StageSamples


def run_streaming(placement: Placement, ss: StageSamples, *, mode: str, batch: int,
                  samples: int, settings: dict, sim_wall_s) -> SimResult:
    """The :class:`SimResult` of a weight-streaming placement from its sampled stage costs."""
    training = mode == "train"
    spec = placement.wafer
    bw_cycle = spec.offwafer_bytes_per_s / spec.clock_hz  # bytes per cycle off the wafer
    t = ss.total
    stage_t = np.maximum(np.maximum(t.compute, t.link / spec.link_wavelets_per_cycle),
                         np.maximum(t.memory, t.ramp))
    per_sample = stage_t.mean(axis=0)
    rows, total = [], 0.0
    core_mean: dict = {}
    micro = placement.micro_batch
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        vb = DTYPE_BYTES[sd.op.dtype]
        wbytes = sd.nnz * vb * (1 if sd.op.weight_density >= 0.5 else 2)
        traffic = wbytes * (3 if training else 1)  # fwd in, bwd in, gradients out
        if training and micro < batch:  # activations that do not fit spill out and back in
            v = sd.view
            act = (v.rows * v.k * st.in_density / v.reuse + v.rows * v.n) * vb
            traffic += 2 * act * (batch - micro)
        stream = traffic / bw_cycle
        layer = max(batch * per_sample[s], stream)
        total += layer
        cm, fm, mm = t.compute[:, s].mean(), t.link[:, s].mean(), t.memory[:, s].mean()
        core = ss.core_cycles[s]
        if id(core) not in core_mean:  # stages costed once share their array
            core_mean[id(core)] = float(core.mean())
        rm = t.ramp[:, s].mean()
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, float(cm),
                             core_mean[id(core)], float(fm), float(mm),
                             float(stream / batch), float(layer / batch),
                             bound_kind(cm, fm, mm, stream / batch, rm), float(rm)))
    step_s = total / spec.clock_hz
    sps = batch / step_s
    busy = _busy_cycles(ss.core_cycles, batch) / total
    # every layer's own multicasts and reductions cross the whole mesh, one layer at a time
    loads, hops = link_loads(placement.stages, t.mean_costs, (), placement.tile_shape, training)
    cum = np.cumsum([0.0] + [r.stage_cycles for r in rows])
    shown = min(SHOWN_SAMPLES, samples)
    settings.update(period_cycles=total / batch, allreduce_cycles_per_step=0.0,
                    schedule="layer-by-layer" if training else "inference",
                    physics=placement.physics.to_dict())
    return build_result(
        placement, mode=mode, execution="weight_streaming", rows=rows, samples_per_s=sps,
        step_time_s=step_s, latency_s=step_s, replicas=1,
        energy_j_per_sample=energy_j_per_sample(spec, ss.macs_per_sample, hops,
                                                ss.sram_bytes_per_sample, sps),
        wavelet_hops_per_sample=hops, macs_per_sample=ss.macs_per_sample,
        sim_wall_s=sim_wall_s(), settings=settings,
        busy_fraction=np.minimum(np.broadcast_to(busy, placement.stage_id.shape), 1.0),
        link_loads=loads, schedule="layer-by-layer" if training else "inference",
        timeline_start=np.broadcast_to(cum[:-1], (shown, len(rows))).copy(),
        timeline_finish=np.broadcast_to(cum[1:], (shown, len(rows))).copy())


def _busy_cycles(core_cycles: list[np.ndarray], batch: int) -> np.ndarray:
    """Each core's busy cycles per step, float64 (h, w): the layers' mean compute cycles per
    core times the batch, added layer after layer."""
    acc = np.zeros(core_cycles[0].shape)
    for c in core_cycles:
        add_scaled(acc, c, float(batch))
    return acc
