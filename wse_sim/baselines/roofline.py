"""The per-op GPU roofline: one GPU's step time for a graph, op by op.

One GPU runs every op of a :class:`~wse_sim.graph.Graph` as its own kernel(s). A kernel's time
is ``max(compute, memory) + launch``:

* matrix products (dense, conv, conv-transpose, batched matmul) are GEMMs whose compute term
  comes from the GPU's SM count and CTA tiles (tile and wave quantization, split-K; see
  :mod:`.gemm`): 16-bit tensor cores in mixed precision; in fp32, TF32 tensor cores where the
  GPU has them (A100 and later, as TensorFlow and cuDNN convolutions do by default and NVIDIA's
  published "TF32" figures use) and CUDA cores on the V100;
* every kernel's memory term is its compulsory HBM traffic (operands read, result written)
  over ``HBM_EFFICIENCY`` x datasheet bandwidth; every other op (elementwise, softmax, norms,
  embedding gathers, copies, the loss) has no compute term;
* attention is ``'unfused'`` (the graph's ops: scores product, softmax, dropout, context
  product, each through HBM) or ``'fused'`` (flash-style: one kernel per pass that keeps the
  scores on chip; the backward recomputes them, 5 products instead of 2).

Training adds the backward pass (input and weight gradients) and an Adam-style update streamed
over fp32 master weights and two moments.

>>> import wse_sim as ws
>>> g = ws.Graph("mlp"); x = g.input("x", (1024,))
>>> y = g.dense("fc2", g.relu("r", g.dense("fc1", x, 4096)), 1024)
>>> from wse_sim import gpu_baseline
>>> r = gpu_baseline(g, "v100", batch_per_gpu=256)
>>> r.n_gpus, r.batch_per_gpu, r.samples_per_s > 0
(1, 256, True)

Calibration (two fitted numbers, one per math pipe): ``TENSOR_CORE_EFFICIENCY`` and
``CUDA_CORE_EFFICIENCY``, each by bisection to one V100 BERT-Large figure of NVIDIA's
DeepLearningExamples README (:mod:`.calibration`, ``docs/gpu_baselines.md``). The step time
falls monotonically in each. Everything else is a datasheet figure or a named assumption.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GpuError
from ..graph import Graph, Op
from ..spec import GpuSpec
from .args import check_count
from .fusion import FUSIONS, fusion_plan
from .gemm import gemm_times
from .result import OpTime

# ---- the fitted factors (one per math pipe) ---------------------------------------------------
TENSOR_CORE_EFFICIENCY = 0.576
"""Fraction of an SM's tensor-core peak a full-rate GEMM tile reaches (16-bit in mixed
precision, TF32 in fp32 on A100 and later). FITTED (bisection, :func:`.calibration.fit`) to
one figure: V100-32GB, BERT-Large pre-training, seq 128, mixed precision, micro-batch 64
(accumulation 64): 224 sequences/s (NVIDIA DeepLearningExamples, PyTorch BERT README,
container 21.11), with the fused stack. Used unchanged for every model, shape and GPU."""
CUDA_CORE_EFFICIENCY = 0.895
"""Fraction of an SM's fp32 CUDA-core peak a GEMM tile reaches (fp32 on the V100). FITTED the
same way to the README's fp32 figure at seq 128, micro-batch 32 (accumulation 128): 50
sequences/s. The two seq-512 figures of the README are held out: they need more FLOP/s per
token than the seq-128 ones, 19 seq/s in fp32 more than the V100's fp32 peak
(docs/gpu_baselines.md)."""

# ---- assumed constants (not fitted; no workload figure was used to choose them) -----------------
HBM_EFFICIENCY = 0.8  # fraction of datasheet HBM bandwidth framework kernels reach, assumed
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
FUSED_ATTENTION_KERNELS = {"fwd": 1, "bwd_input": 3}  # FlashAttention-2: forward; backward =
# preprocess (rowsum dO*O), main, dQ conversion; assumed from Dao, "FlashAttention-2", 2023
FUSED_ATTENTION_TILE = 128  # query/key block of a fused kernel (causal blocks above the
# diagonal are skipped), assumed (FlashAttention-2's 128-row blocks)
AUTO_BATCH_TOLERANCE = 0.01  # 'auto' takes the smallest batch within 1% of the best, assumed
AUTO_BATCH_MAX = 1 << 16  # 'auto' searches batches up to this (and what fits), assumed

MODES = ("train", "infer")
PRECISIONS = ("mixed", "fp32")
ATTENTION = ("unfused", "fused")
GEMM_KINDS = frozenset({"dense", "conv2d", "conv_transpose2d", "matmul"})
WEIGHT_GEMM_KINDS = frozenset({"dense", "conv2d", "conv_transpose2d"})  # 2:4 eligible
FREE_KINDS = frozenset({"input", "reshape"})  # views: no kernel
NO_SAVED_FNS = frozenset({"add", "sub", "scale", "dropout"})  # backward reads no saved input


# ---- attention groups ---------------------------------------------------------------------------
def attention_groups(graph: Graph) -> dict[str, tuple[str, ...]]:
    """``{context op: (scores, softmax, [dropout,] context)}`` for every attention the graph
    spells as ``matmul(q, k^T) -> softmax -> [dropout] -> matmul(., v)`` (the form the model
    zoo builds), which a fused kernel runs as one."""
    out = {}
    for op in graph.ops():
        if op.kind != "matmul" or not op.attrs.get("transpose_b"):
            continue
        chain = [op.name]
        nxt = graph.successors(op.name)
        if len(nxt) != 1 or graph.op(nxt[0]).kind != "softmax":
            continue
        chain.append(nxt[0])
        nxt = graph.successors(nxt[0])
        if len(nxt) == 1 and graph.op(nxt[0]).attrs.get("fn") == "dropout":
            chain.append(nxt[0])
            nxt = graph.successors(nxt[0])
        if len(nxt) == 1 and graph.op(nxt[0]).kind == "matmul" \
                and graph.op(nxt[0]).inputs[0] == chain[-1]:
            chain.append(nxt[0])
            out[nxt[0]] = tuple(chain)
    return out


def _fused_attention_rows(graph: Graph, chain: tuple[str, ...], training: bool) -> list[tuple]:
    """Phase rows of one fused attention (see :func:`_phases` for the row layout)."""
    scores, context = graph.op(chain[0]), graph.op(chain[-1])
    heads, sq, d, sk = (scores.attrs[x] for x in ("batch", "m", "k", "n"))
    dv = context.attrs["n"]
    blocks = math.ceil(sq / FUSED_ATTENTION_TILE)
    causal = scores.attrs.get("causal", False) and sq == sk
    keep = (blocks + 1) / (2 * blocks) if causal else 1.0  # blocks on or below the diagonal
    qkvo = heads * (sq * d + sk * d + sk * dv + sq * dv)  # elements: Q, K, V read, O written
    L = ("b", heads * keep)  # products per sample: one per head (fewer where causal)
    fwd_shapes = ((L, sq, sk, d), (L, sq, dv, sk))  # S = Q K^T, O = P V
    fwd_flops = 2 * keep * (scores.macs_fwd + context.macs_fwd)
    rows = [("fwd", fwd_flops, qkvo, 0, 0, FUSED_ATTENTION_KERNELS["fwd"], True, False,
             fwd_shapes)]
    if training:  # recompute S; dP = dO V^T; dV = P^T dO; dQ = dS K; dK = dS^T Q
        bwd_shapes = ((L, sq, sk, d), (L, sq, sk, dv), (L, sk, dv, sq), (L, sq, d, sk),
                      (L, sk, d, sq))
        bwd_flops = 2 * keep * heads * sum(math.prod(x[1:]) for x in bwd_shapes)
        rows.append(("bwd_input", bwd_flops, 2 * qkvo, 0, 0,
                     FUSED_ATTENTION_KERNELS["bwd_input"], True, False, bwd_shapes))
    return rows


# ---- kernels of one op --------------------------------------------------------------------------
def _gemm_shapes(op: Op, phase: str) -> tuple[tuple, ...]:
    """Per-sample GEMM views ``(count, M, N, K)`` of a product in ``phase``; the batch scales
    the dimension that holds samples (see :func:`_scale_shapes`)."""
    kind = op.kind
    if kind == "dense":
        r, k, n = op.attrs["rows"], op.in_shapes[0][-1], op.out_shape[-1]
        return {"fwd": ((1, ("b", r), n, k),), "bwd_input": ((1, ("b", r), k, n),),
                "bwd_weight": ((1, k, n, ("b", r)),)}[phase]
    if kind == "matmul":
        L, m, k, n = (op.attrs[x] for x in ("batch", "m", "k", "n"))
        return {"fwd": ((("b", L), m, n, k),),
                "bwd_input": ((("b", L), m, k, n), (("b", L), k, n, m))}[phase]
    c_in, h, w = op.in_shapes[0]
    c_out, ho, wo = op.out_shape
    kk = op.attrs["kernel"] ** 2
    macs = op.macs_fwd
    if kind == "conv2d":  # implicit GEMM over output pixels; dgrad over input pixels
        g = op.attrs.get("groups", 1)  # a grouped conv is g independent GEMMs of 1/g the size
        return {"fwd": ((g, ("b", ho * wo), c_out // g, c_in // g * kk),),
                "bwd_input": ((g, ("b", h * w), c_in // g, macs / (h * w * c_in)),),
                "bwd_weight": ((g, c_out // g, c_in // g * kk, ("b", ho * wo)),)}[phase]
    return {"fwd": ((1, ("b", ho * wo), c_out, macs / (ho * wo * c_out)),),  # transposed conv
            "bwd_input": ((1, ("b", h * w), c_in, c_out * kk),),
            "bwd_weight": ((1, c_in, c_out * kk, ("b", h * w)),)}[phase]


def _scale_shapes(shapes, batch: int) -> list[tuple[float, float, float, float]]:
    return [tuple(float(batch * x[1]) if isinstance(x, tuple) else float(x) for x in s)
            for s in shapes]


def _phases(op: Op, graph: Graph, training: bool, fused_into: str | None = None
            ) -> list[tuple]:
    """Kernels of ``op``: ``(phase, flops_per_sample, act_elems_per_sample, mask_bytes_per_sample,
    weight_elems, kernels, gemm, sparse_fwd, gemm_shapes)``; activation elements are read +
    written, per sample; weight elements are read once per step. ``fused_into`` names the
    fusion (:mod:`.fusion`) that absorbs ``op`` into a neighbour's kernel, if any: the op then
    launches no kernel and moves only the bytes that fusion leaves."""
    rows = _unfused_phases(op, graph, training)
    if fused_into is None:
        return rows
    out = []
    for r in rows:
        phase, act = r[0], r[2]
        kernels = r[5]
        if fused_into == "epilogue_activation":  # pre-activation written once / read once
            act, kernels = (op.out_elems if phase == "fwd" else op.in_elems), 0
        elif fused_into in ("dropout_add", "softmax_dropout"):  # only the mask moves
            act, kernels = 0, 0
        elif fused_into == "add_norm":  # the add runs in the norm kernel (its bytes stay)
            kernels = 0 if phase == "fwd" else kernels
        elif fused_into == "add_norm_reader" and phase == "fwd":  # the sum is not re-read
            act = op.out_elems
        out.append((phase, r[1], act, r[3], r[4], kernels, *r[6:]))
    return out


def _unfused_phases(op: Op, graph: Graph, training: bool) -> list[tuple]:
    """:func:`_phases` of the eager stack: every op its own kernel(s)."""
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
        rows = [("fwd", 2 * op.macs_fwd, n_in + n_out, 0, w, 1, True, sparse,
                 _gemm_shapes(op, "fwd"))]
        if needs_grad and op.macs_bwd_input:
            n_gemm = 1 if weighted else 2  # matmul: a gradient GEMM for each operand
            rows.append(("bwd_input", 2 * op.macs_bwd_input, n_gemm * (n_in + n_out), 0, w,
                         n_gemm, True, False, _gemm_shapes(op, "bwd_input")))
        if training and op.macs_bwd_weight:
            rows.append(("bwd_weight", 2 * op.macs_bwd_weight, n_in + n_out, 0, w, 1, True,
                         False, _gemm_shapes(op, "bwd_weight")))
        return rows
    if kind == "embedding":
        rows = [("fwd", 0, 2 * n_out, 0, 0, 1, False, False, ())]  # gather rows, write them
        if training and op.params:  # scatter-add into a dense gradient table, zeroed first
            rows.append(("bwd_weight", 0, 2 * n_out, 0, w, 1, False, False, ()))
        return rows
    # memory-bound: read inputs, write output; backward reads grad-out (and the saved tensors
    # unless the gradient needs none) and writes grad-in
    rows = [("fwd", op.vector_ops, n_in + n_out, mask, op.params, 1, False, False, ())]
    if needs_grad:
        saved = 0 if (kind == "transpose" or fn in NO_SAVED_FNS) else n_in
        rows.append(("bwd_input", 2 * op.vector_ops, saved + n_in + n_out, mask, op.params, 1,
                     False, False, ()))
    return rows


def kernel_rows(graph: Graph, training: bool, attention: str = "unfused",
                fusions: frozenset[str] = frozenset()) -> list[tuple]:
    """``(op name, kind, row)`` for every kernel of one step, in graph order (a fused
    attention's rows stand where its context product was, named after it, kind 'attention');
    ``fusions`` are the names of :data:`.fusion.FUSIONS` to apply."""
    groups = attention_groups(graph) if attention == "fused" else {}
    members = {name for chain in groups.values() for name in chain}
    plan = fusion_plan(graph, fusions)
    out = []
    for op in graph.ops():
        if op.name in groups:
            out += [(op.name, "attention", r)
                    for r in _fused_attention_rows(graph, groups[op.name], training)]
        elif op.name not in members:
            out += [(op.name, op.kind, r)
                    for r in _phases(op, graph, training, plan.get(op.name))]
    return out


def applied_fusions(graph: Graph, attention: str, fusions: frozenset[str],
                    training: bool) -> tuple[str, ...]:
    """The fusions that change something in ``graph``, in :data:`.fusion.FUSIONS` order."""
    found = {f for f in fusion_plan(graph, fusions).values() if f != "add_norm_reader"}
    if attention == "fused" and attention_groups(graph):
        found.add("flash_attention")
    if training and "multi_tensor_optimizer" in fusions and graph.total_params:
        found.add("multi_tensor_optimizer")
    return tuple(f for f in FUSIONS if f in found)


def optimizer_kernels(graph: Graph, fusions: frozenset[str]) -> int:
    """Kernels of one optimizer update: one multi-tensor kernel, or one per parameter tensor
    (each op's weights; its bias and norm scale ride along, assumed) on the eager stack."""
    if "multi_tensor_optimizer" in fusions:
        return OPTIMIZER_KERNELS
    return max(1, sum(1 for op in graph.ops() if op.params))


def _op_table(graph: Graph, spec: GpuSpec, training: bool, precision: str, batch: int,
              tensor_eff: float, cuda_eff: float, hbm_eff: float, attention: str,
              rows_cache=None, opt_kernels: int = 1, opt_share: float = 1.0):
    """Per-op roofline rows for one GPU's step of ``batch`` samples (vectorized over rows).
    ``opt_share`` is the share of an optimizer update one step carries (1 / gradient
    accumulation steps)."""
    krows = rows_cache if rows_cache is not None else kernel_rows(graph, training, attention)
    rows: list = []
    if krows:
        spec_rows = [r[2] for r in krows]
        a = np.array([r[1:8] for r in spec_rows], dtype=np.float64)  # (rows, 7)
        flops_ps, act_ps, mask_ps, w_elems, kernels = a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]
        gemm, sparse = a[:, 5] > 0, a[:, 6] > 0
        b = ACT_BYTES[precision]
        fast = sparse & (precision == "mixed") & bool(spec.supports_2to4)
        w_bytes = w_elems * b * np.where(fast, SPARSE_24_WEIGHT_FRACTION, 1.0)
        nbytes = batch * (act_ps * b + mask_ps) + w_bytes
        flops = batch * flops_ps
        hbm = spec.hbm_bytes_per_s * hbm_eff
        memory_s = nbytes / hbm
        compute_s = np.zeros(len(krows))
        if precision == "mixed":
            dense_peak, tensor = spec.fp16_tensor_flops, True
        elif spec.tf32_tensor_flops > 0:
            dense_peak, tensor = spec.tf32_tensor_flops, True
        else:
            dense_peak, tensor = spec.fp32_flops, False
        gemm_eff = tensor_eff if tensor else cuda_eff
        gi = np.flatnonzero(gemm)
        if gi.size:  # one entry per GEMM; a row's GEMMs share its bytes evenly
            owner, shapes = [], []
            for i in gi:
                sh = _scale_shapes(spec_rows[i][8], batch)
                owner += [i] * len(sh)
                shapes += sh
            owner = np.array(owner)
            share = np.bincount(owner, minlength=len(krows))[owner]
            s = np.array(shapes, dtype=np.float64)
            peak = np.where(fast[owner], spec.fp16_tensor_sparse_flops, dense_peak)
            c, m, _ = gemm_times(s[:, 0], s[:, 1], s[:, 2], s[:, 3], nbytes[owner] / share,
                                 peak, spec.sms, gemm_eff, tensor, hbm)
            # sparse 2:4 products: the sparse peak already halves the work per tile
            np.add.at(compute_s, owner, c)
            mem_g = np.zeros(len(krows))
            np.add.at(mem_g, owner, m)
            memory_s = np.where(gemm, mem_g, memory_s)
        launch_s = kernels * spec.kernel_launch_s
        roof_s = np.maximum(compute_s, memory_s)
        bound = np.where(launch_s > roof_s, "launch",
                         np.where(gemm & (compute_s >= memory_s), "compute", "memory"))
        rows = [OpTime(n, k, p[0], float(f), float(by), float(t), str(bd))
                for (n, k, p), f, by, t, bd
                in zip(krows, flops, nbytes, roof_s + launch_s, bound, strict=True)]
    if training:  # Adam-style update: ~10 FLOPs per parameter, streamed once
        opt_bytes = float(graph.total_params * OPTIMIZER_BYTES_PER_PARAM) * opt_share
        mem_s = opt_bytes / (spec.hbm_bytes_per_s * hbm_eff)
        launch = opt_kernels * spec.kernel_launch_s * opt_share
        rows.append(OpTime("optimizer", "optimizer", "optimizer",
                           10.0 * graph.total_params * opt_share,
                           opt_bytes, mem_s + launch, "launch" if launch > mem_s else "memory"))
    return tuple(rows)


# ---- memory and the batch -------------------------------------------------------------------
def _fused_away(graph: Graph, attention: str) -> set[str]:
    if attention != "fused":
        return set()
    return {n for chain in attention_groups(graph).values() for n in chain[:-1]}


def saved_bytes(graph: Graph, precision: str, attention: str = "unfused") -> dict[str, float]:
    """``{op name: bytes per sample}`` each op's output keeps for the backward pass in
    training (plus a dropout's mask); a fused attention's scores, probabilities and dropout
    never reach memory, views and the loss keep nothing."""
    b = ACT_BYTES[precision]
    skip = _fused_away(graph, attention)
    return {op.name: float(op.out_elems * b + (DROPOUT_MASK_BYTES * op.out_elems
                                               if op.attrs.get("fn") == "dropout" else 0))
            for op in graph.ops()
            if op.kind not in FREE_KINDS and op.name not in skip and op.kind != "loss"}


def memory_bytes(graph: Graph, training: bool, precision: str,
                 attention: str = "unfused") -> tuple[float, float]:
    """``(static_bytes, bytes_per_sample)`` a GPU holds: weights (and optimizer state) plus the
    activations a sample keeps (all stashed for backward in training, less the scores, probs
    and dropout masks a fused attention never writes; the largest live pair of input and
    output at inference)."""
    b = ACT_BYTES[precision]
    if training:
        static = graph.total_params * STATE_BYTES_PER_PARAM
        per_sample = sum(saved_bytes(graph, precision, attention).values())
    else:
        skip = _fused_away(graph, attention)
        ops = [op for op in graph.ops() if op.kind not in FREE_KINDS and op.name not in skip]
        static = graph.total_params * b
        per_sample = max((op.in_elems + op.out_elems) * b for op in ops) if ops else 0
    return static + MEMORY_RESERVE_BYTES, float(per_sample)


def batch_fits(graph: Graph, spec: GpuSpec, training: bool, precision: str,
               attention: str) -> tuple[float, float, float]:
    """``(largest batch that fits, static bytes, bytes per sample)``; the batch may be < 1."""
    static, per_sample = memory_bytes(graph, training, precision, attention)
    fits = math.inf if per_sample == 0 else math.floor((spec.memory_bytes - static) / per_sample)
    return fits, static, per_sample


def check_batch(graph: Graph, spec: GpuSpec, training: bool, precision: str, batch,
                attention: str) -> tuple[int, float]:
    """The explicit or default batch, checked against memory, and the bytes it needs."""
    fits, static, per_sample = batch_fits(graph, spec, training, precision, attention)
    cap, gb = spec.memory_bytes, 1e-9
    if fits < 1:
        raise GpuError(
            f"{graph.name} does not fit on {spec.name} ({cap * gb:.1f} GB) even at batch 1: "
            f"weights{' and optimizer state' if training else ''} {static * gb:.1f} GB "
            f"(with {MEMORY_RESERVE_BYTES * gb:.1f} GB reserve) + {per_sample * gb:.2f} GB "
            f"activations per sample; use a GPU with more memory or a smaller model")
    if batch is None:
        chosen = int(graph.meta.get("batch_default") or DEFAULT_BATCH)
    else:
        chosen = check_count("batch_per_gpu", batch)
    need = static + chosen * per_sample
    if need > cap:
        raise GpuError(
            f"batch_per_gpu={chosen} of {graph.name} needs {need * gb:.1f} GB on {spec.name} "
            f"({cap * gb:.1f} GB): {static * gb:.1f} GB weights/state/reserve + {chosen} x "
            f"{per_sample * gb:.3f} GB activations; use batch_per_gpu<={int(fits)} or 'auto'")
    return chosen, need


def auto_batch_candidates(fits: float) -> list[int]:
    """Batches 'auto' tries: powers of two and their 1.5x midpoints up to what fits (capped at
    :data:`AUTO_BATCH_MAX`), and the largest that fits."""
    top = int(min(fits, AUTO_BATCH_MAX))
    out = {top}
    p = 1
    while p <= top:
        out.add(p)
        if p >= 2 and p * 3 // 2 <= top:
            out.add(p * 3 // 2)
        p *= 2
    return sorted(out)
