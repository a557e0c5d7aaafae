"""simulate(): turn a Placement into performance (DESIGN.md rules 3-8, 11).

Per stage and per sample: each core's cycles come from the MACs it executes on its own tile
(kernels), the wavelets it receives and fixed task overheads; the stage's time is the largest
of its slowest core, its busiest link and its SRAM port traffic. The stage times of N samples
run through a max-plus pipeline with finite buffers; replicas multiply the throughput, less
their gradient all-reduce; weight-streaming placements run layer by layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import SimulationError
from .fabric import link_loads
from .kernels.pipeline import pipeline_summary, pipeline_times
from .kernels.routes import region_max_link_load
from .mapping import region_costs, sample_x_counts
from .placer import Placement, allreduce_cycles_per_step, stage_signature
from .spec import DTYPE_BYTES

ACTIVATIONS = ("synthetic", "functional")
SAMPLE_DRAWS = 8  # distinct activation draws per stage; sample i uses draw i % SAMPLE_DRAWS
STREAM_DRAWS = 2  # weight streaming runs a whole batch per layer: its mean is what counts
BOUNDS = ("compute", "fabric", "memory", "offwafer")


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

    def equivalent_gpus(self, gpu="v100", **kwargs):
        """Fewest GPUs whose cluster reaches this throughput (see :func:`equivalent_gpus`)."""
        from .gpu import equivalent_gpus

        if self.placement is not None:
            kwargs.setdefault("graph", self.placement.graph)
        return equivalent_gpus(self, gpu, **kwargs)

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


def _bound(compute: float, fabric: float, memory: float, stream: float = 0.0) -> str:
    vals = (compute, fabric, memory, stream)
    return BOUNDS[int(np.argmax(vals))]


def simulate(placement: Placement, mode: str | None = None, batch: int | None = None,
             samples: int = 64, activations: str = "synthetic", seed: int = 0,
             drain_per_step: bool = False, densities: dict | None = None,
             progress=None) -> SimResult:
    """Simulate ``placement`` and return a :class:`SimResult`.

    Parameters
    ----------
    mode : 'train' or 'infer' (default: what the placement was made for). Training needs a
        placement made with ``training=True`` (its SRAM holds optimizer state and stashes).
    batch : samples per optimizer step per replica (default: the placement's).
    samples : samples pushed through the pipeline recurrence (>= 1).
    activations : 'synthetic' draws activation zeros from the graph's expected densities per
        sample; 'functional' runs the model's forward pass through the kernels on generated
        inputs (contact maps, token ids; :mod:`wse_sim.functional`) and draws each sample's
        zeros at the density that sample's activations really had.
    densities : optional {heavy op name: input density} overriding the graph's expected
        densities in synthetic mode (e.g. to replay a functional run's means).
    drain_per_step : the pipeline empties at every optimizer step (adds its fill time per step).
    progress : optional callable(done, total) for progress bars.
    """
    t0 = time.perf_counter()
    if mode is None:
        mode = "train" if placement.training else "infer"
    if mode not in ("train", "infer"):
        raise SimulationError(f"mode must be 'train' or 'infer', got {mode!r}")
    training = mode == "train"
    if training and not placement.training:
        raise SimulationError("mode='train' needs a placement made with training=True (it "
                              "reserves SRAM for optimizer state and stashed activations)")
    if activations not in ACTIVATIONS:
        raise SimulationError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise SimulationError(f"samples must be an int >= 1, got {samples!r}")
    batch = placement.batch if batch is None else batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SimulationError(f"batch must be an int >= 1, got {batch!r}")
    spec = placement.wafer
    # per stage: an array of input densities, one per activation draw (cycled over samples)
    overrides = densities or {}
    unknown = set(overrides) - {st.heavy for st in placement.stages}
    if unknown:
        raise SimulationError(f"densities name ops that head no stage: {sorted(unknown)}; "
                              "use the heavy ops' names (Placement.stages[i].heavy)")
    dens = [np.atleast_1d(float(overrides.get(st.heavy, st.in_density)))
            for st in placement.stages]
    if activations == "functional":
        from .functional import measured_densities

        measured = measured_densities(placement.graph, n_samples=min(samples, SAMPLE_DRAWS),
                                      seed=seed)
        dens = [np.asarray(measured.get(st.heavy, d), dtype=np.float64)
                for st, d in zip(placement.stages, dens, strict=True)]
    rng = np.random.default_rng(seed)
    S = len(placement.stages)
    comp = np.zeros((samples, S))
    fab_intra = np.zeros((samples, S))
    mem = np.zeros((samples, S))
    mean_costs = []
    macs_per_sample = 0.0
    read_total = write_total = 0.0
    core_cycles_phys = []
    memo: dict = {}  # deterministic stages with equal signatures cost the same
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        variable = bool((dens[s] < 1.0).any()) or sd.view.one_hot
        key = None if variable else (st.split, stage_signature(sd), st.first)
        if key in memo:
            src = memo[key]
            comp[:, s], fab_intra[:, s], mem[:, s] = comp[:, src], fab_intra[:, src], mem[:, src]
            mean_costs.append(mean_costs[src])
            macs_per_sample += float(mean_costs[src].macs.sum())
            read_total += float(mean_costs[src].read_bytes.sum())
            write_total += float(mean_costs[src].write_bytes.sum())
            core_cycles_phys.append(core_cycles_phys[src])
            continue
        if key is not None:
            memo[key] = s
        draws = SAMPLE_DRAWS if placement.mode == "pipelined" else STREAM_DRAWS
        n_eval = min(samples, draws) if variable else 1
        xcs = [sample_x_counts(sd.view, float(dens[s][i % len(dens[s])]), st.split.groups, 1,
                               rng)[0] for i in range(n_eval)]
        acc = None
        for i in range(n_eval):
            c = region_costs(sd.view, sd.rtn, xcs[i], st.split, spec, dtype=sd.op.dtype,
                             training=training, first=st.first,
                             extra_vector_ops=sd.extra_vector_ops, batch=batch,
                             nnz_total=sd.nnz)
            sl = slice(i, None, n_eval)
            comp[sl, s] = c.compute_cycles.max()
            fab_intra[sl, s] = max(c.row_wavelets.max(initial=0), c.col_wavelets.max(initial=0),
                                   c.bwd_row_wavelets.max(initial=0),
                                   c.bwd_col_wavelets.max(initial=0))
            mem[sl, s] = max(c.read_bytes.max() / spec.sram_read_bytes_per_cycle,
                             c.write_bytes.max() / spec.sram_write_bytes_per_cycle)
            acc = c if acc is None else _add_costs(acc, c)
        mean = _scale_costs(acc, 1.0 / n_eval)
        mean_costs.append(mean)
        macs_per_sample += float(mean.macs.sum())
        read_total += float(mean.read_bytes.sum())
        write_total += float(mean.write_bytes.sum())
        core_cycles_phys.append(st.split.to_physical(mean.compute_cycles))
        if progress is not None:
            progress(s + 1, S)
    if placement.mode == "weight_streaming":
        return _finish_streaming(placement, mode, batch, samples, activations, seed, comp,
                                 fab_intra, mem, mean_costs, macs_per_sample,
                                 read_total + write_total, core_cycles_phys, t0, training)
    tile = placement.tile_shape
    loads, hops = link_loads(placement.stages, mean_costs, placement.flows, tile, training)
    rects = np.array([st.rect for st in placement.stages], dtype=np.int64)
    region_link = region_max_link_load(loads, rects[:, 0], rects[:, 0] + rects[:, 2],
                                       rects[:, 1], rects[:, 1] + rects[:, 3])
    intra_mean = fab_intra.mean(axis=0)
    # a sample's busiest link scales with its own internal traffic; routes between stages add
    ratio = np.divide(fab_intra, intra_mean, out=np.ones_like(fab_intra), where=intra_mean > 0)
    fab = region_link[None, :] * ratio / spec.link_wavelets_per_cycle
    stage_t = np.maximum(np.maximum(comp, fab), mem)
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
    # per-stage table and bottleneck
    rows = []
    for s, st in enumerate(placement.stages):
        cm = float(comp[:, s].mean())
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, cm,
                             float(core_cycles_phys[s].mean()), float(fab[:, s].mean()),
                             float(mem[:, s].mean()), 0.0, float(stage_t[:, s].mean()),
                             _bound(cm, float(fab[:, s].mean()), float(mem[:, s].mean()))))
    b = int(np.argmax([r.stage_cycles for r in rows]))
    # per-core maps
    busy_tile = np.zeros(tile)
    for s, st in enumerate(placement.stages):
        r0, c0, h, w = st.rect
        busy_tile[r0:r0 + h, c0:c0 + w] = core_cycles_phys[s] / period
    busy = _tile_to_wafer(busy_tile, placement, 0.0)
    loads_w = _tile_to_wafer(loads, placement, 0.0)
    energy = _energy(spec, macs_per_sample, hops, read_total + write_total, sps,
                     placement.replicas)
    shown = min(16, samples)
    return SimResult(
        model=placement.graph.name, wafer=spec.name, mode=mode, execution="pipelined",
        samples_per_s=float(sps), step_time_s=float(step_s),
        latency_s=float(fill / spec.clock_hz), bottleneck_stage=b,
        bottleneck_op=rows[b].heavy, bottleneck_kind=rows[b].bound, stages=tuple(rows),
        cores_used=placement.cores_used, utilization=placement.utilization,
        replicas=placement.replicas, sram_peak_fraction=placement.sram_peak_fraction,
        energy_j_per_sample=energy, power_w=energy * sps,
        wavelet_hops_per_sample=float(hops), macs_per_sample=macs_per_sample,
        sim_wall_s=time.perf_counter() - t0,
        settings=_settings(placement, mode, batch, samples, activations, seed, drain_per_step,
                           period, ar),
        busy_fraction=np.minimum(busy, 1.0), sram_bytes=placement.sram_bytes,
        stage_id=placement.stage_id, link_loads=loads_w,
        timeline_start=start[:shown].copy(), timeline_finish=finish[:shown].copy(),
        clock_hz=spec.clock_hz, placement=placement)


def _add_costs(a, b):
    return type(a)(**{k: getattr(a, k) + getattr(b, k) for k in a.__dataclass_fields__})


def _scale_costs(a, f: float):
    return type(a)(**{k: getattr(a, k) * f for k in a.__dataclass_fields__})


def _route_latency(placement: Placement) -> float:
    """Hops along the chain of stages (entry of each stage to the exit of the next)."""
    total = 0.0
    for f in placement.flows:
        a, b = placement.stages[f.src].rect, placement.stages[f.dst].rect
        total += abs(a[0] - b[0]) + abs(a[1] - b[1])
    return total


def _tile_to_wafer(tile_arr: np.ndarray, placement: Placement, fill: float) -> np.ndarray:
    spec = placement.wafer
    out = np.full((spec.rows, spec.cols, *tile_arr.shape[2:]), fill, dtype=np.float64)
    th, tw = placement.tile_shape
    for oy, ox in placement.replica_origins:
        out[oy:oy + th, ox:ox + tw] = tile_arr
    return out


def _energy(spec, macs: float, hops: float, sram_bytes: float, sps: float,
            replicas: int) -> float:
    """Joules per sample: dynamic (FMAC, wavelet-hop, SRAM byte) + static power's share."""
    dynamic = (macs * spec.energy_pj_per_fmac + hops * spec.energy_pj_per_wavelet_hop
               + sram_bytes * spec.energy_pj_per_sram_byte) * 1e-12
    return float(dynamic + spec.static_power_w / max(sps, 1e-30))


def _settings(placement, mode, batch, samples, activations, seed, drain, period, ar) -> dict:
    return {"model": placement.graph.name, "graph_meta": dict(placement.graph.meta),
            "wafer": placement.wafer.to_dict(), "mode": mode, "batch": batch,
            "samples": samples, "activations": activations, "seed": seed,
            "drain_per_step": drain, "placement_mode": placement.mode,
            "period_cycles": period, "allreduce_cycles_per_step": ar}


def _finish_streaming(placement, mode, batch, samples, activations, seed, comp, fab_intra, mem,
                      mean_costs, macs_per_sample, sram_bytes, core_cycles_phys, t0, training):
    """Weight streaming: each layer runs the whole batch on the whole wafer while its weights
    stream in (and, training, stream in again for backward and the gradients stream out)."""
    spec = placement.wafer
    bw_cycle = spec.offwafer_bytes_per_s / spec.clock_hz  # bytes per cycle off the wafer
    stage_t = np.maximum(np.maximum(comp, fab_intra / spec.link_wavelets_per_cycle), mem)
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
        compute = batch * per_sample[s]
        layer = max(compute, stream)
        total += layer
        cm, fm, mm = comp[:, s].mean(), fab_intra[:, s].mean(), mem[:, s].mean()
        rows.append(StageRow(s, st.heavy, st.ops, st.cores, float(cm),
                             float(core_cycles_phys[s].mean()), float(fm), float(mm),
                             float(stream / batch), float(layer / batch),
                             _bound(cm, fm, mm, stream / batch)))
    step_s = total / spec.clock_hz
    sps = batch / step_s
    b = int(np.argmax([r.stage_cycles for r in rows]))
    busy = sum(core_cycles_phys[s] * batch for s in range(len(rows))) / total
    # every layer's own multicasts and reductions cross the whole mesh, one layer at a time
    loads, hops = link_loads(placement.stages, mean_costs, (), placement.tile_shape, training)
    energy = _energy(spec, macs_per_sample, hops, sram_bytes, sps, 1)
    cum = np.cumsum([0.0] + [r.stage_cycles for r in rows])
    shown = min(16, samples)
    start = np.broadcast_to(cum[:-1], (shown, len(rows))).copy()
    finish = np.broadcast_to(cum[1:], (shown, len(rows))).copy()
    return SimResult(
        model=placement.graph.name, wafer=spec.name, mode=mode, execution="weight_streaming",
        samples_per_s=float(sps), step_time_s=float(step_s), latency_s=float(step_s),
        bottleneck_stage=b, bottleneck_op=rows[b].heavy, bottleneck_kind=rows[b].bound,
        stages=tuple(rows), cores_used=placement.cores_used, utilization=placement.utilization,
        replicas=1, sram_peak_fraction=placement.sram_peak_fraction,
        energy_j_per_sample=energy, power_w=energy * sps, wavelet_hops_per_sample=float(hops),
        macs_per_sample=macs_per_sample, sim_wall_s=time.perf_counter() - t0,
        settings=_settings(placement, mode, batch, samples, activations, seed, False,
                           total / batch, 0.0),
        busy_fraction=np.minimum(np.broadcast_to(busy, placement.stage_id.shape), 1.0),
        sram_bytes=placement.sram_bytes, stage_id=placement.stage_id,
        link_loads=loads, timeline_start=start,
        timeline_finish=finish, clock_hz=spec.clock_hz, placement=placement)
