"""The graph IR: :class:`Op`, :class:`Graph` (a networkx DiGraph with shapes inferred as it
is built) and :func:`sparsify`."""

from .graph import Graph
from .op import (
    BINARY_FNS,
    DTYPE_BYTES,
    ELEMENTWISE_FNS,
    HEAVY_KINDS,
    LOSS_VECTOR_OPS,
    MASK_PATTERN,
    NORM_VECTOR_OPS,
    OP_KINDS,
    OP_PATTERNS,
    PATTERNS,
    RELU_OUTPUT_DENSITY,
    SOFTMAX_VECTOR_OPS,
    SPARSIFIED_BY_DEFAULT,
    WEIGHTED_KINDS,
    Op,
)
from .sparsify import sparsify

__all__ = ["BINARY_FNS", "DTYPE_BYTES", "ELEMENTWISE_FNS", "HEAVY_KINDS", "LOSS_VECTOR_OPS",
           "MASK_PATTERN", "NORM_VECTOR_OPS", "OP_KINDS", "OP_PATTERNS", "PATTERNS",
           "RELU_OUTPUT_DENSITY", "SOFTMAX_VECTOR_OPS", "SPARSIFIED_BY_DEFAULT", "WEIGHTED_KINDS",
           "Graph", "Op", "sparsify"]
