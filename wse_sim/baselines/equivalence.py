"""GPU equivalence: how many GPUs the wafer is worth, and the comparison block that the CLI,
saved results and sweeps all write (:func:`gpu_summary`)."""

from __future__ import annotations

import math
from numbers import Real

from ..errors import GpuError
from ..graph import Graph
from ..spec import GpuSpec
from ..validate import check_gpu_count
from .baseline import gpu_baseline
from .result import GpuResult
from .scaling import MAX_GPUS, fewest_gpus


def equivalent_gpus(target, gpu: str | GpuSpec | GpuResult = "v100", graph: Graph | None = None,
                    mode: str | None = None, max_gpus: int = MAX_GPUS, **kwargs) -> float:
    """The fewest GPUs whose data-parallel cluster reaches ``target`` samples/s.

    ``target`` is a number or any object with ``.samples_per_s`` (a SimResult). ``gpu`` is a
    :class:`GpuResult` (used as is) or a GPU name/spec, then the baseline is computed for
    ``graph`` (or ``target.graph``) in ``mode`` (or ``target.mode``, else 'train') with
    ``kwargs`` for :func:`gpu_baseline`. Returns an int, or ``math.inf`` when even ``max_gpus``
    GPUs fall short (scaling saturates below the target).
    """
    thr_target = getattr(target, "samples_per_s", target)
    if isinstance(thr_target, bool) or not isinstance(thr_target, Real) \
            or not thr_target > 0 or math.isnan(thr_target):
        raise GpuError(f"target samples/s must be a number > 0, got {thr_target!r}")
    if isinstance(gpu, GpuResult):
        result = gpu
    else:
        if graph is None and getattr(target, "placement", None) is not None:
            graph = target.placement.graph
        graph = graph if graph is not None else getattr(target, "graph", None)
        if graph is None:
            raise GpuError(f"equivalent_gpus with gpu={gpu!r} needs the model: pass graph=... "
                           "or a GpuResult from gpu_baseline()")
        mode = mode or getattr(target, "mode", None) or "train"
        result = gpu_baseline(graph, gpu, mode=mode, **kwargs)
    return fewest_gpus(result, thr_target, check_gpu_count("max_gpus", max_gpus, MAX_GPUS))


def gpu_summary(result, gpu="v100", graph=None, *, batch_per_gpu="auto", precision="mixed",
                gpus_per_node=None, attention="unfused") -> dict:
    """The ``gpu`` block of a saved result: the wafer against ``gpu`` (a name or a GpuResult).

    Keys: ``name``, ``samples_per_s_per_gpu`` (one GPU alone), ``equivalent_gpus`` (int, or
    ``None`` when no data-parallel cluster reaches the wafer; ``note`` then says so),
    ``cluster_samples_per_s`` (throughput of that many GPUs), ``global_batch`` (the samples
    per step of that cluster: the batch the comparison is made at), ``allreduce`` (the
    library's algorithm and protocol for the largest gradient bucket there),
    ``gpus_per_node``, ``batch_per_gpu`` and ``precision``; when no cluster suffices, also
    ``cluster_ceiling_samples_per_s`` (what the largest cluster searched reaches). ``graph``
    defaults to ``result.placement.graph``.
    """
    if isinstance(gpu, GpuResult):
        one = gpu
    else:
        if graph is None and getattr(result, "placement", None) is not None:
            graph = result.placement.graph
        if graph is None:
            raise GpuError("a GPU comparison by name needs the model graph; pass "
                           "graph=... or a GpuResult from gpu_baseline()")
        one = gpu_baseline(graph, gpu, mode=result.mode, batch_per_gpu=batch_per_gpu,
                           precision=precision, gpus_per_node=gpus_per_node,
                           attention=attention)
    n = equivalent_gpus(result.samples_per_s, one)
    found = math.isfinite(n)
    cluster = one.with_n_gpus(int(n)) if found else None
    out = {"name": one.gpu, "samples_per_s_per_gpu": float(one.single_gpu_samples_per_s),
           "equivalent_gpus": int(n) if found else None,
           "cluster_samples_per_s": float(cluster.samples_per_s) if found else None,
           "global_batch": int(cluster.global_batch) if found else None,
           "allreduce": (f"{cluster.allreduce_algorithm}/{cluster.allreduce_protocol}"
                         if found else None),
           "gpus_per_node": int(one.gpus_per_node), "batch_per_gpu": int(one.batch_per_gpu),
           "precision": one.precision}
    if not found:
        ceiling = float(one.throughput(MAX_GPUS))
        out["cluster_ceiling_samples_per_s"] = ceiling
        out["note"] = (f"equivalent_gpus is null: no data-parallel cluster of {one.gpu} GPUs "
                       f"reaches the wafer's {result.samples_per_s:,.0f} samples/s; "
                       f"throughput saturates near {ceiling:,.0f} samples/s "
                       f"({MAX_GPUS:,} GPUs)")
    return out
