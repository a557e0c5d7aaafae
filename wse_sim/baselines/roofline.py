"""The per-op GPU roofline: one GPU's step time for a graph, op by op.

One GPU runs every op of a :class:`~wse_sim.graph.Graph` as its own kernel(s). A kernel's time is

    max(FLOPs / (peak x GEMM_EFFICIENCY), bytes / (HBM bandwidth x HBM_EFFICIENCY)) + launch

where the FLOP term applies to matrix products (dense, conv, conv-transpose, batched matmul) only;
every other op (elementwise, softmax, norms, embedding gathers, copies, the loss) is memory-bound.
Training adds the backward pass (input and weight gradients) and an Adam-style update streamed
over fp32 master weights and two moments. N GPUs run data parallel with a ring all-reduce of the
gradients, part of which hides behind the backward pass.

>>> import wse_sim as ws
>>> g = ws.Graph("mlp"); x = g.input("x", (1024,))
>>> y = g.dense("fc2", g.relu("r", g.dense("fc1", x, 4096)), 1024)
>>> from wse_sim import gpu_baseline
>>> r = gpu_baseline(g, "v100", batch_per_gpu=256)
>>> r.n_gpus, r.batch_per_gpu, r.samples_per_s > 0
(1, 256, True)

Calibration (the only fitted number). ``docs/hardware.md`` gives one GPU training figure:
BERT-Large, sequence 128, mixed precision, one V100-32GB, batch 64: 171.5 sequences/s, i.e. a
step of 64 / 171.5 = 373.2 ms. On the graph of ``wse_sim.models.get('bert-large',
seq_len=128)`` this module finds, per step of 64 sequences on a V100 (125 TFLOP/s fp16
tensor, 900 GB/s HBM):

* 438 compute-bound products (the dense layers and the tied MLM decoder, forward, input and
  weight gradients): 64 x 256.7 GFLOP = 16.43 TFLOP -> 131.4 ms at 100 % of 125 TFLOP/s;
* everything else is memory-bound near the fitted efficiency (elementwise, softmax, layernorm,
  embeddings, head transposes, loss, and the attention batched matmuls, whose d_head = 64 makes
  them memory-bound at seq 128): 47.4 GB -> 65.8 ms at HBM_EFFICIENCY x 900 GB/s;
* the optimizer: 335.2 M params x 28 B = 9.39 GB -> 13.0 ms;
* kernel launches: 1,227 x 5 us = 6.1 ms.

So step = 131.4 ms / e + 85.0 ms = 373.2 ms, which gives e = 131.4 / 288.2 = 0.456
(``tests/test_gpu.py`` solves the same equation by bisection over the full model).
HBM_EFFICIENCY is not fitted: one figure cannot fix two factors, so it is assumed (what
framework elementwise kernels typically reach of datasheet bandwidth). The fitted e sits below
what cuBLAS reaches on large products alone because it also absorbs what the roofline leaves
out (the LAMB optimizer's extra passes, loss scaling, unfused bias adds, host overhead).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GpuError
from ..graph import Graph, Op
from ..spec import GpuSpec
from .args import check_count
from .result import GpuResult, OpTime

# ---- the one fitted factor --------------------------------------------------------------------
GEMM_EFFICIENCY = 0.456
"""Fraction of peak FLOP/s that matrix products (dense, conv, conv-transpose, attention batched
matmuls; tensor cores in mixed precision, CUDA cores in fp32) reach. FITTED to the one published
figure: V100 BERT-Large seq 128 mixed precision 171.5 seq/s at batch 64 (NVIDIA
DeepLearningExamples, PyTorch BERT README; docs/hardware.md). Arithmetic in the
module docstring. Used unchanged for every model, precision, sequence length and GPU."""

# ---- assumed constants (not fitted; no workload figure was used to choose them) -----------------
HBM_EFFICIENCY = 0.8  # fraction of datasheet HBM bandwidth framework kernels reach, assumed
ALLREDUCE_OVERLAP = 0.5  # default fraction of the all-reduce hidden behind backward, assumed
MEMORY_RESERVE_BYTES = 1e9  # CUDA context, library workspaces, allocator slack, assumed
DEFAULT_BATCH = 32  # batch when neither the caller nor graph.meta['batch_default'] gives one
OPTIMIZER_BYTES_PER_PARAM = 28  # Adam: read grad + r/w master w, m, v (+ fp16 copy); both modes
OPTIMIZER_KERNELS = 1  # one fused multi-tensor update kernel per step, assumed
STATE_BYTES_PER_PARAM = 16  # mixed: fp16 w+g (4) + fp32 master, m, v (12); fp32: w, g, m, v
ACT_BYTES = {"mixed": 2, "fp32": 4}  # activation / weight-copy bytes per element
GRAD_BYTES = {"mixed": 2, "fp32": 4}  # all-reduced gradient bytes per parameter: mixed
# precision all-reduces fp16 gradients (as apex/AMP BERT training does), fp32 all-reduces fp32
DROPOUT_MASK_BYTES = 1  # a stored dropout mask, bytes per element
SPARSE_24_WEIGHT_FRACTION = 0.5 + 0.0625  # 2:4 fp16 weights: half the values + 2-bit indices

MODES = ("train", "infer")
PRECISIONS = ("mixed", "fp32")
GEMM_KINDS = frozenset({"dense", "conv2d", "conv_transpose2d", "matmul"})
WEIGHT_GEMM_KINDS = frozenset({"dense", "conv2d", "conv_transpose2d"})  # 2:4 eligible
FREE_KINDS = frozenset({"input", "reshape"})  # views: no kernel
NO_SAVED_FNS = frozenset({"add", "sub", "scale", "dropout"})  # backward reads no saved input


def _phases(op: Op, graph: Graph, training: bool) -> list[tuple]:
    """Kernels of ``op``: ``(phase, flops_per_sample, act_elems_per_sample, mask_bytes_per_sample,
    weight_elems, kernels, gemm, sparse_fwd)``; activation elements are read + written, per
    sample; weight elements are read once per step."""
    kind, n_in, n_out, w = op.kind, op.in_elems, op.out_elems, op.weight_count
    if kind in FREE_KINDS or (kind == "loss" and not training):
        return []
    fn = op.attrs.get("fn")
    if fn == "dropout" and not training:
        return []  # identity at inference
    mask = DROPOUT_MASK_BYTES * n_out if fn == "dropout" else 0
    needs_grad = training and any(graph.op(i).kind != "input" for i in op.inputs)
    if kind in GEMM_KINDS:
        weighted = kind in WEIGHT_GEMM_KINDS
        sparse = (weighted and op.sparsity_pattern == "n:m" and op.weight_density <= 0.5 + 1e-9)
        rows = [("fwd", 2 * op.macs_fwd, n_in + n_out, 0, w, 1, True, sparse)]
        if needs_grad and op.macs_bwd_input:
            n_gemm = 1 if weighted else 2  # matmul: a gradient GEMM for each operand
            rows.append(("bwd_input", 2 * op.macs_bwd_input, n_gemm * (n_in + n_out), 0, w,
                         n_gemm, True, False))
        if training and op.macs_bwd_weight:
            rows.append(("bwd_weight", 2 * op.macs_bwd_weight, n_in + n_out, 0, w, 1, True,
                         False))
        return rows
    if kind == "embedding":
        rows = [("fwd", 0, 2 * n_out, 0, 0, 1, False, False)]  # gather rows, write them out
        if training and op.params:  # scatter-add into a dense gradient table, zeroed first
            rows.append(("bwd_weight", 0, 2 * n_out, 0, w, 1, False, False))
        return rows
    # memory-bound: read inputs, write output; backward reads grad-out (and the saved tensors
    # unless the gradient needs none) and writes grad-in
    rows = [("fwd", op.vector_ops, n_in + n_out, mask, op.params, 1, False, False)]
    if needs_grad:
        saved = 0 if (kind == "transpose" or fn in NO_SAVED_FNS) else n_in
        rows.append(("bwd_input", 2 * op.vector_ops, saved + n_in + n_out, mask, op.params, 1,
                     False, False))
    return rows


def _op_table(graph: Graph, spec: GpuSpec, training: bool, precision: str, batch: int,
              gemm_eff: float, hbm_eff: float) -> tuple[OpTime, ...]:
    """Per-op roofline rows for one GPU's step of ``batch`` samples (vectorized over rows)."""
    names, kinds, phases, spec_rows = [], [], [], []
    for op in graph.ops():
        for row in _phases(op, graph, training):
            names.append(op.name)
            kinds.append(op.kind)
            phases.append(row[0])
            spec_rows.append(row[1:])
    rows: list[OpTime] = []
    if spec_rows:
        a = np.array(spec_rows, dtype=np.float64)  # (rows, 7)
        flops_ps, act_ps, mask_ps, w_elems, kernels = a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]
        gemm, sparse = a[:, 5] > 0, a[:, 6] > 0
        b = ACT_BYTES[precision]
        fast = sparse & (precision == "mixed") & bool(spec.supports_2to4)
        w_bytes = w_elems * b * np.where(fast, SPARSE_24_WEIGHT_FRACTION, 1.0)
        nbytes = batch * (act_ps * b + mask_ps) + w_bytes
        flops = batch * flops_ps
        dense_peak = spec.fp16_tensor_flops if precision == "mixed" else spec.fp32_flops
        peak = np.where(fast, spec.fp16_tensor_sparse_flops, dense_peak)
        compute_s = np.where(gemm, flops / (peak * gemm_eff), 0.0)
        memory_s = nbytes / (spec.hbm_bytes_per_s * hbm_eff)
        launch_s = kernels * spec.kernel_launch_s
        roof_s = np.maximum(compute_s, memory_s)
        bound = np.where(launch_s > roof_s, "launch",
                         np.where(gemm & (compute_s >= memory_s), "compute", "memory"))
        rows = [OpTime(n, k, p, float(f), float(by), float(t), str(bd)) for n, k, p, f, by, t, bd
                in zip(names, kinds, phases, flops, nbytes, roof_s + launch_s, bound, strict=True)]
    if training:  # Adam-style update: ~10 FLOPs per parameter, streamed once
        opt_bytes = float(graph.total_params * OPTIMIZER_BYTES_PER_PARAM)
        mem_s = opt_bytes / (spec.hbm_bytes_per_s * hbm_eff)
        launch = OPTIMIZER_KERNELS * spec.kernel_launch_s
        rows.append(OpTime("optimizer", "optimizer", "optimizer", 10.0 * graph.total_params,
                           opt_bytes, mem_s + launch, "launch" if launch > mem_s else "memory"))
    return tuple(rows)


def _memory_bytes(graph: Graph, training: bool, precision: str) -> tuple[float, float]:
    """``(static_bytes, bytes_per_sample)`` a GPU holds: weights (and optimizer state) plus the
    activations a sample keeps (all stashed for backward in training; the largest live pair of
    input and output at inference)."""
    b = ACT_BYTES[precision]
    ops = [op for op in graph.ops() if op.kind not in FREE_KINDS]
    if training:
        static = graph.total_params * STATE_BYTES_PER_PARAM
        per_sample = sum(op.out_elems * b + (DROPOUT_MASK_BYTES * op.out_elems
                                             if op.attrs.get("fn") == "dropout" else 0)
                         for op in ops if op.kind != "loss")
    else:
        static = graph.total_params * b
        per_sample = max((op.in_elems + op.out_elems) * b for op in ops) if ops else 0
    return static + MEMORY_RESERVE_BYTES, float(per_sample)


def _fit_batch(graph: Graph, spec: GpuSpec, training: bool, precision: str,
               batch) -> tuple[int, float]:
    """The batch to run (checked against memory) and the bytes it needs on one GPU."""
    static, per_sample = _memory_bytes(graph, training, precision)
    cap = spec.memory_bytes
    fits = math.inf if per_sample == 0 else math.floor((cap - static) / per_sample)
    gb = 1e-9
    if batch is None or batch == "auto":
        wanted = int(graph.meta.get("batch_default") or DEFAULT_BATCH)
        if fits < 1:
            raise GpuError(
                f"{graph.name} does not fit on {spec.name} ({cap * gb:.1f} GB) even at batch 1: "
                f"weights{' and optimizer state' if training else ''} {static * gb:.1f} GB "
                f"(with {MEMORY_RESERVE_BYTES * gb:.1f} GB reserve) + {per_sample * gb:.2f} GB "
                f"activations per sample; use a GPU with more memory or a smaller model")
        chosen = wanted if batch is None else int(min(wanted, fits))
    else:
        chosen = check_count("batch_per_gpu", batch)
    need = static + chosen * per_sample
    if need > cap:
        hint = f"use batch_per_gpu<={int(fits)} or 'auto'" if fits >= 1 else \
            "it does not fit even at batch 1"
        raise GpuError(
            f"batch_per_gpu={chosen} of {graph.name} needs {need * gb:.1f} GB on {spec.name} "
            f"({cap * gb:.1f} GB): {static * gb:.1f} GB weights/state/reserve + {chosen} x "
            f"{per_sample * gb:.3f} GB activations; {hint}")
    return chosen, need


def single_gpu(graph, spec, mode, precision, batch, per_node, overlap, gemm_eff,
                hbm_eff) -> GpuResult:
    training = mode == "train"
    batch, need = _fit_batch(graph, spec, training, precision, batch)
    ops = _op_table(graph, spec, training, precision, batch, gemm_eff, hbm_eff)
    sums = {p: sum(r.time_s for r in ops if r.phase.startswith(p))
            for p in ("fwd", "bwd", "optimizer")}
    compute_s = sums["fwd"] + sums["bwd"] + sums["optimizer"]
    if compute_s <= 0:
        raise GpuError(f"graph {graph.name!r} has no op that runs on a GPU (only inputs/views)")
    thr = batch / compute_s
    return GpuResult(
        gpu=spec.name, model=graph.name, mode=mode, precision=precision, batch_per_gpu=batch,
        n_gpus=1, gpus_per_node=per_node, n_gpus_used=1, ops=ops,
        forward_time_s=sums["fwd"], backward_time_s=sums["bwd"],
        optimizer_time_s=sums["optimizer"], compute_time_s=compute_s, allreduce_s=0.0,
        exposed_allreduce_s=0.0, step_time_s=compute_s, samples_per_s=thr,
        samples_per_s_per_gpu=thr, scaling_efficiency=1.0, memory_bytes_per_gpu=need,
        memory_capacity_bytes=spec.memory_bytes,
        grad_bytes=float(graph.total_params * GRAD_BYTES[precision]) if training else 0.0,
        overlap=overlap, spec=spec)
