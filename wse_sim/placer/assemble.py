"""Assemble a :class:`Placement` from one replica's rectangles and evaluations: per-core
arrays over the whole wafer, route hops and colors per router."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..kernels.routes import routes_through
from ..spec import Physics, WaferSpec
from ..spec.physics import ALL_ON
from .evaluate import StageEval
from .placement import Placement, Stage
from .stages import StageSet


def assemble(sset: StageSet, wafer: WaferSpec, rects, evals: list[StageEval], origins, tile,
             training: bool, batch: int, seed: int, balance: float,
             physics: Physics = ALL_ON, in_flight=None) -> Placement:
    """The pipelined :class:`Placement` of ``len(origins)`` replicas of one tile; ``in_flight``
    (S,) the samples each stage stashes (default: the stage set's)."""
    in_flight = sset.in_flight if in_flight is None else in_flight
    stage_id = np.full((wafer.rows, wafer.cols), -1, dtype=np.int32)
    sram = np.full((wafer.rows, wafer.cols), -1, dtype=np.int64)
    tile_id = np.full(tile, -1, dtype=np.int32)
    tile_sram = np.full(tile, -1, dtype=np.int64)
    out_stages, out_data = [], []
    for i, (names, e) in enumerate(zip(sset.names, evals, strict=True)):
        r0, c0, h, w = rects[i]
        tile_id[r0:r0 + h, c0:c0 + w] = i
        tile_sram[r0:r0 + h, c0:c0 + w] = np.ceil(e.split.to_physical(e.sram))
        out_stages.append(Stage(i, names[0], names, rects[i], e.split,
                                float(sset.in_density[i]), bool(sset.first[i]),
                                int(in_flight[i]), float(e.cycles), float(e.sram.max()),
                                *fifo_depth(e, wafer, physics, _chunks(sset, i)),
                                e.stash_core_bytes))
        out_data.append(dataclasses.replace(sset.data[i], rtn=e.rtn))
    for (oy, ox) in origins:
        stage_id[oy:oy + tile[0], ox:ox + tile[1]] = tile_id
        sram[oy:oy + tile[0], ox:ox + tile[1]] = tile_sram
    hops, colors = route_summary(out_stages, sset.flows, tile, training)
    used = int(np.count_nonzero(stage_id >= 0))
    return Placement(
        graph=sset.graph, wafer=wafer, mode="pipelined", training=training, batch=batch,
        seed=seed, replicas=len(origins), replica_origins=tuple(origins), tile_shape=tile,
        stages=tuple(out_stages), flows=sset.flows, stage_id=stage_id, sram_bytes=sram,
        balance=balance, utilization=used / wafer.cores, wavelet_hops_per_sample=hops,
        max_colors_per_router=int(colors.max()),
        routers_over_color_budget=int(np.count_nonzero(colors > wafer.colors)),
        sram_peak_fraction=float(sram.max() / wafer.sram_bytes_per_core),
        data=tuple(out_data), physics=physics)


MAX_FIFO_SAMPLES = 64  # deeper FIFOs change nothing the pipeline recurrence can see


def _chunks(sset: StageSet, i: int) -> tuple[str, int]:
    if sset.units is None:
        return "sample", 1
    return sset.units.unit[i], int(sset.units.chunks[i])


def fifo_samples(e: StageEval, wafer: WaferSpec, physics: Physics) -> int:
    """Samples a stage's input FIFO holds: the io buffer plus the SRAM left after weights,
    stash and code on its fullest core, over the input wavelets (4 bytes each) a core of its
    busiest row receives per sample. With ``physics.fifo`` off: ``wafer.buffer_depth``."""
    return fifo_depth(e, wafer, physics)[0]


def fifo_depth(e: StageEval, wafer: WaferSpec, physics: Physics,
               unit: tuple[str, int] = ("sample", 1)) -> tuple[int, str, int, int]:
    """``(fifo_samples, unit, chunks, fifo_chunks)`` of a stage that streams ``unit =
    (name, chunks)``: the FIFO holds the same bytes either way, counted in whole samples
    (:func:`fifo_samples`, at least one) and in chunks (room over a chunk's bytes, at least
    one; ``wafer.buffer_depth`` samples' worth with ``physics.fifo`` off)."""
    name, c = unit
    if not physics.fifo:
        d = int(wafer.buffer_depth)
        return d, name, c, d * c
    per_sample = float(e.cost.row_wavelets.max(initial=0)) * wafer.wavelet_bits / 8
    room = wafer.sram_bytes_per_core - float(e.sram.max()) + wafer.io_buffer_bytes
    if per_sample <= 0:
        return MAX_FIFO_SAMPLES, name, c, MAX_FIFO_SAMPLES * c
    samples = int(min(MAX_FIFO_SAMPLES, max(1, room // per_sample)))
    chunks = int(min(MAX_FIFO_SAMPLES * c, max(1, room // (per_sample / c))))
    return samples, name, c, chunks


def color_report(plan: Placement) -> str:
    """The message of a placement that needs more colors than a router has."""
    colors = route_summary(plan.stages, plan.flows, plan.tile_shape, plan.training)[1]
    r, c = np.unravel_index(int(np.argmax(colors)), colors.shape)
    through = []
    for f in plan.flows:
        a, b = stage_ports(plan.stages[f.src])[1], stage_ports(plan.stages[f.dst])[0]
        on_x = r == a[0] and min(a[1], b[1]) <= c <= max(a[1], b[1])  # X leg along row a
        on_y = c == b[1] and min(a[0], b[0]) <= r <= max(a[0], b[0])  # Y leg along column b
        if on_x or on_y:
            through.append(f"{plan.stages[f.src].heavy}->{plan.stages[f.dst].heavy}")
    return (f"{plan.graph.name!r} on {plan.wafer.name!r}: router ({r}, {c}) of the replica tile "
            f"needs {int(colors[r, c])} colors but the wafer has colors={plan.wafer.colors}; "
            f"routes through it: {', '.join(through[:12]) or 'its own region traffic'}"
            f"{' ...' if len(through) > 12 else ''}. Fix: fewer replicas, a larger wafer, or "
            "physics=Physics(colors=False) to ignore the budget")


def stage_ports(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """Physical (row, col) of where a stage's activations enter (``entry``) and leave.

    Activations enter on the K edge (west edge when K lies over rows, north edge otherwise)
    and leave from the reduction sink (bottom row, or east column). Returns two (2,) arrays of
    the edge midpoints, used for representative routes.
    """
    r0, c0, h, w = stage.rect
    if stage.split.k_on_rows:
        entry = np.array([r0 + h // 2, c0])
        exit_ = np.array([r0 + h - 1, c0 + w // 2])
    else:
        entry = np.array([r0, c0 + w // 2])
        exit_ = np.array([r0 + h // 2, c0 + w - 1])
    return entry, exit_


def route_summary(stages, flows, tile, training: bool) -> tuple[float, np.ndarray]:
    """Wavelet-hops per sample of the inter-stage flows and colors per router of one replica."""
    if not flows:
        colors = np.zeros(tile, dtype=np.int32)
    else:
        src = np.array([stage_ports(stages[f.src])[1] for f in flows])
        dst = np.array([stage_ports(stages[f.dst])[0] for f in flows])
        colors = routes_through(tile[0], tile[1], src[:, 0], src[:, 1], dst[:, 0], dst[:, 1])
    # each region runs its own multicast and reduction colors (twice as many in training)
    inside = np.zeros(tile, dtype=np.int32)
    for s in stages:
        r0, c0, h, w = s.rect
        inside[r0:r0 + h, c0:c0 + w] = 4 if training else 2
    hops = 0.0
    for f in flows:
        a = stage_ports(stages[f.src])[1]
        b = stage_ports(stages[f.dst])[0]
        hops += f.wavelets * float(np.abs(a - b).sum()) * (2 if training else 1)
    return hops, colors + inside
