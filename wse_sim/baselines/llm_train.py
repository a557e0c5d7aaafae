"""LLM training on GPU clusters: tensor, pipeline and data parallelism, ZeRO, recomputation.

A decoder (GPT / LLaMA family: ops ``layer{i}.*`` between the embedding and the head) trains
on ``n_gpus`` GPUs laid out as ``tp x pp x dp`` (tensor parallel innermost, inside a node over
NVLink; data parallel next; pipeline stages outermost), left-over GPUs idle:

* **Per micro-batch work** comes from the per-op roofline (:mod:`.roofline`, the fused stack,
  flash attention where the GPU has it) at ``micro_batch`` sequences, on one tensor rank's
  shard (Megatron, :func:`.llm_shard.sharded_ops`): a product fed a whole tensor splits its output
  features (column parallel), one fed a split tensor its input features (row parallel),
  attention its heads, so the GEMM model sees the shard's real shapes (tile and wave
  quantization included); the ops between them work on split tensors; the embedding, norms
  and residual adds run whole on every tensor rank (no sequence parallelism). Each layer
  all-reduces its ``micro_batch x seq x d_model`` activations twice forward and twice backward
  inside the tensor group (the NCCL-like model, :func:`.collectives.allreduce`).
* **Pipeline** (1F1B): ``ceil(n_layers / pp)`` layers per stage, the embedding on the first and
  the head on the last; the slowest stage sets the pace and a step of ``m`` micro-batches takes
  ``(m + pp - 1)`` of its forward + backward slots (the bubble is ``(pp - 1)`` slots).
  Activations cross a stage boundary point to point, forward and backward.
* **Data parallelism and ZeRO** (Rajbhandari et al., 2020): stage 0 all-reduces the bf16
  gradients once per step, overlapped with the last backward; stage 1 shards the optimizer
  state, stage 2 also the gradients (reduce-scatter, then all-gather of the updated weights:
  the same bytes as one all-reduce); stage 3 also the weights, gathered before each
  micro-batch's forward and backward and reduce-scattered after it (1.5 all-reduces of the
  weights per micro-batch, overlapped with that micro-batch's compute). The data-parallel
  group spans nodes; it owns the NICs of its own GPUs (one per GPU, as in a DGX), the node's
  other GPUs driving theirs for the other tensor ranks' groups.
* **Recomputation** (full, per layer): only each layer's input is kept; the backward runs the
  forward again.
* **Memory** per GPU: weights, gradients and optimizer state per ZeRO stage (bf16 weights and
  gradients, fp32 master copy and two Adam moments: 16 bytes per parameter unsharded) plus the
  activations of the micro-batches in flight on the first stage (``min(pp, m)`` under 1F1B)
  plus :data:`.roofline.MEMORY_RESERVE_BYTES`.

``parallel="auto"`` tries every layout (tp a power of two within a node dividing the heads,
pp dividing the layers, every ZeRO stage, recompute on and off, micro-batches of 1 to 8) and
keeps the fastest that fits; a dict asks for one. The global batch is fixed in sequences
(:data:`GLOBAL_BATCH_TOKENS` / seq by default), so more data parallelism means fewer
micro-batches per GPU and a larger bubble.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from ..errors import GpuError
from ..graph import Graph
from ..spec import GpuSpec
from ..spec import gpu as gpu_spec
from .args import check_count
from .collectives import allreduce
from .fusion import check_fused
from .llm_shard import Parts, activation_bytes, decoder_sizes, layer_parts, model_flops_per_sample
from .roofline import (
    HBM_EFFICIENCY,
    MEMORY_RESERVE_BYTES,
    OPTIMIZER_BYTES_PER_PARAM,
    applied_fusions,
)

GLOBAL_BATCH_TOKENS = 4 * 2**20  # stated: Llama 2 trains at a 4M-token global batch (Touvron
# et al., "Llama 2", 2023, Table 1 / section 2.2); the default global batch of a layout search
EXACT_DP = 64  # data-parallel sizes tried one by one up to this, then 2% apart, assumed
MICRO_BATCHES = (1, 2, 4, 8)  # micro-batch sizes (sequences) tried, assumed
ZERO_STAGES = (0, 1, 2, 3)
TP_SIZES = (1, 2, 4, 8)  # tensor parallel sizes tried (powers of two, within one node)
WEIGHT_BYTES = 2  # bf16 weights and gradients per parameter (mixed precision), stated
OPTIMIZER_STATE_BYTES = 12  # fp32 master weights + Adam m and v per parameter, stated
ZERO3_COMM_PER_MICROBATCH = 1.5  # all-gather fwd + all-gather bwd + reduce-scatter = 1.5
# all-reduces of the weights per micro-batch, stated (ZeRO paper, section 7.2.2: 3 x Psi vs 2)
PP_HOP_S = 10e-6  # latency of one pipeline send, assumed: NCCL's ring Simple network hop, 9.6 us


@dataclass(frozen=True)
class GpuTrainResult:
    """LLM training on a GPU cluster (:func:`gpu_train_llm`). Times per optimizer step."""

    gpu: str
    model: str
    mode: str
    precision: str
    n_gpus: int
    n_gpus_used: int
    gpus_per_node: int
    parallel: dict
    micro_batch: int
    micro_batches: int
    global_batch: int
    seq_len: int
    step_time_s: float
    compute_s: float
    bubble_s: float
    tp_comm_s: float
    pp_comm_s: float
    dp_comm_exposed_s: float
    optimizer_s: float
    samples_per_s: float
    samples_per_s_per_gpu: float
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    mfu: float
    model_flops_per_step: float
    memory_bytes_per_gpu: float
    memory_capacity_bytes: float
    fusions: tuple[str, ...] = ()
    layouts_tried: int = 1
    spec: GpuSpec = field(repr=False, default=None)

    @property
    def n_nodes(self) -> int:
        """Nodes the used GPUs occupy."""
        return -(-self.n_gpus_used // self.gpus_per_node)

    def to_dict(self) -> dict:
        from ..jsonable import jsonable
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "spec"}
        d["n_nodes"] = self.n_nodes
        return jsonable(d)


# ---- the graph, summarised once per (graph, GPU, micro-batch, tp) -----------------------------
@functools.lru_cache(maxsize=4096)
def _allreduce_s(nbytes: float, n: int, per_node: int, spec: GpuSpec) -> float:
    return allreduce(nbytes, n, per_node, spec).time_s if n > 1 else 0.0


@functools.lru_cache(maxsize=8192)
def _dp_allreduce_s(nbytes: float, dp: int, dp_local: int, nic_share: float,
                    spec: GpuSpec) -> float:
    """The data-parallel group's all-reduce: ``dp_local`` of its ranks per node, the group
    owning ``nic_share`` of each node's InfiniBand bandwidth (one NIC per GPU, as in a DGX:
    the node's other GPUs, of the other tensor ranks' groups, drive the other NICs)."""
    if dp <= 1:
        return 0.0
    share = spec if nic_share >= 1.0 else spec.replace(
        internode_bytes_per_s_per_node=spec.internode_bytes_per_s_per_node * nic_share)
    return allreduce(nbytes, dp, dp_local, share).time_s


def _layout_time(graph, spec, sizes, parts: Parts, act, per_node, n, tp, pp, zero, recompute,
                 mb, global_batch):
    """``(step seconds, parts dict, memory bytes per GPU)`` of one layout."""
    dp = n // (tp * pp)
    m = max(1, math.ceil(global_batch / (dp * mb)))
    L = sizes["n_layers"]
    lp = math.ceil(L / pp)
    d, seq = sizes["d_model"], sizes["seq"]

    def stage(extra):  # (fwd, bwd) seconds of a stage of lp layers plus ``extra``
        x = lp * parts.layer + extra
        return x[0], x[1]

    stages = [stage(parts.pre + (parts.post if pp == 1 else 0))]
    if pp > 1:
        stages.append(stage(parts.post))
    fwd, bwd = max(stages, key=lambda s: s[0] + s[1])
    if recompute:
        bwd += fwd
    msg = mb * seq * d * WEIGHT_BYTES
    tp_one = _allreduce_s(msg, tp, per_node, spec)
    tp_comm = lp * (2 + 2 + (2 if recompute else 0)) * tp_one
    if pp > 1:  # one activation (forward) and one gradient (backward) message per boundary
        bw = spec.nvlink_bytes_per_s / 2 if tp * pp <= per_node \
            else spec.internode_bytes_per_s_per_node / per_node
        pp_comm = 2 * (msg / tp / bw + PP_HOP_S)
    else:
        pp_comm = 0.0
    stage_params = (lp * sizes["layer_params"]
                    + max(sizes["params"] - L * sizes["layer_params"], 0)
                    / (2 if pp > 1 else 1))  # the embedding or the head, not both
    p_gpu = stage_params / tp
    grad_bytes = p_gpu * WEIGHT_BYTES
    dp_local = max(1, min(dp, per_node // tp))
    ar = _dp_allreduce_s(grad_bytes, dp, dp_local, min(1.0, dp_local / per_node), spec)
    slot = fwd + bwd + tp_comm + pp_comm
    if zero == 3:  # gathers and reduce-scatters every micro-batch, overlapped with it
        z3 = ZERO3_COMM_PER_MICROBATCH * ar
        slot += max(0.0, z3 - (fwd + bwd))
        dp_exposed = 0.0
    else:
        dp_exposed = max(0.0, ar - bwd)
    pipe = (m + pp - 1) * slot
    shard = dp if zero >= 1 else 1
    opt = (p_gpu / shard * OPTIMIZER_BYTES_PER_PARAM) / (spec.hbm_bytes_per_s * HBM_EFFICIENCY) \
        + spec.kernel_launch_s
    step = pipe + dp_exposed + opt
    # memory
    w, g, o = WEIGHT_BYTES, WEIGHT_BYTES, OPTIMIZER_STATE_BYTES
    states = {0: (w + g + o), 1: (w + g + o / dp), 2: (w + (g + o) / dp),
              3: (w + g + o) / dp}[zero] * p_gpu
    if zero == 3:  # two layers' weights gathered at a time (one in use, one prefetched)
        states += 2 * sizes["layer_params"] / tp * w
    def held(part):  # bytes of one micro-batch of ``part`` on one tensor rank
        return mb * (act[part][0] / tp + act[part][1])

    keep = mb * seq * d * WEIGHT_BYTES if recompute else held("layer")  # per layer
    # 1F1B: the first stage holds min(pp, m) micro-batches in flight, the last one; the
    # recomputed layer's full activations come on top of the kept inputs
    first = min(pp, m) * (lp * keep + held("pre") + (held("post") if pp == 1 else 0))
    last = lp * keep + held("post") if pp > 1 else 0.0
    acts = max(first, last) + (held("layer") if recompute else 0.0)
    need = states + acts + MEMORY_RESERVE_BYTES
    info = {"compute_s": m * (fwd + bwd), "bubble_s": (pp - 1) * slot,
            "tp_comm_s": m * tp_comm, "pp_comm_s": m * pp_comm,
            "dp_comm_exposed_s": dp_exposed + (m * max(0.0, ZERO3_COMM_PER_MICROBATCH * ar
                                                       - (fwd + bwd)) if zero == 3 else 0.0),
            "optimizer_s": opt, "dp": dp, "m": m}
    return step, info, need


def _check_layout(parallel: dict, n: int, sizes: dict, per_node: int) -> tuple:
    known = {"dp", "tp", "pp", "zero", "recompute", "micro_batch"}
    bad = sorted(set(parallel) - known)
    if bad:
        raise GpuError(f"parallel has unknown key(s) {bad}; use {sorted(known)}")
    tp = check_count("parallel['tp']", parallel.get("tp", 1))
    pp = check_count("parallel['pp']", parallel.get("pp", 1))
    dp = check_count("parallel['dp']", parallel.get("dp", max(1, n // (tp * pp))))
    zero = parallel.get("zero", 0)
    if zero not in ZERO_STAGES:
        raise GpuError(f"parallel['zero'] must be one of {ZERO_STAGES}, got {zero!r}")
    rec = parallel.get("recompute", False)
    if not isinstance(rec, bool):
        raise GpuError(f"parallel['recompute'] must be True or False, got {rec!r}")
    mb = check_count("parallel['micro_batch']", parallel.get("micro_batch", 1))
    if tp * pp * dp > n:
        raise GpuError(f"layout dp={dp} x tp={tp} x pp={pp} = {dp * tp * pp} GPUs exceeds "
                       f"n_gpus={n}")
    if tp > per_node or sizes["heads"] % tp:
        raise GpuError(f"parallel['tp']={tp} must divide the {sizes['heads']} heads and stay "
                       f"within a node of {per_node} GPUs")
    if pp > sizes["n_layers"]:
        raise GpuError(f"parallel['pp']={pp} exceeds the {sizes['n_layers']} layers")
    return dp, tp, pp, zero, rec, mb


def gpu_train_llm(graph: Graph, gpu: str | GpuSpec = "h100", n_gpus: int = 8,
                  parallel: str | dict = "auto", gpus_per_node: int | None = None,
                  fused=True, global_batch: int | None = None) -> GpuTrainResult:
    """Train the decoder ``graph`` (mixed precision, Adam) on ``n_gpus`` GPUs.

    ``parallel``: 'auto' (the fastest layout that fits) or a dict with ``tp``, ``pp``, ``dp``
    (default: what the GPUs allow), ``zero`` (0-3), ``recompute`` and ``micro_batch``.
    ``global_batch``: sequences per optimizer step (default 4M tokens' worth). Raises
    :class:`GpuError` when the layout (or, for 'auto', every layout) does not fit, with the
    bytes it needs.
    """
    if not isinstance(graph, Graph):
        raise GpuError(f"graph must be a wse_sim Graph, got {type(graph).__name__}")
    spec = gpu_spec(gpu)
    n = check_count("n_gpus", n_gpus)
    per_node = spec.gpus_per_node if gpus_per_node is None else \
        check_count("gpus_per_node", gpus_per_node)
    fusions = check_fused(fused)
    sizes = decoder_sizes(graph)
    seq = sizes["seq"]
    gb = max(1, GLOBAL_BATCH_TOKENS // seq) if global_batch is None else \
        check_count("global_batch", global_batch)
    attention = "fused" if ("flash_attention" in fusions and spec.flash_attention) \
        else "unfused"
    act = activation_bytes(graph, attention)
    if parallel == "auto":
        # ZeRO-0 only without data parallelism (with it, ZeRO-1 moves the same bytes, updates
        # fewer weights and holds less, so it is never worse); recomputation only where the
        # layout does not fit without it (it is never faster)
        cands = [(dp_tp_pp, (0,) if dp_tp_pp[0] == 1 else (1, 2, 3), (False, True), mb)
                 for dp_tp_pp in _grids(n, sizes, per_node) for mb in MICRO_BATCHES
                 if mb * dp_tp_pp[0] <= gb or mb == 1]
    elif isinstance(parallel, dict):
        dp, tp, pp, z, r, mb = _check_layout(parallel, n, sizes, per_node)
        cands = [((dp, tp, pp), (z,), (r,), mb)]
    else:
        raise GpuError(f"parallel must be 'ddp', 'auto' or a dict, got {parallel!r}")
    best, least, tried = None, None, 0
    for (dp, tp, pp), zeros, recomputes, mb in cands:
        parts = layer_parts(graph, spec, mb, tp, attention, fusions)
        for z in zeros:
            for r in recomputes:
                tried += 1
                step, info, need = _layout_time(graph, spec, sizes, parts, act, per_node,
                                                dp * tp * pp, tp, pp, z, r, mb, gb)
                if need > spec.memory_bytes:
                    if least is None or need < least[0]:
                        least = (need, dp, tp, pp, z, r, mb)
                    continue
                thr = info["m"] * mb * dp / step
                if best is None or thr > best[0] * (1 + 1e-9):
                    best = (thr, step, info, need, dp, tp, pp, z, r, mb)
                break  # it fits without recomputing: recomputing is only slower
    if best is None:
        need, dp, tp, pp, z, r, mb = least
        what = "no layout fits" if parallel == "auto" else "the layout does not fit"
        raise GpuError(
            f"{graph.name!r}: {what} on {n} x {spec.name} ({spec.memory_bytes:,.0f} bytes "
            f"each); {'the smallest' if parallel == 'auto' else 'it'} needs {need:,.0f} bytes "
            f"per GPU (dp={dp}, tp={tp}, pp={pp}, zero={z}, recompute={r}, micro_batch={mb}); "
            "use more GPUs, ZeRO-3, recomputation or tensor/pipeline parallelism")
    thr, step, info, need, dp, tp, pp, z, r, mb = best
    thr, step, need = float(thr), float(step), float(need)
    info = {k: (float(v) if k not in ("dp", "m") else int(v)) for k, v in info.items()}
    used = dp * tp * pp
    flops = model_flops_per_sample(graph) * info["m"] * mb * dp
    mfu = flops / (step * used * spec.fp16_tensor_flops)
    return GpuTrainResult(
        gpu=spec.name, model=graph.name, mode="train", precision="mixed", n_gpus=n,
        n_gpus_used=used, gpus_per_node=per_node,
        parallel={"dp": dp, "tp": tp, "pp": pp, "zero": z, "recompute": r, "micro_batch": mb},
        micro_batch=mb, micro_batches=info["m"], global_batch=info["m"] * mb * dp,
        seq_len=seq, step_time_s=step, compute_s=info["compute_s"], bubble_s=info["bubble_s"],
        tp_comm_s=info["tp_comm_s"], pp_comm_s=info["pp_comm_s"],
        dp_comm_exposed_s=info["dp_comm_exposed_s"], optimizer_s=info["optimizer_s"],
        samples_per_s=thr, samples_per_s_per_gpu=thr / n, tokens_per_s=thr * seq,
        tokens_per_s_per_gpu=thr * seq / n, mfu=float(mfu), model_flops_per_step=float(flops),
        memory_bytes_per_gpu=need, memory_capacity_bytes=spec.memory_bytes,
        fusions=applied_fusions(graph, attention, fusions, True), layouts_tried=tried,
        spec=spec)


def _grids(n: int, sizes: dict, per_node: int) -> list[tuple[int, int, int]]:
    """Every ``(dp, tp, pp)`` with ``dp tp pp <= n`` that uses as many GPUs as the (tp, pp)
    allow (dp = n // (tp pp))."""
    out = []
    for tp in TP_SIZES:
        if tp > per_node or tp > n or sizes["heads"] % tp:
            continue
        for pp in range(1, min(sizes["n_layers"], n // tp) + 1):
            if sizes["n_layers"] % pp:
                continue
            top = n // (tp * pp)
            out += [(dp, tp, pp) for dp in _dp_sizes(top)]
    return out


def _dp_sizes(top: int) -> list[int]:
    """Data-parallel sizes tried up to ``top``: every one up to :data:`EXACT_DP`, then a fixed
    ladder at most 2% apart (fewer data-parallel ranks can be faster at a fixed global batch:
    more micro-batches, a smaller bubble). The ladder does not depend on ``top``, so the sizes
    tried for more GPUs include those tried for fewer: 'auto' never gets slower as GPUs are
    added (up to 2% of them may idle between rungs)."""
    out = list(range(1, min(top, EXACT_DP) + 1))
    d = EXACT_DP
    while True:
        d = max(d + 1, int(d * 1.02))
        if d > top:
            return out
        out.append(d)
