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
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON
from ..spec.system import SystemSpec, system_for
from .evaluate import evaluate_stages
from .placement import Placement, Stage
from .sizing import StageModel
from .stages import StageSet
from .stream_memory import (
    backward_bytes,
    check_capacity,
    checkpoint_bytes,
    distinct_rows,
    recompute_flags,
    streamed_bytes,
)

# Tile grids (rows x cols of tiles) a streamed layer may be cut into: square-ish powers of two
# up to 32 x 32 (~700 cores per tile on WSE-2). A design choice bounding the search, assumed.
TILE_GRIDS = ((1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32))
FLASH_QUERY_BLOCK = 128  # query rows per attention block tried beside whole heads, assumed


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
    # the micro-batch chosen among those that fit: the one the placer predicts fastest
    # (0: micro_fit). The largest that fits can be slower: its units may leave a last wave
    # of tiles part-empty (9 samples on 4 tiles take 3 waves; 8 take 2)
    micro_best: int = 0

    @property
    def micro_batch(self) -> int:
        return self.micro_forced or self.micro_best or self.micro_fit

    def to_dict(self) -> dict:
        return {"system": self.system.to_dict(), "micro_fit": self.micro_fit,
                "micro_forced": self.micro_forced, "micro_batch": self.micro_batch,
                "attention": self.attention,
                "attention_stash_bytes": dict(self.attention_stash_bytes),
                "checkpoint": self.checkpoint, "checkpoint_bytes": dict(self.checkpoint_bytes),
                "free_bytes_per_core": self.free_bytes_per_core,
                "units": self.units.tolist(), "tiles": self.tiles.tolist()}


class _TileSearch:
    """The evaluations behind the tile choice of one placement: each (stage, tile grid, unit
    choice) is evaluated once, on one tile (repeated layers share one evaluation)."""

    def __init__(self, sset, model, wafer, training, batch, physics, per_system, micro_batch):
        self.sset, self.wafer, self.training, self.batch = sset, wafer, training, batch
        self.physics, self.per_system, self.micro_batch = physics, per_system, micro_batch
        S = len(sset)
        # a streamed layer keeps no weights: nothing limits the row groups but the stash
        self.model = dataclasses.replace(model, fixed_bytes=np.zeros(S), stash_bytes=np.zeros(S))
        self.units_views = [_unit_views(sd) for sd in sset.data]
        self.grids = [g for g in TILE_GRIDS if wafer.rows // g[0] >= 1
                      and wafer.cols // g[1] >= 1]
        self.memo, self.rtn_cache, self.peaks = {}, {}, {}
        self.cache: dict = {}  # (stage, grid, view choice) -> (StageData, StageEval)

    def evaluate(self, idx: list[int], grid, choice) -> None:
        """Evaluate stages ``idx`` on one tile of ``grid`` with their unit view ``choice``."""
        idx = [i for i in idx if (i, grid, choice) not in self.cache]
        if not idx:
            return
        wafer, sset = self.wafer, self.sset
        h, w = wafer.rows // grid[0], wafer.cols // grid[1]
        data = []
        for i in idx:
            uv, n_units = self.units_views[i][choice]
            sd = sset.data[i]
            data.append(dataclasses.replace(sd, view=uv,
                                            extra_vector_ops=sd.extra_vector_ops / n_units))
        sub = dataclasses.replace(sset, data=tuple(data), in_density=sset.in_density[idx],
                                  first=sset.first[idx])
        sub_model = dataclasses.replace(self.model, fixed_bytes=np.zeros(len(idx)),
                                        stash_bytes=np.zeros(len(idx)))
        ev = evaluate_stages(sub, [(0, 0, h, w)] * len(idx), np.zeros(len(idx)), wafer,
                             self.training, self.batch, sub_model, resident=False,
                             rtn_cache=self.rtn_cache, physics=self.physics, memo=self.memo)
        for i, d, e in zip(idx, data, ev, strict=True):
            self.cache[(i, grid, choice)] = (d, e)

    def tiled(self, stash_core: float):
        """``(fit, choice, evals, data, peak)`` for a stash of ``stash_core`` bytes per core
        per sample (choice None when not one sample fits): a guess of the micro-batch from
        the stash alone chooses the tiles; the working set of the chosen tiles then fixes it,
        and a smaller one chooses again."""
        wafer, per_system, forced = self.wafer, self.per_system, self.micro_batch
        m = _fit(wafer, wafer.code_reserve_bytes + wafer.io_buffer_bytes, stash_core,
                 per_system)
        if m < 1 and not forced:
            return 0, None, None, None, math.inf  # not one sample fits, whatever the tiles
        for _ in range(3):
            # tiles for the micro-batches the step really runs (an even split of the batch)
            size = run_size(per_system, forced or m)
            choice = _choose(self.units_views, self.grids, self.evaluate, self.cache, size)
            out = [self.cache[(i, g, c)] for i, (g, c) in enumerate(choice)]
            evals = [e for _, e in out]
            peak = max(_peak(e, self.peaks) for e in evals)
            fit = _fit(wafer, peak, stash_core, per_system)
            if forced or fit >= m or fit < 1 or run_size(per_system, fit) == size:
                break
            m = fit
        return fit, choice, evals, [d for d, _ in out], peak

    def fastest(self, stash_core: float, fit: int, first: tuple, streamed, system,
                recompute: bool) -> tuple:
        """The micro-batch the placer predicts fastest among those that fit, with its tiles:
        ``(size, choice, evals, data, peak, units, tiles, est)`` (``first``: the tiles of
        the largest that fits).

        The candidates are the micro-batches a step of ``per_system`` samples runs with at
        most m samples each, m = fit, fit - 1, ..., 1 (each evenly split: the sizes
        ``run_size`` gives), as a compiler searching micro-batch sizes for speed does
        (``docs/modeling.md``, "Weight streaming on a system"). Each candidate chooses its
        own tiles and must fit beside their working set. The walk stops once the weight
        streams of a candidate's micro-batches alone take as long as the best step: they
        only grow as the micro-batch shrinks."""
        wafer, per_system = self.wafer, self.per_system
        choice, evals, data, peak, units, tiles, est = first
        best = (run_size(per_system, fit), choice, evals, data, peak, units, tiles, est)
        tried = {best[0]}
        # the dense weights in, twice a micro-batch: a floor under any candidate's step
        dense_streams = 2.0 * float(streamed[0].sum()) / (system.stream_bytes_per_s
                                                         / wafer.clock_hz)
        for m in range(fit - 1, 0, -1):
            size = run_size(per_system, m)
            if size in tried:
                continue
            tried.add(size)
            if -(-per_system // size) * dense_streams >= best[7]:
                break
            ch = _choose(self.units_views, self.grids, self.evaluate, self.cache, size)
            out = [self.cache[(i, g, c)] for i, (g, c) in enumerate(ch)]
            evs = [e for _, e in out]
            pk = max(_peak(e, self.peaks) for e in evs)
            if _fit(wafer, pk, stash_core, per_system) < size:
                continue  # its own tiles' working set leaves no room for its stash
            u, t = self.units_tiles(ch)
            e = _estimate(evs, u, t, *streamed, system, wafer, per_system, size, recompute,
                          True)
            if e < best[7]:
                best = (size, ch, evs, [d for d, _ in out], pk, u, t, e)
        return best

    def units_tiles(self, choice) -> tuple[np.ndarray, np.ndarray]:
        units = np.array([self.units_views[i][c][1] for i, (_, c) in enumerate(choice)])
        return units, np.array([float(g[0] * g[1]) for g, _ in choice])


def place_streaming(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                    batch: int, seed: int, physics: Physics = ALL_ON,
                    system: SystemSpec | None = None, micro_batch: int | None = None
                    ) -> Placement:
    """Every stage on the whole wafer, cut into tiles; SRAM = the largest layer's working set
    + the stash of the micro-batch. ``batch`` is the global batch (split over
    ``system.n_systems``); ``micro_batch`` forces the micro-batch (beyond what fits, the
    excess stash spills off the wafer and the engine charges it)."""
    system = system_for(wafer) if system is None else system
    S = len(sset)
    per_system = -(-batch // system.n_systems)
    stash, attn = backward_bytes(sset, physics.attention)
    search = _TileSearch(sset, model, wafer, training, batch, physics, per_system, micro_batch)
    streamed = streamed_bytes(sset, training)
    ckpt = checkpoint_bytes(sset, stash) if training else (float(stash.sum()), ())
    options = (["none"] if not training else
               ["none", "segments"] if physics.checkpoint == "auto" else [physics.checkpoint])
    mems = {opt: float(stash.sum()) if opt == "none" else ckpt[0] for opt in options}
    best = None
    for opt in sorted(options, key=lambda o: mems[o]):  # the smaller stash first
        mem = mems[opt]
        if best is not None and best[1] == "none" and best[3] >= per_system:
            break  # the whole batch fits in one micro-batch without recomputing anything
        if best is not None and _stream_floor(streamed, system, wafer, per_system, mem,
                                              micro_batch, training) >= best[0]:
            continue  # its weight streams alone take longer than the best option's step
        fit, choice, evals, data, peak = search.tiled(mem / wafer.cores if training else 0.0)
        if choice is None:
            continue
        units, tiles = search.units_tiles(choice)
        seg = opt == "segments"
        est = _estimate(evals, units, tiles, *streamed, system, wafer, per_system,
                        micro_batch or fit, seg, training)
        size = 0
        if training and not micro_batch and fit >= 1:
            size, choice, evals, data, peak, units, tiles, est = search.fastest(
                mem / wafer.cores, fit, (choice, evals, data, peak, units, tiles, est),
                streamed, system, seg)
        if best is None or est < best[0]:
            best = (est, opt, mem, fit, choice, evals, data, peak, units, tiles, size)
    if best is None or (training and best[3] < 1 and not micro_batch):
        mem = min(float(stash.sum()), ckpt[0]) if best is None else best[2]
        peak = wafer.code_reserve_bytes + wafer.io_buffer_bytes if best is None else best[7]
        raise _no_fit(sset, wafer, mem, peak)
    _, ckpt_opt, mem, fit, choice, out_evals, data, peak, units, tiles, size = best
    forced = int(micro_batch or 0)
    micro = min(forced or size or fit, per_system) if training else per_system
    stash_core = mem / wafer.cores if training else 0.0
    sram_core = np.full((wafer.rows, wafer.cols), int(np.ceil(peak + min(micro, fit)
                                                              * stash_core)), dtype=np.int64)
    t = np.array([e.cycles * u / tl for e, u, tl in zip(out_evals, units, tiles, strict=True)])
    recompute = recompute_flags(sset, physics.attention) if training else np.zeros(S)
    if ckpt_opt == "segments":
        recompute = recompute + 1.0  # every segment's forward runs again in backward
    # the stash kept, spread over the stages in proportion (what spills when forced)
    kept = stash * (mem / stash.sum()) if stash.sum() > 0 else stash
    plan = StreamPlan(system, units, tiles, kept, *streamed, recompute, fit, forced,
                      float(wafer.sram_bytes_per_core - peak), physics.attention, attn,
                      ckpt_opt, {"none": float(stash.sum()), "segments": ckpt[0],
                                 "segment_bounds": list(ckpt[1])}, int(size))
    check_capacity(sset, system, training)
    stages, out_data = [], []
    for i, (names, e) in enumerate(zip(sset.names, out_evals, strict=True)):
        g = choice[i][0]
        rect = (0, 0, wafer.rows // g[0], wafer.cols // g[1])
        stages.append(Stage(i, names[0], names, rect, e.split, float(sset.in_density[i]),
                            bool(sset.first[i]), 1, float(t[i]), _peak(e, search.peaks)))
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


def _no_fit(sset, wafer: WaferSpec, mem: float, peak: float) -> PlacementError:
    """The error for a model of which not one sample's backward stash fits."""
    return PlacementError(
        f"{sset.graph.name!r}: not one sample's activations fit on {wafer.name!r} in weight "
        f"streaming: backward needs {mem:,.0f} bytes per sample ({mem / wafer.cores:,.0f} "
        f"per core) beside a working set of {peak:,.0f} bytes on a core of "
        f"{wafer.sram_bytes_per_core:,}. Fix: a shorter sequence, Physics(attention='flash', "
        "checkpoint='segments'), more SRAM, or force micro_batch=1 (the excess stash then "
        "spills off the wafer)")


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


def _stream_floor(streamed, system, wafer, per_system: int, mem: float, micro_batch,
                  training: bool) -> float:
    """A lower bound on a step's cycles with a backward stash of ``mem`` bytes per sample:
    the weight streams of the fewest micro-batches it could run (the stash alone, beside no
    working set), whatever the tiles."""
    reserve = wafer.code_reserve_bytes + wafer.io_buffer_bytes
    m = micro_batch or _fit(wafer, reserve, mem / wafer.cores if training else 0.0, per_system)
    if m < 1:
        return math.inf
    size = run_size(per_system, m)
    w_b, rows, row_b, looks = streamed
    w = w_b + distinct_rows(rows, size * looks) * row_b
    bw = system.stream_bytes_per_s / wafer.clock_hz
    return float(-(-per_system // size) * (2.0 if training else 1.0) * w.sum() / bw)


def _estimate(evals, units, tiles, w_b, rows, row_b, looks, system, wafer, per_system: int,
              micro: int, recompute: bool, training: bool) -> float:
    """The placer's estimate of a step's cycles (to choose the checkpointing and the
    micro-batch), as the engine runs it: the step's evenly split micro-batches, each stage's
    forward = max(compute waves, weights in) and backward = max(compute waves, weights in,
    gradients out). A unit's forward is taken as a third of its evaluated cycles (backward of
    a product is two products of the forward's size, derived); segment checkpointing reruns
    the forward in backward."""
    if micro < 1:
        return math.inf
    size = run_size(per_system, micro)
    n_mb = -(-per_system // size)
    q, r = divmod(per_system, n_mb)  # r micro-batches of q + 1 samples, the rest of q
    bw = system.stream_bytes_per_s / wafer.clock_hz
    c = np.array([e.cycles for e in evals])
    c_f = c / 3.0 if training else c
    c_b = c - c_f + (c_f if recompute else 0.0)

    def one(m: int) -> float:  # a micro-batch of m samples, all stages
        if m < 1:
            return 0.0
        waves = np.ceil(m * units / tiles)
        w = (w_b + distinct_rows(rows, m * looks) * row_b) / bw
        fwd = np.maximum(waves * c_f, w)
        bwd = np.maximum(waves * c_b, w) if training else 0.0 * w
        return float((fwd + bwd).sum())

    return r * one(q + 1) + (n_mb - r) * one(q)


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
