"""Activation non-zeros per input row of a heavy op: expected, or drawn per sample."""

from __future__ import annotations

import numpy as np

from ..kernels.tiles import splits
from .view import View

MAX_DRAWN_GROUPS = 16
"""Row groups whose activations are drawn independently per sample; further groups repeat
them (group g uses draw g % 16), which keeps the cost of a full-wafer region bounded while the
imbalance between groups stays real."""


def band_sums(values: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Sum of ``values`` inside each band ``[bands[i], bands[i+1])``: float64 (len(bands)-1,)."""
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return (cs[bands[1:]] - cs[bands[:-1]]).astype(np.float64)


def expected_x_counts(view: View, in_density: float, groups: int) -> np.ndarray:
    """Expected non-zero activation rows per input k for each row group: int64 (groups, K)."""
    r = np.diff(splits(view.rows, groups))
    sizes = view.row_sizes()[None, :]
    if view.one_hot:
        return np.round(r[:, None] * sizes / view.k).astype(np.int64)
    return np.round(r[:, None] * in_density * sizes).astype(np.int64)


def sample_x_counts(view: View, in_density: float, groups: int, n_samples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Non-zero activation rows per input k, drawn per sample: int64 (n_samples, groups, K).

    Each activation is non-zero with probability ``in_density``, independently, so a row group
    of ``r`` rows has Binomial(r, in_density) non-zeros at each input; embeddings draw token
    ids uniformly over the vocabulary.
    """
    r = np.diff(splits(view.rows, groups))
    sizes = view.row_sizes()
    if in_density >= 1.0 and not view.one_hot:
        return np.broadcast_to(r[None, :, None] * sizes[None, None, :],
                               (n_samples, groups, view.k_rows)).astype(np.int64)
    drawn = min(groups, MAX_DRAWN_GROUPS)
    src = np.arange(groups) % drawn
    if view.one_hot:
        out = np.zeros((n_samples, drawn, view.k_rows), dtype=np.int64)
        for g in range(drawn):
            ids = rng.integers(0, view.k, size=(n_samples, int(r[g]))) // view.coarse
            np.add.at(out[:, g, :], (np.arange(n_samples)[:, None], ids), 1)
        return out[:, src, :]
    trials = r[None, :drawn, None] * sizes[None, None, :]
    return rng.binomial(trials, in_density,
                        size=(n_samples, drawn, view.k_rows)).astype(np.int64)[:, src, :]
