"""Per-sample stage costs: each stage's per-core costs at drawn activation densities."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..mapping import CoreCosts, internal_bounds, region_costs, sample_x_counts
from ..placer import Placement, stage_signature

SAMPLE_DRAWS = 8  # distinct activation draws per stage; sample i uses draw i % SAMPLE_DRAWS
STREAM_DRAWS = 2  # weight streaming runs a whole batch per layer: its mean is what counts


@dataclass(frozen=True)
class StageSamples:
    """Each stage's cost per simulated sample, and its mean per-core costs.

    ``compute``, ``link`` and ``memory`` are float64 (samples, S): the slowest core's cycles,
    the busiest internal link's wavelets (before the link width) and the busiest SRAM port's
    cycles of each sample at each stage.
    """

    compute: np.ndarray = field(repr=False)
    link: np.ndarray = field(repr=False)
    memory: np.ndarray = field(repr=False)
    mean_costs: list[CoreCosts] = field(repr=False)
    core_cycles: list[np.ndarray] = field(repr=False)  # mean compute cycles, physical (h, w)
    macs_per_sample: float
    sram_bytes_per_sample: float  # read + written, all cores


def sample_stages(placement: Placement, dens: list[np.ndarray], samples: int, training: bool,
                  batch: int, rng: np.random.Generator, progress=None) -> StageSamples:
    """Cost every stage for ``samples`` samples; ``dens[s]`` cycles over stage s's input
    densities (one per draw). Deterministic stages with equal signatures are costed once."""
    spec = placement.wafer
    S = len(placement.stages)
    comp, link, mem = np.zeros((samples, S)), np.zeros((samples, S)), np.zeros((samples, S))
    mean_costs: list[CoreCosts] = []
    core_cycles: list[np.ndarray] = []
    macs = read = write = 0.0
    memo: dict = {}
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        variable = bool((dens[s] < 1.0).any()) or sd.view.one_hot
        key = None if variable else (st.split, stage_signature(sd), st.first)
        if key in memo:
            src = memo[key]
            comp[:, s], link[:, s], mem[:, s] = comp[:, src], link[:, src], mem[:, src]
            mean = mean_costs[src]
            core_cycles.append(core_cycles[src])
        else:
            if key is not None:
                memo[key] = s
            draws = SAMPLE_DRAWS if placement.mode == "pipelined" else STREAM_DRAWS
            n_eval = min(samples, draws) if variable else 1
            xcs = [sample_x_counts(sd.view, float(dens[s][i % len(dens[s])]), st.split.groups,
                                   1, rng)[0] for i in range(n_eval)]
            acc = None
            for i in range(n_eval):
                c = region_costs(sd.view, sd.rtn, xcs[i], st.split, spec, dtype=sd.op.dtype,
                                 training=training, first=st.first,
                                 extra_vector_ops=sd.extra_vector_ops, batch=batch,
                                 nnz_total=sd.nnz)
                sl = slice(i, None, n_eval)
                comp[sl, s], link[sl, s], mem[sl, s] = internal_bounds(c, spec)
                acc = c if acc is None else _add_costs(acc, c)
            mean = _scale_costs(acc, 1.0 / n_eval)
            core_cycles.append(st.split.to_physical(mean.compute_cycles))
        mean_costs.append(mean)
        macs += float(mean.macs.sum())
        read += float(mean.read_bytes.sum())
        write += float(mean.write_bytes.sum())
        if progress is not None:
            progress(s + 1, S)
    return StageSamples(comp, link, mem, mean_costs, core_cycles, macs, read + write)


def _add_costs(a: CoreCosts, b: CoreCosts) -> CoreCosts:
    return type(a)(**{k: getattr(a, k) + getattr(b, k) for k in a.__dataclass_fields__})


def _scale_costs(a: CoreCosts, f: float) -> CoreCosts:
    return type(a)(**{k: getattr(a, k) * f for k in a.__dataclass_fields__})
