"""Stages: one heavy op and the cheap ops riding on it, the flows between stages, their
depths in the pipeline and the samples each stashes between forward and backward."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import PlacementError
from ..graph import Graph, Op
from ..graph.masks import mask_digest
from ..kernels.schedule import train_schedule
from ..mapping import view_of
from .placement import Flow, StageData

GRANULARITIES = ("chunk", "sample")
# Planning the samples in flight before any stage time is known: a stage's forward task and
# its backward task may each take up to one period (their sum is at most one period on the
# slowest stage, but either alone can be nearly all of it). Bound, derived.
PLAN_TASK_PERIODS = 1.0


@dataclass(frozen=True, eq=False)
class StageSet:
    """The stages of one graph before any rectangle is chosen: what every placer round reads.

    ``names[i]`` are stage i's op names (heavy op first); ``where`` maps each op to its stage
    (-1 for inputs and cheap ops fed only by inputs); ``in_density`` (S,) is the expected
    density of each heavy op's input; ``first`` (S,) marks stages that read graph input (no
    input gradient); ``in_flight`` (S,) the samples stashed between forward and backward;
    ``units`` how each stage streams a sample (:class:`StreamUnits`).
    """

    graph: Graph = field(repr=False)
    names: tuple[tuple[str, ...], ...]
    where: dict[str, int] = field(repr=False)
    data: tuple[StageData, ...] = field(repr=False)
    in_density: np.ndarray = field(repr=False)
    first: np.ndarray = field(repr=False)
    in_flight: np.ndarray = field(repr=False)
    flows: tuple[Flow, ...] = field(repr=False)
    units: StreamUnits | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def flow_wavelets(self) -> np.ndarray:
        """Wavelets per sample each stage sends and receives to and from other stages (S,)."""
        w = np.zeros(len(self))
        for f in self.flows:
            w[f.src] += f.wavelets
            w[f.dst] += f.wavelets
        return w


def stage_set(graph: Graph, training: bool, granularity: str = "chunk") -> StageSet:
    """The :class:`StageSet` of ``graph`` placed for training or inference.

    ``granularity='sample'``: a stage starts a sample once its producers finished all of it,
    and a sample's forward at stage s and its backward there are 2 (D - depth) periods apart
    (the whole-sample model). ``'chunk'``: stages stream (:func:`stream_units`) and the samples
    in flight come from the schedule itself (:func:`chunk_in_flight`).
    """
    names, where = build_stages(graph)
    data, in_density, first = _stage_inputs(graph, names)
    flows = stage_flows(graph, where)
    units = stream_units(graph, names, where, flows, granularity)
    flows = [dataclasses.replace(f, lead=float(a), back_lead=float(b))
             for f, a, b in zip(flows, units.lead, units.back_lead, strict=True)]
    if not training:
        in_flight = np.ones(len(names))
    elif granularity == "sample":
        depth = stage_depths(len(names), flows)
        in_flight = 2 * (depth.max() + 1 - depth) - 1
    else:
        in_flight = chunk_in_flight(len(names), flows, units)
    return StageSet(graph, tuple(tuple(n) for n in names), where, tuple(data), in_density,
                    first, in_flight, tuple(flows), units)


@dataclass(frozen=True)
class StreamUnits:
    """How each stage moves a sample through the fabric (``docs/modeling.md``, streaming units).

    ``unit[s]`` names stage s's streaming unit ('token', 'row' or 'sample') and ``chunks[s]``
    (int64 (S,)) how many of them make a sample; ``lead[e]`` (float64, one per flow, in the
    flows' order) is the fraction of the producer's forward task after which the consumer has
    what it needs to start (one producer chunk when it streams, 1.0 across a barrier) and
    ``back_lead[e]`` the same of the consumer's backward task for the gradient going back.
    """

    unit: tuple[str, ...]
    chunks: np.ndarray
    lead: np.ndarray
    back_lead: np.ndarray
    granularity: str = "chunk"

    def most_chunks(self) -> int:
        return int(self.chunks.max(initial=1))


def op_stream_unit(op: Op) -> tuple[str, int]:
    """The unit an op emits its output in, and how many of them make one sample.

    ====================  =====================================  ===========================
    op                    unit                                   chunks per sample
    ====================  =====================================  ===========================
    dense                 token (one row of its input)           rows (1 on a flat input)
    embedding             token                                  tokens
    matmul                token (one row of the first operand)   m
    conv2d / transpose    row of the output feature map          output height
    everything else       the unit of the op it rides on         (cheap ops ride on stages)
    ====================  =====================================  ===========================
    """
    if op.kind == "dense" or op.kind == "embedding":
        rows = int(op.attrs.get("rows") or math.prod(op.out_shape[:-1]) or 1)
        return ("token" if rows > 1 else "sample"), max(rows, 1)
    if op.kind == "matmul":
        rows = int(op.attrs.get("m") or (op.in_shapes[0][-2] if op.in_shapes else 1))
        return ("token" if rows > 1 else "sample"), max(rows, 1)
    if op.kind in ("conv2d", "conv_transpose2d") and len(op.out_shape) == 3:
        return ("row" if op.out_shape[1] > 1 else "sample"), max(int(op.out_shape[1]), 1)
    return "sample", 1


def op_input_need(op: Op, k: int) -> float:
    """The fraction of input ``k`` an op needs before it can emit its first output: one
    token or row for the ops that stream, all of it for a barrier (1.0).

    Barriers: a matmul's second operand (attention scores need every key; probabilities x
    values need every value), a flatten (a reshape to one dimension), global pooling and the
    loss. A conv needs its first ``kernel - padding`` input rows (a transposed conv
    ``ceil((kernel - padding) / stride)``); softmax, norms, elementwise ops, reshapes that keep
    the first axis and transposes work one token or row at a time.
    """
    shape = op.in_shapes[k] if k < len(op.in_shapes) else ()
    if op.kind == "matmul":
        if k >= 1:
            return 1.0
        rows = shape[-2] if len(shape) >= 2 else 1
        return 1.0 / max(int(rows), 1)
    if op.kind == "loss" or (op.kind == "pool" and op.attrs.get("pool") == "global_avg"):
        return 1.0
    if op.kind == "reshape" and len(op.out_shape) == 1 and len(shape) > 1:
        return 1.0
    if op.kind in ("conv2d", "conv_transpose2d", "pool") and len(shape) == 3:
        kern = int(op.attrs.get("kernel", 1))
        pad = int(op.attrs.get("padding", 0))
        rows = max(1, kern - pad)
        if op.kind == "conv_transpose2d":
            rows = max(1, -(-rows // int(op.attrs.get("stride", 1))))
        return min(1.0, rows / max(int(shape[1]), 1))
    if len(shape) <= 1:  # a flat vector arrives as one piece
        return 1.0
    rows = math.prod(shape[:-1]) if op.kind in ("dense", "embedding") else shape[0]
    return 1.0 / max(int(rows), 1)


def stream_units(graph: Graph, names, where: dict[str, int], flows: list[Flow],
                 granularity: str = "chunk") -> StreamUnits:
    """Each stage's streaming unit and chunk count (its heavy op's, :func:`op_stream_unit`)
    and each flow's lead fractions. A stage that holds a barrier among its riders (a loss, a
    global pool, a flatten) emits only when the sample is complete: its out-flows lead 1.0.
    ``granularity='sample'``: one chunk per sample and every lead 1.0 (whole samples)."""
    if granularity not in GRANULARITIES:
        raise PlacementError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    S, E = len(names), len(flows)
    if granularity == "sample":
        return StreamUnits(("sample",) * S, np.ones(S, dtype=np.int64), np.ones(E), np.ones(E),
                           "sample")
    unit, chunks, emits_whole = [], np.ones(S, dtype=np.int64), np.zeros(S, dtype=bool)
    for s, ops in enumerate(names):
        u, c = op_stream_unit(graph.op(ops[0]))
        unit.append(u)
        chunks[s] = c
        for n in ops[1:]:
            rider = graph.op(n)
            emits_whole[s] |= any(op_input_need(rider, k) >= 1.0 and where.get(x, -1) >= 0
                                  for k, x in enumerate(rider.inputs))
    need: dict[tuple[int, int], float] = {}
    for op in graph.ops():
        d = where.get(op.name, -1)
        for k, x in enumerate(op.inputs):
            p = where.get(x, -1)
            if p >= 0 and d >= 0 and p != d:
                f = 1.0 if emits_whole[p] else op_input_need(op, k)
                need[(p, d)] = max(need.get((p, d), 0.0), f)
    lead, back = np.ones(E), np.ones(E)
    for e, f in enumerate(flows):
        frac = need.get((f.src, f.dst), 1.0)
        lead[e] = _chunk_fraction(frac, int(chunks[f.src]))
        back[e] = _chunk_fraction(frac, int(chunks[f.dst]))
    return StreamUnits(tuple(unit), chunks, lead, back)


def _chunk_fraction(need: float, chunks: int) -> float:
    """The fraction of a task of ``chunks`` chunks done when ``need`` of its output is out:
    a whole number of chunks, at least one."""
    return min(1.0, max(1, math.ceil(need * chunks - 1e-9)) / chunks)


def chunk_in_flight(n_stages: int, flows, units: StreamUnits,
                    fwd_cycles: np.ndarray | None = None, bwd_cycles: np.ndarray | None = None,
                    delay_cycles: np.ndarray | None = None,
                    period_cycles: float | None = None) -> np.ndarray:
    """Samples each stage holds between a sample's forward and its backward, when stages stream.

    One sample runs through the empty pipeline, stage s's forward taking ``fwd_cycles[s]`` and
    its backward ``bwd_cycles[s]`` (default: ``PLAN_TASK_PERIODS`` of a period each, before
    any time is known) and each flow its ``delay_cycles``: ``rt_s`` passes from its forward's
    start on stage s to its backward's end there, and the region starts one forward per
    ``period_cycles`` meanwhile (default: the largest forward + backward), so it stashes
    ``ceil(rt_s / period)`` samples; and at least as many as each of its consumers (the 1F1B
    order pairs a stage's backward of sample j with its forward of j + w_s, which its
    consumers need before their own pair j). int64 (S,).
    """
    src = np.array([f.src for f in flows], dtype=np.int64)
    dst = np.array([f.dst for f in flows], dtype=np.int64)
    tf = np.full(n_stages, PLAN_TASK_PERIODS) if fwd_cycles is None else \
        np.asarray(fwd_cycles, dtype=np.float64)
    tb = tf if bwd_cycles is None else np.asarray(bwd_cycles, dtype=np.float64)
    period = float((tf + tb).max(initial=0.0)) if period_cycles is None else period_cycles
    if fwd_cycles is None:
        period = PLAN_TASK_PERIODS
    if period <= 0:
        return np.ones(n_stages, dtype=np.int64)
    delay = None if delay_cycles is None else np.asarray(delay_cycles) / period
    fs, _, _, be = train_schedule((tf / period)[None, :], (tb / period)[None, :], 1, src, dst,
                                  delay, chunks=units.chunks, lead=units.lead,
                                  back_lead=units.back_lead)
    w = np.maximum(1, np.ceil(be[0] - fs[0] - 1e-9)).astype(np.int64)
    for f in sorted(flows, key=lambda f: (-f.src, -f.dst)):  # consumers before producers
        w[f.src] = max(w[f.src], w[f.dst])
    return w


def edge_delays(rects, flows, wafer) -> np.ndarray:
    """Cycles a wavelet takes along each flow: the hops between the two regions' corners at
    ``hop_latency_cycles`` each, and the ramp out of and into the cores. float64 (e,)."""
    return np.array([
        (abs(rects[f.src][0] - rects[f.dst][0]) + abs(rects[f.src][1] - rects[f.dst][1]))
        * wafer.hop_latency_cycles + 2 * wafer.ramp_latency_cycles for f in flows],
        dtype=np.float64)


def build_stages(graph: Graph) -> tuple[list[list[str]], dict[str, int]]:
    """Group ops into stages: each heavy op starts one; a cheap op joins the latest stage
    among its inputs' (where its last input is produced: a residual add rides on the branch
    that finishes last, not on the older skip connection).

    Returns the op names of each stage (heavy op first) and a map op -> stage (-1 for inputs
    and for cheap ops fed only by inputs).
    """
    stages: list[list[str]] = []
    where: dict[str, int] = {}
    for op in graph.ops():
        if op.heavy:
            where[op.name] = len(stages)
            stages.append([op.name])
        elif op.kind == "input":
            where[op.name] = -1
        else:
            s = max((where.get(i, -1) for i in op.inputs), default=-1)
            where[op.name] = s
            if s >= 0:
                stages[s].append(op.name)
    if not stages:
        raise PlacementError(f"graph {graph.name!r} has no heavy op (dense, matmul, conv, "
                             "embedding) to place; add one")
    return stages, where


def stage_flows(graph: Graph, where: dict[str, int]) -> list[Flow]:
    """Activation flows between stages, merged per (src, dst) pair, in wavelets per sample."""
    acc: dict[tuple[int, int], float] = {}
    for op in graph.ops():
        for src in op.inputs:
            s, d = where.get(src, -1), where[op.name]
            if s >= 0 and d >= 0 and s != d:
                p = graph.op(src)
                acc[(s, d)] = acc.get((s, d), 0.0) + p.out_elems * p.out_density
    return [Flow(s, d, w) for (s, d), w in sorted(acc.items())]


def stage_depths(n_stages: int, flows: list[Flow]) -> np.ndarray:
    """Longest path (in stages) from any source stage to each stage: int64 (n_stages,).

    Parallel branches (q, k and v of an attention layer) share a depth, so a sample is in
    flight between a stage's forward and backward for 2 x (depth of the pipe below it).
    """
    depth = np.zeros(n_stages, dtype=np.int64)
    for f in sorted(flows, key=lambda f: (f.dst, f.src)):  # stages are in topological order
        depth[f.dst] = max(depth[f.dst], depth[f.src] + 1)
    return depth


def stage_signature(sd: StageData) -> tuple:
    """What a stage's costs depend on besides its rectangle: equal signatures, equal costs
    (a real mask enters by its digest, so two different masks never share counts)."""
    op = sd.op
    seed = op.mask_seed if op.sparsity_pattern != "dense" else 0
    return (sd.view, op.kind, op.dtype, op.weight_density, op.sparsity_pattern, seed,
            sd.extra_vector_ops, sd.nnz, mask_digest(op))


def _reads_graph_input(graph: Graph, op: Op) -> bool:
    src = graph.op(op.inputs[0])
    while src.kind in ("reshape", "transpose") and src.inputs:
        src = graph.op(src.inputs[0])
    return src.kind == "input"


def _stage_inputs(graph: Graph, stages: list[list[str]]):
    data, in_density, first = [], [], []
    for names in stages:
        op = graph.op(names[0])
        view = view_of(op)
        extra = float(sum(graph.op(n).vector_ops for n in names))
        nnz = int(round(op.weight_count * op.weight_density)) if view.stored_weights else 0
        data.append(StageData(op, view, np.zeros((0, 0), np.int64), extra, nnz))
        in_density.append(graph.op(op.inputs[0]).out_density if op.inputs else 1.0)
        first.append(_reads_graph_input(graph, op) if op.inputs else True)
    return data, np.array(in_density), np.array(first, dtype=bool)


def host_io(graph: Graph, stage_ops) -> tuple[np.ndarray, np.ndarray]:
    """Wavelets per sample each stage receives from the host (graph inputs, through any
    reshape) and sends back (graph outputs; a loss sends one scalar): two float64 (S,).

    ``stage_ops[i]`` are stage i's op names. An input read by several stages is sent to each.
    """
    where = {name: i for i, ops in enumerate(stage_ops) for name in ops}
    n = len(stage_ops)
    into, out = np.zeros(n), np.zeros(n)
    for op in graph.ops():
        s = where.get(op.name, -1)
        if s < 0:
            continue
        for src in op.inputs:
            if where.get(src, -1) < 0:
                p = graph.op(src)
                into[s] += p.out_elems * p.out_density
        if not graph.successors(op.name):
            out[s] += 1.0 if op.kind == "loss" else op.out_elems * op.out_density
    return into, out
