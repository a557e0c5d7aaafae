"""Numba kernels of wse-sim: sparse-skipping compute and per-core counts (pure numpy/numba).

Nothing here imports the rest of ``wse_sim``; the simulator builds on these.
"""

from .conv import conv2d, conv_transpose2d
from .counts import (
    macs_from_row_counts,
    row_tile_nnz,
    row_tile_nnz_binomial,
    tile_macs,
    tile_weight_bytes,
)
from .masks import KernelArgumentError, sparsity_mask
from .spmm import spmm
from .tiles import SparseTiles

__all__ = [
    "KernelArgumentError",
    "SparseTiles",
    "conv2d",
    "conv_transpose2d",
    "macs_from_row_counts",
    "row_tile_nnz",
    "row_tile_nnz_binomial",
    "sparsity_mask",
    "spmm",
    "tile_macs",
    "tile_weight_bytes",
]
