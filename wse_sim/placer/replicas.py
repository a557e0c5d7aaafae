"""Replicas: data-parallel copies of one pipeline on equal tiles of the wafer, and the
gradient all-reduce between them."""

from __future__ import annotations

import math

import numpy as np

from ..errors import PlacementError
from ..spec import WaferSpec


def replica_tiles(rows: int, cols: int, r: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Split the mesh into ``r`` equal tiles (ry x rx grid); return tile shape and origins."""
    best = None
    for ry in range(1, r + 1):
        if r % ry:
            continue
        rx = r // ry
        th, tw = rows // ry, cols // rx
        if th < 1 or tw < 1:
            continue
        score = (th * tw, -abs(math.log(th / tw)))
        if best is None or score > best[0]:
            best = (score, ry, rx, th, tw)
    if best is None:
        raise PlacementError(f"cannot cut a {rows} x {cols} wafer into {r} replicas")
    _, ry, rx, th, tw = best
    origins = [(i * th, j * tw) for i in range(ry) for j in range(rx)]
    return (th, tw), origins


def allreduce_cycles_per_step(nnz: np.ndarray, rects: list[tuple[int, int, int, int]],
                              replicas: int, tile_shape: tuple[int, int], spec: WaferSpec,
                              dtype_bytes: int) -> float:
    """Ring all-reduce of every stage's gradients across ``replicas`` copies, cycles per step.

    Each stage reduces with the same stage in the other replicas over the links on its
    region's edge (min(h, w) parallel links); stages reduce concurrently, so the slowest one
    sets the time. 2 (r - 1) / r of the gradient crosses each link, plus the ring's hops.
    """
    if replicas <= 1:
        return 0.0
    per_wavelet = spec.wavelet_bits / 8 / dtype_bytes
    worst = 0.0
    for k, (_, _, h, w) in enumerate(rects):
        wavelets = nnz[k] / per_wavelet
        t = 2 * (replicas - 1) / replicas * wavelets / (min(h, w) * spec.link_wavelets_per_cycle)
        worst = max(worst, t)
    hops = 2 * (replicas - 1) * (tile_shape[0] + tile_shape[1]) / 2
    return worst + hops * spec.hop_latency_cycles
