"""LLM inference placement: every weight and the KV cache resident in SRAM, over N wafers.

Each kind of product (:mod:`wse_sim.mapping.decoder`) runs on an ``R x C`` region; the wafer is
tiled by ``T = floor(rows/R) floor(cols/C)`` copies of that region and the kind's ``L``
instances (one per layer) are dealt over the tiles, so a core holds ``ceil(L / T)`` tiles of
that kind. Products of different layers run at different times, so their regions may overlap:
a core's SRAM holds tiles of every kind. The region of each kind is chosen to minimise the time
per token (or per prompt, for prefill) subject to the worst core's SRAM (sum over kinds)
fitting, by a Lagrange multiplier on bytes per core found by bisection. Too few bytes on the
wafer raise :class:`PlacementError` with the bytes needed and available; ``wafers=N`` splits
the layers over ``N`` wafers in a pipeline (``'auto'``: the fewest that fit).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import PlacementError, SimulationError
from ..graph import DTYPE_BYTES, Graph
from ..mapping.decoder import (
    Kind,
    candidate_sizes,
    head_kinds,
    kind_bytes_per_core,
    kind_cycles,
    kv_len,
    model_kinds,
)
from ..mapping.gemv import DEFAULT_TREE_ARITY, usable_sram_bytes
from ..spec import WaferSpec

LLM_MODES = ("decode", "prefill")
BATCH_PER_WAFER_LIMIT = 4096  # refuse absurd batches early (checked in place_llm)


def check_int(what: str, value, lo: int = 1) -> int:
    """``value`` as an int, or :class:`SimulationError` naming ``what`` if not an int >= lo."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise SimulationError(f"{what} must be an integer >= {lo}, got {value!r}")
    return int(value)


# ---- the plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KindPlacement:
    """One kind's region on one wafer: ``(rows, cols)``, its instances and bytes per core."""

    kind: Kind
    region: tuple[int, int]
    tiles: int
    bytes_per_core: int

    def to_dict(self) -> dict:
        return {"kind": asdict(self.kind), "region": list(self.region), "tiles": self.tiles,
                "bytes_per_core": self.bytes_per_core}


@dataclass(frozen=True)
class WaferStage:
    """The layers one wafer of the pipeline holds and where their kinds run."""

    index: int
    layers: tuple[int, int]  # [first, last) layer
    kinds: tuple[KindPlacement, ...]
    table_bytes: int  # embedding tables resident on this wafer, spread over all its cores
    sram_bytes_per_core: int  # worst core: every kind + tables + buffers
    sram_capacity_bytes_per_core: int

    def to_dict(self) -> dict:
        return {"index": self.index, "layers": list(self.layers),
                "kinds": [k.to_dict() for k in self.kinds], "table_bytes": self.table_bytes,
                "sram_bytes_per_core": self.sram_bytes_per_core,
                "sram_capacity_bytes_per_core": self.sram_capacity_bytes_per_core}


@dataclass(frozen=True)
class LlmPlan:
    """A decoder placed for inference on ``wafers`` copies of ``spec`` (see module docs)."""

    graph: Graph = field(repr=False, compare=False)
    spec: WaferSpec
    mode: str
    context: int
    batch: int
    wafers: int
    stages: tuple[WaferStage, ...]
    weight_bytes: int
    kv_bytes: int  # the KV cache of ``batch`` requests at ``context``
    tree_arity: int = DEFAULT_TREE_ARITY

    @property
    def training(self) -> bool:  # what engine.simulate checks before dispatching
        return False

    def to_dict(self) -> dict:
        return {"graph": self.graph.name, "spec": self.spec.name, "mode": self.mode,
                "context": self.context, "batch": self.batch, "wafers": self.wafers,
                "weight_bytes": self.weight_bytes, "kv_bytes": self.kv_bytes,
                "tree_arity": self.tree_arity, "stages": [s.to_dict() for s in self.stages]}


def kv_cache_bytes(graph: Graph, context: int, batch: int) -> int:
    """Bytes of the KV cache of ``batch`` requests at ``context`` positions (window-capped)."""
    kinds, sizes = model_kinds(graph)
    att = next(k for k in kinds if k.role == "attention")
    return (sizes["n_layers"] * batch * kv_len(att, context) * 2 * att.kv_heads * att.d_head
            * DTYPE_BYTES[graph.dtype])


def _split_layers(graph: Graph, wafers: int) -> list[tuple[int, int]]:
    n = graph.meta["n_layers"]
    if wafers > n:
        raise PlacementError(f"wafers={wafers} exceeds the {n} layers of {graph.name!r}; a "
                             "wafer holds at least one layer")
    bounds = np.round(np.linspace(0, n, wafers + 1)).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _place_stage(graph: Graph, spec: WaferSpec, index: int, layers: tuple[int, int],
                 last: bool, mode: str, context: int, batch: int, arity: int) -> WaferStage:
    dtype = graph.dtype
    eb = DTYPE_BYTES[dtype]
    kinds, _ = model_kinds(graph, range(*layers))
    heads, table_bytes = head_kinds(graph, first=index == 0, last=last)
    kinds = kinds + heads
    cap = usable_sram_bytes(spec)
    table_per_core = math.ceil(table_bytes / spec.cores)
    rs, cs = candidate_sizes(spec.rows), candidate_sizes(spec.cols)
    rows, cols = (a.ravel() for a in np.meshgrid(rs, cs, indexing="ij"))
    times, loads, bufs = [], [], []
    for kd in kinds:  # a handful of kinds; arrays over all candidate regions
        cyc = kind_cycles(spec, kd, rows, cols, mode, context, batch, dtype, arity)
        if mode == "decode":  # a step runs every instance one after the other
            times.append(kd.count * cyc["total"])
        else:  # tokens stream through all layers at once: a core works for each tile it holds
            tiles = np.floor(spec.rows / rows) * np.floor(spec.cols / cols)
            share = np.ceil(kd.count / np.maximum(tiles, 1))
            times.append(kd.count * cyc["fill"] + (cyc["total"] - cyc["fill"]) * share)
        loads.append(kind_bytes_per_core(spec, kd, rows, cols, context, batch, dtype))
        if kd.role == "gemv":  # x slice + partial sums while it runs (one kind at a time)
            tok = batch if mode == "decode" else 1
            bufs.append(tok * (np.ceil(kd.k / rows) + np.ceil(kd.n / cols)) * eb)
    buf = float(max(np.min(b) for b in bufs)) if bufs else 0.0
    budget = cap - table_per_core - buf

    def choose(lam: float) -> tuple[list[int], float]:
        picks = [int(np.argmin(t + lam * ld)) for t, ld in zip(times, loads, strict=True)]
        return picks, float(sum(ld[i] for ld, i in zip(loads, picks, strict=True)))

    picks, used = choose(0.0)
    if used > budget:
        lo, hi = 0.0, 1.0
        while choose(hi)[1] > budget and hi < 1e30:
            hi *= 16
        if choose(hi)[1] > budget:
            least = sum(float(np.min(ld)) for ld in loads)
            raise PlacementError(
                f"{graph.name!r} layers {layers[0]}..{layers[1] - 1} on {spec.name!r} "
                f"({spec.rows} x {spec.cols}): the weights and KV cache need at least "
                f"{least + table_per_core + buf:,.0f} bytes per core, {cap:,} usable; use "
                "more wafers (wafers=N or 'auto'), a shorter context or a smaller batch")
        for _ in range(60):
            mid = math.sqrt(lo * hi) if lo > 0 else hi / 1e6
            if choose(mid)[1] > budget:
                lo = mid
            else:
                hi = mid
        picks, used = choose(hi)
    placed = []
    for kd, i, ld in zip(kinds, picks, loads, strict=True):
        r, c = int(rows[i]), int(cols[i])
        placed.append(KindPlacement(kd, (r, c), int((spec.rows // r) * (spec.cols // c)),
                                    int(ld[i])))
    return WaferStage(index, layers, tuple(placed), table_bytes,
                      int(used + table_per_core + buf), cap)


def _wafers_needed(graph: Graph, spec: WaferSpec, context: int, batch: int) -> int:
    """A lower bound on wafers from total bytes (weights, tables, KV) against usable SRAM."""
    eb = DTYPE_BYTES[graph.dtype]
    total = graph.total_params * eb + kv_cache_bytes(graph, context, batch)
    return max(1, math.ceil(total / (usable_sram_bytes(spec) * spec.cores)))


def place_llm(graph: Graph, spec: WaferSpec, mode: str = "decode", context: int = 2048,
              batch: int = 1, wafers: int | str = 1,
              tree_arity: int = DEFAULT_TREE_ARITY) -> LlmPlan:
    """Place decoder ``graph`` on ``wafers`` wafers of ``spec`` for ``mode`` at ``context``
    positions and ``batch`` requests (see module docs). ``wafers='auto'`` takes the fewest that
    fit. Raises :class:`PlacementError` with bytes needed against bytes available."""
    if mode not in LLM_MODES:
        raise SimulationError(f"LLM mode must be one of {', '.join(LLM_MODES)}, got {mode!r}")
    context, batch = check_int("context", context), check_int("batch", batch)
    if batch > BATCH_PER_WAFER_LIMIT:
        raise SimulationError(f"batch={batch} is above {BATCH_PER_WAFER_LIMIT}; use fewer "
                              "requests per step")
    model_kinds(graph)  # raises for non-decoders
    eb = DTYPE_BYTES[graph.dtype]
    weight_bytes = graph.total_params * eb
    kv = kv_cache_bytes(graph, context, batch)
    if wafers == "auto":
        n = _wafers_needed(graph, spec, context, batch)
        while True:
            try:
                return place_llm(graph, spec, mode, context, batch, n, tree_arity)
            except PlacementError:
                if n >= graph.meta["n_layers"]:
                    raise
                n += 1
    wafers = check_int("wafers", wafers)
    need = weight_bytes + kv
    avail = wafers * usable_sram_bytes(spec) * spec.cores
    if need > avail:
        raise PlacementError(
            f"{graph.name!r} needs {need:,} bytes ({weight_bytes:,} weights + {kv:,} KV cache "
            f"for {batch} x {context} positions), {wafers} x {spec.name!r} "
            f"({spec.rows} x {spec.cols}) has {avail:,} usable SRAM bytes; use wafers>="
            f"{_wafers_needed(graph, spec, context, batch)}, a shorter context or a smaller "
            "batch")
    splits = _split_layers(graph, wafers)
    stages = tuple(_place_stage(graph, spec, i, lay, i == wafers - 1, mode, context, batch,
                                tree_arity) for i, lay in enumerate(splits))
    return LlmPlan(graph, spec, mode, context, batch, wafers, stages, weight_bytes, kv,
                   tree_arity)


