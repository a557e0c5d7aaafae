"""How one heavy op splits over a rectangle of cores (DESIGN.md rule 3).

Every heavy op is seen as a matrix product ``X (R x K) @ W (K x N)`` per sample (its *view*):

=================  ===================  ======================  =====================
op                 R (rows)             K (contraction)         N (outputs)
=================  ===================  ======================  =====================
dense              tokens / positions   n_in                    n_out
conv2d             output pixels        c_in * k * k (im2col)   c_out
conv_transpose2d   input pixels         c_in                    c_out * k * k
matmul (attn)      m                    heads * k (block diag)  heads * n
embedding          tokens               vocab (one-hot)         dim
=================  ===================  ======================  =====================

A region of ``a x b`` logical cores is cut into ``groups`` stacked sub-blocks along its rows;
each sub-block takes a share of R and holds the whole weight, split K over its rows and N over
its ``b`` columns. Activations are multicast along logical rows, partial sums reduced down
logical columns; in training the gradients travel the other way. A core's MACs are counted on
its own tile with the kernels (:func:`wse_sim.kernels.counts.band_weighted_sums`), so the
imbalance between tiles is real.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .graph import Op
from .kernels.counts import band_weighted_sums, row_tile_nnz, row_tile_nnz_binomial
from .kernels.masks import sparsity_mask
from .kernels.tiles import splits, tile_bytes
from .spec import DTYPE_BYTES, WaferSpec

MAX_COUNTED_ROWS = 4096
"""Inputs K above this are counted in groups of ``ceil(K / 4096)`` consecutive weight rows
(e.g. the 1M-input dense layer after a flattened 256 x 256 feature map): per-group non-zero
counts are exact sums; per-core MACs are exact for dense activations and exact in expectation
for sparse ones. Every layer of BERT, GPT, ResNet and the 28 x 28 CVAE is counted row by row."""
INDEX_BYTES = 2  # 16-bit index per stored non-zero weight or sparse activation wavelet
OPTIMIZER_BYTES_PER_WEIGHT = 16  # fp32 master + fp32 gradient accumulator + 2 fp32 Adam moments
OPTIMIZER_READ_BYTES = 16  # per weight per step: master, grad, m, v
OPTIMIZER_WRITE_BYTES = 14  # master, m, v (fp32) and the fp16 working copy
OPTIMIZER_VECTOR_OPS = 10  # Adam update arithmetic per weight


@dataclass(frozen=True)
class View:
    """The matrix view of a heavy op; all sizes per sample."""

    rows: int  # R
    k: int  # K
    n: int  # N
    blocks: int = 1  # block-diagonal groups (attention heads)
    reuse: float = 1.0  # im2col expansion: each received activation feeds `reuse` rows of X
    stored_weights: bool = True  # False when W is an activation (attention matmul)
    heads: int = 1  # attention heads: each has its own second operand of k x n
    coarse: int = 1  # weight rows merged into one counted row (K above MAX_COUNTED_ROWS)

    @property
    def k_rows(self) -> int:
        """Rows of the per-row count arrays: K, or ceil(K / coarse) for very wide inputs."""
        return -(-self.k // self.coarse)

    def row_sizes(self) -> np.ndarray:
        """Weight rows in each counted row, int64 (k_rows,)."""
        sizes = np.full(self.k_rows, self.coarse, dtype=np.int64)
        sizes[-1] = self.k - self.coarse * (self.k_rows - 1)
        return sizes
    one_hot: bool = False  # embedding lookup: exactly one non-zero per row of X

    @property
    def dense_macs(self) -> int:
        return self.rows * self.k * self.n // self.blocks


def view_of(op: Op) -> View:
    """The :class:`View` of heavy op ``op``."""
    v = _view_of(op)
    if v.k > MAX_COUNTED_ROWS:
        v = dataclasses.replace(v, coarse=-(-v.k // MAX_COUNTED_ROWS))
    return v


def _view_of(op: Op) -> View:
    a = op.attrs
    if op.kind == "dense":
        return View(a["rows"], op.weight_shape[0], op.weight_shape[1])
    if op.kind == "conv2d":
        c_out, c_in, kh, kw = op.weight_shape
        rows = op.out_shape[1] * op.out_shape[2]
        k = c_in * kh * kw
        return View(rows, k, c_out, reuse=rows * k / max(op.in_elems, 1))
    if op.kind == "conv_transpose2d":
        c_in, c_out, kh, kw = op.weight_shape
        return View(op.in_shapes[0][1] * op.in_shapes[0][2], c_in, c_out * kh * kw)
    if op.kind == "matmul":
        # heads are independent products; rows of all heads share one k x n tile layout and
        # each row group holds the second operand of the heads whose rows it owns
        h = a["batch"]
        return View(h * a["m"], a["k"], a["n"], stored_weights=False, heads=h)
    if op.kind == "embedding":
        return View(a["rows"], op.weight_shape[0], op.weight_shape[1], one_hot=True)
    raise ValueError(f"op {op.name!r} of kind {op.kind!r} has no matrix view")


def weight_row_counts(op: Op, view: View, b: int) -> np.ndarray:
    """Non-zeros of each row of W inside each of ``b`` column tiles: int64 (K, b).

    Unstructured masks are drawn i.i.d. per row and tile from their exact binomial
    distribution (never materialised); n:m and block masks are drawn for real.
    """
    widths = np.diff(splits(view.n, b))
    if view.blocks > 1:  # block diagonal: row k sees the columns of its own head only
        kb, nb = view.k // view.blocks, view.n // view.blocks
        col = splits(view.n, b)
        head = np.arange(view.k) // kb
        lo = np.maximum(col[None, :-1], (head * nb)[:, None])
        hi = np.minimum(col[None, 1:], ((head + 1) * nb)[:, None])
        return np.maximum(hi - lo, 0).astype(np.int64)
    d = op.weight_density
    sizes = view.row_sizes()
    if op.sparsity_pattern in ("dense",) or d >= 1.0:
        return sizes[:, None] * widths[None, :]
    if op.sparsity_pattern == "unstructured":
        if view.coarse == 1:
            return row_tile_nnz_binomial(view.k, view.n, d, b, seed=op.mask_seed)
        rng = np.random.default_rng(op.mask_seed)  # sum of coarse i.i.d. rows: one binomial
        return rng.binomial(sizes[:, None] * widths[None, :], d).astype(np.int64)
    mask = sparsity_mask((view.k, view.n), d, pattern=op.sparsity_pattern, seed=op.mask_seed)
    counts = row_tile_nnz(mask, b)
    if view.coarse > 1:
        counts = np.add.reduceat(counts, np.arange(0, view.k, view.coarse), axis=0)
    return counts


MAX_DRAWN_GROUPS = 16
"""Row groups whose activations are drawn independently per sample; further groups repeat
them (group g uses draw g % 16), which keeps the cost of a full-wafer region bounded while the
imbalance between groups stays real."""


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


def band_sums(values: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Sum of ``values`` inside each band ``[bands[i], bands[i+1])``: float64 (len(bands)-1,)."""
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return (cs[bands[1:]] - cs[bands[:-1]]).astype(np.float64)


def expected_x_counts(view: View, in_density: float, groups: int) -> np.ndarray:
    """Expected non-zero activation rows per input k for each row group: int64 (groups, K)."""
    r = np.diff(splits(view.rows, groups))
    sizes = view.row_sizes()[None, :]
    if view.one_hot:
        return np.round(r[:, None] * sizes / view.k).astype(np.int64)
    return np.round(r[:, None] * in_density * sizes).astype(np.int64)


def sample_x_counts(view: View, in_density: float, groups: int, n_samples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Non-zero activation rows per input k, drawn per sample: int64 (n_samples, groups, K).

    Each activation is non-zero with probability ``in_density``, independently, so a row group
    of ``r`` rows has Binomial(r, in_density) non-zeros at each input; embeddings draw token
    ids uniformly over the vocabulary.
    """
    r = np.diff(splits(view.rows, groups))
    sizes = view.row_sizes()
    if in_density >= 1.0 and not view.one_hot:
        return np.broadcast_to(r[None, :, None] * sizes[None, None, :],
                               (n_samples, groups, view.k_rows)).astype(np.int64)
    drawn = min(groups, MAX_DRAWN_GROUPS)
    src = np.arange(groups) % drawn
    if view.one_hot:
        out = np.zeros((n_samples, drawn, view.k_rows), dtype=np.int64)
        for g in range(drawn):
            ids = rng.integers(0, view.k, size=(n_samples, int(r[g]))) // view.coarse
            np.add.at(out[:, g, :], (np.arange(n_samples)[:, None], ids), 1)
        return out[:, src, :]
    trials = r[None, :drawn, None] * sizes[None, None, :]
    return rng.binomial(trials, in_density,
                        size=(n_samples, drawn, view.k_rows)).astype(np.int64)[:, src, :]


@dataclass(frozen=True)
class Split:
    """How a stage's heavy op lies on its physical ``h x w`` rectangle."""

    h: int
    w: int
    k_on_rows: bool  # True: K over physical rows, N over physical columns
    groups: int  # row-groups sharing R (each holds the whole weight)

    @property
    def a(self) -> int:
        """Logical rows (K side, stacked groups)."""
        return self.h if self.k_on_rows else self.w

    @property
    def b(self) -> int:
        """Logical columns (N side)."""
        return self.w if self.k_on_rows else self.h

    def group_rows(self) -> np.ndarray:
        """Logical rows of each group, int64 (groups,)."""
        return np.diff(splits(self.a, self.groups))

    def to_physical(self, logical: np.ndarray) -> np.ndarray:
        """An (a, b) per-core array laid on the (h, w) rectangle."""
        return logical if self.k_on_rows else logical.T


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


def _group_blocks(view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
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
    blk = _group_blocks(view, rtn, x_counts, split, vbytes, want_macs=True)
    macs = blk["macs"]
    row_wave = blk["x_band"] / view.reuse
    bwd_row = blk["x_band"]
    col_wave = r_g[:, None] * n_cols[None, :]
    passes = 1.0 if not training else (2.0 if first else 3.0)
    # Partial sums: every core but the top of its column adds the sums arriving from above.
    psum_in = np.repeat(col_wave, grows, axis=0)
    w_in = row_wave[:, None] + psum_in
    if training:
        # gradients arrive down the columns; dx partials arrive along the rows
        w_in = w_in + psum_in + (0.0 if first else bwd_row[:, None])
    cycles = (passes / lanes) * macs + spec.wavelet_overhead_cycles * w_in
    cycles += (spec.task_overhead_cycles * (3 if training else 1)
               # cheap ops: forward, and in training recomputed and differentiated (3x)
               + extra_vector_ops * (3 if training else 1) / (a * b * lanes))
    # Bytes read per MAC: the weight value, its index when the tile is stored compressed, and
    # the accumulator; the accumulator is written back.
    per_mac = float(vbytes + vbytes)
    if view.stored_weights:
        read_b = (passes * macs) * (per_mac + INDEX_BYTES * blk["compressed"])
    else:
        read_b = (passes * per_mac) * macs
    write_b = (passes * vbytes) * macs
    if training and view.stored_weights and nnz_total:
        nnz_core = nnz_total / (a * b / groups)
        cycles += nnz_core * OPTIMIZER_VECTOR_OPS / lanes / batch
        read_b += nnz_core * OPTIMIZER_READ_BYTES / batch
        write_b += nnz_core * OPTIMIZER_WRITE_BYTES / batch
    return CoreCosts(macs=passes * macs, compute_cycles=cycles, read_bytes=read_b,
                     write_bytes=write_b, row_wavelets=row_wave,
                     col_wavelets=col_wave, bwd_row_wavelets=bwd_row if training and not first
                     else np.zeros(a), bwd_col_wavelets=col_wave if training
                     else np.zeros((groups, b)))


def sram_per_core(op: Op, view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                  spec: WaferSpec, *, training: bool, in_flight: int,
                  resident: bool = True) -> np.ndarray:
    """SRAM bytes held by each logical core: float64 (a, b).

    Weight tile (values + indices, as the kernels store it), optimizer state when training,
    the stashed activations of ``in_flight`` samples, stream buffers and the code reserve.
    ``resident=False`` (weight streaming): weights pass through a double-buffered chunk of
    ``spec.stream_chunk_bytes`` instead of staying, and the optimizer runs off the wafer.
    """
    a, b, groups = split.a, split.b, split.groups
    vbytes = DTYPE_BYTES[op.dtype]
    grows = split.group_rows()
    n_cols = np.diff(splits(view.n, b)).astype(np.float64)
    r_rows = np.repeat(np.diff(splits(view.rows, groups)).astype(np.float64), grows)
    blk = _group_blocks(view, rtn, x_counts, split, vbytes, want_macs=False)
    nnz = blk["nnz"]
    if view.stored_weights:
        # values (+ 16-bit indices and column pointers when compressed), as the kernels store
        w_b = nnz * (vbytes + INDEX_BYTES * blk["compressed"])
        w_b += blk["compressed"] * (n_cols[None, :] + 1) * INDEX_BYTES
        if training and resident:
            w_b += nnz * OPTIMIZER_BYTES_PER_WEIGHT
        if not resident:
            w_b = np.minimum(w_b, float(spec.stream_chunk_bytes))
    else:  # the second operand arrives per sample: a double-buffered tile of each head
        # this group serves; in training every head's operand is stashed across the region
        w_b = 2.0 * vbytes * max(1.0, view.heads / groups) * nnz
        if training:
            w_b += in_flight * view.heads * view.k * view.n * vbytes / (a * b)
    x_band = blk["x_band"]
    sparse_x = x_band < r_rows * blk["heights"] * 0.5
    x_bytes = x_band / view.reuse * (vbytes + INDEX_BYTES * sparse_x)
    out = w_b + float(spec.io_buffer_bytes + spec.code_reserve_bytes)
    if training:
        # only the heavy op's input is kept (spread over the row's b cores); the cheap ops
        # riding on the stage are recomputed from it in the backward pass
        out += (in_flight / b) * x_bytes[:, None]
    return out


def choose_split(op: Op, view: View, h: int, w: int, spec: WaferSpec, *, in_density: float,
                 training: bool, weight_bytes: float = 0.0, stash_bytes: float = 0.0,
                 avail_bytes: float = math.inf) -> Split:
    """Pick orientation and row groups that minimise the stage's predicted time.

    Every row group holds a full copy of the weights (``weight_bytes`` with optimizer state),
    so more groups are only considered while the copies and the region's stashed activations
    (``stash_bytes``) fit in ``avail_bytes`` per core with 10% to spare.

    The aspect question of rule 3: activations multicast along rows cost ``R K / a`` wavelets
    per row link, partial sums ``R N / b`` per column link; compute is ``MACs / (a b lanes)``.
    """
    lanes = spec.fmac_per_cycle(op.dtype)
    link = spec.link_wavelets_per_cycle
    best, best_t = None, math.inf
    macs = view.dense_macs * (op.weight_density if view.stored_weights else 1.0)
    if view.one_hot:  # a lookup copies one table row per token
        macs = view.rows * view.n
    passes = 3.0 if training else 1.0
    for k_on_rows in (True, False):
        a, b = (h, w) if k_on_rows else (w, h)
        g = 1
        while g <= a:
            # stored weights are copied into every group; attention operands are split by head
            if (g > 1 and view.stored_weights
                    and (weight_bytes * g + stash_bytes) / (h * w) * 1.1 > avail_bytes):
                break
            r = view.rows / g
            ka = min(a // g, view.k)  # useful logical rows per group
            nb = min(b, view.n)
            x_row = r * (view.k / max(ka, 1)) * in_density / view.reuse
            n_col = r * view.n / nb
            compute = passes * macs / (g * ka * nb * lanes) \
                + spec.wavelet_overhead_cycles * (x_row + n_col) * (2 if training else 1)
            fabric = max(x_row, n_col) / link
            t = max(compute, fabric)
            if t < best_t * 0.999:
                best, best_t = Split(h, w, k_on_rows, g), t
            if ka * g >= a and g > 1:
                break
            g *= 2
    return best
