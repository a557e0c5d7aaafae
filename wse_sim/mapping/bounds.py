"""A stage's bounds without its per-core arrays: the figures the placer and the engine read.

Both read only a few figures of a stage's per-core costs: the slowest core's compute cycles,
the busiest ramp and SRAM port, and the link loads of its internal multicasts and reductions.
:func:`stage_bounds` gets them in one kernel pass over the cores
(:func:`wse_sim.kernels.stage_costs.draw_costs`) instead of the dozen whole-region arrays of
:func:`~wse_sim.mapping.costs.region_costs`, and gives the same bits as
``internal_bounds(region_costs(...))``: the kernel forms each core's figure with the same
operations in the same order, and the optimizer's per-sample share, the same on every core,
is added to the maxima afterwards (rounding is monotone, so ``max(x_i + c) == max(x_i) + c``
in floating point too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import DTYPE_BYTES
from ..kernels.stage_costs import (
    N_PARAMS,
    P_ACC,
    P_CONST,
    P_K1,
    P_NPASS,
    P_OVH,
    P_READ,
    P_TRAIN,
    P_WRITE,
    draw_costs,
)
from ..kernels.tiles import INDEX_BYTES, splits
from ..spec import WaferSpec
from .costs import (
    OPTIMIZER_READ_BYTES,
    OPTIMIZER_VECTOR_OPS,
    OPTIMIZER_WRITE_BYTES,
    distinct_blocks,
)
from .split import Split
from .view import View, passes


@dataclass(frozen=True)
class StageLinks:
    """A stage's internal link loads per sample, wavelets before the link width, as
    :func:`wse_sim.fabric.link_loads` reads them (the link fields of
    :class:`wse_sim.mapping.CoreCosts`): float64 ``row_wavelets`` (a,) on each logical row's
    multicast, ``col_wavelets`` (groups, b) on each column's reduction, and backward
    ``bwd_row_wavelets`` (a,) and ``bwd_col_wavelets`` (groups, b) (zeros where none flow)."""

    row_wavelets: np.ndarray = field(repr=False)
    col_wavelets: np.ndarray = field(repr=False)
    bwd_row_wavelets: np.ndarray = field(repr=False)
    bwd_col_wavelets: np.ndarray = field(repr=False)

    def fields(self) -> tuple[np.ndarray, ...]:
        return (self.row_wavelets, self.col_wavelets, self.bwd_row_wavelets,
                self.bwd_col_wavelets)

    def busiest(self) -> float:
        """The busiest internal link, wavelets per sample (the link term of the bound)."""
        return max(float(x.max(initial=0)) for x in self.fields())


def stage_links(row_wavelets, col_wave, x_band, training: bool, first: bool) -> StageLinks:
    """The link loads of a stage: ``row_wavelets`` (a,) multicast per logical row,
    ``col_wave`` (groups, b) partial sums per column, ``x_band`` (a,) the band's non-zero
    activations (the dx partial sums of backward, sent back along the rows)."""
    a, shape = row_wavelets.shape[0], col_wave.shape
    return StageLinks(row_wavelets, col_wave,
                      x_band if training and not first else np.zeros(a),
                      col_wave if training else np.zeros(shape))


def pass_params(split: Split, spec: WaferSpec, *, dtype: str, extra_vector_ops: float,
                training: bool, first: bool) -> np.ndarray:
    """The per-stage scalars of :func:`~wse_sim.mapping.costs.region_costs` for one pass, as
    :func:`~wse_sim.kernels.stage_costs.draw_costs` takes them: float64 (N_PARAMS,). The
    optimizer step is not in them (the engine schedules it once per step; the placer's
    per-sample share is added by :func:`stage_bounds`)."""
    lanes = spec.fmac_per_cycle(dtype)
    vbytes = DTYPE_BYTES[dtype]
    n_pass = passes(training, first)
    p = np.zeros(N_PARAMS)
    p[P_K1] = n_pass / lanes
    p[P_OVH] = spec.wavelet_overhead_cycles
    # cheap ops: forward, and in training recomputed and differentiated (3x)
    p[P_CONST] = (spec.task_overhead_cycles * (3 if training else 1)
                  + extra_vector_ops * (3 if training else 1) / (split.a * split.b * lanes))
    p[P_NPASS] = n_pass
    p[P_READ] = n_pass * float(vbytes + vbytes)  # the weight value and the accumulator
    p[P_WRITE] = n_pass * vbytes
    p[P_ACC] = 2.0 if training else 1.0
    p[P_TRAIN] = 1.0 if training else 0.0
    return p


def column_waves(view: View, split: Split) -> np.ndarray:
    """Partial sums each core of a column passes down per sample: float64 (groups, b), the
    group's share of the rows R times the column's share of the outputs N."""
    r_g = np.diff(splits(view.rows, split.groups)).astype(np.float64)
    n_cols = np.diff(splits(view.n, split.b)).astype(np.float64)
    return r_g[:, None] * n_cols[None, :]


def stage_bounds(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                 spec: WaferSpec, *, dtype: str, training: bool, first: bool,
                 extra_vector_ops: float, batch: int, nnz_total: int, ramp: bool = True,
                 blocks: dict | None = None,
                 scratch: dict | None = None) -> tuple[tuple[float, float, float, float],
                                                       StageLinks]:
    """``internal_bounds(region_costs(...), spec)`` and the stage's :class:`StageLinks`, bit
    for bit, without building the per-core arrays (arguments as for ``region_costs``, with the
    optimizer's per-sample share in; ``blocks`` is :func:`distinct_blocks` of them with
    ``want_macs=True``; ``scratch`` keeps the kernel's (a, b) work arrays between calls)."""
    a, b, groups = split.a, split.b, split.groups
    vbytes = DTYPE_BYTES[dtype]
    blk = blocks if blocks is not None else distinct_blocks(view, rtn, x_counts, split, vbytes,
                                                            want_macs=True)
    grp = np.repeat(np.arange(groups, dtype=np.int64), split.group_rows())
    col_wave = column_waves(view, split)
    xb = blk["x_band"][blk["row_index"]]
    rw = xb / view.reuse
    p = pass_params(split, spec, dtype=dtype, extra_vector_ops=extra_vector_ops,
                    training=training, first=first)
    scratch = {} if scratch is None else scratch
    if (a, b) not in scratch:  # the kernel's per-core means, unused here
        scratch[(a, b)] = tuple(np.empty((a, b)) for _ in range(4))
    mx = draw_costs(blk["macs"], blk["compressed"], blk["row_index"][None, :], grp, col_wave,
                    rw[None, :], xb[None, :], (xb / b)[None, :], (rw * vbytes / b)[None, :], p,
                    p, False, first, ramp, view.stored_weights, float(vbytes + vbytes),
                    float(INDEX_BYTES), float(vbytes), float(spec.ramp_wavelets_per_cycle),
                    *scratch[(a, b)])
    compute, ramp_c, read, write = (float(v) for v in mx[0, :4])
    if training and view.stored_weights and nnz_total:
        nnz_core = nnz_total / (a * b / groups)
        compute = compute + nnz_core * OPTIMIZER_VECTOR_OPS / spec.fmac_per_cycle(dtype) / batch
        read = read + nnz_core * OPTIMIZER_READ_BYTES / batch
        write = write + nnz_core * OPTIMIZER_WRITE_BYTES / batch
    links = stage_links(rw, col_wave, xb, training, first)
    memory = max(read / spec.sram_read_bytes_per_cycle, write / spec.sram_write_bytes_per_cycle)
    return (compute, ramp_c, links.busiest(), memory), links
