"""What simulate() returns: :class:`SimResult` and its per-stage :class:`StageRow` table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GpuError
from ..placer import Placement
from . import table as _table

BOUNDS = ("compute", "fabric", "memory", "offwafer", "ramp", "ingress")
# weight streaming on a system also names what bounds a layer beyond its compute
STREAM_BOUNDS = ("weight_stream", "gradient_stream", "spill")


def bound_kind(compute: float, fabric: float, memory: float, stream: float = 0.0,
               ramp: float = 0.0, ingress: float = 0.0) -> str:
    """Which of a stage's per-sample times is the largest (ties: the first in ``BOUNDS``):
    its cores' compute, its busiest link, its SRAM port, off-wafer weight streaming, its
    cores' ramps, or the host feeding it over the off-wafer link."""
    return BOUNDS[int(np.argmax((compute, fabric, memory, stream, ramp, ingress)))]


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
    ramp_cycles: float = 0.0  # the busiest core's ramp, wavelets in or out / ramp width
    update_cycles: float = 0.0  # the optimizer step on the stage's fullest core, per step
    # weight streaming, cycles per sample: weights streamed in (forward + backward), gradients
    # out, the reduce tree's latency (N systems) and spilled activations (forced micro-batch)
    stream_in_cycles: float = 0.0
    stream_out_cycles: float = 0.0
    reduce_cycles: float = 0.0
    spill_cycles: float = 0.0

    def to_dict(self) -> dict:
        return {"stage": self.stage, "heavy": self.heavy, "ops": list(self.ops),
                "cores": self.cores, "compute_cycles_max": self.compute_cycles_max,
                "compute_cycles_mean": self.compute_cycles_mean,
                "link_cycles_max": self.link_cycles_max, "memory_cycles": self.memory_cycles,
                "stream_cycles": self.stream_cycles, "stage_cycles": self.stage_cycles,
                "bound": self.bound, "ramp_cycles": self.ramp_cycles,
                "update_cycles": self.update_cycles,
                "stream_in_cycles": self.stream_in_cycles,
                "stream_out_cycles": self.stream_out_cycles,
                "reduce_cycles": self.reduce_cycles, "spill_cycles": self.spill_cycles}


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
    timeline_start: np.ndarray = field(repr=False)  # cycles, (n_shown_samples, n_stages):
    timeline_finish: np.ndarray = field(repr=False)  # each stage's forward of each sample
    clock_hz: float = 0.0
    placement: Placement | None = field(repr=False, default=None)
    schedule: str = "inference"  # 'sync' or 'async' training, or 'inference'
    bubble_fraction: float = 0.0  # sync: share of the step the pipeline fills and drains
    weight_staleness_steps: float = 0.0  # async: optimizer steps between use and update
    # training: each stage's backward of each shown sample, cycles (n_shown, n_stages)
    timeline_bwd_start: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    timeline_bwd_finish: np.ndarray = field(repr=False,
                                            default_factory=lambda: np.zeros((0, 0)))
    # weight streaming on systems: samples per micro-batch, systems in data parallel, samples/s
    # over N x one system alone on its share of the batch, and the memory service's load
    micro_batch: int = 0
    systems: int = 1
    scaling_efficiency: float = 1.0
    memory_service: dict = field(default_factory=dict)

    @property
    def bottleneck(self) -> dict:
        return {"stage": self.bottleneck_stage, "op": self.bottleneck_op,
                "kind": self.bottleneck_kind}

    def equivalent_gpus(self, gpu, max_gpus: int | None = None) -> float:
        """Fewest GPUs whose data-parallel cluster reaches this throughput; ``gpu`` is the
        GpuResult of ``ws.gpu_baseline(graph, ...)`` (see :func:`wse_sim.equivalent_gpus`);
        ``max_gpus`` caps the search (``math.inf`` beyond it)."""
        if not hasattr(gpu, "equivalent_gpus"):
            raise GpuError(f"equivalent_gpus needs the GpuResult of ws.gpu_baseline(graph, "
                           f"...), got {type(gpu).__name__}; for a GPU name use "
                           "ws.equivalent_gpus(result, name, graph=graph)")
        return gpu.equivalent_gpus(self.samples_per_s,
                                   **({} if max_gpus is None else {"max_gpus": max_gpus}))

    def stage_table(self) -> list[dict]:
        """The per-stage rows, units in the keys (see :func:`wse_sim.engine.table.stage_table`)."""
        return _table.stage_table(self)

    def to_frame(self):
        """:meth:`stage_table` as a pandas DataFrame (needs pandas: ``pip install pandas``)."""
        return _table.frame(self.stage_table())

    def to_dict(self, arrays: bool = False) -> dict:
        """JSON-ready summary; ``arrays=True`` adds the per-core arrays as nested lists."""
        d = {k: getattr(self, k) for k in (
            "model", "wafer", "mode", "execution", "samples_per_s", "step_time_s", "latency_s",
            "cores_used", "utilization", "replicas", "sram_peak_fraction",
            "energy_j_per_sample", "power_w", "wavelet_hops_per_sample", "macs_per_sample",
            "sim_wall_s", "clock_hz", "schedule", "bubble_fraction",
            "weight_staleness_steps", "micro_batch", "systems", "scaling_efficiency")}
        d["memory_service"] = dict(self.memory_service)
        d["bottleneck"] = self.bottleneck
        d["stages"] = [s.to_dict() for s in self.stages]
        d["settings"] = dict(self.settings)
        if arrays:
            for k in ("busy_fraction", "sram_bytes", "stage_id", "link_loads",
                      "timeline_start", "timeline_finish", "timeline_bwd_start",
                      "timeline_bwd_finish"):
                d[k] = getattr(self, k).tolist()
        return d


def build_result(placement: Placement, *, mode: str, execution: str, rows: list[StageRow],
                 samples_per_s: float, step_time_s: float, latency_s: float, replicas: int,
                 energy_j_per_sample: float, wavelet_hops_per_sample: float,
                 macs_per_sample: float, sim_wall_s: float, settings: dict,
                 busy_fraction: np.ndarray, link_loads: np.ndarray,
                 timeline_start: np.ndarray, timeline_finish: np.ndarray,
                 schedule: str = "inference", bubble_fraction: float = 0.0,
                 weight_staleness_steps: float = 0.0, timeline_bwd_start=None,
                 timeline_bwd_finish=None, micro_batch: int = 0, systems: int = 1,
                 scaling_efficiency: float = 1.0, memory_service: dict | None = None
                 ) -> SimResult:
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
        timeline_finish=timeline_finish, clock_hz=spec.clock_hz, placement=placement,
        schedule=schedule, bubble_fraction=float(bubble_fraction),
        weight_staleness_steps=float(weight_staleness_steps),
        timeline_bwd_start=np.zeros((0, 0)) if timeline_bwd_start is None
        else timeline_bwd_start,
        timeline_bwd_finish=np.zeros((0, 0)) if timeline_bwd_finish is None
        else timeline_bwd_finish, micro_batch=int(micro_batch), systems=int(systems),
        scaling_efficiency=float(scaling_efficiency), memory_service=memory_service or {})

