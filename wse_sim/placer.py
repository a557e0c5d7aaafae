"""The placer: map a graph onto the wafer (DESIGN.md rules 8 and 9).

``place()`` groups ops into stages (one heavy op and the cheap ops that follow it), sizes one
rectangle per stage so the pipeline is balanced and every core's SRAM holds its share, lays the
rectangles out by recursive bisection so consecutive stages touch, replicates small models
across the wafer and falls back to weight streaming when a model cannot be held on the wafer.
All per-core data are ``(rows, cols)`` numpy arrays; Python loops run over stages only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import PlacementError, SimulationError
from .graph import Graph, Op
from .kernels.routes import region_max_link_load, routes_through
from .layout import allreduce_cycles_per_step, bisect_layout, replica_tiles
from .mapping import (
    Split,
    View,
    choose_split,
    expected_x_counts,
    region_costs,
    sram_per_core,
    view_of,
    weight_row_counts,
)
from .sizing import allocate_cores, min_cores_for_sram, stage_model
from .spec import DTYPE_BYTES, WaferSpec

MODES = ("auto", "pipelined", "weight_streaming")
FIT_ROUNDS = 10  # size -> lay out -> evaluate rounds that grow stages whose SRAM overflows
BALANCE_ROUNDS = 2  # further rounds that correct each stage's time model by its measured time


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a heavy op, the cheap ops riding on it, and its rectangle."""

    index: int
    heavy: str
    ops: tuple[str, ...]
    rect: tuple[int, int, int, int]  # (row0, col0, height, width) in replica 0
    split: Split
    in_density: float
    first: bool  # reads graph input: no input gradient
    in_flight: int  # samples stashed between forward and backward (training)
    est_cycles: float  # predicted time per sample (expected activations)
    sram_max_bytes: float

    @property
    def cores(self) -> int:
        return self.rect[2] * self.rect[3]

    def to_dict(self) -> dict:
        return {"index": self.index, "heavy": self.heavy, "ops": list(self.ops),
                "rect": list(self.rect), "cores": self.cores,
                "orientation": "k_on_rows" if self.split.k_on_rows else "k_on_cols",
                "row_groups": self.split.groups, "in_density": self.in_density,
                "in_flight": self.in_flight, "est_cycles": self.est_cycles,
                "sram_max_bytes": self.sram_max_bytes}


@dataclass(frozen=True)
class Flow:
    """Activations from stage ``src`` to stage ``dst``: ``wavelets`` per sample (non-zeros)."""

    src: int
    dst: int
    wavelets: float


@dataclass(frozen=True)
class StageData:
    """What the engine needs to re-evaluate a stage: its op, view and weight row counts."""

    op: Op
    view: View
    rtn: np.ndarray = field(repr=False)  # int64 (K, b)
    extra_vector_ops: float
    nnz: int


@dataclass(frozen=True, eq=False)
class Placement:
    """A graph mapped onto a wafer. Per-core arrays are (rows, cols); -1 marks unused cores."""

    graph: Graph = field(repr=False)
    wafer: WaferSpec
    mode: str  # "pipelined" or "weight_streaming"
    training: bool
    batch: int
    seed: int
    replicas: int
    replica_origins: tuple[tuple[int, int], ...]
    tile_shape: tuple[int, int]
    stages: tuple[Stage, ...]
    flows: tuple[Flow, ...]
    stage_id: np.ndarray = field(repr=False)
    sram_bytes: np.ndarray = field(repr=False)
    balance: float  # slowest / mean predicted time over compute-sized stages
    utilization: float
    wavelet_hops_per_sample: float
    max_colors_per_router: int
    routers_over_color_budget: int
    sram_peak_fraction: float
    data: tuple[StageData, ...] = field(repr=False, default=())
    micro_batch: int = 0  # weight streaming: samples whose activations stay on the wafer
    balance_all: float = 1.0  # slowest / mean over every stage, memory-sized ones included
    memory_sized_stages: int = 0  # stages given more cores than their time needs, for SRAM

    @property
    def cores_used(self) -> int:
        return int(np.count_nonzero(self.stage_id >= 0))

    def to_dict(self) -> dict:
        return {"model": self.graph.name, "wafer": self.wafer.name, "mode": self.mode,
                "training": self.training, "batch": self.batch, "seed": self.seed,
                "replicas": self.replicas, "tile_shape": list(self.tile_shape),
                "stages": [s.to_dict() for s in self.stages],
                "flows": [dataclasses.asdict(f) for f in self.flows],
                "balance": self.balance, "balance_all": self.balance_all,
                "memory_sized_stages": self.memory_sized_stages,
                "utilization": self.utilization,
                "cores_used": self.cores_used,
                "wavelet_hops_per_sample": self.wavelet_hops_per_sample,
                "max_colors_per_router": self.max_colors_per_router,
                "routers_over_color_budget": self.routers_over_color_budget,
                "sram_peak_fraction": self.sram_peak_fraction}


# ---- stages --------------------------------------------------------------------------------
def build_stages(graph: Graph) -> tuple[list[list[str]], dict[str, int]]:
    """Group ops into stages: each heavy op starts one; a cheap op joins the latest stage
    among its inputs' (where its last input is produced: a residual add rides on the branch
    that finishes last, not on the older skip connection).

    Returns the op names of each stage (heavy op first) and a map op -> stage (-1 for inputs
    and for cheap ops fed only by inputs).
    """
    stages: list[list[str]] = []
    where: dict[str, int] = {}
    for op in graph.ops():
        if op.heavy:
            where[op.name] = len(stages)
            stages.append([op.name])
        elif op.kind == "input":
            where[op.name] = -1
        else:
            s = max((where.get(i, -1) for i in op.inputs), default=-1)
            where[op.name] = s
            if s >= 0:
                stages[s].append(op.name)
    if not stages:
        raise PlacementError(f"graph {graph.name!r} has no heavy op (dense, matmul, conv, "
                             "embedding) to place; add one")
    return stages, where


def _reads_graph_input(graph: Graph, op: Op) -> bool:
    src = graph.op(op.inputs[0])
    while src.kind in ("reshape", "transpose") and src.inputs:
        src = graph.op(src.inputs[0])
    return src.kind == "input"


def stage_flows(graph: Graph, where: dict[str, int]) -> list[Flow]:
    """Activation flows between stages, merged per (src, dst) pair, in wavelets per sample."""
    acc: dict[tuple[int, int], float] = {}
    for op in graph.ops():
        for src in op.inputs:
            s, d = where.get(src, -1), where[op.name]
            if s >= 0 and d >= 0 and s != d:
                p = graph.op(src)
                acc[(s, d)] = acc.get((s, d), 0.0) + p.out_elems * p.out_density
    return [Flow(s, d, w) for (s, d), w in sorted(acc.items())]


def stage_depths(n_stages: int, flows: list[Flow]) -> np.ndarray:
    """Longest path (in stages) from any source stage to each stage: int64 (n_stages,).

    Parallel branches (q, k and v of an attention layer) share a depth, so a sample is in
    flight between a stage's forward and backward for 2 x (depth of the pipe below it).
    """
    depth = np.zeros(n_stages, dtype=np.int64)
    for f in sorted(flows, key=lambda f: (f.dst, f.src)):  # stages are in topological order
        depth[f.dst] = max(depth[f.dst], depth[f.src] + 1)
    return depth


# ---- the placer ----------------------------------------------------------------------------
def _stage_inputs(graph: Graph, stages: list[list[str]]):
    data, in_density, first = [], [], []
    for names in stages:
        op = graph.op(names[0])
        view = view_of(op)
        extra = float(sum(graph.op(n).vector_ops for n in names))
        nnz = int(round(op.weight_count * op.weight_density)) if view.stored_weights else 0
        data.append(StageData(op, view, np.zeros((0, 0), np.int64), extra, nnz))
        in_density.append(graph.op(op.inputs[0]).out_density if op.inputs else 1.0)
        first.append(_reads_graph_input(graph, op) if op.inputs else True)
    return data, np.array(in_density), np.array(first, dtype=bool)


def evaluate_stages(data, in_density, first, rects, in_flight, spec, training, batch, model=None,
              resident=True, rtn_cache=None):
    """Split choice, predicted cycles and SRAM of every stage on its rectangle.

    Stages that are the same op on the same rectangle shape (the repeated layers of a
    transformer under weight streaming) are evaluated once.
    """
    out = []
    if model is None:
        model = stage_model(data, in_density, first, spec, training)
    memo: dict = {}
    for i, sd in enumerate(data):
        _, _, h, w = rects[i]
        key = (h, w, stage_signature(sd), float(in_density[i]), bool(first[i]),
               int(in_flight[i]))
        if key in memo:
            out.append(memo[key])
            continue
        split = choose_split(sd.op, sd.view, h, w, spec, in_density=in_density[i],
                             training=training, weight_bytes=model.fixed_bytes[i],
                             stash_bytes=model.stash_bytes[i] * in_flight[i],
                             avail_bytes=model.per_core_bytes)
        # weight counts depend on the op and the column count only: draw them once per place()
        rkey = (stage_signature(sd), split.b)
        if rtn_cache is None or rkey not in (rtn_cache or {}):
            rtn = weight_row_counts(sd.op, sd.view, split.b)
            if rtn_cache is not None:
                rtn_cache[rkey] = rtn
        else:
            rtn = rtn_cache[rkey]
        xc = expected_x_counts(sd.view, in_density[i], split.groups)
        cost = region_costs(sd.view, rtn, xc, split, spec, dtype=sd.op.dtype,
                            training=training, first=bool(first[i]),
                            extra_vector_ops=sd.extra_vector_ops, batch=batch, nnz_total=sd.nnz)
        sram = sram_per_core(sd.op, sd.view, rtn, xc, split, spec, training=training,
                             in_flight=int(in_flight[i]), resident=resident)
        mem = max(float(cost.read_bytes.max()) / spec.sram_read_bytes_per_cycle,
                  float(cost.write_bytes.max()) / spec.sram_write_bytes_per_cycle)
        fabric = max(float(cost.row_wavelets.max(initial=0)),
                     float(cost.col_wavelets.max(initial=0))) / spec.link_wavelets_per_cycle
        t = max(float(cost.compute_cycles.max()), fabric, mem)
        memo[key] = (split, rtn, t, sram, cost)
        out.append(memo[key])
    return out


def stage_signature(sd: StageData) -> tuple:
    """What a stage's costs depend on besides its rectangle: equal signatures, equal costs."""
    op = sd.op
    seed = op.mask_seed if op.sparsity_pattern != "dense" else 0
    return (sd.view, op.kind, op.dtype, op.weight_density, op.sparsity_pattern, seed,
            sd.extra_vector_ops, sd.nnz)


def place(graph: Graph, wafer: WaferSpec, mode: str = "auto", training: bool = True,
          replicas: int | str = "auto", batch: int | None = None, seed: int = 0) -> Placement:
    """Map ``graph`` onto ``wafer``.

    Parameters
    ----------
    mode : 'auto' (pipelined when it fits, else weight streaming), 'pipelined' (raise
        :class:`PlacementError` when it does not fit) or 'weight_streaming'.
    training : place for training (optimizer state and stashed activations in SRAM).
    replicas : 'auto' picks the count of data-parallel pipelines that maximises predicted
        throughput; an int forces it.
    batch : samples per optimizer step per replica (default: the model's ``batch_default``).
    seed : seeds the weight masks' tile counts (through each op's ``mask_seed``) and ties.

    >>> import wse_sim as ws
    >>> from wse_sim.models import get
    >>> plan = ws.place(get("bert-base"), ws.wafer("wse2"))
    >>> plan.mode, plan.utilization > 0.9
    ('pipelined', True)
    """
    if mode not in MODES:
        raise SimulationError(f"unknown placement mode {mode!r}; use one of {', '.join(MODES)}")
    batch = int(batch if batch is not None else graph.meta.get("batch_default", 32))
    if batch < 1:
        raise SimulationError(f"batch must be >= 1, got {batch}")
    if not (replicas == "auto" or (isinstance(replicas, int) and replicas >= 1)):
        raise SimulationError(f"replicas must be 'auto' or an int >= 1, got {replicas!r}")
    stages, where = build_stages(graph)
    data, in_density, first = _stage_inputs(graph, stages)
    S = len(stages)
    if S > wafer.cores:
        raise PlacementError(
            f"graph {graph.name!r} has {S} stages but wafer {wafer.name!r} has only "
            f"{wafer.cores} cores; each stage needs at least one core: use a larger wafer")
    flows = stage_flows(graph, where)
    depth = stage_depths(S, flows)
    # a sample's forward at stage s and its backward there are 2 (D - depth) periods apart
    in_flight = (2 * (depth.max() + 1 - depth) - 1) if training else np.ones(S)
    flow_w = np.zeros(S)
    for f in flows:
        flow_w[f.src] += f.wavelets
        flow_w[f.dst] += f.wavelets
    model = stage_model(data, in_density, first, wafer, training, flow_w)
    if mode != "weight_streaming":
        mins = min_cores_for_sram(model, in_flight, np.ones(S))
        fits_once = mins.sum() <= wafer.cores
        if fits_once:
            plan = _place_pipelined(graph, wafer, stages, where, data, in_density, first,
                                    in_flight, model, training, replicas, batch, seed)
            if plan is not None:
                return plan
        if mode == "pipelined":
            worst = int(np.argmax(mins / max(mins.sum(), 1) * wafer.cores - 0))
            need = model.fixed_bytes[worst] + model.stash_bytes[worst] * in_flight[worst]
            share = wafer.cores * need / max(model.fixed_bytes.sum()
                                             + (model.stash_bytes * in_flight).sum(), 1)
            raise PlacementError(
                f"{graph.name!r} does not fit on {wafer.name!r} as a pipeline: op "
                f"{data[worst].op.name!r} needs {need / max(share, 1):,.0f} bytes per core on "
                f"its share of {share:,.0f} cores, but a core has "
                f"{model.per_core_bytes:,.0f} bytes available "
                f"(of sram_bytes_per_core={wafer.sram_bytes_per_core}); the whole model needs "
                f"{mins.sum():,.0f} cores of {wafer.cores:,}. Fix: weight sparsity, a smaller "
                "batch or sequence, mode='weight_streaming', or a larger wafer")
    from .streaming import place_streaming  # local: streaming builds on this module

    return place_streaming(graph, wafer, stages, data, in_density, first, training, batch, seed)


def _place_pipelined(graph, wafer, stages, where, data, in_density, first, in_flight, model,
                     training, replicas, batch, seed) -> Placement | None:
    S = len(stages)
    vb = DTYPE_BYTES[graph.dtype]
    nnz = np.array([sd.nnz for sd in data], dtype=np.float64)
    mins_once = min_cores_for_sram(model, in_flight, np.ones(S))
    if replicas == "auto":
        r_max = max(1, int(wafer.cores // max(mins_once.sum() * 1.15, S)))
        cands = sorted({1, r_max} | {2 ** i for i in range(1, 21) if 2 ** i <= r_max}
                       | {int(r_max * f) for f in (0.5, 0.75) if int(r_max * f) >= 1})
        best_r, best_rate = 1, -1.0
        for r in cands:
            try:
                tile, _ = replica_tiles(wafer.rows, wafer.cols, r)
            except PlacementError:
                continue
            total = tile[0] * tile[1]
            n, T = allocate_cores(model, mins_once, total)
            if not math.isfinite(T):
                continue
            side = math.sqrt(total / S)
            ar = allreduce_cycles_per_step(nnz, [(0, 0, side, side)] * S, r, tile, wafer, vb)
            rate = r / (T + ar / batch)
            if rate > best_rate * 1.0001:
                best_r, best_rate = r, rate
        tries = sorted({best_r} | {best_r // 2 ** i for i in range(1, 21) if best_r // 2 ** i},
                       reverse=True)
    else:
        tries = [int(replicas)]
    best_plan, best_rate = None, -1.0
    for r in tries:  # the predicted best count first, then fewer while that predicts faster
        plan = _fit_replica(graph, wafer, stages, where, data, in_density, first, in_flight,
                            model, training, batch, seed, r)
        if plan is None:
            continue
        rate = _predicted_rate(plan, training)
        if best_plan is not None and rate <= best_rate:
            break
        best_plan, best_rate = plan, rate
    return best_plan


def _predicted_rate(plan: Placement, training: bool) -> float:
    """Samples per cycle the placement predicts: replicas x batch over one step, the slowest
    stage's time per sample plus the gradient all-reduce between replicas."""
    t_max = max(s.est_cycles for s in plan.stages)
    nnz = np.array([d.nnz for d in plan.data], dtype=np.float64)
    ar = allreduce_cycles_per_step(nnz, [s.rect for s in plan.stages], plan.replicas,
                                   plan.tile_shape, plan.wafer,
                                   DTYPE_BYTES[plan.graph.dtype]) if training else 0.0
    return plan.replicas * plan.batch / (plan.batch * t_max + ar)


def _fit_replica(graph, wafer, stages, where, data, in_density, first, in_flight, model,
                 training, batch, seed, r) -> Placement | None:
    """Size, lay out and check one replica tile for ``r`` replicas; None when SRAM won't fit."""
    S = len(stages)
    tile, origins = replica_tiles(wafer.rows, wafer.cols, r)
    total = tile[0] * tile[1]
    scale = np.ones(S)
    rtn_cache: dict = {}
    flows = stage_flows(graph, where)
    best = None
    balance_rounds = 0
    for _ in range(FIT_ROUNDS + BALANCE_ROUNDS):
        mins = min_cores_for_sram(model, in_flight, scale)
        if mins.sum() > total:
            break
        n, T = allocate_cores(model, mins, total)
        rects = bisect_layout(n, (0, 0, tile[0], tile[1]))
        ev = evaluate_stages(data, in_density, first, rects, in_flight, wafer, training, batch,
                       model, rtn_cache=rtn_cache)
        over = np.array([e[3].max() for e in ev]) / wafer.sram_bytes_per_core
        # a stage's time includes its busiest link with the traffic between stages routed
        t = np.maximum([e[2] for e in ev], _link_cycles(rects, ev, flows, tile, wafer, training))
        ev = [(*e[:2], float(ti), *e[3:]) for e, ti in zip(ev, t, strict=True)]
        sized_by_memory = mins >= n * 0.999  # the SRAM minimum, not time, set these sizes
        heavy_bal = balance_of(t, sized_by_memory)
        if over.max() > 1.0:  # first make every core fit: grow the overflowing stages
            # past their current size (a stage sized by time may overflow too)
            grow = over * 1.05 * np.maximum(1.0, n / np.maximum(mins, 1.0))
            scale = scale * np.where(over > 1.0, grow, 1.0)
            continue
        improved = best is None or t.max() < best[0]
        if improved:
            best = (float(t.max()), heavy_bal, rects, ev, sized_by_memory)
        # stop when balanced, out of rounds, or a balance round made the slowest stage slower
        if heavy_bal < 1.05 or balance_rounds == BALANCE_ROUNDS or not improved:
            break
        # then balance: scale each stage's time coefficients by measured / predicted time
        balance_rounds += 1
        area = np.array([rc[2] * rc[3] for rc in rects], dtype=np.float64)
        predicted = model.A / area + model.B / np.sqrt(area) + model.C
        corr = np.clip(t / np.maximum(predicted, 1e-9), 0.5, 2.0) ** 0.8
        model = dataclasses.replace(model, A=model.A * corr, B=model.B * corr)
    if best is None:
        return None
    _, heavy_bal, rects, ev, sized_by_memory = best
    t = np.array([e[2] for e in ev])
    plan = _assemble(graph, wafer, stages, where, data, in_density, first, in_flight, rects, ev,
                     origins, tile, r, training, batch, seed, heavy_bal)
    return dataclasses.replace(plan, balance_all=float(t.max() / t.mean()),
                               memory_sized_stages=int(sized_by_memory.sum()))


def _link_cycles(rects, ev, flows, tile, spec, training) -> np.ndarray:
    """Busiest link of each stage's rectangle, in cycles per sample, all traffic routed."""
    from .fabric import link_loads  # fabric builds on the stage records defined here

    stages = [Stage(i, "", (), rc, e[0], 0.0, False, 0, 0.0, 0.0)
              for i, (rc, e) in enumerate(zip(rects, ev, strict=True))]
    loads, _ = link_loads(stages, [e[4] for e in ev], flows, tile, training)
    r = np.array(rects, dtype=np.int64)
    peak = region_max_link_load(loads, r[:, 0], r[:, 0] + r[:, 2], r[:, 1], r[:, 1] + r[:, 3])
    return peak / spec.link_wavelets_per_cycle


def balance_of(t: np.ndarray, sized_by_memory: np.ndarray) -> float:
    """Slowest / mean predicted stage time over the stages whose size time decided.

    A stage sized by its SRAM minimum holds more cores than its work needs and runs faster
    than the pipeline's period by construction; counting it would call the placer unbalanced
    for what is a memory bound. ``Placement.balance_all`` keeps the figure over every stage.
    """
    sel = t[~sized_by_memory] if (~sized_by_memory).any() else t
    return float(sel.max() / sel.mean())


def _assemble(graph, wafer, stages, where, data, in_density, first, in_flight, rects, ev,
              origins, tile, r, training, batch, seed, balance) -> Placement:
    S = len(stages)
    stage_id = np.full((wafer.rows, wafer.cols), -1, dtype=np.int32)
    sram = np.full((wafer.rows, wafer.cols), -1, dtype=np.int64)
    tile_id = np.full(tile, -1, dtype=np.int32)
    tile_sram = np.full(tile, -1, dtype=np.int64)
    out_stages, out_data = [], []
    for i in range(S):
        r0, c0, h, w = rects[i]
        split, rtn, t, sram_logical = ev[i][:4]
        tile_id[r0:r0 + h, c0:c0 + w] = i
        tile_sram[r0:r0 + h, c0:c0 + w] = np.ceil(split.to_physical(sram_logical))
        out_stages.append(Stage(i, stages[i][0], tuple(stages[i]), rects[i], split,
                                float(in_density[i]), bool(first[i]), int(in_flight[i]),
                                float(t), float(sram_logical.max())))
        out_data.append(dataclasses.replace(data[i], rtn=rtn))
    for (oy, ox) in origins:
        stage_id[oy:oy + tile[0], ox:ox + tile[1]] = tile_id
        sram[oy:oy + tile[0], ox:ox + tile[1]] = tile_sram
    flows = stage_flows(graph, where)
    hops, colors = _route_summary(out_stages, flows, tile, training)
    used = int(np.count_nonzero(stage_id >= 0))
    return Placement(
        graph=graph, wafer=wafer, mode="pipelined", training=training, batch=batch, seed=seed,
        replicas=r, replica_origins=tuple(origins), tile_shape=tile, stages=tuple(out_stages),
        flows=tuple(flows), stage_id=stage_id, sram_bytes=sram, balance=balance,
        utilization=used / wafer.cores, wavelet_hops_per_sample=hops,
        max_colors_per_router=int(colors.max()),
        routers_over_color_budget=int(np.count_nonzero(colors > wafer.colors)),
        sram_peak_fraction=float(sram.max() / wafer.sram_bytes_per_core),
        data=tuple(out_data))


def stage_ports(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """Physical (row, col) of where a stage's activations enter (``entry``) and leave.

    Activations enter on the K edge (west edge when K lies over rows, north edge otherwise)
    and leave from the reduction sink (bottom row, or east column). Returns two (2,) arrays of
    the edge midpoints, used for representative routes.
    """
    r0, c0, h, w = stage.rect
    if stage.split.k_on_rows:
        entry = np.array([r0 + h // 2, c0])
        exit_ = np.array([r0 + h - 1, c0 + w // 2])
    else:
        entry = np.array([r0, c0 + w // 2])
        exit_ = np.array([r0 + h // 2, c0 + w - 1])
    return entry, exit_


def _route_summary(stages, flows, tile, training) -> tuple[float, np.ndarray]:
    """Wavelet-hops per sample of the inter-stage flows and colors per router of one replica."""
    if not flows:
        colors = np.zeros(tile, dtype=np.int32)
    else:
        src = np.array([stage_ports(stages[f.src])[1] for f in flows])
        dst = np.array([stage_ports(stages[f.dst])[0] for f in flows])
        colors = routes_through(tile[0], tile[1], src[:, 0], src[:, 1], dst[:, 0], dst[:, 1])
    # each region runs its own multicast and reduction colors (twice as many in training)
    inside = np.zeros(tile, dtype=np.int32)
    for s in stages:
        r0, c0, h, w = s.rect
        inside[r0:r0 + h, c0:c0 + w] = 4 if training else 2
    hops = 0.0
    for f in flows:
        a = stage_ports(stages[f.src])[1]
        b = stage_ports(stages[f.dst])[0]
        hops += f.wavelets * float(np.abs(a - b).sum()) * (2 if training else 1)
    return hops, colors + inside


def mean_stage_distance(placement: Placement, order: np.ndarray | None = None) -> float:
    """Mean Manhattan distance between the centres of consecutive stages' rectangles.

    ``order`` permutes which rectangle each stage gets (for comparing with random layouts).
    """
    rects = np.array([s.rect for s in placement.stages], dtype=np.float64)
    if order is not None:
        rects = rects[order]
    centre = rects[:, :2] + rects[:, 2:] / 2
    if len(centre) < 2:
        return 0.0
    return float(np.abs(np.diff(centre, axis=0)).sum(axis=1).mean())
