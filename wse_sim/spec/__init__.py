"""Hardware specs: the wafer (:class:`WaferSpec`) and the GPU baselines (:class:`GpuSpec`),
and their presets (data files with a source for every figure)."""

from .gpu import GpuSpec
from .physics import SCHEDULES, Physics
from .presets import GPU_PRESETS, WAFER_PRESETS, gpu, preset_sources, wafer
from .system import SYSTEM_PRESETS, SystemSpec, system
from .wafer import WaferSpec

__all__ = ["GPU_PRESETS", "SCHEDULES", "SYSTEM_PRESETS", "WAFER_PRESETS", "GpuSpec", "Physics",
           "SystemSpec", "WaferSpec", "gpu", "preset_sources", "system", "wafer"]
