"""Weight-streaming execution: each layer runs the whole batch on the whole wafer while its
weights stream in (and, training, stream in again for backward and the gradients stream out)."""

from __future__ import annotations

import numpy as np

from ..fabric import link_loads
from ..graph import DTYPE_BYTES
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
    stage_t = np.maximum(np.maximum(ss.compute, ss.link / spec.link_wavelets_per_cycle),
                         ss.memory)
    per_sample = stage_t.mean(axis=0)
    rows, total = [], 0.0
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
        cm, fm, mm = ss.compute[:, s].mean(), ss.link[:, s].mean(), ss.memory[:, s].mean()
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, float(cm),
                             float(ss.core_cycles[s].mean()), float(fm), float(mm),
                             float(stream / batch), float(layer / batch),
                             bound_kind(cm, fm, mm, stream / batch)))
    step_s = total / spec.clock_hz
    sps = batch / step_s
    busy = sum(ss.core_cycles[s] * batch for s in range(len(rows))) / total
    # every layer's own multicasts and reductions cross the whole mesh, one layer at a time
    loads, hops = link_loads(placement.stages, ss.mean_costs, (), placement.tile_shape,
                             training)
    cum = np.cumsum([0.0] + [r.stage_cycles for r in rows])
    shown = min(SHOWN_SAMPLES, samples)
    settings.update(period_cycles=total / batch, allreduce_cycles_per_step=0.0)
    return build_result(
        placement, mode=mode, execution="weight_streaming", rows=rows, samples_per_s=sps,
        step_time_s=step_s, latency_s=step_s, replicas=1,
        energy_j_per_sample=energy_j_per_sample(spec, ss.macs_per_sample, hops,
                                                ss.sram_bytes_per_sample, sps),
        wavelet_hops_per_sample=hops, macs_per_sample=ss.macs_per_sample,
        sim_wall_s=sim_wall_s(), settings=settings,
        busy_fraction=np.minimum(np.broadcast_to(busy, placement.stage_id.shape), 1.0),
        link_loads=loads, timeline_start=np.broadcast_to(cum[:-1], (shown, len(rows))).copy(),
        timeline_finish=np.broadcast_to(cum[1:], (shown, len(rows))).copy())
