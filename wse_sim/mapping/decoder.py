"""A causal decoder's products as *kinds* for LLM inference, and their cost on a region.

The products of a decoder fall into kinds (``q``, ``k``, ``v``, ``attn_out``, ``gate``,
``up``, ``down`` or ``ffn1``, ``ffn2``, the attention over the KV cache, ``lm_head``), each
appearing once per layer. :func:`kind_cycles` gives one instance's cycles on every candidate
``R x C`` region at once (numpy arrays, never a loop over cores) and
:func:`kind_bytes_per_core` its worst core's SRAM when the wafer is tiled by copies of the
region; :mod:`wse_sim.placer.llm` picks the regions and :mod:`wse_sim.engine.decode` times the
step.

**Decode** (batch ``B``, KV length ``L``): each dense product is a :mod:`.gemv`; the attention
of a layer multicasts q, computes scores and ``probs @ V`` locally over the core's positions
and reduces the ``(m, l, acc)`` online-softmax state over the position rows (chain or tree);
norms are an all-reduce across the width of the producing region and elementwise ops run over
its output row.

**Prefill** (``L`` prompt tokens per request): each product is a weight-stationary GEMM
streaming ``B L`` rows through the region, either broadcast-based (router multicast of x,
tree reduction) or systolic (x shifted core to core, partial sums down a chain), whichever
costs less; attention is compute-bound over the region's cores with K/V multicast along
columns, causal (half the score matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GraphError
from ..graph import DTYPE_BYTES, SOFTMAX_VECTOR_OPS, Graph
from ..spec import WaferSpec
from .gemv import (
    broadcast_cycles,
    elems_per_wavelet,
    fmac_rate,
    gemv_cycles,
    reduction_cycles,
    wavelet_cycles,
)

# SOFTMAX_VECTOR_OPS (wse_sim.graph): per score, as the graph's softmax


@dataclass(frozen=True)
class Kind:
    """A product repeated once per layer (or once: the LM head) with its shape.

    ``role`` is 'gemv' (weights ``k x n``) or 'attention' (``heads``, ``kv_heads``, ``d_head``).
    ``vector_ops`` are the elementwise/norm ops per token that ride on this kind's output row.
    """

    name: str
    role: str
    count: int
    k: int = 0
    n: int = 0
    heads: int = 0
    kv_heads: int = 0
    d_head: int = 0
    window: int = 0
    norms: int = 0  # RMS/layer norms reading this kind's output (an all-reduce each)
    vector_ops: int = 0  # per token per instance


def model_kinds(graph: Graph, layers: range | None = None) -> tuple[list[Kind], dict]:
    """The kinds of decoder ``graph`` (restricted to ``layers``), and its sizes.

    Needs layer ops named ``layer{i}.*`` with a causal ``scores`` matmul (GPT and LLaMA
    graphs); raises :class:`GraphError` otherwise.
    """
    n_layers = graph.meta.get("n_layers")
    if not n_layers or "layer0.scores" not in graph:
        raise GraphError(f"graph {graph.name!r} is not a decoder built from layers "
                         "'layer{i}.*' with attention scores; decode/prefill need a GPT or "
                         "LLaMA-family graph")
    sc = graph.op("layer0.scores")
    if not sc.attrs.get("causal"):
        raise GraphError(f"graph {graph.name!r} has non-causal attention (an encoder); decode "
                         "and prefill model causal decoders")
    layers = range(n_layers) if layers is None else layers
    group = int(sc.attrs.get("group", 1))
    kv_heads, d_head = int(sc.attrs["batch"]), int(sc.attrs["k"])
    seq = graph.meta.get("seq_len") or graph.op("tokens").out_shape[0]
    kinds: dict[str, dict] = {}
    order: list[str] = []
    prev = None
    att_seen = False
    for op in graph.ops():
        if not op.name.startswith("layer"):
            continue
        idx, _, suffix = op.name[5:].partition(".")
        if int(idx) not in layers:
            continue
        if op.kind == "dense":
            key = suffix
            if key not in kinds:
                kinds[key] = {"role": "gemv", "k": op.weight_shape[0], "n": op.weight_shape[1],
                              "norms": 0, "vec": 0}
                order.append(key)
            prev = key
        elif op.kind == "matmul" and suffix == "scores":
            if "attention" not in kinds:
                kinds["attention"] = {"role": "attention", "norms": 0, "vec": 0}
                order.append("attention")
            att_seen = True
            prev = "attention"
        elif op.kind == "elementwise" and op.attrs.get("fn") == "dropout":
            continue  # identity at inference
        elif op.kind in ("layernorm", "elementwise") and prev is not None \
                and int(idx) == layers[0]:
            # per-token work of the op; norms also need a cross-core reduction
            kinds[prev]["vec"] += op.vector_ops // seq
            kinds[prev]["norms"] += op.kind == "layernorm"
        elif op.kind == "layernorm" and int(idx) == layers[0] and prev is None:
            kinds.setdefault("_pre", {"norms": 0, "vec": 0})
            kinds["_pre"]["norms"] += 1
            kinds["_pre"]["vec"] += op.vector_ops // seq
    if not att_seen:
        raise GraphError(f"graph {graph.name!r}: no attention in layers {layers}")
    pre = kinds.pop("_pre", {"norms": 0, "vec": 0})
    out = []
    for key in order:
        d = kinds[key]
        norms, vec = d["norms"], d["vec"]
        if key == order[-1]:  # the next layer's first norm reads the last product's output
            norms, vec = norms + pre["norms"], vec + pre["vec"]
        if d["role"] == "gemv":
            out.append(Kind(key, "gemv", len(layers), k=d["k"], n=d["n"], norms=norms,
                            vector_ops=vec))
        else:
            out.append(Kind("attention", "attention", len(layers), heads=kv_heads * group,
                            kv_heads=kv_heads, d_head=d_head,
                            window=int(sc.attrs.get("window", 0) or 0), norms=norms,
                            vector_ops=vec))
    sizes = {"n_layers": n_layers, "d_model": graph.meta.get("d_model"), "seq_len": seq,
             "vocab": graph.op("lm_head").weight_shape[1] if "lm_head" in graph else 0}
    return out, sizes


def head_kinds(graph: Graph, first: bool, last: bool) -> tuple[list[Kind], int]:
    """The LM head (on the last wafer) as a kind, and the bytes of embedding tables (first)."""
    kinds, table_bytes = [], 0
    eb = DTYPE_BYTES[graph.dtype]
    tied = set()
    if last and "lm_head" in graph:
        op = graph.op("lm_head")
        kinds.append(Kind("lm_head", "gemv", 1, k=op.weight_shape[0], n=op.weight_shape[1]))
        if op.attrs.get("tied_to"):
            tied.add(op.attrs["tied_to"])
    for op in graph.ops():
        # a table tied to the head is the head's weights when both sit on this wafer
        if op.kind == "embedding" and first and not (last and op.name in tied):
            table_bytes += op.weight_count * eb
    return kinds, table_bytes


# ---- per-kind costs over candidate regions ------------------------------------------------------
def candidate_sizes(limit: int) -> np.ndarray:
    """1..64, then steps of ~3 %, then ``limit``: region sides tried by the placer."""
    small = np.arange(1, min(limit, 64) + 1)
    big = np.unique(np.round(np.geomspace(65, max(limit, 65), 120)).astype(int)) \
        if limit > 64 else np.array([], dtype=int)
    return np.unique(np.concatenate([small, big[big <= limit], [limit]]))


def kv_len(kind: Kind, context: int) -> int:
    """KV-cache positions an attention kind reads at ``context`` (a sliding window caps it)."""
    return min(context, kind.window) if kind.window else context


def kind_cycles(spec: WaferSpec, kind: Kind, rows, cols, mode: str, context: int, batch: int,
                dtype: str, arity: int) -> dict:
    """Cycles of one instance of ``kind`` on ``rows x cols`` regions (arrays broadcast).

    Phases: ``broadcast``, ``local`` (FMACs), ``reduction`` (decode: the faster of chain and
    tree; prefill: the dataflow's pipeline fill and its transfer excess over the FMACs),
    ``other`` (norms, elementwise) and ``total``; ``reduction_kind`` is 1 where the tree
    (decode) or the broadcast-based dataflow (prefill) is chosen, else 0 (chain / systolic).
    Prefill also gives ``fill`` (latency of the first token) and ``rate`` (cycles per token
    once streaming), with ``total = fill + tokens * rate``.
    """
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    lanes = fmac_rate(spec, dtype)
    vlanes = spec.fmac_per_cycle(dtype)
    e = elems_per_wavelet(spec, dtype)
    hop, ramp = spec.hop_latency_cycles, spec.ramp_latency_cycles
    tokens = batch if mode == "decode" else batch * context
    zero = np.zeros(np.broadcast(rows, cols).shape)
    if kind.role == "gemv":
        out_cols = np.minimum(cols, kind.n)
        if mode == "decode":
            c = gemv_cycles(spec, kind.k, kind.n, rows, cols, batch, dtype, arity)
            red = np.minimum(c["chain"], c["tree"])
            rkind = (c["tree"] < c["chain"]).astype(np.int8)
            bcast, local = c["broadcast"], c["local"]
        else:
            fill, rate, per_row, rkind = _prefill_gemm(spec, kind, rows, cols, tokens, dtype,
                                                       arity)
            local, bcast = tokens * per_row, zero
        other = _other_cycles(spec, kind, out_cols, tokens, dtype, lanes)
    else:
        # columns: kvc groups of whole kv heads, each group cp columns wide splitting positions
        kvc = np.minimum(cols, kind.kv_heads)
        heads_per_col = np.ceil(kind.kv_heads / kvc)
        cp = np.floor(cols / kvc)
        group = kind.heads // kind.kv_heads
        length = kv_len(kind, context)
        if mode == "decode":
            pos = np.ceil(length * batch / (rows * cp))  # a request's positions over the cores
            macs = 2 * pos * heads_per_col * group * kind.d_head
            local = macs / lanes + pos * heads_per_col * group * SOFTMAX_VECTOR_OPS / vlanes \
                + spec.task_overhead_cycles
            bcast = broadcast_cycles(spec, rows, cols, batch * heads_per_col * group
                                     * kind.d_head, dtype)
            state = batch * heads_per_col * group * (kind.d_head + 2)  # (acc, max, sum)
            # down the rows, then across the cp columns of the group
            chain = reduction_cycles(spec, rows, state, dtype, "chain") \
                + reduction_cycles(spec, cp, state, dtype, "chain")
            tree = reduction_cycles(spec, rows, state, dtype, "tree", arity) \
                + reduction_cycles(spec, cp, state, dtype, "tree", arity)
            red = np.minimum(chain, tree)
            rkind = (tree < chain).astype(np.int8)
        else:
            cores = rows * kvc * cp
            # causal (query, key) pairs; a window caps each query's keys
            per_req = length * (length + 1) / 2 if not kind.window or kind.window >= length \
                else kind.window * (length - (kind.window - 1) / 2)
            pairs = batch * per_req
            local = 2 * pairs * kind.heads * kind.d_head / (cores * lanes) \
                + pairs * kind.heads * SOFTMAX_VECTOR_OPS / (cores * vlanes)
            # K and V multicast down each column group: its heads' slice of every position
            stream = np.ceil(batch * length * 2 * heads_per_col * kind.d_head / (cp * e)) \
                / spec.link_wavelets_per_cycle
            fill = 2 * ramp + (rows + cols) * hop + spec.task_overhead_cycles
            rate = np.maximum(local, stream) / tokens
            bcast, rkind = zero, np.zeros(zero.shape, dtype=np.int8)
        other = _other_cycles(spec, kind, cols, tokens, dtype, vlanes)
    if mode == "decode":
        total = bcast + local + red + other
        return {"broadcast": bcast, "local": local, "reduction": red, "other": other,
                "total": total, "reduction_kind": rkind}
    rate = rate + other / tokens
    total = fill + tokens * rate
    return {"broadcast": bcast, "local": local, "reduction": total - local - other,
            "other": other, "total": total, "reduction_kind": rkind, "fill": fill,
            "rate": rate}


def _prefill_gemm(spec: WaferSpec, kind: Kind, rows, cols, tokens: int, dtype: str,
                  arity: int):
    """Prefill GEMM of a gemv kind streaming ``tokens`` rows: ``(fill, rate, per_row,
    use_broadcast)`` in cycles, cycles per token, FMAC cycles per token, and 1 where the
    broadcast-based dataflow beats the systolic one (else 0)."""
    lanes, e = fmac_rate(spec, dtype), elems_per_wavelet(spec, dtype)
    w = wavelet_cycles(spec, dtype)
    hop, ramp = spec.hop_latency_cycles, spec.ramp_latency_cycles
    kr, nc = np.ceil(kind.k / rows), np.ceil(kind.n / cols)
    per_row = kr * nc / lanes
    # broadcast-based: router multicast of x (no core time), tree reduction per row
    tree_row = np.where(rows > 1, (arity - 1) * np.ceil(nc / e) * w, 0.0)
    b_rate = np.maximum.reduce([per_row, np.ceil(kr / e), tree_row])
    b_fill = broadcast_cycles(spec, rows, cols, kr, dtype) \
        + reduction_cycles(spec, rows, nc, dtype, "tree", arity)
    # systolic: every core forwards x and adds into the passing partial sums
    s_rate = np.maximum.reduce([per_row, np.ceil(kr / e) * w,
                                np.where(rows > 1, np.ceil(nc / e) * w, 0.0)])
    s_fill = (rows + cols) * (hop + 2 * ramp + w)
    use_b = b_fill + tokens * b_rate < s_fill + tokens * s_rate
    fill = np.where(use_b, b_fill, s_fill) + spec.task_overhead_cycles
    rate = np.where(use_b, b_rate, s_rate)
    return fill, rate, per_row, use_b.astype(np.int8)


def _other_cycles(spec: WaferSpec, kind: Kind, out_cols, tokens: int, dtype: str, lanes):
    """Norms (an all-reduce of one scalar per token across the output row, out and back) and
    elementwise ops spread over the ``out_cols`` cores of the producing region's output row."""
    vec = tokens * kind.vector_ops / (out_cols * spec.fmac_per_cycle(dtype))
    allreduce = kind.norms * (2 * (out_cols - 1) * spec.hop_latency_cycles
                              + 4 * spec.ramp_latency_cycles)
    return vec + allreduce


def kind_bytes_per_core(spec: WaferSpec, kind: Kind, rows, cols, context: int, batch: int,
                        dtype: str, instances: int | None = None) -> np.ndarray:
    """Worst-core bytes of ``kind`` (all its instances dealt over the wafer's tiles)."""
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    eb = DTYPE_BYTES[dtype]
    tiles = np.floor(spec.rows / rows) * np.floor(spec.cols / cols)
    count = kind.count if instances is None else instances
    per_core_instances = np.ceil(count / np.maximum(tiles, 1))
    if kind.role == "gemv":
        one = np.ceil(kind.k / rows) * np.ceil(kind.n / cols) * eb
    else:
        kvc = np.minimum(cols, kind.kv_heads)
        cp = np.floor(cols / kvc)
        one = np.ceil(kv_len(kind, context) * batch / (rows * cp)) \
            * np.ceil(kind.kv_heads / kvc) * 2 * kind.d_head * eb
    return np.where(tiles >= 1, per_core_instances * one, np.inf)


