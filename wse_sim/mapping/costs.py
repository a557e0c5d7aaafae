"""Per-core costs of a stage: MACs, cycles, SRAM port bytes and wavelets per sample.

A core's MACs are counted on its own tile with the kernels
(:func:`wse_sim.kernels.blocks.band_rows`, the per-band form of
:func:`wse_sim.kernels.counts.band_weighted_sums`), so the imbalance between tiles is real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import DTYPE_BYTES
from ..kernels.blocks import band_rows
from ..kernels.tiles import INDEX_BYTES, splits
from ..spec import WaferSpec
from .split import Split
from .view import View, passes

OPTIMIZER_BYTES_PER_WEIGHT = 16  # fp32 master + fp32 gradient accumulator + 2 fp32 Adam moments
OPTIMIZER_READ_BYTES = 16  # per weight per step: master, grad, m, v
OPTIMIZER_WRITE_BYTES = 14  # master, m, v (fp32) and the fp16 working copy
OPTIMIZER_VECTOR_OPS = 10  # Adam update arithmetic per weight


@dataclass(frozen=True)
class CoreCosts:
    """Per-sample costs of one stage on its logical (a, b) cores (float64 arrays (a, b))."""

    macs: np.ndarray  # executed MACs, all passes
    compute_cycles: np.ndarray
    read_bytes: np.ndarray
    write_bytes: np.ndarray
    row_wavelets: np.ndarray  # (a,) load on each logical row's multicast links (fwd)
    col_wavelets: np.ndarray  # (a, b)->(b,) per group: load on each column's reduce links
    bwd_row_wavelets: np.ndarray  # (a,) dx partial sums travelling back along rows
    bwd_col_wavelets: np.ndarray  # (groups, b) gradients multicast back up the columns
    ramp_cycles: np.ndarray  # (a, b) cycles the core's ramp needs: wavelets in or out / width


def group_blocks(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                 vbytes: int, want_macs: bool) -> dict[str, np.ndarray]:
    """Per-logical-row results, computed once per distinct row group and stacked.

    Row groups repeat (dense activations give identical groups; sampled ones repeat every
    :data:`MAX_DRAWN_GROUPS`), so each distinct group is counted once, all of them in one
    kernel call (:func:`wse_sim.kernels.blocks.band_rows`), and the groups' rows gathered.
    Returns float64 arrays: ``macs`` (a, b) (if ``want_macs``, else None), ``x_band`` (a,)
    non-zero activations of each row's band, ``heights`` (a,) weight rows per band, ``nnz``
    (a, b) stored weights per core and ``compressed`` (a, b) 1.0 where the tile keeps indices.
    """
    blk = distinct_blocks(view, rtn, x_counts, split, vbytes, want_macs)
    idx = blk.pop("row_index")
    return {k: (v[idx] if v is not None else None) for k, v in blk.items()}


def distinct_blocks(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                    vbytes: int, want_macs: bool) -> dict[str, np.ndarray]:
    """:func:`group_blocks` before the gather: the same arrays over the distinct groups' rows
    only (``u`` rows in all), and ``row_index`` int64 (a,), the row there of each logical row
    (``group_blocks(...)[k] == distinct_blocks(...)[k][row_index]``)."""
    grows = split.group_rows()
    widths = np.diff(splits(view.n, split.b))
    x_counts = np.ascontiguousarray(x_counts, dtype=np.int64)
    first: dict = {}  # (rows, activation counts) -> index of its first group
    uid = np.empty(split.groups, dtype=np.int64)
    for g in range(split.groups):
        key = (int(grows[g]), x_counts[g].tobytes())
        uid[g] = first.setdefault(key, len(first))
    order = np.unique(uid, return_index=True)[1]  # each distinct group's first occurrence
    rows_u = grows[order]
    macs, x_band, heights, nnz, compressed = band_rows(
        rtn, x_counts[order], rows_u, view.row_sizes(), widths, vbytes, view.coarse, want_macs)
    # logical row r of group g is row r of its distinct group's block
    offs = np.concatenate([[0], np.cumsum(rows_u)])[uid]
    idx = np.repeat(offs - np.concatenate([[0], np.cumsum(grows)[:-1]]), grows) \
        + np.arange(int(grows.sum()))
    return {"macs": macs if want_macs else None, "x_band": x_band, "heights": heights,
            "nnz": nnz, "compressed": compressed, "row_index": idx}


def region_costs(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                 spec: WaferSpec, *, dtype: str, training: bool, first: bool,
                 extra_vector_ops: float, batch: int, nnz_total: int,
                 optimizer: bool = True, ramp: bool = True,
                 blocks: dict[str, np.ndarray] | None = None) -> CoreCosts:
    """Per-sample per-core costs of a stage from its weight row counts and activation counts.

    Parameters
    ----------
    rtn : int64 (k_rows, b), non-zeros of each weight row in each column tile
    x_counts : int64 (groups, k_rows), non-zero activation rows per input for each row group
    first : the op reads graph input (no input gradient is computed)
    extra_vector_ops : arithmetic of the cheap ops riding on this stage, per sample
    nnz_total : non-zero weights of the op (for the optimizer step)
    optimizer : spread the optimizer step over the ``batch`` samples (the placer's estimate);
        False leaves it out, for a schedule that runs it once per step
        (:func:`update_cycles`)
    ramp : charge each core's ramp (wavelets in and out, ``spec.ramp_wavelets_per_cycle``) and
        the SRAM traffic of accumulating received partial sums and stashing activations
    blocks : :func:`group_blocks` of these arguments with ``want_macs=True``, when the caller
        already has them (the training and forward costs of one draw, or the SRAM of the same
        stage, share them); computed here otherwise
    """
    a, b, groups = split.a, split.b, split.groups
    lanes = spec.fmac_per_cycle(dtype)
    vbytes = DTYPE_BYTES[dtype]
    grows = split.group_rows()
    r_g = np.diff(splits(view.rows, groups)).astype(np.float64)
    n_cols = np.diff(splits(view.n, b)).astype(np.float64)
    blk = blocks if blocks is not None else group_blocks(view, rtn, x_counts, split, vbytes,
                                                         want_macs=True)
    macs = blk["macs"]
    row_wave = blk["x_band"] / view.reuse
    bwd_row = blk["x_band"]
    col_wave = r_g[:, None] * n_cols[None, :]
    n_pass = passes(training, first)
    # Partial sums: every core but the top of its column adds the sums arriving from above.
    psum_in = np.repeat(col_wave, grows, axis=0)
    w_in = row_wave[:, None] + psum_in
    if training:
        # gradients arrive down the columns; dx partials arrive along the rows
        w_in = w_in + psum_in + (0.0 if first else bwd_row[:, None])
    cycles = (n_pass / lanes) * macs + spec.wavelet_overhead_cycles * w_in
    cycles += (spec.task_overhead_cycles * (3 if training else 1)
               # cheap ops: forward, and in training recomputed and differentiated (3x)
               + extra_vector_ops * (3 if training else 1) / (a * b * lanes))
    # Bytes read per MAC: the weight value, its index when the tile is stored compressed, and
    # the accumulator; the accumulator is written back.
    per_mac = float(vbytes + vbytes)
    if view.stored_weights:
        read_b = (n_pass * macs) * (per_mac + INDEX_BYTES * blk["compressed"])
    else:
        read_b = (n_pass * per_mac) * macs
    write_b = (n_pass * vbytes) * macs
    ramp_c = np.zeros((a, b))
    if ramp:
        # every core sends its column's partial sums on (the sink sends them to the next
        # stage); in training also its dx partials along the row. Forwarding a multicast is the
        # router's job and costs the ramp nothing; receiving one does (w_in).
        w_out = np.repeat(col_wave, grows, axis=0)
        if training and not first:
            w_out = w_out + bwd_row[:, None] / b
        ramp_c = np.maximum(w_in, w_out) / spec.ramp_wavelets_per_cycle
        # a received partial sum is added into the accumulator: read it, write it back
        acc = psum_in * (2.0 if training else 1.0)
        read_b = read_b + acc * vbytes
        write_b = write_b + acc * vbytes
        if training:  # the stashed input: written in forward, read back in backward (per core)
            stash = (row_wave * vbytes / b)[:, None]
            read_b = read_b + stash
            write_b = write_b + stash
    if optimizer and training and view.stored_weights and nnz_total:
        nnz_core = nnz_total / (a * b / groups)
        cycles += nnz_core * OPTIMIZER_VECTOR_OPS / lanes / batch
        read_b += nnz_core * OPTIMIZER_READ_BYTES / batch
        write_b += nnz_core * OPTIMIZER_WRITE_BYTES / batch
    return CoreCosts(macs=n_pass * macs, compute_cycles=cycles, read_bytes=read_b,
                     write_bytes=write_b, row_wavelets=row_wave,
                     col_wavelets=col_wave, bwd_row_wavelets=bwd_row if training and not first
                     else np.zeros(a), bwd_col_wavelets=col_wave if training
                     else np.zeros((groups, b)), ramp_cycles=ramp_c)


def update_cycles(view: View, split: Split, spec: WaferSpec, *, dtype: str,
                  nnz_total: int) -> float:
    """Cycles the optimizer step takes on the stage's fullest core, once per step: the Adam
    arithmetic on its stored weights or the SRAM traffic of master weights and moments,
    whichever is longer (every core of the region updates its own tile at once)."""
    if not view.stored_weights or not nnz_total:
        return 0.0
    nnz_core = nnz_total / (split.a * split.b / split.groups)
    compute = nnz_core * OPTIMIZER_VECTOR_OPS / spec.fmac_per_cycle(dtype)
    memory = max(nnz_core * OPTIMIZER_READ_BYTES / spec.sram_read_bytes_per_cycle,
                 nnz_core * OPTIMIZER_WRITE_BYTES / spec.sram_write_bytes_per_cycle)
    return float(max(compute, memory))


def internal_bounds(cost: CoreCosts, spec: WaferSpec) -> tuple[float, float, float, float]:
    """``(compute_cycles, ramp_cycles, link_wavelets, memory_cycles)`` per sample of a stage on
    its own: its slowest core, its busiest ramp, the busiest of its internal multicast and
    reduction links (forward and backward; wavelets, before the link width), and its busiest
    SRAM port.

    The one rule for a stage's bound: the placer and the engine both take a stage's time per
    sample as the largest of compute, ramp, link load / link width (with the inter-stage
    routes added) and memory.
    """
    link = max(float(cost.row_wavelets.max(initial=0)), float(cost.col_wavelets.max(initial=0)),
               float(cost.bwd_row_wavelets.max(initial=0)),
               float(cost.bwd_col_wavelets.max(initial=0)))
    memory = max(float(cost.read_bytes.max()) / spec.sram_read_bytes_per_cycle,
                 float(cost.write_bytes.max()) / spec.sram_write_bytes_per_cycle)
    return (float(cost.compute_cycles.max()), float(cost.ramp_cycles.max(initial=0)), link,
            memory)
