"""Evaluate stages on real rectangles: split, weight counts, per-core costs, SRAM, and the
busiest link with the traffic between stages routed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fabric import link_traffic
from ..graph import DTYPE_BYTES
from ..kernels.peaks import region_peaks
from ..mapping import (
    Split,
    choose_split,
    expected_x_counts,
    sram_per_core,
    weight_row_counts,
)
from ..mapping.bounds import StageLinks, stage_bounds
from ..mapping.costs import distinct_blocks
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON
from .placement import Stage
from .sizing import StageModel
from .stages import StageSet, stage_signature


@dataclass(frozen=True)
class StageEval:
    """One stage on its rectangle, at the expected activation densities."""

    split: Split
    rtn: np.ndarray = field(repr=False)  # int64 (k_rows, b): weight row non-zeros per column tile
    cycles: float  # time per sample: compute, memory or busiest link, whichever is largest
    sram: np.ndarray = field(repr=False)  # float64 (a, b): bytes per logical core
    cost: StageLinks = field(repr=False)  # its internal link loads per sample
    stash_core_bytes: float = 0.0  # the most bytes one more stashed sample takes on a core


def evaluate_stages(sset: StageSet, rects, in_flight: np.ndarray, spec: WaferSpec,
                    training: bool, batch: int, model: StageModel, resident: bool = True,
                    rtn_cache: dict | None = None, physics: Physics = ALL_ON,
                    splits: list[Split] | None = None,
                    memo: dict | None = None) -> list[StageEval]:
    """Split choice, predicted cycles and SRAM of every stage on its rectangle.

    Stages that are the same op on the same rectangle shape (the repeated layers of a
    transformer) are evaluated once. ``rtn_cache`` keeps weight counts across rounds (they
    depend on the op and the column count only: drawn once per place()). ``splits`` fixes each
    stage's split (re-evaluating a placement on another wafer) instead of choosing it.
    ``memo`` keeps evaluations across the rounds of one place() call (the caller keeps
    ``spec``, ``physics`` and the stage set fixed): a round re-costs only the stages whose
    rectangle shape, split or SRAM budget changed.
    """
    out = []
    memo = {} if memo is None else memo
    scratch: dict = {}
    for i, sd in enumerate(sset.data):
        _, _, h, w = rects[i]
        density, first = float(sset.in_density[i]), bool(sset.first[i])
        key = (h, w, stage_signature(sd), density, first, int(in_flight[i]),
               None if splits is None else splits[i], training, batch, resident,
               float(model.fixed_bytes[i]), float(model.stash_bytes[i]),
               float(model.per_core_bytes))
        if key in memo:
            out.append(memo[key])
            continue
        if splits is not None:
            split = splits[i]
        else:
            split = choose_split(sd.op, sd.view, h, w, spec, in_density=density,
                                 training=training, first=first,
                                 weight_bytes=model.fixed_bytes[i],
                                 stash_bytes=model.stash_bytes[i] * in_flight[i],
                                 avail_bytes=model.per_core_bytes)
        rkey = (stage_signature(sd), split.b)
        if rtn_cache is not None and rkey in rtn_cache:
            rtn = rtn_cache[rkey]
        else:
            rtn = weight_row_counts(sd.op, sd.view, split.b)
            if rtn_cache is not None:
                rtn_cache[rkey] = rtn
        xc = expected_x_counts(sd.view, density, split.groups)
        # the per-group kernel results serve both the bounds and the SRAM
        blk = distinct_blocks(sd.view, rtn, xc, split, DTYPE_BYTES[sd.op.dtype],
                              want_macs=True)
        (compute, ramp, link, memory), links = stage_bounds(
            sd.view, rtn, xc, split, spec, dtype=sd.op.dtype, training=training, first=first,
            extra_vector_ops=sd.extra_vector_ops, batch=batch, nnz_total=sd.nnz,
            ramp=physics.ramp, blocks=blk, scratch=scratch)
        sram = sram_per_core(sd.op, sd.view, rtn, xc, split, spec, training=training,
                             in_flight=int(in_flight[i]), resident=resident, blocks=blk)
        stash = 0.0
        if training and in_flight[i] > 0:  # SRAM is linear in the samples stashed
            bare = sram_per_core(sd.op, sd.view, rtn, xc, split, spec, training=training,
                                 in_flight=0, resident=resident, blocks=blk)
            stash = float((sram - bare).max()) / float(in_flight[i])
        memo[key] = StageEval(split, rtn, max(compute, ramp, link / spec.link_wavelets_per_cycle,
                                              memory), sram, links, stash)
        out.append(memo[key])
    return out


def routed_link_cycles(rects, evals: list[StageEval], flows, tile, spec: WaferSpec,
                       training: bool) -> np.ndarray:
    """Busiest link of each stage's rectangle, in cycles per sample, all traffic routed (S,)."""
    stages = [Stage(i, "", (), rc, e.split, 0.0, False, 0, 0.0, 0.0)
              for i, (rc, e) in enumerate(zip(rects, evals, strict=True))]
    link_rects, routes = link_traffic(stages, [e.cost for e in evals], flows, training)
    r = np.array(rects, dtype=np.int64)
    # the stages tile the replica without overlap: each one's busiest link comes out of one
    # row-by-row pass, the same bits as region_max_link_load on link_loads' array
    peak = region_peaks(tile[0], tile[1], link_rects, routes, r[:, 0], r[:, 0] + r[:, 2],
                        r[:, 1], r[:, 1] + r[:, 3])
    return peak / spec.link_wavelets_per_cycle


def balance_of(t: np.ndarray, sized_by_memory: np.ndarray) -> float:
    """Slowest / mean predicted stage time over the stages whose size time decided.

    A stage sized by its SRAM minimum holds more cores than its work needs and runs faster
    than the pipeline's period by construction; counting it would call the placer unbalanced
    for what is a memory bound. ``Placement.balance_all`` keeps the figure over every stage.
    """
    sel = t[~sized_by_memory] if (~sized_by_memory).any() else t
    return float(sel.max() / sel.mean())
