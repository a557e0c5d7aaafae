"""simulate(): turn a Placement into performance.

Per stage and per sample: each core's cycles come from the MACs it executes on its own tile
(kernels), the wavelets it receives and fixed task overheads; the stage's time is the largest
of its slowest core, its busiest link and its SRAM port traffic (``docs/modeling.md``). The
stage times of N samples run through a max-plus pipeline with finite buffers; replicas multiply
the throughput, less their gradient all-reduce; weight-streaming placements run layer by layer.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import SimulationError
from ..functional import InputsFn, measured_densities
from ..placer import Placement
from ..placer.llm import LLM_MODES, LlmPlan
from ..placer.place import register_predictor
from ..resources import check_simulate
from ..spec import SCHEDULES
from ..validate import check_simulate_args
from .decode import simulate_llm
from .pipelined import run_pipelined
from .result import SimResult
from .sampling import SAMPLE_DRAWS, sample_stages
from .streaming import run_streaming

ACTIVATIONS = ("synthetic", "functional")


def simulate(placement: Placement, mode: str | None = None, batch: int | None = None,
             samples: int = 64, activations: str = "synthetic", seed: int = 0,
             drain_per_step: bool = False, densities: dict | None = None,
             inputs: InputsFn | None = None, schedule: str | None = None,
             progress=None, context: int | None = None) -> SimResult:
    """Simulate ``placement`` and return a :class:`SimResult`.

    Parameters
    ----------
    mode : 'train' or 'infer' (default: what the placement was made for). Training needs a
        placement made with ``training=True`` (its SRAM holds optimizer state and stashes).
    batch : samples per optimizer step per replica (default: the placement's).
    samples : samples pushed through the pipeline recurrence (>= 1).
    activations : 'synthetic' draws activation zeros from the graph's expected densities per
        sample; 'functional' runs the model's forward pass through the kernels on ``inputs``
        (:mod:`wse_sim.functional`) and draws each sample's zeros at the density that sample's
        activations really had.
    densities : optional {heavy op name: input density} overriding the graph's expected
        densities in synthetic mode (e.g. to replay a functional run's means).
    inputs : with ``activations='functional'``, a callable ``(graph, n_samples, seed) ->
        {input op name: array (n_samples, *shape)}``, e.g.
        :func:`wse_sim.models.data.default_inputs` (contact maps, token ids).
    schedule : training schedule, 'sync' (drain around each optimizer step) or 'async' (never
        drain; report the weights' staleness); default: the placement's ``physics.schedule``.
    drain_per_step : inference: the pipeline empties at every step (adds its fill time).
    progress : optional callable(done, total) for progress bars.
    """
    if mode in LLM_MODES or isinstance(placement, LlmPlan):  # LLM inference (engine/decode.py)
        return simulate_llm(placement, mode, context=context, batch=batch)
    t0 = time.perf_counter()
    # argument types and ranges, and the memory the arrays take: wse_sim.validate/resources
    check_simulate_args(placement, mode, batch, samples, activations, seed, drain_per_step,
                        densities, inputs, progress, placement_cls=Placement)
    check_simulate(placement, samples)
    mode = _check_args(placement, mode, batch, samples, activations, inputs)
    batch = placement.batch if batch is None else batch
    if schedule is not None:
        if schedule not in SCHEDULES:
            raise SimulationError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        placement = dataclasses.replace(
            placement, physics=placement.physics.replace(schedule=schedule))
    dens = _stage_densities(placement, densities, activations, inputs, samples, seed)
    placement = _with_densities(placement, dens)
    rng = np.random.default_rng(seed)
    ss = sample_stages(placement, dens, samples, mode == "train", batch, rng, progress)
    streaming = placement.mode == "weight_streaming"
    settings = {"model": placement.graph.name, "graph_meta": dict(placement.graph.meta),
                "wafer": placement.wafer.to_dict(), "mode": mode, "batch": batch,
                "samples": samples, "activations": activations, "seed": seed,
                "drain_per_step": drain_per_step and not streaming,
                "placement_mode": placement.mode,
                "placement_notes": list(getattr(placement, "notes", ()))}

    def wall() -> float:
        return time.perf_counter() - t0

    if streaming:
        return run_streaming(placement, ss, mode=mode, batch=batch, samples=samples,
                             settings=settings, sim_wall_s=wall)
    return run_pipelined(placement, ss, mode=mode, batch=batch, samples=samples,
                         drain_per_step=drain_per_step, settings=settings, sim_wall_s=wall)


def _check_args(placement: Placement, mode, batch, samples, activations, inputs) -> str:
    """The mode to run (checked); raises SimulationError naming a bad argument."""
    if mode is None:
        mode = "train" if placement.training else "infer"
    if mode not in ("train", "infer"):
        raise SimulationError(f"mode must be 'train' or 'infer', got {mode!r}")
    if mode == "train" and not placement.training:
        raise SimulationError("mode='train' needs a placement made with training=True (it "
                              "reserves SRAM for optimizer state and stashed activations)")
    if activations not in ACTIVATIONS:
        raise SimulationError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    if activations == "functional" and inputs is None:
        raise SimulationError("activations='functional' needs inputs=: a callable (graph, "
                              "n_samples, seed) -> {input name: array}; for the zoo's models "
                              "use inputs=wse_sim.models.data.default_inputs")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise SimulationError(f"samples must be an int >= 1, got {samples!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int)
                              or batch < 1):
        raise SimulationError(f"batch must be an int >= 1, got {batch!r}")
    return mode


def _with_densities(placement: Placement, dens: list[np.ndarray]) -> Placement:
    """``placement`` with each stage's input density at the mean the simulation draws, and the
    flows into it scaled to match: measured (functional) or overridden densities then set the
    traffic between stages and from the host, not only each stage's own work."""
    mean = [float(d.mean()) for d in dens]
    if all(m == st.in_density for m, st in zip(mean, placement.stages, strict=True)):
        return placement
    scale = [m / st.in_density if st.in_density > 0 else 1.0
             for m, st in zip(mean, placement.stages, strict=True)]
    flows = tuple(dataclasses.replace(f, wavelets=f.wavelets * scale[f.dst])
                  for f in placement.flows)
    stages = tuple(dataclasses.replace(st, in_density=m)
                   for st, m in zip(placement.stages, mean, strict=True))
    return dataclasses.replace(placement, stages=stages, flows=flows)


def _stage_densities(placement: Placement, densities, activations: str, inputs,
                     samples: int, seed: int) -> list[np.ndarray]:
    """Per stage, the input densities its activation draws cycle over (float64 arrays)."""
    overrides = densities or {}
    unknown = set(overrides) - {st.heavy for st in placement.stages}
    if unknown:
        raise SimulationError(f"densities name ops that head no stage: {sorted(unknown)}; "
                              "use the heavy ops' names (Placement.stages[i].heavy)")
    dens = [np.atleast_1d(float(overrides.get(st.heavy, st.in_density)))
            for st in placement.stages]
    if activations == "functional":
        measured = measured_densities(placement.graph, inputs,
                                      n_samples=min(samples, SAMPLE_DRAWS), seed=seed)
        dens = [np.asarray(measured.get(st.heavy, d), dtype=np.float64)
                for st, d in zip(placement.stages, dens, strict=True)]
    return dens


def _predict(plan: Placement) -> float:
    """Samples/s the engine predicts for a placement the placer weighs (synthetic activations,
    one pass over the distinct activation draws: any multiple of them gives the same)."""
    return simulate(plan, samples=SAMPLE_DRAWS).samples_per_s


register_predictor(_predict)  # the placer chooses among placements by the engine's prediction
