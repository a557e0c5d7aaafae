"""Stages: one heavy op and the cheap ops riding on it, the flows between stages, their
depths in the pipeline and the samples each stashes between forward and backward."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PlacementError
from ..graph import Graph, Op
from ..mapping import view_of
from .placement import Flow, StageData


@dataclass(frozen=True, eq=False)
class StageSet:
    """The stages of one graph before any rectangle is chosen: what every placer round reads.

    ``names[i]`` are stage i's op names (heavy op first); ``where`` maps each op to its stage
    (-1 for inputs and cheap ops fed only by inputs); ``in_density`` (S,) is the expected
    density of each heavy op's input; ``first`` (S,) marks stages that read graph input (no
    input gradient); ``in_flight`` (S,) the samples stashed between forward and backward.
    """

    graph: Graph = field(repr=False)
    names: tuple[tuple[str, ...], ...]
    where: dict[str, int] = field(repr=False)
    data: tuple[StageData, ...] = field(repr=False)
    in_density: np.ndarray = field(repr=False)
    first: np.ndarray = field(repr=False)
    in_flight: np.ndarray = field(repr=False)
    flows: tuple[Flow, ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def flow_wavelets(self) -> np.ndarray:
        """Wavelets per sample each stage sends and receives to and from other stages (S,)."""
        w = np.zeros(len(self))
        for f in self.flows:
            w[f.src] += f.wavelets
            w[f.dst] += f.wavelets
        return w


def stage_set(graph: Graph, training: bool) -> StageSet:
    """The :class:`StageSet` of ``graph`` placed for training or inference."""
    names, where = build_stages(graph)
    data, in_density, first = _stage_inputs(graph, names)
    flows = stage_flows(graph, where)
    depth = stage_depths(len(names), flows)
    # a sample's forward at stage s and its backward there are 2 (D - depth) periods apart
    in_flight = (2 * (depth.max() + 1 - depth) - 1) if training else np.ones(len(names))
    return StageSet(graph, tuple(tuple(n) for n in names), where, tuple(data), in_density,
                    first, in_flight, tuple(flows))


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
    """What a stage's costs depend on besides its rectangle: equal signatures, equal costs."""
    op = sd.op
    seed = op.mask_seed if op.sparsity_pattern != "dense" else 0
    return (sd.view, op.kind, op.dtype, op.weight_density, op.sparsity_pattern, seed,
            sd.extra_vector_ops, sd.nnz)


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
