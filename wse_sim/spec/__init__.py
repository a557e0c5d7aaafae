"""Hardware specs: the wafer (:class:`WaferSpec`) and the GPU baselines (:class:`GpuSpec`),
and their presets (data files with a source for every figure)."""

from .gpu import GpuSpec
from .presets import GPU_PRESETS, WAFER_PRESETS, gpu, preset_sources, wafer
from .wafer import WaferSpec

__all__ = ["GPU_PRESETS", "WAFER_PRESETS", "GpuSpec", "WaferSpec", "gpu", "preset_sources",
           "wafer"]
