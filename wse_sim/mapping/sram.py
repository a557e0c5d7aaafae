"""SRAM bytes each core of a stage holds: weight tile, optimizer state, stash, buffers."""

from __future__ import annotations

import numpy as np

from ..graph import DTYPE_BYTES, Op
from ..kernels.tiles import INDEX_BYTES, splits
from ..spec import WaferSpec
from .costs import OPTIMIZER_BYTES_PER_WEIGHT, distinct_blocks
from .split import Split
from .view import View


def stored_weight_bytes(nnz: float, dtype: str, density: float) -> float:
    """Bytes of ``nnz`` stored weights: values, plus a 16-bit index each when the tile is
    kept compressed (density below ``vb / (vb + INDEX_BYTES)``, where indices cost less than
    the zeros they drop). The one rule for weights held on the wafer (the placer's sizing)
    and weights streamed from the memory service."""
    vb = DTYPE_BYTES[dtype]
    sparse = density < vb / (vb + INDEX_BYTES)
    return float(nnz) * (vb + (INDEX_BYTES if sparse else 0))


def sram_per_core(op: Op, view: View, rtn: np.ndarray, x_counts: np.ndarray, split: Split,
                  spec: WaferSpec, *, training: bool, in_flight: int,
                  resident: bool = True,
                  blocks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """SRAM bytes held by each logical core: float64 (a, b).

    Weight tile (values + indices, as the kernels store it), optimizer state when training,
    the stashed activations of ``in_flight`` samples, stream buffers and the code reserve.
    ``resident=False`` (weight streaming): weights pass through a double-buffered chunk of
    ``spec.stream_chunk_bytes`` instead of staying, and the optimizer runs off the wafer.
    ``blocks``: :func:`~wse_sim.mapping.costs.distinct_blocks` of these arguments, when the
    caller already has them (the stage's costs did the same work). The weight bytes are
    formed on the distinct row groups' rows and gathered once.
    """
    a, b, groups = split.a, split.b, split.groups
    vbytes = DTYPE_BYTES[op.dtype]
    grows = split.group_rows()
    n_cols = np.diff(splits(view.n, b)).astype(np.float64)
    r_rows = np.repeat(np.diff(splits(view.rows, groups)).astype(np.float64), grows)
    blk = blocks if blocks is not None else distinct_blocks(view, rtn, x_counts, split,
                                                            vbytes, want_macs=False)
    idx = blk["row_index"]
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
    x_band = blk["x_band"][idx]
    sparse_x = x_band < r_rows * blk["heights"][idx] * 0.5
    x_bytes = x_band / view.reuse * (vbytes + INDEX_BYTES * sparse_x)
    out = w_b[idx] + float(spec.io_buffer_bytes + spec.code_reserve_bytes)
    if training:
        # only the heavy op's input is kept (spread over the row's b cores); the cheap ops
        # riding on the stage are recomputed from it in the backward pass
        out += (in_flight / b) * x_bytes[:, None]
    return out
