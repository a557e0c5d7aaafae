"""Data-parallel scaling: gradient buckets all-reduced during the backward pass, a cluster's
throughput with N GPUs, and the fewest GPUs that reach a target throughput.

Buckets (as PyTorch DDP builds them): gradients in the order backward produces them, grouped
into buckets of ``bucket_bytes`` (the first one smaller); a bucket's all-reduce starts when its
last gradient is ready and the previous bucket's all-reduce is done (one communication
stream). The exposed all-reduce is what runs past the end of the backward pass::

    end_i   = max(ready_i, end_{i-1}) + allreduce(bucket_i)
    exposed = max(0, end_last - backward_time)

Cluster sizes: data parallelism runs on any GPU count (a job of 12 GPUs of 8-GPU nodes is one
full node and one node of 4); the sizes tried are :func:`cluster_sizes` (inference needs no
all-reduce and uses all n). A cluster of n GPUs runs on whichever tried size <= n is fastest
(idle GPUs still count in per-GPU figures), so throughput never falls as n grows, whatever the
all-reduce does when a job first leaves its node or its tree gains a level. With gradient
accumulation the exposed all-reduce is paid once per optimizer step.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .args import check_count
from .collectives import allreduce_times, choice_name

MAX_GPUS = 10**6  # the search for an equivalent cluster gives up (math.inf) beyond this
DDP_BUCKET_BYTES = 25 * 2**20  # stated: PyTorch DDP bucket_cap_mb default (25 MiB)
DDP_FIRST_BUCKET_BYTES = 2**20  # stated: PyTorch DDP's first bucket (1 MiB) fills sooner
EXACT_NODES = 64  # GPU counts tried one by one up to this many nodes' worth, assumed
NODE_STEP = 1.02  # beyond it, GPU counts grow by at most 2% per step, assumed


def buckets(grad_ready: list[tuple[float, float]], bucket_bytes: float,
            ) -> tuple[tuple[float, float], ...]:
    """``((ready_s, bytes), ...)`` of the gradient buckets, from ``(ready_s, bytes)`` of each
    op's gradients in backward order (ready_s from the start of the backward pass)."""
    out, size, cap = [], 0.0, min(DDP_FIRST_BUCKET_BYTES, bucket_bytes)
    ready = 0.0
    for t, nbytes in grad_ready:
        if nbytes <= 0:
            continue
        size += nbytes
        ready = t
        if size >= cap:
            out.append((ready, size))
            size, cap = 0.0, bucket_bytes
    if size > 0:
        out.append((ready, size))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def cluster_sizes(gpus_per_node: int, max_gpus: int = MAX_GPUS) -> np.ndarray:
    """GPU counts a job is run on, ascending: every count up to :data:`EXACT_NODES` nodes'
    worth (data parallelism runs on any count; a partial node is a node with fewer ranks),
    then at most :data:`NODE_STEP` apart, up to ``max_gpus``."""
    exact = min(EXACT_NODES * gpus_per_node, max_gpus)
    sizes = list(range(1, exact + 1))
    n = exact
    while n < max_gpus:
        n = min(max_gpus, max(n + 1, int(n * NODE_STEP)))
        sizes.append(n)
    out = np.array(sizes, dtype=np.int64)
    out.setflags(write=False)
    return out


def physical(result, sizes) -> dict[str, np.ndarray]:
    """Exactly ``sizes`` GPUs (array): samples/s, all-reduce seconds (all buckets), exposed
    seconds and the (algorithm, protocol) index of the largest bucket."""
    n = np.atleast_1d(np.asarray(sizes, dtype=np.int64))
    single = result.single_gpu_samples_per_s
    if _no_allreduce(result):
        z = np.zeros(n.shape)
        return {"samples_per_s": n * single, "allreduce_s": z, "exposed_s": z,
                "choice": np.full(n.shape, -1)}
    ready = np.array([b[0] for b in result.buckets])
    nbytes = np.array([b[1] for b in result.buckets])
    t, choice = allreduce_times(nbytes, n, result.gpus_per_node, result.spec)  # (S, B)
    total = t.sum(axis=1)
    if result.overlap:  # end of the last all-reduce = max_i (ready_i + all-reduces from i on)
        suffix = np.cumsum(t[:, ::-1], axis=1)[:, ::-1]
        end = np.max(ready[None, :] + suffix, axis=1)
        exposed = np.maximum(0.0, end - result.backward_time_s)
    else:
        exposed = total
    exposed = exposed / getattr(result, "grad_accumulation", 1)  # once per optimizer step
    thr = n * result.batch_per_gpu / (result.compute_time_s + exposed)
    thr = np.where(n == 1, single, thr)
    big = int(np.argmax(nbytes))
    return {"samples_per_s": thr, "allreduce_s": np.where(n == 1, 0.0, total),
            "exposed_s": np.where(n == 1, 0.0, exposed), "choice": choice[:, big]}


def _no_allreduce(result) -> bool:
    return result.mode == "infer" or not result.buckets


def _curve(result, max_gpus: int) -> tuple[np.ndarray, dict, np.ndarray]:
    """Cluster sizes, their physical figures, and the index of the best size <= each."""
    key = (max_gpus,)
    cache = result._curve_cache
    if key not in cache:
        sizes = cluster_sizes(result.gpus_per_node, max_gpus)
        phys = physical(result, sizes)
        thr = phys["samples_per_s"]
        run = np.maximum.accumulate(thr)
        idx = np.arange(len(sizes))
        best = np.maximum.accumulate(np.where(thr >= run, idx, 0))  # ties: the most GPUs
        cache[key] = (sizes, phys, best)
    return cache[key]


def cluster_samples_per_s(result, n_gpus: int) -> tuple[float, int, float, float]:
    """``(samples_per_s, n_gpus_used, allreduce_s, exposed_allreduce_s)`` with ``n_gpus``.

    The job runs on the fastest of the sizes in :func:`cluster_sizes` that are <= ``n_gpus``,
    which makes throughput non-decreasing in ``n_gpus``.
    """
    n = check_count("n_gpus", n_gpus)
    if _no_allreduce(result):  # inference: every GPU works alone
        return n * result.single_gpu_samples_per_s, n, 0.0, 0.0
    sizes, phys, best = _curve(result, max(MAX_GPUS, n))
    i = int(best[np.searchsorted(sizes, n, side="right") - 1])
    return (float(phys["samples_per_s"][i]), int(sizes[i]), float(phys["allreduce_s"][i]),
            float(phys["exposed_s"][i]))


def allreduce_choice(result, n_gpus_used: int) -> tuple[str, str]:
    """``(algorithm, protocol)`` the largest gradient bucket uses on ``n_gpus_used`` GPUs."""
    if _no_allreduce(result) or n_gpus_used <= 1:
        return "none", "none"
    return choice_name(int(physical(result, [n_gpus_used])["choice"][0]))


def fewest_gpus(result, target: float, max_gpus: int = MAX_GPUS) -> float:
    """The fewest GPUs whose cluster reaches ``target`` samples/s: an int (one of
    :func:`cluster_sizes`), or ``math.inf`` when even ``max_gpus`` fall short."""
    if math.isinf(target):
        return math.inf
    if _no_allreduce(result):
        n = max(1, math.ceil(target / result.single_gpu_samples_per_s))
        while n > 1 and (n - 1) * result.single_gpu_samples_per_s >= target:
            n -= 1  # float rounding of the division
        return n if n <= max_gpus else math.inf
    sizes, phys, _ = _curve(result, max(max_gpus, 1))
    ok = np.flatnonzero((phys["samples_per_s"] >= target) & (sizes <= max_gpus))
    return int(sizes[ok[0]]) if ok.size else math.inf
