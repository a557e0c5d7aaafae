"""``place()``: map a graph onto the wafer, pipelined when it fits, else weight streaming."""

from __future__ import annotations

import numpy as np

from ..errors import PlacementError, SimulationError
from ..graph import Graph
from ..resources import check_place
from ..spec import WAFER_PRESETS, Physics, WaferSpec
from ..spec.physics import ALL_ON
from ..validate import check_place_args
from .llm import LLM_MODES, place_llm
from .pipelined import place_pipelined
from .placement import Placement
from .sizing import StageModel, min_cores_for_sram, stage_model
from .stages import StageSet, stage_set
from .streaming import place_streaming

MODES = ("auto", "pipelined", "weight_streaming")


def place(graph: Graph, wafer: WaferSpec, mode: str = "auto", training: bool = True,
          replicas: int | str = "auto", batch: int | None = None, seed: int = 0,
          physics: Physics | None = None, candidates: tuple[Placement, ...] | None = None,
          context: int = 2048, wafers: int | str = 1) -> Placement:
    """Map ``graph`` onto ``wafer``.

    Stages (one heavy op plus the cheap ops that follow it) each get a rectangle sized so the
    pipeline is balanced and every core's SRAM holds its share, laid out by recursive
    bisection so consecutive stages touch; small models are replicated across the wafer, and
    a model the wafer cannot hold falls back to weight streaming.

    Parameters
    ----------
    mode : 'auto' (pipelined when it fits, else weight streaming), 'pipelined' (raise
        :class:`PlacementError` when it does not fit) or 'weight_streaming'.
    training : place for training (optimizer state and stashed activations in SRAM).
    replicas : 'auto' picks the count of data-parallel pipelines that maximises predicted
        throughput; an int forces it.
    batch : samples per optimizer step per replica (default: the model's ``batch_default``).
    seed : seeds the weight masks' tile counts (through each op's ``mask_seed``) and ties.
    physics : which mechanisms to model (:class:`~wse_sim.spec.Physics`; all on by default).
    candidates : placements made for other wafers to re-evaluate here and keep if faster.
        ``None`` (default) tries the placement of this wafer's preset when this wafer is a
        what-if of it (same name, other fields) whose mesh holds the preset's, so more of a
        resource never predicts slower than the preset does.

    >>> import wse_sim as ws
    >>> from wse_sim.models import get
    >>> plan = ws.place(get("bert-base"), ws.wafer("wse2"))
    >>> plan.mode, plan.utilization > 0.9
    ('pipelined', True)
    """
    if mode in LLM_MODES:  # LLM inference (placer/llm.py): an LlmPlan for context, wafers
        return place_llm(graph, wafer, mode, context, 1 if batch is None else batch, wafers)
    # argument types, ranges and the memory the per-core arrays take: wse_sim.validate/resources
    training, replicas, batch, seed = check_place_args(
        graph, wafer, mode, training, replicas, batch, seed, modes=MODES, graph_cls=Graph,
        wafer_cls=WaferSpec)
    check_place(graph, wafer)
    if mode not in MODES:
        raise SimulationError(f"unknown placement mode {mode!r}; use one of {', '.join(MODES)}")
    batch = int(batch if batch is not None else graph.meta.get("batch_default", 32))
    if batch < 1:
        raise SimulationError(f"batch must be >= 1, got {batch}")
    if not (replicas == "auto" or (isinstance(replicas, int) and replicas >= 1)):
        raise SimulationError(f"replicas must be 'auto' or an int >= 1, got {replicas!r}")
    physics = ALL_ON if physics is None else physics
    if not isinstance(physics, Physics):
        raise SimulationError(f"physics must be a wse_sim.spec.Physics, got {physics!r}")
    sset = stage_set(graph, training, physics.granularity)
    S = len(sset)
    if S > wafer.cores:
        raise PlacementError(
            f"graph {graph.name!r} has {S} stages but wafer {wafer.name!r} has only "
            f"{wafer.cores} cores; each stage needs at least one core: use a larger wafer")
    model = stage_model(list(sset.data), sset.in_density, sset.first, wafer, training,
                        sset.flow_wavelets())
    if mode != "weight_streaming":
        mins = min_cores_for_sram(model, sset.in_flight, np.ones(S))
        if mins.sum() <= wafer.cores:
            if candidates is None:
                candidates = _preset_candidate(graph, wafer, mode, training, replicas, batch,
                                               seed, physics)
            plan = place_pipelined(sset, model, wafer, training, replicas, batch, seed,
                                   physics, tuple(candidates))
            if plan is not None:
                return plan
        if mode == "pipelined":
            raise _does_not_fit(sset, model, wafer, mins)
    return place_streaming(sset, model, wafer, training, batch, seed, physics)


def _preset_candidate(graph, wafer, mode, training, replicas, batch, seed,
                      physics) -> tuple[Placement, ...]:
    """The placement of the preset ``wafer`` is a what-if of, when its mesh fits ``wafer``."""
    base = WAFER_PRESETS.get(wafer.name)
    if base is None or base == wafer or base.rows > wafer.rows or base.cols > wafer.cols:
        return ()
    try:
        plan = place(graph, base, mode=mode, training=training, replicas=replicas,
                     batch=batch, seed=seed, physics=physics, candidates=())
    except PlacementError:
        return ()
    return (plan,) if plan.mode == "pipelined" else ()


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
