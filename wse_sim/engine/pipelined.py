"""Pipelined execution: per-sample stage times through a max-plus pipeline with finite
buffers; replicas multiply the throughput, less their gradient all-reduce."""

from __future__ import annotations

import numpy as np

from ..fabric import link_loads
from ..graph import DTYPE_BYTES
from ..kernels.pipeline import pipeline_summary, pipeline_times
from ..kernels.routes import region_max_link_load
from ..placer import Placement, allreduce_cycles_per_step
from .energy import energy_j_per_sample
from .result import SimResult, StageRow, bound_kind, build_result
from .sampling import StageSamples

SHOWN_SAMPLES = 16  # samples whose timeline the result keeps


def run_pipelined(placement: Placement, ss: StageSamples, *, mode: str, batch: int,
                  samples: int, drain_per_step: bool, settings: dict,
                  sim_wall_s) -> SimResult:
    """The :class:`SimResult` of a pipelined placement from its sampled stage costs.

    ``settings`` is completed with the period and the all-reduce; ``sim_wall_s`` is a
    callable giving the seconds spent so far.
    """
    training = mode == "train"
    spec = placement.wafer
    S = len(placement.stages)
    tile = placement.tile_shape
    loads, hops = link_loads(placement.stages, ss.mean_costs, placement.flows, tile, training)
    rects = np.array([st.rect for st in placement.stages], dtype=np.int64)
    region_link = region_max_link_load(loads, rects[:, 0], rects[:, 0] + rects[:, 2],
                                       rects[:, 1], rects[:, 1] + rects[:, 3])
    intra_mean = ss.link.mean(axis=0)
    # a sample's busiest link scales with its own internal traffic; routes between stages add
    ratio = np.divide(ss.link, intra_mean, out=np.ones_like(ss.link), where=intra_mean > 0)
    fab = region_link[None, :] * ratio / spec.link_wavelets_per_cycle
    stage_t = np.maximum(np.maximum(ss.compute, fab), ss.memory)
    start, finish, depart = pipeline_times(stage_t, spec.buffer_depth)
    summary = pipeline_summary(depart, stage_t)
    period = 1.0 / summary.throughput_samples_per_cycle
    hop_latency = _route_latency(placement) * spec.hop_latency_cycles
    fill = float(depart[0, -1]) + hop_latency + 2 * spec.ramp_latency_cycles * S
    vb = DTYPE_BYTES[placement.graph.dtype]
    nnz = np.array([d.nnz for d in placement.data], dtype=np.float64)
    ar = allreduce_cycles_per_step(nnz, [st.rect for st in placement.stages],
                                   placement.replicas, tile, spec, vb) if training else 0.0
    step_cycles = batch * period + ar + (fill if drain_per_step else 0.0)
    step_s = step_cycles / spec.clock_hz
    sps = placement.replicas * batch / step_s
    rows = []
    for s, st in enumerate(placement.stages):
        cm, fm, mm = (float(ss.compute[:, s].mean()), float(fab[:, s].mean()),
                      float(ss.memory[:, s].mean()))
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, cm, float(ss.core_cycles[s].mean()),
                             fm, mm, 0.0, float(stage_t[:, s].mean()), bound_kind(cm, fm, mm)))
    busy_tile = np.zeros(tile)
    for s, st in enumerate(placement.stages):
        r0, c0, h, w = st.rect
        busy_tile[r0:r0 + h, c0:c0 + w] = ss.core_cycles[s] / period
    shown = min(SHOWN_SAMPLES, samples)
    settings.update(period_cycles=period, allreduce_cycles_per_step=ar)
    return build_result(
        placement, mode=mode, execution="pipelined", rows=rows, samples_per_s=sps,
        step_time_s=step_s, latency_s=fill / spec.clock_hz, replicas=placement.replicas,
        energy_j_per_sample=energy_j_per_sample(spec, ss.macs_per_sample, hops,
                                                ss.sram_bytes_per_sample, sps),
        wavelet_hops_per_sample=hops, macs_per_sample=ss.macs_per_sample,
        sim_wall_s=sim_wall_s(), settings=settings,
        busy_fraction=np.minimum(_tile_to_wafer(busy_tile, placement), 1.0),
        link_loads=_tile_to_wafer(loads, placement),
        timeline_start=start[:shown].copy(), timeline_finish=finish[:shown].copy())


def _route_latency(placement: Placement) -> float:
    """Hops along the chain of stages (entry of each stage to the exit of the next)."""
    total = 0.0
    for f in placement.flows:
        a, b = placement.stages[f.src].rect, placement.stages[f.dst].rect
        total += abs(a[0] - b[0]) + abs(a[1] - b[1])
    return total


def _tile_to_wafer(tile_arr: np.ndarray, placement: Placement) -> np.ndarray:
    """A per-core array of one replica tile copied to every replica; 0 elsewhere."""
    spec = placement.wafer
    out = np.zeros((spec.rows, spec.cols, *tile_arr.shape[2:]), dtype=np.float64)
    th, tw = placement.tile_shape
    for oy, ox in placement.replica_origins:
        out[oy:oy + th, ox:ox + tw] = tile_arr
    return out
