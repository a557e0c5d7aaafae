"""How one heavy op maps onto a rectangle of cores: its matrix view, the split over the
region, per-core costs (MACs, cycles, SRAM port bytes, wavelets) and SRAM per core."""

from .activations import MAX_DRAWN_GROUPS, band_sums, expected_x_counts, sample_x_counts
from .costs import (
    OPTIMIZER_BYTES_PER_WEIGHT,
    OPTIMIZER_READ_BYTES,
    OPTIMIZER_VECTOR_OPS,
    OPTIMIZER_WRITE_BYTES,
    CoreCosts,
    internal_bounds,
    region_costs,
)
from .split import Split, choose_split
from .sram import sram_per_core
from .view import MAX_COUNTED_ROWS, View, passes, view_of, weight_row_counts

__all__ = ["MAX_COUNTED_ROWS", "MAX_DRAWN_GROUPS", "OPTIMIZER_BYTES_PER_WEIGHT",
           "OPTIMIZER_READ_BYTES", "OPTIMIZER_VECTOR_OPS", "OPTIMIZER_WRITE_BYTES", "CoreCosts",
           "Split", "View", "band_sums", "choose_split", "expected_x_counts", "internal_bounds",
           "passes", "region_costs", "sample_x_counts", "sram_per_core", "view_of",
           "weight_row_counts"]
