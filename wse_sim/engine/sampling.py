"""Per-sample stage costs: each stage's per-core costs at drawn activation densities, for the
forward pass and for the whole training step of a sample, and each stage's update.

Each draw of a stage is costed in one kernel pass over its cores
(:func:`wse_sim.kernels.stage_costs.draw_costs`): the engine keeps only the slowest core's,
busiest ramp's and busiest SRAM port's figures of a draw, and the per-core means over the
draws of compute cycles, MACs and SRAM bytes. The figures are those of
:func:`wse_sim.mapping.region_costs`, bit for bit (``tests/test_stage_costs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import DTYPE_BYTES
from ..kernels.stage_costs import draw_costs
from ..kernels.tiles import INDEX_BYTES
from ..mapping import sample_x_counts, update_cycles
from ..mapping.bounds import StageLinks, column_waves, pass_params, stage_links
from ..mapping.costs import distinct_blocks
from ..placer import Placement, stage_signature

SAMPLE_DRAWS = 8  # distinct activation draws per stage; sample i uses draw i % SAMPLE_DRAWS
STREAM_DRAWS = 2  # weight streaming runs a whole batch per layer: its mean is what counts


@dataclass(frozen=True)
class PassCosts:
    """One pass's per-sample stage bounds, float64 (samples, S): the slowest core's compute
    and ramp cycles, the busiest internal link's wavelets (before the link width) and the
    busiest SRAM port's cycles; and each stage's internal link loads, mean over its draws
    (stages costed once share one object)."""

    compute: np.ndarray = field(repr=False)
    ramp: np.ndarray = field(repr=False)
    link: np.ndarray = field(repr=False)
    memory: np.ndarray = field(repr=False)
    mean_costs: list[StageLinks] = field(repr=False)


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
    # per stage (S,): the MACs and SRAM bytes behind the two sums above (weight streaming
    # scales each stage by its units per sample)
    stage_macs: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    stage_sram_bytes: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class _Costed:
    """What one costed stage leaves: its mean link loads (total, forward), mean compute
    cycles per core (physical) and the sums of its mean MACs, read and written bytes."""

    links_t: StageLinks
    links_f: StageLinks | None
    core_cycles: np.ndarray
    macs: float
    read: float
    write: float


def sample_stages(placement: Placement, dens: list[np.ndarray], samples: int, training: bool,
                  batch: int, rng: np.random.Generator, progress=None) -> StageSamples:
    """Cost every stage for ``samples`` samples; ``dens[s]`` cycles over stage s's input
    densities (one per draw). Deterministic stages with equal signatures are costed once."""
    S = len(placement.stages)
    shape = (samples, S)
    tot = [np.zeros(shape) for _ in range(4)]
    fwd = [np.zeros(shape) for _ in range(4)] if training else None
    costed: list[_Costed] = []
    upd = np.zeros(S)
    macs = read = write = 0.0
    memo: dict = {}
    scratch: dict = {}
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        variable = bool((dens[s] < 1.0).any()) or sd.view.one_hot
        key = None if variable else (st.split, stage_signature(sd), st.first)
        if key in memo:
            src = memo[key]
            for arrs in (tot, fwd or ()):
                for a in arrs:
                    a[:, s] = a[:, src]
            c = costed[src]
        else:
            if key is not None:
                memo[key] = s
            draws = SAMPLE_DRAWS if placement.mode == "pipelined" else STREAM_DRAWS
            n_eval = min(samples, draws) if variable else 1
            xcs = [sample_x_counts(sd.view, float(dens[s][i % len(dens[s])]), st.split.groups,
                                   1, rng)[0] for i in range(n_eval)]
            c = _cost_stage(placement, st, sd, xcs, training, s, tot, fwd, scratch)
        costed.append(c)
        if training:
            upd[s] = update_cycles(sd.view, st.split, placement.wafer, dtype=sd.op.dtype,
                                   nnz_total=sd.nnz)
        macs += c.macs
        read += c.read
        write += c.write
        if progress is not None:
            progress(s + 1, S)
    total = PassCosts(*tot, [c.links_t for c in costed])
    forward = PassCosts(*fwd, [c.links_f for c in costed]) if training else None
    return StageSamples(total, forward, upd, [c.core_cycles for c in costed], macs,
                        read + write, np.array([c.macs for c in costed]),
                        np.array([c.read + c.write for c in costed]))


def _cost_stage(placement: Placement, st, sd, xcs: list[np.ndarray], training: bool, s: int,
                tot: list[np.ndarray], fwd: list[np.ndarray] | None, scratch: dict) -> _Costed:
    """Cost stage ``s`` at each activation draw ``xcs[i]`` (samples i, i + n, ... use draw i):
    its bounds go into column s of ``tot`` (and ``fwd``), its means into a :class:`_Costed`."""
    spec = placement.wafer
    view, split = sd.view, st.split
    a, b, groups = split.a, split.b, split.groups
    vbytes = DTYPE_BYTES[sd.op.dtype]
    per_op = {"dtype": sd.op.dtype, "extra_vector_ops": sd.extra_vector_ops, "first": st.first}
    p_tot = pass_params(split, spec, training=training, **per_op)
    p_fwd = pass_params(split, spec, training=False, **per_op) if training else p_tot
    grp = np.repeat(np.arange(groups, dtype=np.int64), split.group_rows())
    col_wave = column_waves(view, split)
    # one draw's per-group kernel results serve the whole step and its forward
    blks = [distinct_blocks(view, sd.rtn, xc, split, vbytes, want_macs=True) for xc in xcs]
    offs = np.cumsum([0] + [len(k["x_band"]) for k in blks])
    ridx = np.stack([k["row_index"] + o for k, o in zip(blks, offs, strict=False)])
    xb = np.stack([k["x_band"][k["row_index"]] for k in blks])
    rw = xb / view.reuse
    acc_c = np.empty((a, b))  # kept: the stage's mean compute cycles per core
    if (a, b) not in scratch:  # the other means are only summed: reused between stages
        scratch[(a, b)] = tuple(np.empty((a, b)) for _ in range(3))
    acc_m, acc_r, acc_w = scratch[(a, b)]
    mx = draw_costs(np.concatenate([k["macs"] for k in blks]),
                    np.concatenate([k["compressed"] for k in blks]), ridx, grp, col_wave, rw,
                    xb, xb / b, rw * vbytes / b, p_tot, p_fwd, training, st.first,
                    placement.physics.ramp, view.stored_weights, float(vbytes + vbytes),
                    float(INDEX_BYTES), float(vbytes), float(spec.ramp_wavelets_per_cycle),
                    acc_c, acc_m, acc_r, acc_w)
    n = len(xcs)
    links_t = links_f = None
    col_max = float(col_wave.max(initial=0))  # forward reduction and backward multicast alike
    for i in range(n):
        lt = stage_links(rw[i], col_wave, xb[i], training, st.first)
        _put(tot, slice(i, None, n), s, mx[i, :4], lt, spec, col_max)
        links_t = lt if links_t is None else _add_links(links_t, lt)
        if training:
            lf = stage_links(rw[i], col_wave, xb[i], False, st.first)
            _put(fwd, slice(i, None, n), s, mx[i, 4:], lf, spec, col_max)
            links_f = lf if links_f is None else _add_links(links_f, lf)
    if n > 1:  # the mean over the draws (a single draw is its own mean)
        links_t = _scale_links(links_t, 1.0 / n)
        links_f = _scale_links(links_f, 1.0 / n) if training else None
    return _Costed(links_t, links_f, split.to_physical(acc_c), float(acc_m.sum()),
                   float(acc_r.sum()), float(acc_w.sum()))


def _put(arrs: list[np.ndarray], sl: slice, s: int, mx: np.ndarray, links: StageLinks,
         spec, col_max: float) -> None:
    """Store a draw's (compute, ramp, link, memory) bounds in its samples' rows of column s
    (the rule of :func:`wse_sim.mapping.internal_bounds`). ``col_max`` is the largest column
    load, the same for every draw (it does not depend on the activations)."""
    link = max(float(links.row_wavelets.max(initial=0)),
               float(links.bwd_row_wavelets.max(initial=0)), col_max)
    memory = max(float(mx[2]) / spec.sram_read_bytes_per_cycle,
                 float(mx[3]) / spec.sram_write_bytes_per_cycle)
    for arr, v in zip(arrs, (float(mx[0]), float(mx[1]), link, memory), strict=True):
        arr[sl, s] = v


def _add_links(x: StageLinks, y: StageLinks) -> StageLinks:
    return StageLinks(*(p + q for p, q in zip(x.fields(), y.fields(), strict=True)))


def _scale_links(x: StageLinks, f: float) -> StageLinks:
    return StageLinks(*(p * f for p in x.fields()))
