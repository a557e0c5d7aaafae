"""The GPU baseline: a shape-aware per-op roofline on a GPU datasheet, data-parallel scaling
with an NCCL-like bucketed gradient all-reduce, and GPU equivalence (how many GPUs the wafer is
worth)."""

from .baseline import gpu_baseline, scaling_curve
from .collectives import AllReduceCost, allreduce, ring_allreduce_s, tree_allreduce_s
from .equivalence import equivalent_gpus, gpu_summary
from .fusion import FUSIONS
from .llm import GpuLlmResult, gpu_llm
from .result import GpuResult, OpTime
from .roofline import CUDA_CORE_EFFICIENCY, HBM_EFFICIENCY, TENSOR_CORE_EFFICIENCY
from .scaling import MAX_GPUS, cluster_samples_per_s

__all__ = ["CUDA_CORE_EFFICIENCY", "FUSIONS", "HBM_EFFICIENCY", "MAX_GPUS",
           "TENSOR_CORE_EFFICIENCY", "AllReduceCost", "GpuLlmResult", "GpuResult", "OpTime",
           "allreduce", "cluster_samples_per_s", "equivalent_gpus", "gpu_baseline", "gpu_llm",
           "gpu_summary", "ring_allreduce_s", "scaling_curve", "tree_allreduce_s"]
