"""gpu_baseline(): predict a graph on N data-parallel GPUs; scaling curves."""

from __future__ import annotations

from ..errors import GpuError
from ..graph import Graph
from ..spec import GpuSpec
from ..spec import gpu as gpu_spec
from .args import check_choice, check_count, check_fraction
from .result import GpuResult
from .roofline import (
    ALLREDUCE_OVERLAP,
    GEMM_EFFICIENCY,
    HBM_EFFICIENCY,
    MODES,
    PRECISIONS,
    single_gpu,
)


def gpu_baseline(graph: Graph, gpu: str | GpuSpec = "v100", mode: str = "train",
                 batch_per_gpu: int | str | None = None, precision: str = "mixed",
                 n_gpus: int = 1, gpus_per_node: int | None = None,
                 overlap: float = ALLREDUCE_OVERLAP) -> GpuResult:
    """Predict ``graph`` on ``n_gpus`` data-parallel GPUs of kind ``gpu``.

    Parameters
    ----------
    graph : the model (per-sample shapes).
    gpu : preset name ('v100', 'a100', 'h100') or a :class:`~wse_sim.spec.GpuSpec`.
    mode : 'train' (forward + backward + optimizer + all-reduce) or 'infer' (forward only).
    batch_per_gpu : samples per GPU per step; ``None`` = ``graph.meta['batch_default']``
        (else 32) and it must fit; ``'auto'`` = that default reduced until it fits memory.
    precision : 'mixed' (fp16/bf16 tensor cores, fp32 master weights) or 'fp32' (no tensor cores).
    n_gpus, gpus_per_node : cluster size; ``gpus_per_node`` defaults to the preset's node
        (6 for a Summit V100 node, 8 for DGX A100/H100).
    overlap : fraction in [0, 1] of the all-reduce hidden behind the backward pass.

    Raises :class:`~wse_sim.errors.GpuError` for bad arguments or a batch that does not fit,
    :class:`~wse_sim.errors.SpecError` for an unknown GPU name.
    """
    spec = gpu_spec(gpu)
    if not isinstance(graph, Graph):
        raise GpuError(f"graph must be a wse_sim Graph, got {type(graph).__name__}")
    check_choice("mode", mode, MODES)
    check_choice("precision", precision, PRECISIONS)
    n = check_count("n_gpus", n_gpus)
    per_node = spec.gpus_per_node if gpus_per_node is None else \
        check_count("gpus_per_node", gpus_per_node)
    overlap = check_fraction("overlap", overlap)
    if isinstance(batch_per_gpu, str) and batch_per_gpu != "auto":
        raise GpuError(f"batch_per_gpu must be an integer >= 1, 'auto' or None, "
                       f"got {batch_per_gpu!r}")
    single = single_gpu(graph, spec, mode, precision, batch_per_gpu, per_node, overlap,
                         GEMM_EFFICIENCY, HBM_EFFICIENCY)
    return single.with_n_gpus(n) if n > 1 else single


def scaling_curve(graph: Graph, gpu: str | GpuSpec = "v100", ns=(1, 2, 4, 8, 16, 64, 256),
                  **kwargs) -> list[tuple[int, float, float]]:
    """``[(n, cluster samples_per_s, scaling efficiency), ...]`` for each n in ``ns``;
    ``kwargs`` go to :func:`gpu_baseline`. The per-op roofline is computed once."""
    kwargs.pop("n_gpus", None)
    base = gpu_baseline(graph, gpu, **kwargs)
    out = []
    for n in ns:
        r = base.with_n_gpus(n)
        out.append((r.n_gpus, r.samples_per_s, r.scaling_efficiency))
    return out
