"""What weight streaming keeps and moves, per stage: the activations backward needs (with
flash attention or stored scores, with or without segment checkpointing), the bytes streamed
from the memory service (one rule for index bytes with the placer's sizing), the rows an
embedding reads, and whether the service can hold the model (``docs/modeling.md``, "Weight
streaming on a system")."""

from __future__ import annotations

import numpy as np

from ..errors import PlacementError
from ..graph import DTYPE_BYTES
from ..kernels.tiles import INDEX_BYTES
from ..mapping.sram import stored_weight_bytes
from ..spec.system import SystemSpec
from .stages import StageSet

STATS_BYTES = 4  # flash attention keeps one fp32 log-sum-exp per query row and head, derived


def stored_bytes(nnz: float, dtype: str, density: float) -> float:
    """Bytes of ``nnz`` stored weights on the stream: the one rule of the placer
    (:func:`wse_sim.mapping.sram.stored_weight_bytes`)."""
    return stored_weight_bytes(nnz, dtype, density)


def streamed_bytes(sset: StageSet, training: bool):
    """Per stage (S,): dense weight bytes streamed per pass; for lookup tables instead their
    rows, bytes per row and rows read per sample (only the rows a micro-batch uses stream)."""
    S = len(sset)
    w, rows, row_b, looks = np.zeros(S), np.zeros(S), np.zeros(S), np.zeros(S)
    for i, sd in enumerate(sset.data):
        v, op = sd.view, sd.op
        if not v.stored_weights:
            continue
        if v.one_hot:
            rows[i] = v.k
            row_b[i] = stored_bytes(v.n * op.weight_density, op.dtype, op.weight_density)
            looks[i] = v.rows
        else:
            # a layer tied to an embedding (a GPT's LM head) has no params of its own, but
            # the whole table streams through it
            nnz = sd.nnz if not op.attrs.get("tied_to") else v.k * v.n * op.weight_density
            w[i] = stored_bytes(nnz, op.dtype, op.weight_density)
    return w, rows, row_b, looks


def distinct_rows(table_rows: np.ndarray, reads: float) -> np.ndarray:
    """Expected distinct rows among ``reads`` uniform draws from tables of ``table_rows``:
    V (1 - (1 - 1/V)^reads). An upper bound for real text (Zipf-like ids repeat more)."""
    V = np.maximum(np.asarray(table_rows, dtype=np.float64), 2.0)
    out = V * -np.expm1(reads * np.log1p(-1.0 / V))
    return np.where(table_rows > 1, out, np.minimum(table_rows, reads))


def backward_bytes(sset: StageSet, attention: str) -> tuple[np.ndarray, dict]:
    """Bytes per sample (wafer total) each stage keeps for backward (S,), and the attention
    stash per sample under each attention choice.

    A heavy op keeps its input (a tensor read by several ops, such as q/k/v's, is kept
    once); an attention product keeps its second operand (K, V). Stored attention also keeps
    the probabilities (heads x queries x keys); flash attention keeps only one fp32 log-sum-
    exp per query row and head and recomputes the scores in backward.
    """
    S = len(sset)
    out = np.zeros(S)
    seen: set = set()
    attn = {"flash": 0.0, "stored": 0.0}
    g = sset.graph
    for i, sd in enumerate(sset.data):
        v, op = sd.view, sd.op
        vb = DTYPE_BYTES[op.dtype]
        dens = float(sset.in_density[i])
        x_in = v.rows if v.one_hot else v.rows * v.k * dens / v.reuse
        x_bytes = x_in * (vb + (INDEX_BYTES if dens < 0.5 else 0))
        src = op.inputs[0] if op.inputs else op.name
        if v.stored_weights:
            if src not in seen:
                out[i] += x_bytes
                seen.add(src)
            continue
        operand = v.heads * v.k * v.n * vb
        if _reads_probabilities(g, op):
            flash = operand + v.rows * STATS_BYTES
            stored = operand + x_bytes
        else:
            flash = stored = operand + x_bytes
        attn["flash"] += flash
        attn["stored"] += stored
        out[i] += flash if attention == "flash" else stored
    return out, attn


def _reads_probabilities(g, op) -> bool:
    """True for the attention product fed by softmax probabilities (through dropout)."""
    src = g.op(op.inputs[0])
    for _ in range(4):
        if src.kind == "softmax":
            return True
        if not src.inputs:
            return False
        src = g.op(src.inputs[0])
    return False


def checkpoint_bytes(sset: StageSet, stash: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Bytes per sample backward keeps with segment checkpointing, and the stages that start
    a segment.

    Keeping the tensors that cross a boundary before stage j (every flow from a stage before
    j to one at or after it: the residual stream and any skip) lets backward recompute the
    segment after it; while it does, that segment's full stash is held. Memory = the
    boundaries' tensors + the largest segment's stash. Segments are cut greedily at a cap on
    a segment's stash, the cap chosen among a geometric range as the one needing least.
    """
    S = len(sset)
    if S < 2 or stash.sum() <= 0:
        return float(stash.sum()), ()
    live = np.zeros(S + 1)  # bytes crossing the boundary before stage j
    vb = np.array([DTYPE_BYTES[sd.op.dtype] for sd in sset.data], dtype=np.float64)
    for f in sset.flows:
        if f.dst > f.src:
            live[f.src + 1:f.dst + 1] += f.wavelets * vb[f.src]
    best = (float(stash.sum()), ())
    for cap in np.geomspace(max(float(stash.max()), 1.0), float(stash.sum()), 24):
        cuts, seg, seg_max = [], 0.0, 0.0
        for j in range(S):
            if seg > 0 and seg + stash[j] > cap:
                cuts.append(j)
                seg_max = max(seg_max, seg)
                seg = 0.0
            seg += stash[j]
        seg_max = max(seg_max, seg)
        need = float(live[cuts].sum()) + seg_max + float(stash[0])
        if need < best[0]:
            best = (need, tuple(cuts))
    return best


def recompute_flags(sset: StageSet, attention: str) -> np.ndarray:
    """1.0 for the stages backward reruns forward: the attention scores under flash."""
    g = sset.graph
    return np.array([1.0 if attention == "flash" and not sd.view.stored_weights
                     and any(g.op(n).kind == "softmax" for n in names) else 0.0
                     for names, sd in zip(sset.names, sset.data, strict=True)])


def check_capacity(sset: StageSet, system: SystemSpec, training: bool) -> None:
    """Raise :class:`PlacementError` when the weights (and, training, the optimizer state)
    exceed the memory service."""
    from ..mapping import OPTIMIZER_BYTES_PER_WEIGHT

    need = 0.0
    for sd in sset.data:
        if sd.view.stored_weights and not sd.op.attrs.get("tied_to"):
            need += stored_bytes(sd.nnz, sd.op.dtype, sd.op.weight_density)
            if training:
                need += sd.nnz * OPTIMIZER_BYTES_PER_WEIGHT
    if need > system.memory_capacity_bytes:
        raise PlacementError(
            f"{sset.graph.name!r} needs {need:,.0f} bytes of weights and optimizer state in "
            f"the memory service but {system.name!r} holds memory_capacity_bytes="
            f"{system.memory_capacity_bytes:,.0f}; use a larger service, e.g. "
            f"ws.system({system.name!r}, memory_capacity_bytes={need * 1.25:.3g})")
