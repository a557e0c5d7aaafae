"""The gradient all-reduce as NCCL runs it: ring or double binary tree, LL / LL128 / Simple.

NCCL predicts each (algorithm, protocol) pair's time with an alpha-beta model and runs the
fastest for the message at hand; this module does the same with the same structure (constants
from NCCL's tuning model, ``docs/gpu_baselines.md``):

* **ring**: ``2 (N-1)`` pipelined steps; ``2 (M-1)`` of them cross the network between the
  ``M`` nodes, the rest are NVLink hops. Each GPU moves ``2 (N-1)/N x S`` bytes, so time =
  ``base + (steps - inter) x a_nvlink + inter x a_net + 2 (N-1)/N x S / (bw x f_p)``.
* **tree** (double binary tree across nodes, a chain inside each node): latency
  ``base + 2 ((g-1) x a_nvlink + floor(log2 M) x a_net)``, which grows with log N; each GPU
  moves about ``2 S`` (reduce up, broadcast down, half the data on each of the two trees), at a
  tree bandwidth derating: time = latency + ``2 S / (bw x f_tree x f_p)``.

``bw`` is the bus bandwidth a GPU sees: NVLink per direction inside a node; across nodes the
lesser of that and the node's InfiniBand injection bandwidth (NCCL's channels spread the
crossings of a node boundary over all of the node's NICs). The protocol trades latency for
bandwidth: LL (8-byte stores carrying 4 bytes and a flag) has the lowest latency and a quarter
of the bandwidth, LL128 (120 of every 128 bytes) is in between, Simple has full bandwidth and
the largest per-step latency. So small messages pick LL and the tree, large ones Simple and
the ring.

``topology='flat'`` prices the same algorithms for a topology-unaware library (every rank its
own host on the network: each hop a network hop, one NIC's share of bandwidth per GPU); the
hierarchical (NVLink inside, InfiniBand between nodes) price is never above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GpuError
from ..spec import GpuSpec

ALGORITHMS = ("ring", "tree")
PROTOCOLS = ("LL", "LL128", "Simple")
TOPOLOGIES = ("hierarchical", "flat")

US = 1e-6
# stated: NCCL 2.8 src/graph/tuning.cc (NVIDIA, 2020), docs/gpu_baselines.md; [algorithm][p]
BASE_LATENCY_S = {"ring": (3.6 * US, 10.0 * US, 8.4 * US),
                  "tree": (4.4 * US, 4.4 * US, 0.0)}
NVLINK_HOP_S = {"ring": (0.47 * US, 1.9 * US, 3.4 * US),
                "tree": (0.52 * US, 1.2 * US, 28.0 * US)}
NET_HOP_S = {"ring": (2.7 * US, 4.0 * US, 9.6 * US),
             "tree": (5.0 * US, 8.5 * US, 50.0 * US)}
LL_MULTINODE_NVLINK_FACTOR = 1.8  # stated (same source): LL's NVLink hops slow across nodes
# fraction of the bus bandwidth each protocol delivers, stated (same source): ring LL 1/4,
# LL128 0.92 (120/128 of the line is data); tree: 0.9 for every protocol, times LL 1/3.8,
# LL128 0.915 across nodes (7/9 inside one)
RING_PROTOCOL_FRACTION = (1 / 4, 0.92, 1.0)
TREE_FRACTION = 0.9
TREE_PROTOCOL_FRACTION = (1 / 3.8, 0.915, 1.0)
TREE_LL128_ONE_NODE_FRACTION = 7 / 9


@dataclass(frozen=True)
class AllReduceCost:
    """One all-reduce as the library runs it: the chosen algorithm and protocol and the time
    split into its latency (alpha) and bandwidth (beta) terms, seconds."""

    algorithm: str
    protocol: str
    time_s: float
    latency_s: float
    bandwidth_s: float

    def to_dict(self) -> dict:
        return {"algorithm": self.algorithm, "protocol": self.protocol, "time_s": self.time_s,
                "latency_s": self.latency_s, "bandwidth_s": self.bandwidth_s}


def _layout(n, gpus_per_node: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ranks per node, nodes)`` per cluster size; a job smaller than a node is one node."""
    n = np.asarray(n, dtype=np.int64)
    one = n <= gpus_per_node
    return np.where(one, n, gpus_per_node), np.where(one, 1, -(-n // gpus_per_node))


def bus_bandwidth(n_gpus, gpus_per_node: int, spec: GpuSpec,
                  topology: str = "hierarchical") -> np.ndarray:
    """Bytes/s one GPU's share of an all-reduce moves at (before the protocol's fraction)."""
    nvlink = spec.nvlink_bytes_per_s / 2  # the datasheet counts both directions
    _, nodes = _layout(n_gpus, gpus_per_node)
    across = spec.internode_bytes_per_s_per_node / gpus_per_node if topology == "flat" \
        else min(nvlink, spec.internode_bytes_per_s_per_node)
    return np.where(nodes > 1, across, nvlink)


def allreduce_table(nbytes, n_gpus, gpus_per_node: int, spec: GpuSpec,
                    topology: str = "hierarchical") -> tuple[np.ndarray, np.ndarray]:
    """``(latency_s, bandwidth_s)``, each (sizes, messages, 6): every (algorithm, protocol)
    pair in the order ring LL, ring LL128, ring Simple, tree LL, tree LL128, tree Simple, for
    each cluster size in ``n_gpus`` (an int or array, each >= 2) and message in ``nbytes``."""
    if topology not in TOPOLOGIES:
        raise GpuError(f"topology must be one of {TOPOLOGIES}, got {topology!r}")
    s = np.atleast_1d(np.asarray(nbytes, dtype=np.float64))[None, :]
    n = np.atleast_1d(np.asarray(n_gpus, dtype=np.int64))
    g, nodes = _layout(n, gpus_per_node)
    flat = (topology == "flat") & (nodes > 1)
    bw = bus_bandwidth(n, gpus_per_node, spec, topology)
    log_nodes = np.floor(np.log2(nodes))
    log_ranks = np.floor(np.log2(n))
    lat, beta = [], []
    for algo in ALGORITHMS:
        for p in range(len(PROTOCOLS)):
            a_net = NET_HOP_S[algo][p]
            a_nv = np.where(flat, a_net, NVLINK_HOP_S[algo][p]
                            * (LL_MULTINODE_NVLINK_FACTOR if p == 0 else 1.0))
            a_nv = np.where((nodes == 1) & ~flat, NVLINK_HOP_S[algo][p], a_nv)
            if algo == "ring":
                steps = 2 * (n - 1)
                inter = np.where(flat, steps, 2 * (nodes - 1))
                alpha = BASE_LATENCY_S[algo][p] + (steps - inter) * a_nv + inter * a_net
                per_byte = 2 * (n - 1) / n / (bw * RING_PROTOCOL_FRACTION[p])
            else:
                chain = np.where(flat, 0, g - 1)
                depth = np.where(flat, log_ranks, log_nodes)
                alpha = BASE_LATENCY_S[algo][p] + 2 * (chain * a_nv + depth * a_net)
                frac = np.where((nodes == 1) & (p == 1), TREE_LL128_ONE_NODE_FRACTION,
                                TREE_PROTOCOL_FRACTION[p])
                per_byte = 2 / (bw * TREE_FRACTION * frac)
            lat.append(np.broadcast_to(alpha[:, None], (n.size, s.shape[1])))
            beta.append(s * per_byte[:, None])
    return np.stack(lat, axis=2), np.stack(beta, axis=2)


def allreduce_times(nbytes, n_gpus, gpus_per_node: int, spec: GpuSpec,
                    topology: str = "hierarchical") -> tuple[np.ndarray, np.ndarray]:
    """``(time_s, choice)``, each (sizes, messages): the fastest pair's time and its index in
    the :func:`allreduce_table` order (0.0 and -1 for one GPU or an empty message)."""
    s = np.atleast_1d(np.asarray(nbytes, dtype=np.float64))
    n = np.atleast_1d(np.asarray(n_gpus, dtype=np.int64))
    lat, beta = allreduce_table(s, np.maximum(n, 2), gpus_per_node, spec, topology)
    total = lat + beta
    choice = np.argmin(total, axis=2)
    time = np.take_along_axis(total, choice[..., None], axis=2)[..., 0]
    none = (n[:, None] <= 1) | (s[None, :] <= 0)
    return np.where(none, 0.0, time), np.where(none, -1, choice)


def allreduce(nbytes: float, n_gpus: int, gpus_per_node: int, spec: GpuSpec,
              topology: str = "hierarchical", algorithm: str | None = None) -> AllReduceCost:
    """The all-reduce of one ``nbytes`` message over ``n_gpus`` as the library would run it
    (``algorithm`` forces 'ring' or 'tree'; the protocol is still the fastest for it)."""
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise GpuError(f"algorithm must be one of {ALGORITHMS} or None, got {algorithm!r}")
    if n_gpus <= 1 or nbytes <= 0:
        return AllReduceCost("none", "none", 0.0, 0.0, 0.0)
    lat, beta = allreduce_table(nbytes, n_gpus, gpus_per_node, spec, topology)
    lat, beta = lat[0, 0], beta[0, 0]
    total = lat + beta
    allowed = [i for i in range(total.size)
               if algorithm is None or ALGORITHMS[i // len(PROTOCOLS)] == algorithm]
    i = min(allowed, key=lambda j: total[j])
    return AllReduceCost(ALGORITHMS[i // len(PROTOCOLS)], PROTOCOLS[i % len(PROTOCOLS)],
                         float(total[i]), float(lat[i]), float(beta[i]))


def ring_allreduce_s(grad_bytes: float, n_gpus: int, gpus_per_node: int,
                     spec: GpuSpec) -> float:
    """Seconds of a ring all-reduce of ``grad_bytes`` (its fastest protocol)."""
    return allreduce(grad_bytes, n_gpus, gpus_per_node, spec, algorithm="ring").time_s


def tree_allreduce_s(grad_bytes: float, n_gpus: int, gpus_per_node: int,
                     spec: GpuSpec) -> float:
    """Seconds of a double-binary-tree all-reduce of ``grad_bytes`` (its fastest protocol)."""
    return allreduce(grad_bytes, n_gpus, gpus_per_node, spec, algorithm="tree").time_s


def choice_name(index: int) -> tuple[str, str]:
    """``(algorithm, protocol)`` of an index of :func:`allreduce_table`'s order."""
    if index < 0:
        return "none", "none"
    return ALGORITHMS[index // len(PROTOCOLS)], PROTOCOLS[index % len(PROTOCOLS)]
