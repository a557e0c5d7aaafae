"""What simulate() returns: :class:`SimResult` and its per-stage :class:`StageRow` table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GpuError
from ..placer import Placement

BOUNDS = ("compute", "fabric", "memory", "offwafer")


def bound_kind(compute: float, fabric: float, memory: float, stream: float = 0.0) -> str:
    """Which of a stage's per-sample times is the largest (ties: the first in ``BOUNDS``)."""
    return BOUNDS[int(np.argmax((compute, fabric, memory, stream)))]


@dataclass(frozen=True)
class StageRow:
    """One line of the per-stage table; cycles per sample (mean over the simulated samples)."""

    stage: int
    heavy: str
    ops: tuple[str, ...]
    cores: int
    compute_cycles_max: float
    compute_cycles_mean: float
    link_cycles_max: float
    memory_cycles: float
    stream_cycles: float
    stage_cycles: float
    bound: str

    def to_dict(self) -> dict:
        return {"stage": self.stage, "heavy": self.heavy, "ops": list(self.ops),
                "cores": self.cores, "compute_cycles_max": self.compute_cycles_max,
                "compute_cycles_mean": self.compute_cycles_mean,
                "link_cycles_max": self.link_cycles_max, "memory_cycles": self.memory_cycles,
                "stream_cycles": self.stream_cycles, "stage_cycles": self.stage_cycles,
                "bound": self.bound}


@dataclass(frozen=True, eq=False)
class SimResult:
    """What simulate() predicts. Per-core arrays are (rows, cols); link loads (rows, cols, 4)
    in wavelets per sample (direction E, W, S, N as in :mod:`wse_sim.kernels.routes`)."""

    model: str
    wafer: str
    mode: str
    execution: str  # "pipelined" or "weight_streaming"
    samples_per_s: float
    step_time_s: float
    latency_s: float
    bottleneck_stage: int
    bottleneck_op: str
    bottleneck_kind: str
    stages: tuple[StageRow, ...]
    cores_used: int
    utilization: float
    replicas: int
    sram_peak_fraction: float
    energy_j_per_sample: float
    power_w: float
    wavelet_hops_per_sample: float
    macs_per_sample: float
    sim_wall_s: float
    settings: dict
    busy_fraction: np.ndarray = field(repr=False)
    sram_bytes: np.ndarray = field(repr=False)
    stage_id: np.ndarray = field(repr=False)
    link_loads: np.ndarray = field(repr=False)
    timeline_start: np.ndarray = field(repr=False)  # cycles, (n_shown_samples, n_stages)
    timeline_finish: np.ndarray = field(repr=False)
    clock_hz: float = 0.0
    placement: Placement | None = field(repr=False, default=None)

    @property
    def bottleneck(self) -> dict:
        return {"stage": self.bottleneck_stage, "op": self.bottleneck_op,
                "kind": self.bottleneck_kind}

    def equivalent_gpus(self, gpu) -> float:
        """Fewest GPUs whose data-parallel cluster reaches this throughput; ``gpu`` is the
        GpuResult of ``ws.gpu_baseline(graph, ...)`` (see :func:`wse_sim.equivalent_gpus`)."""
        if not hasattr(gpu, "equivalent_gpus"):
            raise GpuError(f"equivalent_gpus needs the GpuResult of ws.gpu_baseline(graph, "
                           f"...), got {type(gpu).__name__}; for a GPU name use "
                           "ws.equivalent_gpus(result, name, graph=graph)")
        return gpu.equivalent_gpus(self.samples_per_s)

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-ready summary; ``arrays=True`` adds the per-core arrays as nested lists."""
        d = {k: getattr(self, k) for k in (
            "model", "wafer", "mode", "execution", "samples_per_s", "step_time_s", "latency_s",
            "cores_used", "utilization", "replicas", "sram_peak_fraction",
            "energy_j_per_sample", "power_w", "wavelet_hops_per_sample", "macs_per_sample",
            "sim_wall_s", "clock_hz")}
        d["bottleneck"] = self.bottleneck
        d["stages"] = [s.to_dict() for s in self.stages]
        d["settings"] = dict(self.settings)
        if arrays:
            for k in ("busy_fraction", "sram_bytes", "stage_id", "link_loads",
                      "timeline_start", "timeline_finish"):
                d[k] = getattr(self, k).tolist()
        return d


def build_result(placement: Placement, *, mode: str, execution: str, rows: list[StageRow],
                 samples_per_s: float, step_time_s: float, latency_s: float, replicas: int,
                 energy_j_per_sample: float, wavelet_hops_per_sample: float,
                 macs_per_sample: float, sim_wall_s: float, settings: dict,
                 busy_fraction: np.ndarray, link_loads: np.ndarray,
                 timeline_start: np.ndarray, timeline_finish: np.ndarray) -> SimResult:
    """The one place a :class:`SimResult` is made: the bottleneck is the stage with the most
    cycles per sample, and power is energy per sample times throughput."""
    b = int(np.argmax([r.stage_cycles for r in rows]))
    spec = placement.wafer
    return SimResult(
        model=placement.graph.name, wafer=spec.name, mode=mode, execution=execution,
        samples_per_s=float(samples_per_s), step_time_s=float(step_time_s),
        latency_s=float(latency_s), bottleneck_stage=b, bottleneck_op=rows[b].heavy,
        bottleneck_kind=rows[b].bound, stages=tuple(rows), cores_used=placement.cores_used,
        utilization=placement.utilization, replicas=replicas,
        sram_peak_fraction=placement.sram_peak_fraction,
        energy_j_per_sample=energy_j_per_sample, power_w=energy_j_per_sample * samples_per_s,
        wavelet_hops_per_sample=float(wavelet_hops_per_sample),
        macs_per_sample=macs_per_sample, sim_wall_s=sim_wall_s, settings=settings,
        busy_fraction=busy_fraction, sram_bytes=placement.sram_bytes,
        stage_id=placement.stage_id, link_loads=link_loads, timeline_start=timeline_start,
        timeline_finish=timeline_finish, clock_hz=spec.clock_hz, placement=placement)

