"""The GPU baseline: a per-op roofline on a GPU datasheet, data-parallel scaling with the
gradient all-reduce, and GPU equivalence (how many GPUs the wafer is worth)."""

from .baseline import gpu_baseline, scaling_curve
from .collectives import ring_allreduce_s
from .equivalence import equivalent_gpus, gpu_summary
from .result import GpuResult, OpTime
from .roofline import GEMM_EFFICIENCY, HBM_EFFICIENCY
from .scaling import MAX_GPUS, cluster_samples_per_s

__all__ = ["GEMM_EFFICIENCY", "HBM_EFFICIENCY", "MAX_GPUS", "GpuResult", "OpTime",
           "cluster_samples_per_s", "equivalent_gpus", "gpu_baseline", "gpu_summary",
           "ring_allreduce_s", "scaling_curve"]
