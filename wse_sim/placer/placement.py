"""What the placer returns: :class:`Placement`, its :class:`Stage` records and the
:class:`Flow` of activations between stages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graph import Graph, Op
from ..mapping import Split, View
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a heavy op, the cheap ops riding on it, and its rectangle."""

    index: int
    heavy: str
    ops: tuple[str, ...]
    rect: tuple[int, int, int, int]  # (row0, col0, height, width) in replica 0
    split: Split
    in_density: float
    first: bool  # reads graph input: no input gradient
    in_flight: int  # samples stashed between forward and backward (training)
    est_cycles: float  # predicted time per sample (expected activations)
    sram_max_bytes: float
    fifo_samples: int = 1  # samples its input FIFO holds (from the SRAM left; docs/modeling.md)
    unit: str = "sample"  # what it streams a sample in: 'token', 'row' or 'sample'
    chunks: int = 1  # how many units make a sample (1: whole samples)
    fifo_chunks: int = 1  # its input FIFO in chunks of its input (fifo_samples x chunks, or more)
    stash_bytes_per_sample: float = 0.0  # the most SRAM one more stashed sample takes on a core

    @property
    def cores(self) -> int:
        return self.rect[2] * self.rect[3]

    def to_dict(self) -> dict:
        return {"index": self.index, "heavy": self.heavy, "ops": list(self.ops),
                "rect": list(self.rect), "cores": self.cores,
                "orientation": "k_on_rows" if self.split.k_on_rows else "k_on_cols",
                "row_groups": self.split.groups, "in_density": self.in_density,
                "in_flight": self.in_flight, "est_cycles": self.est_cycles,
                "sram_max_bytes": self.sram_max_bytes, "fifo_samples": self.fifo_samples,
                "unit": self.unit, "chunks": self.chunks, "fifo_chunks": self.fifo_chunks,
                "stash_bytes_per_sample": self.stash_bytes_per_sample}


@dataclass(frozen=True)
class Flow:
    """Activations from stage ``src`` to stage ``dst``: ``wavelets`` per sample (non-zeros)."""

    src: int
    dst: int
    wavelets: float
    lead: float = 1.0  # fraction of src's forward task done when dst can start (1: barrier)
    back_lead: float = 1.0  # fraction of dst's backward task done when src's can start


@dataclass(frozen=True)
class StageData:
    """What the engine needs to re-evaluate a stage: its op, view and weight row counts."""

    op: Op
    view: View
    rtn: np.ndarray = field(repr=False)  # int64 (K, b)
    extra_vector_ops: float
    nnz: int


@dataclass(frozen=True, eq=False)
class Placement:
    """A graph mapped onto a wafer. Per-core arrays are (rows, cols); -1 marks unused cores."""

    graph: Graph = field(repr=False)
    wafer: WaferSpec
    mode: str  # "pipelined" or "weight_streaming"
    training: bool
    batch: int
    seed: int
    replicas: int
    replica_origins: tuple[tuple[int, int], ...]
    tile_shape: tuple[int, int]
    stages: tuple[Stage, ...]
    flows: tuple[Flow, ...]
    stage_id: np.ndarray = field(repr=False)
    sram_bytes: np.ndarray = field(repr=False)
    balance: float  # slowest / mean predicted time over compute-sized stages
    utilization: float
    wavelet_hops_per_sample: float
    max_colors_per_router: int
    routers_over_color_budget: int
    sram_peak_fraction: float
    data: tuple[StageData, ...] = field(repr=False, default=())
    micro_batch: int = 0  # weight streaming: samples whose activations stay on the wafer
    balance_all: float = 1.0  # slowest / mean over every stage, memory-sized ones included
    memory_sized_stages: int = 0  # stages given more cores than their time needs, for SRAM
    physics: Physics = ALL_ON  # the mechanisms this placement was made with
    notes: tuple[str, ...] = ()  # what the placer chose for the user and why (batch, mode)
    replicas_auto: tuple[int, float] = ()  # (count, predicted rate / this one's) of 'auto'
    # weight streaming: the system, tiles, stashes and streamed bytes
    # (wse_sim.placer.streaming.StreamPlan); None for other modes
    streaming: Any = field(repr=False, default=None)

    @property
    def systems(self) -> int:
        """Systems training in data parallel (weight streaming on a SystemSpec), else 1."""
        return self.streaming.system.n_systems if self.streaming is not None else 1

    @property
    def cores_used(self) -> int:
        return int(np.count_nonzero(self.stage_id >= 0))

    def to_dict(self) -> dict:
        return {"model": self.graph.name, "wafer": self.wafer.name, "mode": self.mode,
                "training": self.training, "batch": self.batch, "seed": self.seed,
                "replicas": self.replicas, "tile_shape": list(self.tile_shape),
                "stages": [s.to_dict() for s in self.stages],
                "flows": [dataclasses.asdict(f) for f in self.flows],
                "balance": self.balance, "balance_all": self.balance_all,
                "memory_sized_stages": self.memory_sized_stages,
                "utilization": self.utilization,
                "cores_used": self.cores_used,
                "wavelet_hops_per_sample": self.wavelet_hops_per_sample,
                "max_colors_per_router": self.max_colors_per_router,
                "routers_over_color_budget": self.routers_over_color_budget,
                "sram_peak_fraction": self.sram_peak_fraction,
                "physics": self.physics.to_dict(), "micro_batch": self.micro_batch,
                "notes": list(self.notes), "replicas_auto": list(self.replicas_auto),
                **({"streaming": self.streaming.to_dict()} if self.streaming is not None
                   else {})}
