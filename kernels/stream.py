"""Elementwise accumulation over whole-wafer arrays (weight streaming's per-layer sums)."""

from __future__ import annotations

from numba import njit

from .masks import KernelArgumentError

__all__ = ["add_scaled"]


@njit(cache=True)
def _add_scaled(acc, x, f):
    for r in range(acc.shape[0]):
        for c in range(acc.shape[1]):
            acc[r, c] = acc[r, c] + x[r, c] * f


def add_scaled(acc, x, f: float) -> None:
    """``acc += x * f`` in place, float64 (h, w) arrays of one shape (``x`` may be a
    transposed view): the same bits as numpy's ``acc + x * f``, without the temporaries."""
    if acc.shape != x.shape:
        raise KernelArgumentError(f"add_scaled: shapes {acc.shape} and {x.shape} differ; pass "
                                  "two arrays of one shape")
    _add_scaled(acc, x, float(f))
