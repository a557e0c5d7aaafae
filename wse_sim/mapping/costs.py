"""Per-core costs of a stage: MACs, cycles, SRAM port bytes and wavelets per sample.

A core's MACs are counted on its own tile with the kernels
(:func:`wse_sim.kernels.counts.band_weighted_sums`), so the imbalance between tiles is real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import DTYPE_BYTES
from ..kernels.counts import band_weighted_sums
from ..kernels.tiles import INDEX_BYTES, splits, tile_bytes
from ..spec import WaferSpec
from .activations import band_sums
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


class _BandMemo:
    """Per-call memo of kernel results that depend only on a group's row count (weights) or
    on its row count and activation counts (MACs): row groups repeat, kernels run once each."""

    def __init__(self, rtn: np.ndarray, k: int):
        self.rtn, self.k = rtn, k
        self._nnz: dict = {}
        self._macs: dict = {}

    def nnz(self, rows_g: int) -> np.ndarray:
        if rows_g not in self._nnz:
            self._nnz[rows_g] = band_weighted_sums(self.rtn, np.ones(self.k, dtype=np.int64),
                                                   splits(self.k, rows_g))
        return self._nnz[rows_g]

    def macs(self, rows_g: int, x: np.ndarray) -> np.ndarray:
        key = (rows_g, x.tobytes())
        if key not in self._macs:
            self._macs[key] = band_weighted_sums(self.rtn, np.ascontiguousarray(x),
                                                 splits(self.k, rows_g))
        return self._macs[key]


def group_blocks(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                  vbytes: int, want_macs: bool) -> dict[str, np.ndarray]:
    """Per-logical-row results, computed once per distinct row group and stacked.

    Row groups repeat (dense activations give identical groups; sampled ones repeat every
    :data:`MAX_DRAWN_GROUPS`), so the kernels run a handful of times even for 1,000 groups.
    Returns float64 arrays: ``macs`` (a, b) (if ``want_macs``), ``x_band`` (a,) non-zero
    activations of each row's band, ``heights`` (a,) weight rows per band, ``nnz`` (a, b)
    stored weights per core and ``compressed`` (a, b) 1.0 where the tile keeps indices.
    """
    grows = split.group_rows()
    widths = np.diff(splits(view.n, split.b))
    memo = _BandMemo(rtn, view.k_rows)
    sizes = view.row_sizes()
    cache: dict = {}
    parts: dict[str, list[np.ndarray]] = {"macs": [], "x_band": [], "heights": [], "nnz": [],
                                         "compressed": []}
    for g in range(split.groups):
        rows_g = int(grows[g])
        x = np.ascontiguousarray(x_counts[g])
        key = (rows_g, x.tobytes())
        if key not in cache:
            bands = splits(view.k_rows, rows_g)
            nnz = memo.nnz(rows_g)
            heights = band_sums(sizes, bands)
            _, dense = tile_bytes(nnz, heights.astype(np.int64)[:, None], widths[None, :], vbytes)
            cache[key] = {
                # coarse rows: exact for dense activations, exact in expectation otherwise
                "macs": memo.macs(rows_g, x) / view.coarse if want_macs else None,
                "x_band": band_sums(x, bands), "heights": heights,
                "nnz": nnz.astype(np.float64), "compressed": (~dense).astype(np.float64)}
        for name, lst in parts.items():
            lst.append(cache[key][name])
    return {name: (np.concatenate(lst) if lst[0] is not None else None)
            for name, lst in parts.items()}


def region_costs(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                 spec: WaferSpec, *, dtype: str, training: bool, first: bool,
                 extra_vector_ops: float, batch: int, nnz_total: int) -> CoreCosts:
    """Per-sample per-core costs of a stage from its weight row counts and activation counts.

    Parameters
    ----------
    rtn : int64 (k_rows, b), non-zeros of each weight row in each column tile
    x_counts : int64 (groups, k_rows), non-zero activation rows per input for each row group
    first : the op reads graph input (no input gradient is computed)
    extra_vector_ops : arithmetic of the cheap ops riding on this stage, per sample
    nnz_total : non-zero weights of the op (for the optimizer step)
    """
    a, b, groups = split.a, split.b, split.groups
    lanes = spec.fmac_per_cycle(dtype)
    vbytes = DTYPE_BYTES[dtype]
    grows = split.group_rows()
    r_g = np.diff(splits(view.rows, groups)).astype(np.float64)
    n_cols = np.diff(splits(view.n, b)).astype(np.float64)
    blk = group_blocks(view, rtn, x_counts, split, vbytes, want_macs=True)
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
    if training and view.stored_weights and nnz_total:
        nnz_core = nnz_total / (a * b / groups)
        cycles += nnz_core * OPTIMIZER_VECTOR_OPS / lanes / batch
        read_b += nnz_core * OPTIMIZER_READ_BYTES / batch
        write_b += nnz_core * OPTIMIZER_WRITE_BYTES / batch
    return CoreCosts(macs=n_pass * macs, compute_cycles=cycles, read_bytes=read_b,
                     write_bytes=write_b, row_wavelets=row_wave,
                     col_wavelets=col_wave, bwd_row_wavelets=bwd_row if training and not first
                     else np.zeros(a), bwd_col_wavelets=col_wave if training
                     else np.zeros((groups, b)))


def internal_bounds(cost: CoreCosts, spec: WaferSpec) -> tuple[float, float, float]:
    """``(compute_cycles, link_wavelets, memory_cycles)`` per sample of a stage on its own:
    its slowest core, the busiest of its internal multicast and reduction links (forward and
    backward; wavelets, before the link width), and its busiest SRAM port.

    The one rule for a stage's bound: the placer and the engine both take a stage's time per
    sample as the largest of compute, link load / link width (with the inter-stage routes
    added) and memory.
    """
    link = max(float(cost.row_wavelets.max(initial=0)), float(cost.col_wavelets.max(initial=0)),
               float(cost.bwd_row_wavelets.max(initial=0)),
               float(cost.bwd_col_wavelets.max(initial=0)))
    memory = max(float(cost.read_bytes.max()) / spec.sram_read_bytes_per_cycle,
                 float(cost.write_bytes.max()) / spec.sram_write_bytes_per_cycle)
    return float(cost.compute_cycles.max()), link, memory
