"""How a stage's heavy op lies on its rectangle: orientation and row groups (:class:`Split`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..graph import Op
from ..kernels.tiles import splits
from ..spec import WaferSpec
from .view import View, passes


@dataclass(frozen=True)
class Split:
    """How a stage's heavy op lies on its physical ``h x w`` rectangle."""

    h: int
    w: int
    k_on_rows: bool  # True: K over physical rows, N over physical columns
    groups: int  # row-groups sharing R (each holds the whole weight)

    @property
    def a(self) -> int:
        """Logical rows (K side, stacked groups)."""
        return self.h if self.k_on_rows else self.w

    @property
    def b(self) -> int:
        """Logical columns (N side)."""
        return self.w if self.k_on_rows else self.h

    def group_rows(self) -> np.ndarray:
        """Logical rows of each group, int64 (groups,)."""
        return np.diff(splits(self.a, self.groups))

    def to_physical(self, logical: np.ndarray) -> np.ndarray:
        """An (a, b) per-core array laid on the (h, w) rectangle."""
        return logical if self.k_on_rows else logical.T


def choose_split(op: Op, view: View, h: int, w: int, spec: WaferSpec, *, in_density: float,
                 training: bool, first: bool = False, weight_bytes: float = 0.0,
                 stash_bytes: float = 0.0, avail_bytes: float = math.inf) -> Split:
    """Pick orientation and row groups that minimise the stage's predicted time.

    Every row group holds a full copy of the weights (``weight_bytes`` with optimizer state),
    so more groups are only considered while the copies and the region's stashed activations
    (``stash_bytes``) fit in ``avail_bytes`` per core with 10% to spare.

    The aspect question of rule 3: activations multicast along rows cost ``R K / a`` wavelets
    per row link, partial sums ``R N / b`` per column link; compute is ``MACs / (a b lanes)``.
    """
    lanes = spec.fmac_per_cycle(op.dtype)
    link = spec.link_wavelets_per_cycle
    best, best_t = None, math.inf
    macs = view.dense_macs * (op.weight_density if view.stored_weights else 1.0)
    if view.one_hot:  # a lookup copies one table row per token
        macs = view.rows * view.n
    n_pass = passes(training, first)
    for k_on_rows in (True, False):
        a, b = (h, w) if k_on_rows else (w, h)
        g = 1
        while g <= a:
            # stored weights are copied into every group; attention operands are split by head
            if (g > 1 and view.stored_weights
                    and (weight_bytes * g + stash_bytes) / (h * w) * 1.1 > avail_bytes):
                break
            r = view.rows / g
            ka = min(a // g, view.k)  # useful logical rows per group
            nb = min(b, view.n)
            x_row = r * (view.k / max(ka, 1)) * in_density / view.reuse
            n_col = r * view.n / nb
            compute = n_pass * macs / (g * ka * nb * lanes) \
                + spec.wavelet_overhead_cycles * (x_row + n_col) * (2 if training else 1)
            fabric = max(x_row, n_col) / link
            t = max(compute, fabric)
            if t < best_t * 0.999:
                best, best_t = Split(h, w, k_on_rows, g), t
            if ka * g >= a and g > 1:
                break
            g *= 2
    return best
