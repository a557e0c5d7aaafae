"""wse-sim: a cycle-approximate simulator of wafer-scale dataflow accelerators.

The pipeline: a :class:`Graph` from ``wse_sim.models`` -> :func:`place` -> :func:`simulate` ->
:func:`report`, with :func:`gpu_baseline` for the GPU comparison; :func:`from_onnx` and
:func:`from_torch` bring a model in, :func:`export_trace` takes the timeline out. This module
only re-exports the public API; ``docs/architecture.md`` maps the packages.
"""

from . import models
from .baselines import GpuResult, equivalent_gpus, gpu_baseline, scaling_curve
from .engine import SimResult, simulate
from .errors import (
    FabricError,
    GpuError,
    GraphError,
    MissingDependencyError,
    PlacementError,
    ResourceError,
    SimulationError,
    SparsityError,
    SpecError,
    WseSimError,
    WseSimFileError,
)
from .graph import Graph, Op, sparsify
from .importers import from_onnx, from_torch
from .io import load_result, save_result
from .placer import Placement, gemv, place
from .report import plot_placement, plot_sram, report
from .report.trace import export_trace
from .spec import (
    GPU_PRESETS,
    SYSTEM_PRESETS,
    WAFER_PRESETS,
    GpuSpec,
    SystemSpec,
    WaferSpec,
    gpu,
    system,
    wafer,
)
from .sweep import plot_sweep, read_table, sweep
from .version import __version__

__all__ = [
    "FabricError", "GPU_PRESETS", "GpuError", "GpuResult", "GpuSpec", "Graph", "GraphError",
    "MissingDependencyError", "Op", "Placement", "PlacementError", "ResourceError", "SimResult",
    "SYSTEM_PRESETS", "SimulationError", "SparsityError", "SpecError", "SystemSpec",
    "WAFER_PRESETS", "WaferSpec", "WseSimError",
    "WseSimFileError", "__version__", "equivalent_gpus", "export_trace", "from_onnx", "from_torch",
    "gemv", "gpu", "gpu_baseline", "load_result", "models", "place", "plot_placement", "plot_sram",
    "plot_sweep", "read_table", "report", "save_result", "scaling_curve", "simulate", "sparsify",
    "sweep", "system", "wafer",
]
