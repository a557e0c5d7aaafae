"""What the GPU baseline returns: :class:`GpuResult` and its per-op :class:`OpTime` rows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..jsonable import jsonable
from ..spec import GpuSpec
from ..validate import check_gpu_count, check_op_count, check_target_rate
from .args import check_count
from .scaling import MAX_GPUS, allreduce_choice, cluster_samples_per_s, fewest_gpus


@dataclass(frozen=True)
class OpTime:
    """One kernel group of one op in one phase, per optimizer step (a whole batch).

    ``phase`` is 'fwd', 'bwd_input', 'bwd_weight' or 'optimizer'; ``bound`` is 'compute',
    'memory' or 'launch' (whichever term is largest).
    """

    op: str
    kind: str
    phase: str
    flops: float
    bytes: float
    time_s: float
    bound: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GpuResult:
    """What :func:`gpu_baseline` predicts for a cluster of ``n_gpus`` data-parallel GPUs (any
    count: a partial last node is a node with fewer ranks).

    Times are per optimizer step (``batch_per_gpu`` samples on each GPU). ``compute_time_s`` is
    one GPU's step alone; ``step_time_s`` adds the exposed all-reduce (the part of the bucketed
    gradient all-reduce that runs past the backward pass; all of it when ``overlap`` is False).
    ``n_gpus_used`` is the cluster size the job runs on: ``n_gpus`` or, where that is slower,
    fewer (see :func:`cluster_samples_per_s`); ``global_batch`` = ``n_gpus_used`` x
    ``batch_per_gpu``. ``allreduce_algorithm`` / ``allreduce_protocol`` are the library's
    choice ('ring' or 'tree'; 'LL', 'LL128' or 'Simple') for the largest bucket ('none' on one
    GPU or at inference). ``buckets`` holds ``(ready_s, bytes)`` per gradient bucket.
    ``fusions`` names the tuned stack's fusions that changed something (see
    :mod:`wse_sim.baselines.fusion`); ``grad_accumulation`` micro-batches share one optimizer
    update and one gradient all-reduce; :attr:`n_nodes` is the nodes ``n_gpus_used`` occupy.
    ``to_dict()`` is strict JSON: a non-finite float is written as null (the one rule,
    :func:`wse_sim.jsonable.jsonable`).
    """

    gpu: str
    model: str
    mode: str
    precision: str
    attention: str
    batch_per_gpu: int
    n_gpus: int
    gpus_per_node: int
    n_gpus_used: int
    global_batch: int
    ops: tuple[OpTime, ...] = field(repr=False)
    forward_time_s: float
    backward_time_s: float
    optimizer_time_s: float
    compute_time_s: float
    allreduce_s: float
    exposed_allreduce_s: float
    allreduce_algorithm: str
    allreduce_protocol: str
    step_time_s: float
    samples_per_s: float
    samples_per_s_per_gpu: float
    scaling_efficiency: float
    memory_bytes_per_gpu: float
    memory_capacity_bytes: float
    grad_bytes: float
    overlap: bool
    bucket_bytes: float
    buckets: tuple[tuple[float, float], ...] = field(repr=False)
    spec: GpuSpec = field(repr=False)
    fusions: tuple[str, ...] = ()
    grad_accumulation: int = 1
    _curve_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Nodes the job's ``n_gpus_used`` GPUs occupy (``gpus_per_node`` to a node)."""
        return -(-self.n_gpus_used // self.gpus_per_node)

    @property
    def single_gpu_samples_per_s(self) -> float:
        """Samples/s of one GPU alone (no all-reduce)."""
        return self.batch_per_gpu / self.compute_time_s

    def throughput(self, n_gpus: int) -> float:
        """Cluster samples/s with ``n_gpus`` GPUs, everything else as in this result."""
        return cluster_samples_per_s(self, n_gpus)[0]

    def with_n_gpus(self, n_gpus: int, gpus_per_node: int | None = None) -> GpuResult:
        """This result re-scaled to ``n_gpus`` (the per-op table is per GPU and unchanged)."""
        n = check_count("n_gpus", n_gpus)
        per_node = self.gpus_per_node if gpus_per_node is None else \
            check_count("gpus_per_node", gpus_per_node)
        base = dataclasses.replace(self, n_gpus=n, gpus_per_node=per_node)
        thr, used, ar_s, exposed_s = cluster_samples_per_s(base, n)
        algo, proto = allreduce_choice(base, used)
        return dataclasses.replace(
            base, n_gpus_used=used, global_batch=used * self.batch_per_gpu, allreduce_s=ar_s,
            exposed_allreduce_s=exposed_s, allreduce_algorithm=algo, allreduce_protocol=proto,
            step_time_s=self.compute_time_s + exposed_s / self.grad_accumulation,
            samples_per_s=thr,
            samples_per_s_per_gpu=thr / n,
            scaling_efficiency=thr / (n * self.single_gpu_samples_per_s))

    def equivalent_gpus(self, target_samples_per_s: float, max_gpus: int = MAX_GPUS) -> float:
        """Fewest GPUs of this kind whose cluster reaches ``target_samples_per_s`` (an int, or
        ``math.inf`` when even ``max_gpus``, the largest cluster searched, falls short)."""
        return fewest_gpus(self, check_target_rate("target_samples_per_s", target_samples_per_s),
                           check_gpu_count("max_gpus", max_gpus, MAX_GPUS))

    def top_ops(self, k: int = 10) -> list[OpTime]:
        """The ``k`` slowest rows of the per-op table."""
        k = check_op_count("top_ops: k", k)
        return sorted(self.ops, key=lambda r: -r.time_s)[:k]

    def to_dict(self, ops: bool = True) -> dict:
        """JSON-ready fields (``ops=False`` leaves out the per-op table)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in ("ops", "spec", "buckets", "_curve_cache")}
        d["spec"] = self.spec.to_dict()
        d["single_gpu_samples_per_s"] = self.single_gpu_samples_per_s
        d["n_nodes"] = self.n_nodes
        d["fusions"] = list(self.fusions)
        d["buckets"] = [{"ready_s": r, "bytes": b} for r, b in self.buckets]
        if ops:
            d["ops"] = [r.to_dict() for r in self.ops]
        return jsonable(d)
