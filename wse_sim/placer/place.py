"""``place()``: map a graph onto the wafer, pipelined when it fits, else weight streaming."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..errors import PlacementError, SimulationError
from ..graph import DTYPE_BYTES, Graph
from ..resources import check_place
from ..spec import WAFER_PRESETS, Physics, WaferSpec
from ..spec.physics import ALL_ON
from ..spec.system import SystemSpec, system_for
from ..validate import check_place_args
from .llm import LLM_MODES, place_llm
from .pipelined import place_pipelined, predicted_rate
from .placement import Placement
from .sizing import StageModel, min_cores_for_sram, stage_model
from .stages import StageSet, stage_set
from .streaming import place_streaming
from .system_args import check_system_args

MODES = ("auto", "pipelined", "weight_streaming")
TRAIN_BATCH = 256  # samples per step for a graph with no batch_default, training: the batch
INFER_BATCH = 64  # of the public BERT-Large runs (docs/modeling.md), inference: assumed

_PREDICTOR: list[Callable[[Placement], float]] = []


def register_predictor(fn: Callable[[Placement], float]) -> None:
    """Set the function that predicts a placement's samples/s when the placer must choose
    between placements (the engine registers :func:`wse_sim.simulate` on import, so the
    choice is the engine's own prediction; the placer cannot import the engine)."""
    _PREDICTOR[:] = [fn]


def predicted_samples_per_s(plan: Placement) -> float:
    """The engine's prediction when one is registered, else the placer's own estimate
    (pipelined: replicas x batch over the slowest stage and the all-reduce)."""
    if _PREDICTOR:
        return float(_PREDICTOR[0](plan))
    return predicted_rate(plan, plan.training) * plan.wafer.clock_hz


def default_batch(graph: Graph, training: bool) -> tuple[int, str]:
    """The batch ``place()`` uses when none is given, and why: the zoo model's
    ``batch_default``, else (any imported graph, unless its importer was told a batch:
    ``meta['batch_given']``) ``TRAIN_BATCH`` for training and ``INFER_BATCH`` for inference."""
    meta = graph.meta
    if meta.get("batch_default") and (not meta.get("imported") or meta.get("batch_given")):
        return int(meta["batch_default"]), f"batch {int(meta['batch_default'])} (the model's " \
            "batch_default)"
    b = TRAIN_BATCH if training else INFER_BATCH
    return b, (f"batch {b} (no batch_default on the graph: {TRAIN_BATCH} for training, "
               f"{INFER_BATCH} for inference; pass batch= / --batch to change it)")


def place(graph: Graph, wafer: WaferSpec | SystemSpec, mode: str = "auto",
          training: bool = True, replicas: int | str = 1, batch: int | None = None,
          seed: int = 0, physics: Physics | None = None,
          candidates: tuple[Placement, ...] | None = None, context: int = 2048,
          wafers: int | str = 1, systems: int | None = None,
          micro_batch: int | None = None) -> Placement:
    """Map ``graph`` onto ``wafer`` (a :class:`WaferSpec`, or a :class:`SystemSpec`: a wafer
    with its memory service, possibly several systems in data parallel).

    Stages (one heavy op plus the cheap ops that follow it) each get a rectangle sized so the
    pipeline is balanced and every core's SRAM holds its share, laid out by recursive
    bisection so consecutive stages touch; ``replicas='auto'`` replicates a small model
    across the wafer, and a model the wafer cannot hold falls back to weight streaming.

    Parameters
    ----------
    mode : 'auto' (pipelined when it fits and is predicted faster than weight streaming,
        else weight streaming; ``Placement.notes`` says which and why), 'pipelined' (raise
        :class:`PlacementError` when it does not fit) or 'weight_streaming'.
    training : place for training (optimizer state and stashed activations in SRAM).
    replicas : 1 (default: one copy of the model, as the product compiles it unless asked),
        an int, or 'auto' (the count of data-parallel pipelines that maximises predicted
        throughput). ``Placement.replicas_auto`` keeps what 'auto' would pick.
    batch : samples per optimizer step per replica (default: :func:`default_batch`, the
        model's ``batch_default`` or 256 for training / 64 for inference).
    seed : seeds the weight masks' tile counts (through each op's ``mask_seed``) and ties.
    systems : shorthand for ``ws.system(<the wafer's system>, n=systems)``: that many
        systems train in data parallel, each in weight streaming on its share of ``batch``
        (a WaferSpec alone is one system with its default memory service).
    micro_batch : weight streaming: samples per micro-batch; default the most whose
        backward activations fit. A larger one spills the excess off the wafer (charged and
        named by the engine).
    physics : which mechanisms to model (:class:`~wse_sim.spec.Physics`; all on by default).
    candidates : placements made for other wafers to re-evaluate here and keep if faster.
        ``None`` (default): on a wafer that is not itself a preset, the placement of the
        preset of its name, else of the largest preset whose mesh it holds; for a sparse
        graph, the placement of the graph at twice its weight density (same shapes, a
        superset of the non-zeros). The engine's prediction picks among them, so more of a
        resource or more sparsity never predicts slower than those placements do.

    >>> import wse_sim as ws
    >>> from wse_sim.models import get
    >>> plan = ws.place(get("bert-base"), ws.wafer("wse2"))
    >>> plan.mode, plan.utilization > 0.9
    ('pipelined', True)
    """
    system, wafer = check_system_args(wafer, systems, micro_batch, mode)
    if mode in LLM_MODES:  # LLM inference (placer/llm.py): an LlmPlan for context, wafers
        return place_llm(graph, wafer, mode, context, 1 if batch is None else batch, wafers)
    # argument types, ranges and the memory the per-core arrays take: wse_sim.validate/resources
    training, replicas, batch, seed = check_place_args(
        graph, wafer, mode, training, replicas, batch, seed, modes=MODES, graph_cls=Graph,
        wafer_cls=WaferSpec)
    check_place(graph, wafer)
    if mode not in MODES:
        raise SimulationError(f"unknown placement mode {mode!r}; use one of {', '.join(MODES)}")
    batch, physics, notes = _batch_and_physics(graph, training, replicas, batch, physics)
    rates: dict[str, float] = {}  # the engine's prediction of the chosen pipeline, if made
    sset = stage_set(graph, training, physics.granularity)
    S = len(sset)
    if S > wafer.cores:
        raise PlacementError(
            f"graph {graph.name!r} has {S} stages but wafer {wafer.name!r} has only "
            f"{wafer.cores} cores; each stage needs at least one core: use a larger wafer")
    model = stage_model(list(sset.data), sset.in_density, sset.first, wafer, training,
                        sset.flow_wavelets())
    mins = min_cores_for_sram(model, sset.in_flight, np.ones(S))
    if mode != "weight_streaming" and system is None:
        plan = None
        if mins.sum() <= wafer.cores:
            if candidates is None:
                candidates = _what_if_candidates(graph, wafer, training, replicas, batch,
                                                 seed, physics)
            plan = place_pipelined(sset, model, wafer, training, replicas, batch, seed,
                                   physics, tuple(candidates), choose=_chooser(rates))
        if plan is not None:
            if mode == "auto":
                plan, why = _choose_mode(plan, sset, model, wafer, training, batch, seed,
                                         physics, rates)
                notes.append(why)
            return dataclasses.replace(plan, notes=(*notes, *plan.notes))
        if mode == "pipelined":
            raise _does_not_fit(sset, model, wafer, mins)
        notes.append("weight streaming: " + _need_line(sset, model, wafer, mins))
    if not _streams(system or wafer):
        notes.append(f"a what-if: {_no_streaming(system or wafer)}; it gets a CS-2-like service")
    plan = place_streaming(sset, model, wafer, training, batch, seed, physics,
                           system=system, micro_batch=micro_batch)
    return dataclasses.replace(plan, notes=(*notes, *plan.notes))


def _batch_and_physics(graph: Graph, training: bool, replicas, batch, physics
                       ) -> tuple[int, Physics, list[str]]:
    """The batch (the default one, and a note saying so, when none is given) and the physics
    ``place()`` runs with, after the checks ``check_place_args`` leaves to it."""
    notes: list[str] = []
    if batch is None:
        batch, why = default_batch(graph, training)
        notes.append(why)
    batch = int(batch)
    if batch < 1:
        raise SimulationError(f"batch must be >= 1, got {batch}")
    if not (replicas == "auto" or (isinstance(replicas, int) and replicas >= 1)):
        raise SimulationError(f"replicas must be 'auto' or an int >= 1, got {replicas!r}")
    physics = ALL_ON if physics is None else physics
    if not isinstance(physics, Physics):
        raise SimulationError(f"physics must be a wse_sim.spec.Physics, got {physics!r}")
    return batch, physics, notes


def _streams(target: WaferSpec | SystemSpec) -> bool:
    """Whether the system (or a bare wafer's default system) runs weight streaming at all."""
    system = target if isinstance(target, SystemSpec) else system_for(target)
    return bool(system.weight_streaming)


def _no_streaming(target: WaferSpec | SystemSpec) -> str:
    system = target if isinstance(target, SystemSpec) else system_for(target)
    return (f"the {system.name} system has no weight streaming (the CS-1 shipped before "
            "MemoryX and SwarmX)")


def _chooser(rates: dict[str, float]):
    """A ``choose`` for :func:`place_pipelined`: the fastest of its plans by the engine's
    prediction (the first on ties), remembering the winner's prediction in ``rates["chosen"]``
    so the mode choice does not simulate it again (place_pipelined changes only its
    ``replicas_auto``, which the engine does not read)."""
    def choose(plans: list[Placement]) -> Placement:
        if len(plans) == 1:
            return plans[0]
        got = [predicted_samples_per_s(p) for p in plans]
        rates["chosen"] = max(got)
        return plans[int(np.argmax(got))]
    return choose


def _choose_mode(plan: Placement, sset: StageSet, model: StageModel, wafer: WaferSpec,
                 training: bool, batch: int, seed: int, physics: Physics,
                 rates: dict[str, float]) -> tuple[Placement, str]:
    """Pipelined or weight streaming, whichever the engine predicts faster, and why.

    Weight streaming is placed only when it could win: a step of it moves each layer's
    weights over the off-wafer link (in, and for training in again and the gradients out)
    and does every MAC on the wafer's lanes, so its rate is at most ``batch`` over the larger
    of the two totals (:func:`_streaming_bound`). When the engine's prediction for the
    pipeline beats that, streaming is not placed; otherwise both are and the engine's
    prediction decides. A system without weight streaming (the CS-1) keeps the pipeline."""
    if not _streams(wafer):
        return plan, f"pipelined: {_no_streaming(wafer)}"
    bound = _streaming_bound(sset, wafer, training, batch)
    pipe = rates.get("chosen")
    pipe = predicted_samples_per_s(plan) if pipe is None else pipe
    if pipe >= bound:
        return plan, (f"pipelined: predicted {pipe:,.0f} samples/s; weight streaming could "
                      f"give at most {bound:,.0f} (its weight traffic and MACs)")
    stream = place_streaming(sset, model, wafer, training, batch, seed, physics)
    rate = predicted_samples_per_s(stream)
    if rate > pipe:
        return stream, (f"weight streaming: predicted {rate:,.0f} samples/s against "
                        f"{pipe:,.0f} pipelined")
    return plan, f"pipelined: predicted {pipe:,.0f} samples/s against {rate:,.0f} streaming"


def _streaming_bound(sset: StageSet, wafer: WaferSpec, training: bool, batch: int) -> float:
    """Samples/s weight streaming cannot exceed, however it overlaps layers: per step every
    layer's weight bytes cross the off-wafer link (three times in training: in for forward
    and backward, gradients out; an embedding only the rows it reads, taken as none here),
    and every MAC takes at least MACs / (cores x lanes) cycles; the step is at least the
    larger of the two totals."""
    per_cycle = wafer.offwafer_bytes_per_s / wafer.clock_hz
    traffic = compute = 0.0
    for sd, dens in zip(sset.data, sset.in_density, strict=True):
        op, v = sd.op, sd.view
        if not v.one_hot:
            traffic += sd.nnz * DTYPE_BYTES[op.dtype] * (3 if training else 1)
        macs = (v.rows * v.n if v.one_hot else v.dense_macs * (
            op.weight_density if v.stored_weights else 1.0) * dens) * (3 if training else 1)
        compute += batch * macs / (wafer.cores * wafer.fmac_per_cycle(op.dtype))
    step = max(traffic / per_cycle, compute)
    return batch * wafer.clock_hz / step if step > 0 else float("inf")


def _what_if_candidates(graph, wafer, training, replicas, batch, seed,
                        physics) -> tuple[Placement, ...]:
    """Placements to try besides the wafer's own: on a wafer that is not a preset, that of the
    preset it is a what-if of (same name), else of the largest preset whose mesh it holds;
    for a sparse graph, that of the graph at twice its weight density (:func:`_denser`)."""
    out: list[Placement] = []
    if wafer not in WAFER_PRESETS.values():
        fits = [b for b in WAFER_PRESETS.values()
                if b.rows <= wafer.rows and b.cols <= wafer.cols]
        named = [b for b in fits if b.name == wafer.name]
        base = named[0] if named else max(fits, key=lambda b: b.cores, default=None)
        if base is not None:
            out += _candidate(graph, base, training, replicas, batch, seed, physics)
    denser = _denser(graph)
    if denser is not None:
        out += _candidate(denser, wafer, training, replicas, batch, seed, physics)
    return tuple(out)


def _candidate(graph, wafer, training, replicas, batch, seed, physics):
    """The pipelined placement of ``graph`` on ``wafer`` (only a pipeline is re-evaluated as
    a candidate, so its own mode choice would be wasted work), or none when it cannot fit."""
    try:
        plan = place(graph, wafer, mode="pipelined", training=training, replicas=replicas,
                     batch=batch, seed=seed, physics=physics, candidates=())
    except PlacementError:
        return []
    return [plan]


def _denser(graph: Graph) -> Graph | None:
    """``graph`` with each sparse weight at twice its density (dense from 0.5 up): the same
    shapes, and for one mask seed a superset of the non-zeros (the drawn masks are nested in
    density). None when ``graph`` is dense or carries a real mask (its denser version is not
    ours to guess)."""
    ops = [op for op in graph.ops() if op.weight_density < 1.0]
    if not ops or any(op.sparsity_pattern == "mask" for op in ops):
        return None
    denser = graph.copy()
    for op in ops:
        d = min(1.0, 2.0 * op.weight_density)
        if d >= 1.0:
            denser.replace_op(op.name, weight_density=1.0, sparsity_pattern="dense")
        else:
            denser.replace_op(op.name, weight_density=d)
    return denser


def _need_line(sset: StageSet, model: StageModel, wafer: WaferSpec, mins: np.ndarray) -> str:
    """What a pipeline of this graph needs against what the wafer has, in one line."""
    need = model.fixed_bytes.sum() + (model.stash_bytes * sset.in_flight).sum()
    have = wafer.cores * model.per_core_bytes
    return (f"a pipeline needs {need / 1e9:.2f} GB (weights and optimizer state "
            f"{model.fixed_bytes.sum() / 1e9:.2f} GB, stash of up to "
            f"{int(sset.in_flight.max(initial=1))} samples in flight "
            f"{(model.stash_bytes * sset.in_flight).sum() / 1e9:.2f} GB) and "
            f"{mins.sum():,.0f} cores; {wafer.name!r} has {have / 1e9:.2f} GB to place "
            f"on {wafer.cores:,} cores")


def _does_not_fit(sset: StageSet, model: StageModel, wafer: WaferSpec,
                  mins: np.ndarray) -> PlacementError:
    """The error naming the op whose share of the wafer overflows its cores' SRAM."""
    worst = int(np.argmax(mins))
    need = model.fixed_bytes[worst] + model.stash_bytes[worst] * sset.in_flight[worst]
    share = wafer.cores * need / max(model.fixed_bytes.sum()
                                     + (model.stash_bytes * sset.in_flight).sum(), 1)
    return PlacementError(
        f"{sset.graph.name!r} does not fit on {wafer.name!r} as a pipeline: op "
        f"{sset.data[worst].op.name!r} needs {need / max(share, 1):,.0f} bytes per core on "
        f"its share of {share:,.0f} cores, but a core has {model.per_core_bytes:,.0f} bytes "
        f"available (of sram_bytes_per_core={wafer.sram_bytes_per_core}); the whole model "
        f"needs {mins.sum():,.0f} cores of {wafer.cores:,}. Fix: weight sparsity, a smaller "
        "batch or sequence, mode='weight_streaming', or a larger wafer")
