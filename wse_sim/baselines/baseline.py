"""gpu_baseline(): predict a graph on N data-parallel GPUs; scaling curves."""

from __future__ import annotations

from ..errors import GpuError
from ..graph import Graph
from ..spec import GpuSpec
from ..spec import gpu as gpu_spec
from ..validate import check_gpu_args, check_gpu_counts, check_graph_work
from .args import check_choice, check_count
from .fusion import check_fused
from .result import GpuResult
from .roofline import (
    ATTENTION,
    AUTO_BATCH_TOLERANCE,
    CUDA_CORE_EFFICIENCY,
    GRAD_BYTES,
    HBM_EFFICIENCY,
    MODES,
    PRECISIONS,
    TENSOR_CORE_EFFICIENCY,
    _op_table,
    applied_fusions,
    auto_batch_candidates,
    batch_fits,
    check_batch,
    kernel_rows,
    optimizer_kernels,
)
from .scaling import DDP_BUCKET_BYTES, buckets


def gpu_baseline(graph: Graph, gpu: str | GpuSpec = "v100", mode: str = "train",
                 batch_per_gpu: int | str | None = None, precision: str = "mixed",
                 n_gpus: int = 1, gpus_per_node: int | None = None, overlap: bool = True,
                 attention: str | None = None,
                 bucket_bytes: float = DDP_BUCKET_BYTES, fused=True,
                 grad_accumulation: int = 1, parallel: str | dict = "ddp", **llm_kwargs):
    """Predict ``graph`` on ``n_gpus`` GPUs of kind ``gpu``.

    Parameters
    ----------
    graph : the model (per-sample shapes).
    gpu : preset name (see ``wse_sim.spec.GPU_PRESETS``) or a :class:`~wse_sim.spec.GpuSpec`.
    mode : 'train' (forward + backward + optimizer + all-reduce) or 'infer' (forward only).
    batch_per_gpu : samples per GPU per step; ``None`` = ``graph.meta['batch_default']``
        (else 32) and it must fit; ``'auto'`` = the batch that maximises one GPU's samples/s
        within its memory (the smallest within 1% of the best).
    precision : 'mixed' (fp16/bf16 tensor cores, fp32 master weights) or 'fp32' (TF32 tensor
        cores where the GPU has them, as the frameworks' defaults use; CUDA cores otherwise).
    n_gpus, gpus_per_node : cluster size; ``gpus_per_node`` defaults to the preset's node
        (6 for a Summit V100 node, 8 for DGX A100/H100/H200/B200).
    overlap : all-reduce each gradient bucket as soon as backward has produced it (PyTorch
        DDP); False = one all-reduce after the backward pass.
    attention : 'unfused' (the graph's ops, each through HBM) or 'fused' (flash-style);
        ``None`` = 'fused' where the stack fuses it (``fused`` includes 'flash_attention' and
        the GPU has the kernel, ``GpuSpec.flash_attention``), else 'unfused'.
    bucket_bytes : gradient bucket size, bytes (DDP's 25 MiB default).
    fused : the tuned stack's kernel fusions (:data:`wse_sim.baselines.fusion.FUSIONS`):
        True = all, False = none (every op its own kernel), or a collection of their names.
        ``result.fusions`` names those that changed something.
    grad_accumulation : micro-batches per optimizer step (the optimizer update and the
        gradient all-reduce run once per that many steps of ``batch_per_gpu`` samples).
    parallel : 'ddp' (data parallel, every GPU a full replica: this function's model) or, for
        LLM training (a decoder graph, see :func:`wse_sim.baselines.llm_train.gpu_train_llm`),
        'auto' (the fastest layout of tensor / pipeline / data parallelism, ZeRO stage and
        recomputation that fits) or a dict naming the layout (``dp``, ``tp``, ``pp``,
        ``zero``, ``recompute``, optional ``micro_batch``); ``llm_kwargs`` go there.

    Raises :class:`~wse_sim.errors.GpuError` for bad arguments or a batch that does not fit,
    :class:`~wse_sim.errors.SpecError` for an unknown GPU name.
    """
    if not isinstance(graph, Graph):
        raise GpuError(f"graph must be a wse_sim Graph, got {type(graph).__name__}")
    if parallel != "ddp":
        from .llm_train import gpu_train_llm  # LLM layouts live on top of this module
        if mode != "train":
            raise GpuError(f"parallel={parallel!r} is for training; mode={mode!r} uses "
                           "parallel='ddp' (or gpu_llm for LLM inference)")
        if precision != "mixed" or batch_per_gpu is not None or grad_accumulation != 1:
            raise GpuError(
                f"parallel={parallel!r} trains in mixed precision with its own micro-batches "
                f"and accumulation; got precision={precision!r}, batch_per_gpu="
                f"{batch_per_gpu!r}, grad_accumulation={grad_accumulation!r}: leave them out "
                "(name a layout's micro_batch in the parallel dict, the step's size with "
                "global_batch=...)")
        return gpu_train_llm(graph, gpu, n_gpus=n_gpus, parallel=parallel,
                             gpus_per_node=gpus_per_node, fused=fused, **llm_kwargs)
    if llm_kwargs:
        raise GpuError(f"unknown argument(s) {', '.join(sorted(llm_kwargs))} for "
                       "parallel='ddp'")
    check_gpu_args(gpu, batch_per_gpu, n_gpus, gpus_per_node, gpu_cls=GpuSpec)  # validate
    check_graph_work(graph)
    spec = gpu_spec(gpu)
    check_choice("mode", mode, MODES)
    check_choice("precision", precision, PRECISIONS)
    fusions = check_fused(fused)
    if attention is None:
        attention = "fused" if ("flash_attention" in fusions and spec.flash_attention) \
            else "unfused"
    check_choice("attention", attention, ATTENTION)
    n = check_count("n_gpus", n_gpus)
    acc = check_count("grad_accumulation", grad_accumulation)
    per_node = spec.gpus_per_node if gpus_per_node is None else \
        check_count("gpus_per_node", gpus_per_node)
    if not isinstance(overlap, bool):
        raise GpuError(f"overlap must be True or False, got {overlap!r}")
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int | float) \
            or not bucket_bytes > 0:
        raise GpuError(f"bucket_bytes must be a number > 0, got {bucket_bytes!r}")
    if isinstance(batch_per_gpu, str) and batch_per_gpu != "auto":
        raise GpuError(f"batch_per_gpu must be an integer >= 1, 'auto' or None, "
                       f"got {batch_per_gpu!r}")
    single = single_gpu(graph, spec, mode, precision, batch_per_gpu, attention=attention,
                        per_node=per_node, overlap=overlap, bucket_bytes=float(bucket_bytes),
                        fusions=fusions, grad_accumulation=acc)
    return single.with_n_gpus(n) if n > 1 else single


def _step_sums(ops) -> dict[str, float]:
    return {p: sum(r.time_s for r in ops if r.phase.startswith(p))
            for p in ("fwd", "bwd", "optimizer")}


def _grad_ready(graph: Graph, ops, precision: str) -> list[tuple[float, float]]:
    """``(ready_s, bytes)`` of each op's gradients in backward order: backward runs the ops in
    reverse, and an op's gradients are ready when its last backward kernel ends."""
    params = {op.name: op.params for op in graph.ops() if op.params}
    t, out, done = 0.0, [], set()
    bwd = [r for r in ops if r.phase.startswith("bwd")]
    for i in range(len(bwd) - 1, -1, -1):
        t += bwd[i].time_s
        name = bwd[i].op
        last = i == 0 or bwd[i - 1].op != name
        if last and name in params and name not in done:
            out.append((t, params[name] * GRAD_BYTES[precision]))
            done.add(name)
    out += [(t, p * GRAD_BYTES[precision]) for name, p in params.items() if name not in done]
    return out


def single_gpu(graph: Graph, spec: GpuSpec, mode: str, precision: str, batch, *,
               attention: str = "unfused", per_node: int | None = None, overlap: bool = True,
               bucket_bytes: float = DDP_BUCKET_BYTES,
               tensor_eff: float = TENSOR_CORE_EFFICIENCY,
               cuda_eff: float = CUDA_CORE_EFFICIENCY, hbm_eff: float = HBM_EFFICIENCY,
               fusions: frozenset[str] = frozenset(), grad_accumulation: int = 1,
               ) -> GpuResult:
    """One GPU's step (``n_gpus=1``), the batch chosen as :func:`gpu_baseline` says."""
    training = mode == "train"
    rows = kernel_rows(graph, training, attention, fusions)
    opt_kernels = optimizer_kernels(graph, fusions)

    def table(b):
        return _op_table(graph, spec, training, precision, b, tensor_eff, cuda_eff, hbm_eff,
                         attention, rows_cache=rows, opt_kernels=opt_kernels,
                         opt_share=1.0 / grad_accumulation)

    if batch == "auto":
        fits, static, per_sample = batch_fits(graph, spec, training, precision, attention)
        if fits < 1:
            check_batch(graph, spec, training, precision, 1, attention)  # raises, says why
        tried = []
        for b in auto_batch_candidates(fits):
            ops = table(b)
            step = sum(_step_sums(ops).values())
            tried.append((b, b / step if step > 0 else 0.0, ops))
        best = max(t[1] for t in tried)
        chosen, _, ops = next(t for t in tried if t[1] >= (1 - AUTO_BATCH_TOLERANCE) * best)
        need = static + chosen * per_sample
    else:
        chosen, need = check_batch(graph, spec, training, precision, batch, attention)
        ops = table(chosen)
    sums = _step_sums(ops)
    compute_s = sums["fwd"] + sums["bwd"] + sums["optimizer"]
    if compute_s <= 0:
        raise GpuError(f"graph {graph.name!r} has no op that runs on a GPU (only inputs/views)")
    thr = chosen / compute_s
    grad_bytes = float(graph.total_params * GRAD_BYTES[precision]) if training else 0.0
    bk = buckets(_grad_ready(graph, ops, precision), bucket_bytes) if training else ()
    return GpuResult(
        gpu=spec.name, model=graph.name, mode=mode, precision=precision, attention=attention,
        batch_per_gpu=chosen, n_gpus=1, gpus_per_node=per_node or spec.gpus_per_node,
        n_gpus_used=1, global_batch=chosen, ops=ops, forward_time_s=sums["fwd"],
        backward_time_s=sums["bwd"], optimizer_time_s=sums["optimizer"],
        compute_time_s=compute_s, allreduce_s=0.0, exposed_allreduce_s=0.0,
        allreduce_algorithm="none", allreduce_protocol="none", step_time_s=compute_s,
        samples_per_s=thr, samples_per_s_per_gpu=thr, scaling_efficiency=1.0,
        memory_bytes_per_gpu=need, memory_capacity_bytes=spec.memory_bytes,
        grad_bytes=grad_bytes, overlap=overlap, bucket_bytes=float(bucket_bytes), buckets=bk,
        spec=spec, fusions=applied_fusions(graph, attention, fusions, training),
        grad_accumulation=grad_accumulation)


def scaling_curve(graph: Graph, gpu: str | GpuSpec = "v100", ns=(1, 2, 4, 8, 16, 64, 256),
                  **kwargs) -> list[tuple[int, float, float]]:
    """``[(n, cluster samples_per_s, scaling efficiency), ...]`` for each n in ``ns``;
    ``kwargs`` go to :func:`gpu_baseline`. The per-op roofline is computed once."""
    kwargs.pop("n_gpus", None)
    base = gpu_baseline(graph, gpu, **kwargs)
    out = []
    for n in check_gpu_counts("scaling_curve: ns", ns):
        r = base.with_n_gpus(n)
        out.append((r.n_gpus, r.samples_per_s, r.scaling_efficiency))
    return out
