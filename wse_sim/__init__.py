"""wse-sim: a cycle-approximate simulator of wafer-scale dataflow accelerators.

The pipeline: a :class:`Graph` from ``wse_sim.models`` -> :func:`place` -> :func:`simulate` ->
:func:`report`, with :func:`gpu_baseline` for the GPU comparison.
"""

from .engine import SimResult, simulate
from .errors import (
    GpuError,
    GraphError,
    PlacementError,
    SimulationError,
    SparsityError,
    SpecError,
    WseSimError,
    WseSimFileError,
)
from .gpu import GpuResult, equivalent_gpus, gpu_baseline, scaling_curve
from .graph import Graph, Op, sparsify
from .placer import Placement, place
from .spec import GPU_PRESETS, WAFER_PRESETS, GpuSpec, WaferSpec, gpu, wafer

__version__ = "0.1.0"

__all__ = [
    "GPU_PRESETS", "WAFER_PRESETS", "GpuError", "GpuResult", "GpuSpec", "Graph", "GraphError",
    "Op", "Placement", "PlacementError", "SimResult", "SimulationError", "SparsityError",
    "SpecError", "WaferSpec", "WseSimError", "WseSimFileError", "__version__", "equivalent_gpus",
    "gpu", "gpu_baseline", "place", "scaling_curve", "simulate", "sparsify", "wafer",
]
