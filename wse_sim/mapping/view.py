"""The matrix view of a heavy op, and the non-zeros of its weight rows per column tile.

How one heavy op splits over a rectangle of cores (``docs/modeling.md``).

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
from dataclasses import dataclass

import numpy as np

from ..errors import GraphError
from ..graph import MASK_PATTERN, Op
from ..graph.drawn import drawn_row_counts
from ..graph.masks import mask_row_counts
from ..kernels.tiles import splits

MAX_COUNTED_ROWS = 4096
"""Inputs K above this are counted in groups of ``ceil(K / 4096)`` consecutive weight rows
(e.g. the 1M-input dense layer after a flattened 256 x 256 feature map): per-group non-zero
counts are exact sums; per-core MACs are exact for dense activations and exact in expectation
for sparse ones. Every layer of BERT, GPT, ResNet and the 28 x 28 CVAE is counted row by row."""


def passes(training: bool, first: bool) -> float:
    """Matrix products a heavy op runs per sample: the forward pass; in training also the
    weight gradient and, unless it reads graph input (``first``), the input gradient."""
    if not training:
        return 1.0
    return 2.0 if first else 3.0


@dataclass(frozen=True)
class View:
    """The matrix view of a heavy op; all sizes per sample."""

    rows: int  # R
    k: int  # K
    n: int  # N
    reuse: float = 1.0  # im2col expansion: each received activation feeds `reuse` rows of X
    stored_weights: bool = True  # False when W is an activation (attention matmul)
    heads: int = 1  # attention heads: each has its own second operand of k x n
    coarse: int = 1  # weight rows merged into one counted row (K above MAX_COUNTED_ROWS)
    one_hot: bool = False  # embedding lookup: exactly one non-zero per row of X

    @property
    def k_rows(self) -> int:
        """Rows of the per-row count arrays: K, or ceil(K / coarse) for very wide inputs."""
        return -(-self.k // self.coarse)

    def row_sizes(self) -> np.ndarray:
        """Weight rows in each counted row, int64 (k_rows,)."""
        sizes = np.full(self.k_rows, self.coarse, dtype=np.int64)
        sizes[-1] = self.k - self.coarse * (self.k_rows - 1)
        return sizes

    @property
    def dense_macs(self) -> int:
        return self.rows * self.k * self.n


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
    raise GraphError(f"op {op.name!r} of kind {op.kind!r} has no matrix view; only heavy ops "
                     "(dense, matmul, conv2d, conv_transpose2d, embedding) have one")


def weight_row_counts(op: Op, view: View, b: int) -> np.ndarray:
    """Non-zeros of each row of W inside each of ``b`` column tiles: int64 (view.k_rows, b).

    Drawn: a synthetic pattern (``"unstructured"``, ``"n:m"``, ``"block"``) stands for one mask
    per op, drawn once from ``op.mask_seed`` and counted tile by tile
    (:func:`wse_sim.graph.drawn.drawn_row_counts`), so every tiling the placer tries splits the
    same non-zeros. Counted: a real mask (``"mask"``, from ``sparsify(graph, masks=...)``) is
    counted exactly on the view ``W (K x N)`` (conv2d in im2col order). Rows are merged
    ``view.coarse`` at a time.
    """
    if op.sparsity_pattern == MASK_PATTERN:
        return mask_row_counts(op, b, view.coarse)
    if op.sparsity_pattern == "dense" or op.weight_density >= 1.0:
        return view.row_sizes()[:, None] * np.diff(splits(view.n, b))[None, :]
    return drawn_row_counts(op, b, view.coarse)
