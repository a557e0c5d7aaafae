"""Weight-streaming placement: one layer at a time on the whole wafer, a micro-batch at a time.

Weights live in the system's memory service and stream in layer by layer, once for forward
and once for backward per micro-batch; gradients stream out. The activations backward needs
stay in SRAM: the micro-batch is the largest number of samples whose stash fits beside the
largest layer's working set (``docs/modeling.md``, "Weight streaming on a system").

A streamed layer holds no weights, so the wafer need not be one copy of the layer: it is cut
into ``T`` equal tiles, each running its share of the micro-batch's *units* (a sample of a
dense layer; one head and query block of attention, flash-style) while the streamed weights
are multicast to every tile. Each stage's tile count and query block are chosen to minimise
its time on the micro-batch, from the real mapping's per-core counts on the tile.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import PlacementError
from ..graph import DTYPE_BYTES
from ..kernels.tiles import INDEX_BYTES
from ..mapping.sram import stored_weight_bytes
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON
from ..spec.system import SystemSpec
from .evaluate import evaluate_stages
from .placement import Placement, Stage
from .sizing import StageModel
from .stages import StageSet

# Tile grids (rows x cols of tiles) a streamed layer may be cut into: square-ish powers of two
# up to 32 x 32 (~700 cores per tile on WSE-2). A design choice bounding the search, assumed.
TILE_GRIDS = ((1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32))
FLASH_QUERY_BLOCK = 128  # query rows per attention block tried beside whole heads, assumed
STATS_BYTES = 4  # flash attention keeps one fp32 log-sum-exp per query row and head, derived


@dataclass(frozen=True)
class StreamPlan:
    """What the engine needs of a weight-streaming placement beyond its stages.

    Per stage (S,) arrays: ``units`` work units per sample (1 for a dense layer; heads x
    query blocks for attention), ``tiles`` tiles running units at once, ``stash_bytes``
    activation bytes per sample kept for backward (wafer total), ``weight_bytes`` and
    ``grad_bytes`` streamed per pass per micro-batch of one sample's rows (the embedding's
    rows depend on the micro-batch: ``table_rows``), ``recompute`` 1.0 where backward reruns
    the forward (flash attention's scores).
    """

    system: SystemSpec
    units: np.ndarray = field(repr=False)
    tiles: np.ndarray = field(repr=False)
    stash_bytes: np.ndarray = field(repr=False)
    weight_bytes: np.ndarray = field(repr=False)  # dense tensors; 0 for lookup tables
    table_rows: np.ndarray = field(repr=False)  # lookup tables: rows (vocab), else 0
    row_bytes: np.ndarray = field(repr=False)  # lookup tables: bytes per row streamed
    lookups_per_sample: np.ndarray = field(repr=False)  # lookup tables: rows read per sample
    recompute: np.ndarray = field(repr=False)
    micro_fit: int  # the most samples whose stash fits beside the working set
    micro_forced: int  # the user's micro_batch (0: none)
    free_bytes_per_core: float  # SRAM left for stashes on the fullest core
    attention: str  # 'flash' or 'stored'
    attention_stash_bytes: dict  # per sample, wafer total: {'flash': ..., 'stored': ...}
    checkpoint: str = "none"  # 'none' or 'segments' (activation checkpointing chosen)
    checkpoint_bytes: dict = field(default_factory=dict)  # per sample under each choice

    @property
    def micro_batch(self) -> int:
        return self.micro_forced or self.micro_fit

    def to_dict(self) -> dict:
        return {"system": self.system.to_dict(), "micro_fit": self.micro_fit,
                "micro_forced": self.micro_forced, "attention": self.attention,
                "attention_stash_bytes": dict(self.attention_stash_bytes),
                "checkpoint": self.checkpoint, "checkpoint_bytes": dict(self.checkpoint_bytes),
                "free_bytes_per_core": self.free_bytes_per_core,
                "units": self.units.tolist(), "tiles": self.tiles.tolist()}


def place_streaming(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                    batch: int, seed: int, physics: Physics = ALL_ON,
                    system: SystemSpec | None = None, micro_batch: int | None = None
                    ) -> Placement:
    """Every stage on the whole wafer, cut into tiles; SRAM = the largest layer's working set
    + the stash of the micro-batch. ``batch`` is the global batch (split over
    ``system.n_systems``); ``micro_batch`` forces the micro-batch (beyond what fits, the
    excess stash spills off the wafer and the engine charges it)."""
    from ..spec.system import system_for

    system = system_for(wafer) if system is None else system
    S = len(sset)
    per_system = -(-batch // system.n_systems)
    stash, attn = backward_bytes(sset, physics.attention)
    stash_core = float(stash.sum()) / wafer.cores if training else 0.0
    units_views = [_unit_views(sd) for sd in sset.data]
    # a streamed layer keeps no weights: nothing limits the row groups but the stash
    free_model = dataclasses.replace(model, fixed_bytes=np.zeros(S), stash_bytes=np.zeros(S))
    memo: dict = {}
    rtn_cache: dict = {}
    peaks: dict = {}
    cache: dict = {}  # (stage, grid, view choice) -> (StageData, StageEval)

    def evaluated(idx: list[int], grid, choice) -> None:
        """Evaluate stages ``idx`` on one tile of ``grid`` with their unit view ``choice``
        (repeated layers share one evaluation through ``memo``)."""
        idx = [i for i in idx if (i, grid, choice) not in cache]
        if not idx:
            return
        h, w = wafer.rows // grid[0], wafer.cols // grid[1]
        data = []
        for i in idx:
            uv, n_units = units_views[i][choice]
            sd = sset.data[i]
            data.append(dataclasses.replace(sd, view=uv,
                                            extra_vector_ops=sd.extra_vector_ops / n_units))
        sub = dataclasses.replace(sset, data=tuple(data), in_density=sset.in_density[idx],
                                  first=sset.first[idx])
        sub_model = dataclasses.replace(free_model, fixed_bytes=np.zeros(len(idx)),
                                        stash_bytes=np.zeros(len(idx)))
        ev = evaluate_stages(sub, [(0, 0, h, w)] * len(idx), np.zeros(len(idx)), wafer,
                             training, batch, sub_model, resident=False, rtn_cache=rtn_cache,
                             physics=physics, memo=memo)
        for i, d, e in zip(idx, data, ev, strict=True):
            cache[(i, grid, choice)] = (d, e)

    grids = [g for g in TILE_GRIDS if wafer.rows // g[0] >= 1 and wafer.cols // g[1] >= 1]

    def tiled(stash_core: float):
        """(fit, choice, evals, data, peak) for a stash of ``stash_core`` bytes per core per
        sample: a guess of the micro-batch from the stash alone chooses the tiles; the
        working set of the chosen tiles then fixes it, and a smaller one chooses again."""
        m = _fit(wafer, wafer.code_reserve_bytes + wafer.io_buffer_bytes, stash_core,
                 per_system)
        if m < 1 and not micro_batch:
            return 0, None, None, None, math.inf  # not one sample fits, whatever the tiles
        for _ in range(3):
            # tiles for the micro-batches the step really runs (an even split of the batch)
            size = run_size(per_system, micro_batch or m)
            choice = _choose(units_views, grids, evaluated, cache, size)
            out = [cache[(i, g, c)] for i, (g, c) in enumerate(choice)]
            evals_ = [e for _, e in out]
            peak_ = max(_peak(e, peaks) for e in evals_)
            fit_ = _fit(wafer, peak_, stash_core, per_system)
            if micro_batch or fit_ >= m or fit_ < 1 or run_size(per_system, fit_) == size:
                break
            m = fit_
        return fit_, choice, evals_, [d for d, _ in out], peak_

    w_b, rows, row_b, looks = streamed_bytes(sset, training)
    ckpt = checkpoint_bytes(sset, stash) if training else (float(stash.sum()), ())
    options = (["none"] if not training else
               ["none", "segments"] if physics.checkpoint == "auto" else [physics.checkpoint])
    best = None
    for opt in options:
        mem = float(stash.sum()) if opt == "none" else ckpt[0]
        if best is not None and best[3] >= per_system:
            break  # the whole batch already fits in one micro-batch: nothing to gain
        fit, choice, out_evals, data, peak = tiled(mem / wafer.cores if training else 0.0)
        if choice is None:
            continue
        units = np.array([units_views[i][c][1] for i, (_, c) in enumerate(choice)])
        tiles = np.array([float(g[0] * g[1]) for g, _ in choice])
        est = _estimate(out_evals, units, tiles, w_b, rows, row_b, looks, system, wafer,
                        per_system, micro_batch or fit, opt == "segments", training)
        if best is None or est < best[0]:
            best = (est, opt, mem, fit, choice, out_evals, data, peak, units, tiles)
    if best is None:  # no option fits one sample: report the smallest stash's need
        mem = min(float(stash.sum()), ckpt[0])
        peak = float(wafer.code_reserve_bytes + wafer.io_buffer_bytes)
        raise PlacementError(
            f"{sset.graph.name!r}: not one sample's activations fit on {wafer.name!r} in "
            f"weight streaming: backward needs at least {mem:,.0f} bytes per sample "
            f"({mem / wafer.cores:,.0f} per core) beside a working set of at least "
            f"{peak:,.0f} bytes on a core of {wafer.sram_bytes_per_core:,}. Fix: a shorter "
            "sequence, Physics(attention='flash', checkpoint='segments'), more SRAM, or force "
            "micro_batch=1 (the excess stash then spills off the wafer)")
    _, ckpt_opt, mem, fit, choice, out_evals, data, peak, units, tiles = best
    stash_core = mem / wafer.cores if training else 0.0
    free = wafer.sram_bytes_per_core - peak
    if training and fit < 1 and not micro_batch:
        raise PlacementError(
            f"{sset.graph.name!r}: not one sample's activations fit on {wafer.name!r} in "
            f"weight streaming: backward needs {mem:,.0f} bytes per sample "
            f"({stash_core:,.0f} per core) beside a working set of {peak:,.0f} bytes on a "
            f"core of {wafer.sram_bytes_per_core:,}. Fix: a shorter sequence, "
            "Physics(attention='flash', checkpoint='segments'), more SRAM, or force "
            "micro_batch=1 (the excess stash then spills off the wafer)")
    forced = int(micro_batch or 0)
    micro = min(forced or fit, per_system) if training else per_system
    held = min(micro, fit) * stash_core
    sram_core = np.full((wafer.rows, wafer.cols), int(np.ceil(peak + held)), dtype=np.int64)
    t = np.array([e.cycles * u / tl for e, u, tl in zip(out_evals, units, tiles, strict=True)])
    recompute = recompute_flags(sset, physics.attention) if training else np.zeros(S)
    if ckpt_opt == "segments":
        recompute = recompute + 1.0  # every segment's forward runs again in backward
    # the stash kept, spread over the stages in proportion (what spills when forced)
    kept = stash * (mem / stash.sum()) if stash.sum() > 0 else stash
    plan = StreamPlan(system, units, tiles, kept, w_b, rows, row_b, looks, recompute,
                      fit, forced, float(free), physics.attention, attn, ckpt_opt,
                      {"none": float(stash.sum()), "segments": ckpt[0],
                       "segment_bounds": list(ckpt[1])})
    check_capacity(sset, system, training)
    stages, out_data = [], []
    for i, (names, e) in enumerate(zip(sset.names, out_evals, strict=True)):
        g = choice[i][0]
        rect = (0, 0, wafer.rows // g[0], wafer.cols // g[1])
        stages.append(Stage(i, names[0], names, rect, e.split, float(sset.in_density[i]),
                            bool(sset.first[i]), 1, float(t[i]), _peak(e, peaks)))
        out_data.append(dataclasses.replace(data[i], rtn=e.rtn))
    hops, colors = _routing(stages, out_evals, units, tiles, training)
    return Placement(
        graph=sset.graph, wafer=wafer, mode="weight_streaming", training=training, batch=batch,
        seed=seed, replicas=1, replica_origins=((0, 0),), tile_shape=(wafer.rows, wafer.cols),
        stages=tuple(stages), flows=sset.flows,
        stage_id=np.zeros((wafer.rows, wafer.cols), dtype=np.int32), sram_bytes=sram_core,
        balance=float(t.max() / t.mean()), balance_all=float(t.max() / t.mean()),
        utilization=1.0, wavelet_hops_per_sample=hops, max_colors_per_router=colors,
        routers_over_color_budget=0 if colors <= wafer.colors else wafer.cores,
        sram_peak_fraction=float(sram_core.max() / wafer.sram_bytes_per_core),
        data=tuple(out_data), micro_batch=micro, physics=physics, streaming=plan)


def _peak(e, peaks: dict) -> float:
    """The fullest core's bytes of a stage evaluation, taken once per evaluation."""
    if id(e) not in peaks:
        peaks[id(e)] = float(e.sram.max())
    return peaks[id(e)]


def _fit(wafer: WaferSpec, peak: float, stash_core: float, cap: int) -> int:
    """The most samples (<= ``cap``) whose stash fits beside a working set of ``peak``."""
    free = wafer.sram_bytes_per_core - peak
    if stash_core <= 0:
        return cap
    return int(max(0, min(cap, free // stash_core)))


def run_size(per_system: int, micro: int) -> int:
    """The largest micro-batch a step of ``per_system`` samples runs when at most ``micro``
    fit: the step splits into ceil(per_system / micro) micro-batches as even as they can be."""
    micro = max(1, min(micro, per_system))
    return -(-per_system // -(-per_system // micro))


def _unit_views(sd) -> list[tuple]:
    """``[(view of one unit, units per sample), ...]``: a dense layer's unit is a sample; an
    attention product's is one head (choice 0) or one head's query block (choice 1)."""
    v = sd.view
    if v.stored_weights or v.heads < 1:
        return [(v, 1.0)]
    q = v.rows // v.heads
    out = [(dataclasses.replace(v, rows=q, heads=1), float(v.heads))]
    if q > FLASH_QUERY_BLOCK:
        blocks = -(-q // FLASH_QUERY_BLOCK)
        out.append((dataclasses.replace(v, rows=FLASH_QUERY_BLOCK, heads=1),
                    float(v.heads * blocks)))
    return out


def _choose(units_views, grids, evaluated, cache, m: int) -> list[tuple]:
    """Per stage, the (tile grid, unit choice) with the least time on a micro-batch of ``m``:
    ceil(m units / tiles) waves of one unit's cycles.

    The search starts at the grid whose tiles first hold all the micro-batch's units at once
    and walks to fewer (larger) tiles while that is faster: more tiles than units only idle,
    and fewer, larger tiles pay off only while a unit's own mapping gains. Each step
    evaluates, in one call, every stage still walking (repeated layers share it)."""
    S = len(units_views)
    best_t = np.full(S, math.inf)
    best = [(grids[0], 0)] * S
    tiles = np.array([g[0] * g[1] for g in grids])

    def time_of(i, gi, c):
        waves = math.ceil(m * units_views[i][c][1] / tiles[gi])
        return waves * cache[(i, grids[gi], c)][1].cycles

    for c in range(max(len(u) for u in units_views)):
        active = [i for i in range(S) if c < len(units_views[i])]
        start = {i: int(min(np.searchsorted(tiles, m * units_views[i][c][1]), len(grids) - 1))
                 for i in active}
        pos = dict(start)
        last = {}
        while active:
            by_grid: dict = {}
            for i in active:
                by_grid.setdefault(pos[i], []).append(i)
            for gi, idx in by_grid.items():
                evaluated(idx, grids[gi], c)
            nxt = []
            for i in active:
                t = time_of(i, pos[i], c)
                if t < best_t[i] * 0.999:
                    best_t[i], best[i] = t, (grids[pos[i]], c)
                # keep walking to larger tiles while each step is faster than the one before
                if pos[i] > 0 and t < last.get(i, math.inf):
                    last[i] = t
                    pos[i] -= 1
                    nxt.append(i)
            active = nxt
    return best


def stored_bytes(nnz: float, dtype: str, density: float) -> float:
    """Bytes of ``nnz`` stored weights on the stream: the one rule of the placer
    (:func:`wse_sim.mapping.sram.stored_weight_bytes`)."""
    return stored_weight_bytes(nnz, dtype, density)


def streamed_bytes(sset: StageSet, training: bool):
    """Per stage (S,): dense weight bytes streamed per pass; for lookup tables instead their
    rows, bytes per row and rows read per sample (only the rows a micro-batch uses stream)."""
    S = len(sset)
    w, rows, row_b, looks = np.zeros(S), np.zeros(S), np.zeros(S), np.zeros(S)
    for i, sd in enumerate(sset.data):
        v, op = sd.view, sd.op
        if not v.stored_weights:
            continue
        if v.one_hot:
            rows[i] = v.k
            row_b[i] = stored_bytes(v.n * op.weight_density, op.dtype, op.weight_density)
            looks[i] = v.rows
        else:
            # a layer tied to an embedding (a GPT's LM head) has no params of its own, but
            # the whole table streams through it
            nnz = sd.nnz if not op.attrs.get("tied_to") else v.k * v.n * op.weight_density
            w[i] = stored_bytes(nnz, op.dtype, op.weight_density)
    return w, rows, row_b, looks


def distinct_rows(table_rows: np.ndarray, reads: float) -> np.ndarray:
    """Expected distinct rows among ``reads`` uniform draws from tables of ``table_rows``:
    V (1 - (1 - 1/V)^reads). An upper bound for real text (Zipf-like ids repeat more)."""
    V = np.maximum(np.asarray(table_rows, dtype=np.float64), 2.0)
    out = V * -np.expm1(reads * np.log1p(-1.0 / V))
    return np.where(table_rows > 1, out, np.minimum(table_rows, reads))


def backward_bytes(sset: StageSet, attention: str) -> tuple[np.ndarray, dict]:
    """Bytes per sample (wafer total) each stage keeps for backward (S,), and the attention
    stash per sample under each attention choice.

    A heavy op keeps its input (a tensor read by several ops, such as q/k/v's, is kept
    once); an attention product keeps its second operand (K, V). Stored attention also keeps
    the probabilities (heads x queries x keys); flash attention keeps only one fp32 log-sum-
    exp per query row and head and recomputes the scores in backward.
    """
    S = len(sset)
    out = np.zeros(S)
    seen: set = set()
    attn = {"flash": 0.0, "stored": 0.0}
    g = sset.graph
    for i, sd in enumerate(sset.data):
        v, op = sd.view, sd.op
        vb = DTYPE_BYTES[op.dtype]
        dens = float(sset.in_density[i])
        x_in = v.rows if v.one_hot else v.rows * v.k * dens / v.reuse
        x_bytes = x_in * (vb + (INDEX_BYTES if dens < 0.5 else 0))
        src = op.inputs[0] if op.inputs else op.name
        if v.stored_weights:
            if src not in seen:
                out[i] += x_bytes
                seen.add(src)
            continue
        operand = v.heads * v.k * v.n * vb
        if _reads_probabilities(g, op):
            flash = operand + v.rows * STATS_BYTES
            stored = operand + x_bytes
        else:
            flash = stored = operand + x_bytes
        attn["flash"] += flash
        attn["stored"] += stored
        out[i] += flash if attention == "flash" else stored
    return out, attn


def _reads_probabilities(g, op) -> bool:
    """True for the attention product fed by softmax probabilities (through dropout)."""
    src = g.op(op.inputs[0])
    for _ in range(4):
        if src.kind == "softmax":
            return True
        if not src.inputs:
            return False
        src = g.op(src.inputs[0])
    return False


def checkpoint_bytes(sset: StageSet, stash: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Bytes per sample backward keeps with segment checkpointing, and the stages that start
    a segment.

    Keeping the tensors that cross a boundary before stage j (every flow from a stage before
    j to one at or after it: the residual stream and any skip) lets backward recompute the
    segment after it; while it does, that segment's full stash is held. Memory = the
    boundaries' tensors + the largest segment's stash. Segments are cut greedily at a cap on
    a segment's stash, the cap chosen among a geometric range as the one needing least.
    """
    S = len(sset)
    if S < 2 or stash.sum() <= 0:
        return float(stash.sum()), ()
    live = np.zeros(S + 1)  # bytes crossing the boundary before stage j
    vb = np.array([DTYPE_BYTES[sd.op.dtype] for sd in sset.data], dtype=np.float64)
    for f in sset.flows:
        if f.dst > f.src:
            live[f.src + 1:f.dst + 1] += f.wavelets * vb[f.src]
    best = (float(stash.sum()), ())
    for cap in np.geomspace(max(float(stash.max()), 1.0), float(stash.sum()), 24):
        cuts, seg, seg_max = [], 0.0, 0.0
        for j in range(S):
            if seg > 0 and seg + stash[j] > cap:
                cuts.append(j)
                seg_max = max(seg_max, seg)
                seg = 0.0
            seg += stash[j]
        seg_max = max(seg_max, seg)
        need = float(live[cuts].sum()) + seg_max + float(stash[0])
        if need < best[0]:
            best = (need, tuple(cuts))
    return best


def _estimate(evals, units, tiles, w_b, rows, row_b, looks, system, wafer, per_system: int,
              micro: int, recompute: bool, training: bool) -> float:
    """The placer's estimate of a step's cycles (to choose between checkpointing options):
    per micro-batch, each stage's compute waves against its weight stream in (twice in
    training) and gradients out, as the engine runs them."""
    if micro < 1:
        return math.inf
    size = run_size(per_system, micro)
    n_mb = -(-per_system // size)
    bw = system.stream_bytes_per_s / wafer.clock_hz
    c = np.array([e.cycles for e in evals]) * (4.0 / 3.0 if recompute else 1.0)
    waves = np.ceil(size * units / tiles)
    w = w_b + distinct_rows(rows, size * looks) * row_b
    t = np.maximum(waves * c, (2.0 if training else 1.0) * w / bw)
    return float(n_mb * t.sum())


def recompute_flags(sset: StageSet, attention: str) -> np.ndarray:
    """1.0 for the stages backward reruns forward: the attention scores under flash."""
    g = sset.graph
    return np.array([1.0 if attention == "flash" and not sd.view.stored_weights
                     and any(g.op(n).kind == "softmax" for n in names) else 0.0
                     for names, sd in zip(sset.names, sset.data, strict=True)])


def check_capacity(sset: StageSet, system: SystemSpec, training: bool) -> None:
    """Raise :class:`PlacementError` when the weights (and, training, the optimizer state)
    exceed the memory service."""
    from ..mapping import OPTIMIZER_BYTES_PER_WEIGHT

    need = 0.0
    for sd in sset.data:
        if sd.view.stored_weights and not sd.op.attrs.get("tied_to"):
            need += stored_bytes(sd.nnz, sd.op.dtype, sd.op.weight_density)
            if training:
                need += sd.nnz * OPTIMIZER_BYTES_PER_WEIGHT
    if need > system.memory_capacity_bytes:
        raise PlacementError(
            f"{sset.graph.name!r} needs {need:,.0f} bytes of weights and optimizer state in "
            f"the memory service but {system.name!r} holds memory_capacity_bytes="
            f"{system.memory_capacity_bytes:,.0f}; use a larger service, e.g. "
            f"ws.system({system.name!r}, memory_capacity_bytes={need * 1.25:.3g})")


def _routing(stages, evals, units, tiles, training: bool) -> tuple[float, int]:
    """Wavelet-hops per sample (every stage's internal multicasts and reductions on each of a
    sample's units, routed on its tile) and the most colors a router carries at once, counted:
    the routes a layer uses (forward row multicast, column reduction; backward the two
    reverse routes, where they carry wavelets) plus the weight stream in, the next layer's
    prefetched stream and, training, the gradients streaming out."""
    from ..fabric.flow import region_traffic

    hops, colors, seen = 0.0, 0, {}
    for st, e, u in zip(stages, evals, units, strict=True):
        key = (id(e), st.rect)
        if key not in seen:
            # each listed rectangle of links carries w wavelets on every link in it
            (r, w) = region_traffic((st,), [e.cost], training)
            h = float((w * (r[2] - r[1]) * (r[4] - r[3])).sum())
            routes = sum(1 for x in e.cost.fields() if float(x.max(initial=0)) > 0)
            seen[key] = (float(h), routes)
        h, routes = seen[key]
        hops += h * float(u)
        colors = max(colors, routes + 2 + (1 if training else 0))
    return hops, colors
