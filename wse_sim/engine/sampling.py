"""Per-sample stage costs: each stage's per-core costs at drawn activation densities, for the
forward pass and for the whole training step of a sample, and each stage's update."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import DTYPE_BYTES
from ..mapping import CoreCosts, internal_bounds, region_costs, sample_x_counts, update_cycles
from ..mapping.costs import group_blocks
from ..placer import Placement, stage_signature

SAMPLE_DRAWS = 8  # distinct activation draws per stage; sample i uses draw i % SAMPLE_DRAWS
STREAM_DRAWS = 2  # weight streaming runs a whole batch per layer: its mean is what counts


@dataclass(frozen=True)
class PassCosts:
    """One pass's per-sample stage bounds, float64 (samples, S): the slowest core's compute
    and ramp cycles, the busiest internal link's wavelets (before the link width) and the
    busiest SRAM port's cycles; and its mean per-core costs per stage."""

    compute: np.ndarray = field(repr=False)
    ramp: np.ndarray = field(repr=False)
    link: np.ndarray = field(repr=False)
    memory: np.ndarray = field(repr=False)
    mean_costs: list[CoreCosts] = field(repr=False)


@dataclass(frozen=True)
class StageSamples:
    """Each stage's costs per simulated sample.

    ``total`` covers everything a sample costs a stage (forward, and in training backward;
    the optimizer step is not in it), ``forward`` the forward pass alone (None at inference,
    where it equals ``total``). ``update_cycles`` (S,) is each stage's optimizer step, once
    per step. ``core_cycles`` holds each stage's mean compute cycles per core, physical
    (h, w), of ``total``.
    """

    total: PassCosts
    forward: PassCosts | None
    update_cycles: np.ndarray = field(repr=False)
    core_cycles: list[np.ndarray] = field(repr=False)
    macs_per_sample: float
    sram_bytes_per_sample: float  # read + written, all cores


def sample_stages(placement: Placement, dens: list[np.ndarray], samples: int, training: bool,
                  batch: int, rng: np.random.Generator, progress=None) -> StageSamples:
    """Cost every stage for ``samples`` samples; ``dens[s]`` cycles over stage s's input
    densities (one per draw). Deterministic stages with equal signatures are costed once."""
    spec = placement.wafer
    ramp = placement.physics.ramp
    S = len(placement.stages)
    shape = (samples, S)
    tot = [np.zeros(shape) for _ in range(4)]
    fwd = [np.zeros(shape) for _ in range(4)] if training else None
    mean_t: list[CoreCosts] = []
    mean_f: list[CoreCosts] = []
    core_cycles: list[np.ndarray] = []
    upd = np.zeros(S)
    macs = read = write = 0.0
    memo: dict = {}
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        variable = bool((dens[s] < 1.0).any()) or sd.view.one_hot
        key = None if variable else (st.split, stage_signature(sd), st.first)
        if key in memo:
            src = memo[key]
            for arrs in (tot, fwd or ()):
                for a in arrs:
                    a[:, s] = a[:, src]
            mt = mean_t[src]
            mf = mean_f[src] if training else None
            core_cycles.append(core_cycles[src])
        else:
            if key is not None:
                memo[key] = s
            draws = SAMPLE_DRAWS if placement.mode == "pipelined" else STREAM_DRAWS
            n_eval = min(samples, draws) if variable else 1
            xcs = [sample_x_counts(sd.view, float(dens[s][i % len(dens[s])]), st.split.groups,
                                   1, rng)[0] for i in range(n_eval)]
            acc_t = acc_f = None
            for i in range(n_eval):
                sl = slice(i, None, n_eval)
                # one draw's per-group kernel results serve the whole step and its forward
                blk = group_blocks(sd.view, sd.rtn, xcs[i], st.split, DTYPE_BYTES[sd.op.dtype],
                                   want_macs=True)
                c = _costs(placement, st, sd, xcs[i], training, batch, ramp, blk)
                for a, v in zip(tot, internal_bounds(c, spec), strict=True):
                    a[sl, s] = v
                acc_t = c if acc_t is None else _add_costs(acc_t, c)
                if training:
                    cf = _costs(placement, st, sd, xcs[i], False, batch, ramp, blk)
                    for a, v in zip(fwd, internal_bounds(cf, spec), strict=True):
                        a[sl, s] = v
                    acc_f = cf if acc_f is None else _add_costs(acc_f, cf)
            mt = _scale_costs(acc_t, 1.0 / n_eval)
            mf = _scale_costs(acc_f, 1.0 / n_eval) if training else None
            core_cycles.append(st.split.to_physical(mt.compute_cycles))
        mean_t.append(mt)
        if training:
            mean_f.append(mf)
            upd[s] = update_cycles(sd.view, st.split, spec, dtype=sd.op.dtype,
                                   nnz_total=sd.nnz)
        macs += float(mt.macs.sum())
        read += float(mt.read_bytes.sum())
        write += float(mt.write_bytes.sum())
        if progress is not None:
            progress(s + 1, S)
    total = PassCosts(*tot, mean_t)
    forward = PassCosts(*fwd, mean_f) if training else None
    return StageSamples(total, forward, upd, core_cycles, macs, read + write)


def _costs(placement: Placement, st, sd, xc, training: bool, batch: int,
           ramp: bool, blocks=None) -> CoreCosts:
    # the engine schedules the optimizer step itself (once per step), so it is left out here
    return region_costs(sd.view, sd.rtn, xc, st.split, placement.wafer, dtype=sd.op.dtype,
                        training=training, first=st.first,
                        extra_vector_ops=sd.extra_vector_ops, batch=batch, nnz_total=sd.nnz,
                        optimizer=False, ramp=ramp, blocks=blocks)


def _add_costs(a: CoreCosts, b: CoreCosts) -> CoreCosts:
    return type(a)(**{k: getattr(a, k) + getattr(b, k) for k in a.__dataclass_fields__})


def _scale_costs(a: CoreCosts, f: float) -> CoreCosts:
    return type(a)(**{k: getattr(a, k) * f for k in a.__dataclass_fields__})
