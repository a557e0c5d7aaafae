"""wse-sim: a cycle-approximate simulator of wafer-scale dataflow accelerators.

The pipeline: a :class:`Graph` from ``wse_sim.models`` -> :func:`place` -> :func:`simulate` ->
:func:`report`, with :func:`gpu_baseline` for the GPU comparison.
"""

__version__ = "0.1.0"  # before the imports: sweep keys its cache on it

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
from .report import plot_placement, plot_sram, report
from .results_io import load_result, save_result
from .spec import GPU_PRESETS, WAFER_PRESETS, GpuSpec, WaferSpec, gpu, wafer
from .sweep import read_table, sweep
from .sweep_plot import plot_sweep

__all__ = [
    "GPU_PRESETS", "GpuError", "GpuResult", "GpuSpec", "Graph", "GraphError", "Op", "Placement",
    "PlacementError", "SimResult", "SimulationError", "SparsityError", "SpecError",
    "WAFER_PRESETS", "WaferSpec", "WseSimError", "WseSimFileError", "__version__",
    "equivalent_gpus", "gpu", "gpu_baseline", "load_result", "place", "plot_placement",
    "plot_sram", "plot_sweep", "read_table", "report", "save_result", "scaling_curve", "simulate",
    "sparsify", "sweep", "wafer",
]
