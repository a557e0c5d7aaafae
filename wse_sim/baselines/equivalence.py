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
from .llm_train import gpu_train_llm
from .result import GpuResult
from .scaling import MAX_GPUS, fewest_gpus


def equivalent_gpus(target, gpu: str | GpuSpec | GpuResult = "v100", graph: Graph | None = None,
                    mode: str | None = None, max_gpus: int = MAX_GPUS, **kwargs) -> float:
    """The fewest GPUs whose cluster reaches ``target`` samples/s (GPUs, not nodes: data
    parallelism runs on any count).

    ``target`` is a number or any object with ``.samples_per_s`` (a SimResult, including a
    weight-streaming training result on one or more systems). ``gpu`` is a
    :class:`GpuResult` (used as is) or a GPU name/spec, then the baseline is computed for
    ``graph`` (or ``target.graph``) in ``mode`` (or ``target.mode``, else 'train') with
    ``kwargs`` for :func:`gpu_baseline`. Training a model that does not fit one GPU under data
    parallelism (or ``parallel='auto'`` / a layout dict in ``kwargs``) searches the fewest
    GPUs whose best LLM layout (:func:`.llm_train.gpu_train_llm`) reaches the target. Returns
    an int, or ``math.inf`` when even ``max_gpus`` GPUs fall short.
    """
    thr_target = getattr(target, "samples_per_s", target)
    if isinstance(thr_target, bool) or not isinstance(thr_target, Real) \
            or not thr_target > 0 or math.isnan(thr_target):
        raise GpuError(f"target samples/s must be a number > 0, got {thr_target!r}")
    limit = check_gpu_count("max_gpus", max_gpus, MAX_GPUS)
    if isinstance(gpu, GpuResult):
        return fewest_gpus(gpu, thr_target, limit)
    if graph is None and getattr(target, "placement", None) is not None:
        graph = target.placement.graph
    graph = graph if graph is not None else getattr(target, "graph", None)
    if graph is None:
        raise GpuError(f"equivalent_gpus with gpu={gpu!r} needs the model: pass graph=... "
                       "or a GpuResult from gpu_baseline()")
    mode = mode or getattr(target, "mode", None) or "train"
    parallel = kwargs.pop("parallel", "ddp")
    if parallel == "ddp":
        try:
            result = gpu_baseline(graph, gpu, mode=mode, **kwargs)
        except GpuError as err:
            if mode != "train" or not _is_decoder(graph) or "does not fit" not in str(err):
                raise
            parallel = "auto"  # too big for data parallelism: the LLM layouts
        else:
            return fewest_gpus(result, thr_target, limit)
    return fewest_llm_gpus(graph, gpu, thr_target, limit, parallel=parallel, **kwargs)


def _is_decoder(graph: Graph) -> bool:
    return "layer0.scores" in graph and bool(graph.op("layer0.scores").attrs.get("causal"))


def fewest_llm_gpus(graph: Graph, gpu, target: float, max_gpus: int = MAX_GPUS,
                    parallel="auto", **kwargs) -> float:
    """The fewest GPUs whose LLM training layout reaches ``target`` samples/s: doubling, then
    bisection (the best layout's throughput never falls as GPUs are added: 'auto' tries every
    data-parallel size up to what the GPUs allow). ``math.inf`` past ``max_gpus``."""
    def thr(n: int) -> float:
        try:
            return gpu_train_llm(graph, gpu, n_gpus=n, parallel=parallel, **kwargs).samples_per_s
        except GpuError as err:
            if "fit" not in str(err):
                raise
            return 0.0  # too few GPUs to hold the model
    hi = 1
    while thr(hi) < target:
        if hi >= max_gpus:
            return math.inf
        hi = min(2 * hi, max_gpus)
    lo = hi // 2  # thr(lo) < target (or lo == 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if thr(mid) >= target else (mid, hi)
    return hi


def gpu_summary(result, gpu="v100", graph=None, *, batch_per_gpu="auto", precision="mixed",
                gpus_per_node=None, attention=None) -> dict:
    """The ``gpu`` block of a saved result: the wafer against ``gpu`` (a name or a GpuResult).

    Keys: ``name``, ``samples_per_s_per_gpu`` (one GPU alone), ``equivalent_gpus`` (int, or
    ``None`` when no data-parallel cluster reaches the wafer; ``note`` then says so),
    ``cluster_samples_per_s`` (throughput of that many GPUs), ``global_batch`` (the samples
    per step of that cluster: the batch the comparison is made at), ``allreduce`` (the
    library's algorithm and protocol for the largest gradient bucket there),
    ``gpus_per_node``, ``batch_per_gpu`` and ``precision``; when no cluster suffices, also
    ``cluster_ceiling_samples_per_s`` (what the largest cluster searched reaches). ``graph``
    defaults to ``result.placement.graph``. Also ``equivalent_nodes`` and ``systems`` (the
    wafer result's system count, 1 when it has none). Training a decoder that does not fit one
    GPU under data parallelism compares against the best LLM layout instead (then
    ``parallel`` and ``mfu`` are added and ``samples_per_s_per_gpu`` is per GPU of that
    cluster).
    """
    if isinstance(gpu, GpuResult):
        one = gpu
    else:
        if graph is None and getattr(result, "placement", None) is not None:
            graph = result.placement.graph
        if graph is None:
            raise GpuError("a GPU comparison by name needs the model graph; pass "
                           "graph=... or a GpuResult from gpu_baseline()")
        try:
            one = gpu_baseline(graph, gpu, mode=result.mode, batch_per_gpu=batch_per_gpu,
                               precision=precision, gpus_per_node=gpus_per_node,
                               attention=attention)
        except GpuError as err:
            if result.mode != "train" or not _is_decoder(graph) or "does not fit" not in str(err):
                raise
            return _llm_summary(result, gpu, graph, gpus_per_node)
    n = equivalent_gpus(result.samples_per_s, one)
    found = math.isfinite(n)
    cluster = one.with_n_gpus(int(n)) if found else None
    out = {"name": one.gpu, "samples_per_s_per_gpu": float(one.single_gpu_samples_per_s),
           "equivalent_gpus": int(n) if found else None,
           "equivalent_nodes": int(cluster.n_nodes) if found else None,
           "systems": int(getattr(result, "systems", 1) or 1),
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


def _llm_summary(result, gpu, graph: Graph, gpus_per_node) -> dict:
    """:func:`gpu_summary`'s block against the fewest GPUs whose best LLM training layout
    reaches the wafer (the model does not fit one GPU under data parallelism)."""
    kw = {} if gpus_per_node is None else {"gpus_per_node": gpus_per_node}
    n = fewest_llm_gpus(graph, gpu, result.samples_per_s, **kw)
    found = math.isfinite(n)
    out = {"systems": int(getattr(result, "systems", 1) or 1), "allreduce": None,
           "equivalent_gpus": int(n) if found else None}
    if not found:
        out.update({"name": str(gpu), "note": (
            f"equivalent_gpus is null: no cluster of up to {MAX_GPUS:,} {gpu} GPUs trains "
            f"{graph.name} at the wafer's {result.samples_per_s:,.0f} samples/s")})
        return out
    r = gpu_train_llm(graph, gpu, n_gpus=int(n), **kw)
    out.update({"name": r.gpu, "samples_per_s_per_gpu": float(r.samples_per_s_per_gpu),
                "equivalent_nodes": int(r.n_nodes),
                "cluster_samples_per_s": float(r.samples_per_s),
                "global_batch": int(r.global_batch), "gpus_per_node": int(r.gpus_per_node),
                "batch_per_gpu": int(r.micro_batch), "precision": r.precision,
                "parallel": dict(r.parallel), "mfu": float(r.mfu)})
    return out
