"""LLM inference timing: one decode step or one prefill of a placed decoder (``LlmPlan``).

**Decode step** (batch ``B``, KV length ``L``; lock-step over the batch): every product of each
layer in order, costed by :func:`wse_sim.mapping.decoder.kind_cycles` on its placed region, and,
between wafers, the hidden vector over the inter-wafer link (``WaferSpec.offwafer_bytes_per_s``
after ``WaferSpec.interwafer_latency_s``). With ``B >= 2`` and ``N >= 2`` wafers,
micro-batches pipeline across wafers when that is faster. **Prefill**: all prompts stream
through the weight-stationary regions, wafer after wafer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import PlacementError, SimulationError
from ..graph import DTYPE_BYTES
from ..mapping.decoder import kind_cycles, kv_len
from ..placer.llm import LLM_MODES, LlmPlan, WaferStage, check_int, kv_cache_bytes


@dataclass(frozen=True)
class LayerCost:
    """One layer (or the LM head) per decode step / per prefill: seconds, bytes."""

    name: str
    wafer: int
    time_s: float
    compute_s: float  # local FMACs
    broadcast_s: float
    reduction_s: float  # reduction latency (decode) / dataflow fill and transfer (prefill)
    other_s: float  # norms and elementwise
    fabric_bytes: int  # link-bytes moved (bytes x hops) by broadcasts and reductions
    sram_bytes: int  # weights + KV cache of this layer

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LlmResult:
    """Inference figures per request and for the batch (see :func:`simulate_llm`)."""

    model: str
    spec: str
    mode: str
    context: int
    batch: int
    wafers: int
    time_per_token_s: float
    tokens_per_s: float
    total_tokens_per_s: float
    time_to_first_token_s: float
    micro_batches: int
    interwafer_s: float
    layers: tuple[LayerCost, ...] = field(repr=False)
    reductions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d


def _stage_costs(plan: LlmPlan, stage: WaferStage, mode: str, context: int, batch: int):
    spec, dtype = plan.spec, plan.graph.dtype
    eb = DTYPE_BYTES[dtype]
    hz = spec.clock_hz
    rows = []
    counts = {"chain": 0, "tree": 0}
    per_kind = []
    for kp in stage.kinds:
        r, c = kp.region
        cyc = kind_cycles(spec, kp.kind, r, c, mode, context, batch, dtype, plan.tree_arity)
        cyc = {k: float(np.asarray(v)) for k, v in cyc.items()}
        tokens = batch if mode == "decode" else batch * context
        if mode == "prefill":  # this layer's share of the cores' streaming work (module docs)
            f = math.ceil(kp.kind.count / kp.tiles) / kp.kind.count
            cyc["total"] = cyc["fill"] + (cyc["total"] - cyc["fill"]) * f
            cyc["local"] *= f
            cyc["other"] *= f
            cyc["reduction"] = cyc["total"] - cyc["local"] - cyc["other"] - cyc["broadcast"]
        if kp.kind.role == "gemv":
            fabric = tokens * eb * (kp.kind.k * c + kp.kind.n * r)
            sram = kp.kind.k * kp.kind.n * eb
        else:
            length = kv_len(kp.kind, context)
            fabric = tokens * eb * kp.kind.heads * kp.kind.d_head * (c + 2 * r)
            sram = batch * length * 2 * kp.kind.kv_heads * kp.kind.d_head * eb
        if mode == "decode":
            counts["tree" if cyc["reduction_kind"] else "chain"] += kp.kind.count
        per_kind.append((kp.kind, cyc, fabric, sram))
    for layer in range(*stage.layers):
        parts = [p for p in per_kind if p[0].name != "lm_head"]
        rows.append(_layer_cost(f"layer{layer}", stage.index, parts, hz))
    head = [p for p in per_kind if p[0].name == "lm_head"]
    if head:
        rows.append(_layer_cost("lm_head", stage.index, head, hz))
    return rows, counts


def _layer_cost(name: str, wafer: int, parts, hz: float) -> LayerCost:
    s = {k: sum(p[1][k] for p in parts) / hz for k in ("total", "local", "broadcast",
                                                        "reduction", "other")}
    return LayerCost(name, wafer, s["total"], s["local"], s["broadcast"], s["reduction"],
                     s["other"], int(sum(p[2] for p in parts)), int(sum(p[3] for p in parts)))


def _interwafer_s(plan: LlmPlan, tokens: int) -> float:
    d = plan.graph.meta.get("d_model") or plan.graph.op("emb.token").weight_shape[1]
    return plan.spec.interwafer_latency_s + tokens * d * DTYPE_BYTES[plan.graph.dtype] \
        / plan.spec.offwafer_bytes_per_s


def _check_fits(plan: LlmPlan, context: int, batch: int) -> None:
    kv = kv_cache_bytes(plan.graph, context, batch)
    if kv > plan.kv_bytes:
        raise PlacementError(f"a KV cache of {batch} x {context} positions needs {kv:,} bytes; "
                             f"the plan reserved {plan.kv_bytes:,} (placed for batch "
                             f"{plan.batch}, context {plan.context}); place again with "
                             "that context and batch")


def _step(plan: LlmPlan, mode: str, context: int, batch: int):
    layers, counts = [], {"chain": 0, "tree": 0}
    for st in plan.stages:
        rows, c = _stage_costs(plan, st, mode, context, batch)
        layers += rows
        for k in counts:
            counts[k] += c[k]
    per_stage = [sum(lc.time_s for lc in layers if lc.wafer == st.index) for st in plan.stages]
    tokens = batch if mode == "decode" else batch * context
    link = _interwafer_s(plan, tokens)
    return layers, per_stage, link, counts


def simulate_llm(plan: LlmPlan, mode: str | None = None, context: int | None = None,
                 batch: int | None = None) -> LlmResult:
    """Time one decode step (or one prefill) of ``plan`` at ``context`` and ``batch`` (default:
    the plan's; a KV cache larger than the plan reserved raises :class:`PlacementError`).

    Decode: ``time_per_token_s`` is the step period (each of the ``batch`` requests gets one
    token per step), ``tokens_per_s = 1 / period`` per request and ``total_tokens_per_s =
    batch / period``; ``time_to_first_token_s`` is the prefill of ``context`` prompt tokens on
    the same placement. Prefill: ``time_to_first_token_s`` is the prefill time,
    ``tokens_per_s`` the prompt tokens per second per request, ``time_per_token_s`` its inverse,
    ``total_tokens_per_s`` over the batch.
    """
    if not isinstance(plan, LlmPlan):
        raise SimulationError(f"mode={mode!r} needs a placement made for LLM inference; place "
                              f"with ws.place(graph, wafer, mode={mode!r}, context=L) first")
    mode = plan.mode if mode is None else mode
    if mode not in LLM_MODES:
        raise SimulationError(f"LLM mode must be one of {', '.join(LLM_MODES)}, got {mode!r}")
    context = plan.context if context is None else check_int("context", context)
    batch = plan.batch if batch is None else check_int("batch", batch)
    _check_fits(plan, context, batch)
    n = plan.wafers
    # prefill: one pass of all prompts, wafer after wafer (a prompt's tokens stream through)
    p_layers, p_stage, p_link, _ = _step(plan, "prefill", context, batch)
    prefill_s = sum(p_stage) + (n - 1) * p_link
    if mode == "prefill":
        return LlmResult(plan.graph.name, plan.spec.name, mode, context, batch, n,
                         prefill_s / context, context / prefill_s, batch * context / prefill_s,
                         prefill_s, 1, (n - 1) * p_link, tuple(p_layers))
    best = None
    for mb in range(1, min(batch, n) + 1):  # micro-batches in flight over the wafer pipeline
        size = math.ceil(batch / mb)
        layers, stage, link, counts = _step(plan, "decode", context, size)
        if mb == 1:
            period = sum(stage) + (n - 1) * link
        else:
            period = max(sum(stage) + (n - 1) * link, mb * (max(stage) + link))
        if best is None or period < best[0]:
            best = (period, mb, layers, link, counts)
    period, mb, layers, link, counts = best
    return LlmResult(plan.graph.name, plan.spec.name, mode, context, batch, n, period,
                     1.0 / period, batch / period, prefill_s, mb, (n - 1) * link,
                     tuple(layers), {"chain_instances": counts["chain"],
                                     "tree_instances": counts["tree"]})
