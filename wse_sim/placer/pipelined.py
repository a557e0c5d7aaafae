"""Pipelined placement: choose the replica count, then size, lay out and repair one
replica's stages in rounds until every core fits its SRAM and the stages balance."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import PlacementError
from ..graph import DTYPE_BYTES
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON
from .assemble import assemble, color_report
from .evaluate import StageEval, balance_of, evaluate_stages, routed_link_cycles
from .layout import bisect_layout
from .placement import Placement
from .replicas import allreduce_cycles_per_step, replica_tiles
from .sizing import StageModel, allocate_cores, min_cores_for_sram
from .stages import StageSet, chunk_in_flight, edge_delays

FIT_ROUNDS = 10  # size -> lay out -> evaluate rounds that grow stages whose SRAM overflows
BALANCE_ROUNDS = 2  # further rounds that correct each stage's time model by its measured time
REPLICA_SLACK = 1.15  # cores per replica above the SRAM minimum when bounding the count, assumed


@dataclass(frozen=True)
class Fit:
    """The best round of one replica's repair loop."""

    period_cycles: float  # slowest stage's predicted time per sample
    balance: float  # slowest / mean over the stages whose size time decided
    rects: list = field(repr=False)  # (row0, col0, height, width) per stage
    evals: list[StageEval] = field(repr=False)
    sized_by_memory: np.ndarray = field(repr=False)  # bool (S,)
    in_flight: np.ndarray = field(repr=False)  # int64 (S,): samples each stage stashes


def place_pipelined(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                    replicas: int | str, batch: int, seed: int, physics: Physics = ALL_ON,
                    candidates: tuple[Placement, ...] = (), choose=None) -> Placement | None:
    """The fastest pipelined placement found, or None when no replica count fits.

    ``candidates`` are placements made for another wafer (a preset this one holds) or for a
    denser graph; each is re-evaluated here with its rectangles and splits unchanged. A fixed
    placement never gets slower with more of a resource or fewer non-zeros, so keeping the
    best makes the placer's answer monotone too. ``choose`` picks among the placement made
    here and the re-evaluated candidates (the engine's prediction; default: the placer's).
    With ``physics.colors`` a placement that routes more colors through a router than the
    spec has is not kept; when none is left, :class:`PlacementError` names the router.
    The result's ``replicas_auto`` is ``(count, predicted rate / the result's)`` of the count
    'auto' would pick, by the sizing model.
    """
    best_r, model_rate = _predicted_best_replicas(sset, model, wafer, batch, training)
    if replicas == "auto":
        tries = sorted({best_r} | {best_r // 2 ** i for i in range(1, 21) if best_r // 2 ** i},
                       reverse=True)
    else:
        tries = [int(replicas)]
    best_plan, best_rate, over_budget = None, -1.0, None
    caches: dict = {}  # weight counts and stage evaluations, shared by every try below
    for r in tries:  # the predicted best count first, then fewer while that predicts faster
        plan = fit_replica(sset, model, wafer, training, batch, seed, r, physics, caches)
        if plan is None:
            continue
        if physics.colors and plan.routers_over_color_budget:
            over_budget = over_budget or plan
            continue
        rate = predicted_rate(plan, training)
        if best_plan is not None and rate <= best_rate:
            break
        best_plan, best_rate = plan, rate
    pool = [] if best_plan is None else [best_plan]
    for cand in candidates:
        plan = refit(cand, sset, model, wafer, physics, caches)
        if plan is None or (physics.colors and plan.routers_over_color_budget):
            continue
        pool.append(plan)
    if not pool:
        if over_budget is not None:
            raise PlacementError(color_report(over_budget))
        return None
    if choose is not None:
        best_plan = choose(pool)
    else:
        best_plan = max(pool, key=lambda p: predicted_rate(p, training))
    mine = model_rate(best_plan.replicas)
    gain = model_rate(best_r) / mine if mine > 0 else 1.0
    return dataclasses.replace(best_plan, replicas_auto=(int(best_r), float(gain)))


def refit(plan: Placement, sset: StageSet, model: StageModel, wafer: WaferSpec,
          physics: Physics, caches: dict | None = None) -> Placement | None:
    """``plan``'s rectangles, splits and replica tiles re-evaluated on ``wafer``; None when they
    do not lie on its mesh or their SRAM does not fit there. ``caches``: see
    :func:`fit_replica`."""
    th, tw = plan.tile_shape
    if plan.mode != "pipelined" or len(plan.stages) != len(sset) or any(
            oy + th > wafer.rows or ox + tw > wafer.cols for oy, ox in plan.replica_origins):
        return None
    rects = [st.rect for st in plan.stages]
    splits = [st.split for st in plan.stages]
    caches = {} if caches is None else caches
    in_flight = np.maximum(sset.in_flight, [st.in_flight for st in plan.stages])
    for _ in range(2):  # the stash the candidate holds, then what its times on this wafer need
        ev = evaluate_stages(sset, rects, in_flight, wafer, plan.training, plan.batch, model,
                             physics=physics, splits=splits,
                             rtn_cache=caches.setdefault("rtn", {}),
                             memo=caches.setdefault("eval", {}))
        if max(float(e.sram.max()) for e in ev) > wafer.sram_bytes_per_core:
            return None
        t = np.maximum([e.cycles for e in ev], routed_link_cycles(
            rects, ev, sset.flows, plan.tile_shape, wafer, plan.training))
        need = _stash_need(sset, t, rects, wafer, plan.training)
        if need is None or (need <= in_flight).all():
            break
        in_flight = np.maximum(in_flight, need)
    else:
        return None
    ev = [dataclasses.replace(e, cycles=float(ti)) for e, ti in zip(ev, t, strict=True)]
    out = assemble(sset, wafer, rects, ev, plan.replica_origins, plan.tile_shape,
                   plan.training, plan.batch, plan.seed, plan.balance, physics, in_flight)
    return dataclasses.replace(out, balance_all=float(t.max() / t.mean()),
                               memory_sized_stages=plan.memory_sized_stages)


def _predicted_best_replicas(sset: StageSet, model: StageModel, wafer: WaferSpec,
                             batch: int, training: bool = True):
    """The replica count the sizing model alone predicts fastest (all-reduce included), and
    that model's rate (samples per cycle) as a function of the count."""
    S = len(sset)
    vb = DTYPE_BYTES[sset.graph.dtype]
    nnz = np.array([sd.nnz for sd in sset.data], dtype=np.float64)
    mins_once = min_cores_for_sram(model, sset.in_flight, np.ones(S))
    r_max = max(1, int(wafer.cores // max(mins_once.sum() * REPLICA_SLACK, S)))
    cands = sorted({1, r_max} | {2 ** i for i in range(1, 21) if 2 ** i <= r_max}
                   | {int(r_max * f) for f in (0.5, 0.75) if int(r_max * f) >= 1})

    def rate_of(r: int) -> float:
        try:
            tile, _ = replica_tiles(wafer.rows, wafer.cols, r)
        except PlacementError:
            return 0.0
        total = tile[0] * tile[1]
        _, T = allocate_cores(model, mins_once, total)
        if not math.isfinite(T):
            return 0.0
        side = math.sqrt(total / S)
        ar = allreduce_cycles_per_step(nnz, [(0, 0, side, side)] * S, r, tile, wafer,
                                       vb) if training else 0.0
        return r / (T + ar / batch)

    best_r, best_rate = 1, -1.0
    for r in cands:
        rate = rate_of(r)
        if rate > 0 and rate > best_rate * 1.0001:
            best_r, best_rate = r, rate
    return best_r, rate_of


def predicted_rate(plan: Placement, training: bool) -> float:
    """Samples per cycle the placement predicts: replicas x batch over one step, the slowest
    stage's time per sample plus the gradient all-reduce between replicas."""
    t_max = max(s.est_cycles for s in plan.stages)
    nnz = np.array([d.nnz for d in plan.data], dtype=np.float64)
    ar = allreduce_cycles_per_step(nnz, [s.rect for s in plan.stages], plan.replicas,
                                   plan.tile_shape, plan.wafer,
                                   DTYPE_BYTES[plan.graph.dtype]) if training else 0.0
    return plan.replicas * plan.batch / (plan.batch * t_max + ar)


def fit_replica(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                batch: int, seed: int, r: int, physics: Physics = ALL_ON,
                caches: dict | None = None) -> Placement | None:
    """Size, lay out and check one replica tile for ``r`` replicas; None when SRAM won't fit.

    ``caches`` (a dict, filled here) keeps weight counts and stage evaluations between calls
    for the same stage set, wafer and physics, so a stage is costed once per rectangle shape
    whatever the round or replica count that asks for it."""
    tile, origins = replica_tiles(wafer.rows, wafer.cols, r)
    fit = _repair_rounds(sset, model, wafer, training, batch, tile, physics,
                         {} if caches is None else caches)
    if fit is None:
        return None
    plan = assemble(sset, wafer, fit.rects, fit.evals, origins, tile, training, batch, seed,
                    fit.balance, physics, fit.in_flight)
    t = np.array([e.cycles for e in fit.evals])
    return dataclasses.replace(plan, balance_all=float(t.max() / t.mean()),
                               memory_sized_stages=int(fit.sized_by_memory.sum()))


def _repair_rounds(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                   batch: int, tile: tuple[int, int], physics: Physics,
                   caches: dict) -> Fit | None:
    """Fit rounds grow stages whose SRAM overflows; balance rounds then rescale each stage's
    time model by measured / predicted time. Returns the best round, or None."""
    S = len(sset)
    total = tile[0] * tile[1]
    scale = np.ones(S)
    rtn_cache = caches.setdefault("rtn", {})
    memo = caches.setdefault("eval", {})
    best: Fit | None = None
    balance_rounds = 0
    in_flight = np.asarray(sset.in_flight, dtype=np.int64).copy()
    for _ in range(FIT_ROUNDS + BALANCE_ROUNDS):
        mins = min_cores_for_sram(model, in_flight, scale)
        if mins.sum() > total:
            break
        n, _ = allocate_cores(model, mins, total)
        rects = bisect_layout(n, (0, 0, tile[0], tile[1]))
        ev = evaluate_stages(sset, rects, in_flight, wafer, training, batch, model,
                             rtn_cache=rtn_cache, physics=physics, memo=memo)
        over = np.array([e.sram.max() for e in ev]) / wafer.sram_bytes_per_core
        # a stage's time includes its busiest link with the traffic between stages routed
        t = np.maximum([e.cycles for e in ev],
                       routed_link_cycles(rects, ev, sset.flows, tile, wafer, training))
        ev = [dataclasses.replace(e, cycles=float(ti)) for e, ti in zip(ev, t, strict=True)]
        sized_by_memory = mins >= n * 0.999  # the SRAM minimum, not time, set these sizes
        heavy_bal = balance_of(t, sized_by_memory)
        if over.max() > 1.0:  # first make every core fit: grow the overflowing stages
            # past their current size (a stage sized by time may overflow too)
            grow = over * 1.05 * np.maximum(1.0, n / np.maximum(mins, 1.0))
            scale = scale * np.where(over > 1.0, grow, 1.0)
            continue
        need = _stash_need(sset, t, rects, wafer, training)
        if need is not None and (need > in_flight).any():
            # streaming stages: the stash these times and distances need; size for it
            in_flight = np.maximum(in_flight, need)
            continue
        improved = best is None or t.max() < best.period_cycles
        if improved:
            best = Fit(float(t.max()), heavy_bal, rects, ev, sized_by_memory, in_flight.copy())
        # stop when balanced, out of rounds, or a balance round made the slowest stage slower
        if heavy_bal < 1.05 or balance_rounds == BALANCE_ROUNDS or not improved:
            break
        balance_rounds += 1
        area = np.array([rc[2] * rc[3] for rc in rects], dtype=np.float64)
        predicted = model.A / area + model.B / np.sqrt(area) + model.C
        corr = np.clip(t / np.maximum(predicted, 1e-9), 0.5, 2.0) ** 0.8
        model = dataclasses.replace(model, A=model.A * corr, B=model.B * corr)
    return best


def _stash_need(sset: StageSet, t: np.ndarray, rects, wafer: WaferSpec,
                training: bool) -> np.ndarray | None:
    """Samples each stage must stash for stages that stream at these times per sample and
    these distances (:func:`~wse_sim.placer.stages.chunk_in_flight`); None when the stages
    move whole samples or at inference (the whole-sample counts are structural)."""
    if not training or sset.units is None or sset.units.granularity != "chunk":
        return None
    # either task may take up to the stage's whole time: plan for both at once
    return chunk_in_flight(len(sset), sset.flows, sset.units, t, t,
                           edge_delays(rects, sset.flows, wafer), float(t.max()))
