"""Data-parallel scaling: a cluster's throughput with N GPUs, and the fewest GPUs that reach a
target throughput."""

from __future__ import annotations

import math

from .args import check_count
from .collectives import ring_allreduce_s

MAX_GPUS = 10**6  # the search for an equivalent cluster gives up (math.inf) beyond this


def _physical(result, n: int) -> tuple[float, float, float]:
    """``(samples_per_s, allreduce_s, exposed_s)`` of exactly ``n`` GPUs."""
    if result.mode == "infer" or n == 1:
        return n * result.single_gpu_samples_per_s, 0.0, 0.0
    ar_s = ring_allreduce_s(result.grad_bytes, n, result.gpus_per_node, result.spec)
    exposed_s = ar_s - min(result.overlap * ar_s, result.backward_time_s)
    return n * result.batch_per_gpu / (result.compute_time_s + exposed_s), ar_s, exposed_s


def cluster_samples_per_s(result, n_gpus: int) -> tuple[float, int, float, float]:
    """``(samples_per_s, n_gpus_used, allreduce_s, exposed_allreduce_s)`` with ``n_gpus`` GPUs.

    Throughput of exactly n GPUs rises with n inside one node and, separately, across nodes, but
    can drop where a job first leaves its node (NVLink to InfiniBand). A cluster of n GPUs is
    never run slower than a subset of it, so this takes the best of n, one full node and one GPU,
    which makes throughput non-decreasing in n (idle GPUs still count in per-GPU figures).
    """
    n = check_count("n_gpus", n_gpus)
    candidates = sorted({n, min(n, result.gpus_per_node), 1}, reverse=True)
    best = max(candidates, key=lambda m: _physical(result, m)[0])  # ties: the most GPUs
    thr, ar_s, exposed_s = _physical(result, best)
    return thr, best, ar_s, exposed_s


def fewest_gpus(result, target: float, max_gpus: int = MAX_GPUS) -> float:
    """The fewest GPUs whose cluster reaches ``target`` samples/s: an int, or ``math.inf``
    when even ``max_gpus`` fall short. Searches by doubling, then bisection (throughput is
    non-decreasing in the GPU count; see :func:`cluster_samples_per_s`)."""
    if math.isinf(target):
        return math.inf
    lo, hi = 0, 1  # invariant: throughput(lo) < target (lo = 0: no GPUs)
    while result.throughput(hi) < target:
        if hi >= max_gpus:
            return math.inf
        lo, hi = hi, min(2 * hi, max_gpus)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if result.throughput(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
