"""Collectives between GPUs: the gradient all-reduce of data-parallel training."""

from __future__ import annotations

from ..spec import GpuSpec

RING_STEP_LATENCY_S = 5e-6  # alpha: latency of one of the 2(N-1) ring steps, assumed


def ring_allreduce_s(grad_bytes: float, n_gpus: int, gpus_per_node: int, spec: GpuSpec,
                     step_latency_s: float = RING_STEP_LATENCY_S) -> float:
    """Seconds for a ring all-reduce of ``grad_bytes`` over ``n_gpus``.

    ``2 (N-1)/N x grad_bytes / bw + 2 (N-1) x alpha``. Inside one node bw is NVLink per direction
    (the datasheet figure counts both directions, so half of it). Across nodes each GPU's share of
    the inter-node traffic is its 1/``gpus_per_node`` slice of the ring's, over its 1/
    ``gpus_per_node`` share of the node's InfiniBand injection bandwidth, so bw is bounded by the
    node's injection bandwidth (as NCCL's multi-channel rings reach).
    """
    if n_gpus <= 1:
        return 0.0
    bw = spec.nvlink_bytes_per_s / 2
    if n_gpus > gpus_per_node:  # (1/g of the bytes) / (1/g of the node's links)
        bw = min(bw, spec.internode_bytes_per_s_per_node)
    steps = 2 * (n_gpus - 1)
    return steps / n_gpus * grad_bytes / bw + steps * step_latency_s
