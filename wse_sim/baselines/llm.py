"""LLM inference on GPUs: decode memory-bound, prefill compute-bound, 1-8 GPUs tensor-parallel.

Tensor parallelism (Megatron-style) splits every layer's heads and MLP columns over ``N`` GPUs
of one node; each layer then all-reduces its hidden state twice (after the attention output and
after the MLP), over NVLink, priced by the NCCL-like collectives model
(:func:`.collectives.allreduce`: ring or tree, LL / LL128 / Simple, whichever is fastest for
the message).

* **Decode step** (``B`` requests, KV length ``L``): a memory-bound GEMV pass. Every GPU reads
  its ``1/N`` of the weights once per step (the batch shares them) and its requests' KV cache
  slices at :data:`GEMV_HBM_SHARE` of the datasheet HBM bandwidth; the compute term (only
  binding at large batch) runs at the tensor-core efficiency; plus all-reduces and
  :data:`KERNELS_PER_LAYER` kernel launches per layer.
* **Prefill** (``L`` prompt tokens per request): the same roofline with ``B L`` rows, where the
  FLOPs (products and causal attention) dominate: tensor-core peak x
  ``TENSOR_CORE_EFFICIENCY`` (the training GEMM efficiency, fitted once to a V100 BERT-Large
  figure, :mod:`.roofline`).

Bad input raises :class:`~wse_sim.errors.GpuError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import GpuError, GraphError
from ..graph import DTYPE_BYTES, Graph
from ..spec import GpuSpec
from ..spec import gpu as gpu_spec
from .collectives import allreduce as allreduce_collective
from .roofline import MEMORY_RESERVE_BYTES, TENSOR_CORE_EFFICIENCY

GEMV_HBM_SHARE = 0.8
"""Share of the datasheet HBM bandwidth a decode step's weight and KV-cache streams reach,
assumed: streaming kernels on HBM GPUs measure 80-90% of the datasheet figure (BabelStream /
STREAM-class kernels), and a decode step is a chain of short GEMV kernels with tails, so the
low end. Its own constant (decode used to borrow the training kernels' HBM efficiency, the
same 0.8)."""

KERNELS_PER_LAYER = 10
"""Kernels a serving engine launches per decoder layer: norm, fused qkv product, rotary,
attention, output product, add + norm, fused gate/up product, activation x up, down product,
residual add (assumed; fused layouts as in common inference engines)."""
ALLREDUCES_PER_LAYER = 2  # after attention and after the MLP (Megatron tensor parallelism)
MAX_TP = 8  # tensor parallelism within one node


@dataclass(frozen=True)
class GpuLlmResult:
    """GPU inference figures per request and for the batch; parts of the step in seconds."""

    model: str
    gpu: str
    n_gpus: int
    mode: str
    context: int
    batch: int
    time_per_token_s: float
    tokens_per_s: float
    total_tokens_per_s: float
    time_to_first_token_s: float
    memory_s: float
    compute_s: float
    allreduce_s: float
    launch_s: float
    bound: str  # 'memory' or 'compute'
    memory_bytes_per_gpu: int

    def to_dict(self) -> dict:
        return asdict(self)


def _sizes(graph: Graph) -> dict:
    if "layer0.scores" not in graph or not graph.op("layer0.scores").attrs.get("causal"):
        raise GraphError(f"graph {graph.name!r} is not a causal decoder with layers "
                         "'layer{i}.*'; GPU LLM inference needs a GPT or LLaMA-family graph")
    sc = graph.op("layer0.scores")
    kv, dh = int(sc.attrs["batch"]), int(sc.attrs["k"])
    dense = [op for op in graph.ops() if op.kind == "dense"]
    return {"n_layers": int(graph.meta["n_layers"]), "kv_heads": kv, "d_head": dh,
            "heads": kv * int(sc.attrs.get("group", 1)),
            "window": int(sc.attrs.get("window", 0) or 0),
            "d_model": int(graph.meta.get("d_model") or graph.op("emb.token").weight_shape[1]),
            "dense_weights": sum(op.weight_count for op in dense),  # products read per step
            "dense_macs_per_token": sum(op.weight_count for op in dense)}


def _step(s: dict, spec: GpuSpec, n: int, rows: int, kv_len: int, batch: int, eb: int,
          causal_pairs: float) -> dict:
    """Seconds of one pass of ``rows`` tokens (decode: ``rows = batch``)."""
    kv_per_gpu = math.ceil(s["kv_heads"] / n)  # kv heads replicate when fewer than GPUs
    weights = s["dense_weights"] * eb / n
    kv = s["n_layers"] * batch * kv_len * 2 * kv_per_gpu * s["d_head"] * eb
    act = rows * s["d_model"] * eb * s["n_layers"] * 8  # residual stream traffic, per layer
    mem = (weights + kv + act) / (spec.hbm_bytes_per_s * GEMV_HBM_SHARE)
    attn_macs = s["n_layers"] * 2 * s["heads"] * s["d_head"] * causal_pairs / n
    flops = 2 * (rows * s["dense_macs_per_token"] / n + attn_macs)
    comp = flops / (spec.fp16_tensor_flops * TENSOR_CORE_EFFICIENCY)
    if n > 1:
        msg = rows * s["d_model"] * eb
        # the collectives model (ring or tree, NCCL's protocols) inside one node; tensor
        # parallelism never leaves it (n <= gpus_per_node)
        one = allreduce_collective(msg, n, max(n, spec.gpus_per_node), spec).time_s
        allreduce = s["n_layers"] * ALLREDUCES_PER_LAYER * one
    else:
        allreduce = 0.0
    launch = s["n_layers"] * (KERNELS_PER_LAYER + (ALLREDUCES_PER_LAYER if n > 1 else 0)) \
        * spec.kernel_launch_s
    return {"memory": mem, "compute": comp, "allreduce": allreduce, "launch": launch,
            "time": max(mem, comp) + allreduce + launch, "kv_bytes": kv, "weights": weights}


def gpu_llm(graph: Graph, gpu: str | GpuSpec = "h100", n_gpus: int = 1, mode: str = "decode",
            context: int = 2048, batch: int = 1) -> GpuLlmResult:
    """Decode step or prefill of ``graph`` on ``n_gpus`` (1-8, tensor parallel) ``gpu``s.

    Decode: ``time_per_token_s`` is the step period, ``tokens_per_s`` per request,
    ``total_tokens_per_s`` for the batch, ``time_to_first_token_s`` the prefill of ``context``
    tokens. Prefill: as :func:`wse_sim.engine.simulate_llm` reports it. Weights + KV cache beyond
    the GPUs' memory raise :class:`GpuError` with the bytes.
    """
    spec = gpu_spec(gpu)
    for what, v, hi in (("n_gpus", n_gpus, MAX_TP), ("context", context, None),
                        ("batch", batch, None)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (hi and v > hi):
            raise GpuError(f"{what} must be an integer in [1, {hi or 'inf'}], got {v!r}"
                           + ("; tensor parallelism stays within one node" if hi else ""))
    if mode not in ("decode", "prefill"):
        raise GpuError(f"mode must be 'decode' or 'prefill', got {mode!r}")
    s = _sizes(graph)
    eb = DTYPE_BYTES[graph.dtype]
    kv_len = min(context, s["window"]) if s["window"] else context
    pairs_prefill = batch * (kv_len * (kv_len + 1) / 2 if kv_len == context
                             else s["window"] * (context - (s["window"] - 1) / 2))
    pre = _step(s, spec, n_gpus, batch * context, kv_len, batch, eb, pairs_prefill)
    dec = _step(s, spec, n_gpus, batch, kv_len, batch, eb, batch * kv_len)
    need = graph.total_params * eb / n_gpus + dec["kv_bytes"] + MEMORY_RESERVE_BYTES
    if need > spec.memory_bytes:
        fewest = next((k for k in range(1, MAX_TP + 1)
                       if graph.total_params * eb / k + _step(s, spec, k, batch, kv_len, batch,
                                                              eb, 0)["kv_bytes"]
                       + MEMORY_RESERVE_BYTES <= spec.memory_bytes), None)
        hint = f"use n_gpus>={fewest}" if fewest else "it does not fit on one node"
        raise GpuError(f"{graph.name!r} needs {need:,.0f} bytes per GPU (weights / {n_gpus} + "
                       f"KV cache + reserve) on {n_gpus} x {spec.name}, each has "
                       f"{spec.memory_bytes:,.0f}; {hint}, or a shorter context or batch")
    if mode == "prefill":
        t = pre["time"]
        r = pre
        per_tok, tps, total = t / context, context / t, batch * context / t
    else:
        r = dec
        per_tok, tps, total = dec["time"], 1 / dec["time"], batch / dec["time"]
    return GpuLlmResult(graph.name, spec.name, n_gpus, mode, context, batch, per_tok, tps, total,
                        pre["time"], r["memory"], r["compute"], r["allreduce"], r["launch"],
                        "memory" if r["memory"] >= r["compute"] else "compute", int(need))
