"""Layout: rectangles for the stages of one replica by recursive bisection, so consecutive
stages touch."""

from __future__ import annotations

import math

import numpy as np

from ..errors import PlacementError


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
