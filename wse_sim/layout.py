"""Layout: rectangles for the stages of one replica, replica tiles, and the cost of the
gradient all-reduce between replicas."""

from __future__ import annotations

import math

import numpy as np

from .errors import PlacementError
from .spec import WaferSpec


def bisect_layout(weights: np.ndarray, rect: tuple[int, int, int, int]
                  ) -> list[tuple[int, int, int, int]]:
    """Cut ``rect`` (row0, col0, h, w) into one rectangle per weight, in order, areas in
    proportion to the weights, consecutive rectangles adjacent (recursive bisection).

    Raises :class:`PlacementError` when the rectangle has fewer cores than weights.
    """
    out: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(weights)
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64))])
    stack = [(0, len(weights), rect, False)]
    while stack:
        lo, hi, (r0, c0, h, w), flip = stack.pop()
        if h * w < hi - lo:
            raise PlacementError(
                f"{hi - lo} stages do not fit in a {h} x {w} block of cores: a stage needs at "
                "least one core; use a larger wafer or fewer replicas")
        if hi - lo == 1:
            out[lo] = (r0, c0, h, w)
            continue
        half = cum[lo] + 0.5 * (cum[hi] - cum[lo])
        mid = int(np.clip(np.searchsorted(cum, half), lo + 1, hi - 1))
        # keep the split point near the weight median, nudged to the closer cumulative value
        if mid - 1 > lo and abs(cum[mid - 1] - half) < abs(cum[mid] - half):
            mid -= 1
        along_cols, mid, low, high = _feasible_cut(cum, lo, hi, mid, half, h, w)
        frac = (cum[mid] - cum[lo]) / max(cum[hi] - cum[lo], 1e-300)
        if along_cols:
            w1 = int(np.clip(round(w * frac), low, high))
            c1 = c0 + w - w1 if flip else c0  # mirrored: the first half takes the far side
            c2 = c0 if flip else c0 + w1
            first, second = (r0, c1, h, w1), (r0, c2, h, w - w1)
        else:
            h1 = int(np.clip(round(h * frac), low, high))
            q1 = r0 + h - h1 if flip else r0
            q2 = r0 if flip else r0 + h1
            first, second = (q1, c0, h1, w), (q2, c0, h - h1, w)
        # the second half is laid out mirrored so its first stage sits by the first half's last
        stack.append((mid, hi, second, not flip))
        stack.append((lo, mid, first, flip))
    return out


def _feasible_cut(cum, lo, hi, mid, half, h, w) -> tuple[bool, int, int, int]:
    """Orientation, split point and the allowed cut range [low, high] for one bisection step.

    Prefers the weight-median split across the longer side; when that leaves one half with
    fewer cores than stages (few cores per stage), tries the other side, then other split
    points nearest the median. Some split always fits when the block has a core per stage.
    """
    mids = [mid] + [int(m) for m in lo + 1 + np.argsort(np.abs(cum[lo + 1:hi] - half),
                                                         kind="stable") if m != mid]
    for m in mids:
        for along_cols in ((w >= h), (w < h)):
            dim, other = (w, h) if along_cols else (h, w)
            low = math.ceil((m - lo) / other)
            high = dim - math.ceil((hi - m) / other)
            if 1 <= low <= high <= dim - 1:
                return along_cols, m, low, high
    raise PlacementError(f"{hi - lo} stages cannot be cut into rectangles of a {h} x {w} "
                         "block of cores; use a larger wafer or fewer replicas")


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
