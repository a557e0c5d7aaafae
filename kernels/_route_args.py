"""Argument checks of :mod:`routes`: each raises ``KernelArgumentError`` naming the argument,
the offending index and the value, before any kernel runs."""

from __future__ import annotations

import numpy as np

from ._arrays import owned
from ._route_kernels import N_DIRS
from .masks import KernelArgumentError

METHODS = ("auto", "walk", "prefix")


def _check_loads(loads) -> tuple[int, int]:
    if (
        not isinstance(loads, np.ndarray)
        or loads.dtype != np.float64
        or loads.ndim != 3
        or loads.shape[2] != N_DIRS
    ):
        got = (
            f"dtype {loads.dtype}, shape {loads.shape}"
            if isinstance(loads, np.ndarray)
            else type(loads).__name__
        )
        raise KernelArgumentError(
            f"loads must be a float64 numpy array of shape (rows, cols, 4), got {got}; "
            "create one with zero_loads(rows, cols)"
        )
    if not loads.flags.writeable:
        raise KernelArgumentError("loads is read-only; pass a writeable array (loads.copy())")
    return loads.shape[0], loads.shape[1]


def _as_ints(names, values) -> list[np.ndarray]:
    """Broadcast scalars / 1-D integer arrays to one common length, as contiguous int64."""
    arrays = []
    for name, v in zip(names, values, strict=True):
        a = np.asarray(v)
        if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):  # [] is ok
            raise KernelArgumentError(
                f"{name} must hold integers (core indices), got dtype {a.dtype}; "
                f"convert with np.asarray({name}, dtype=np.int64)"
            )
        if a.ndim > 1:
            raise KernelArgumentError(f"{name} must be a scalar or 1-D, got shape {a.shape}")
        arrays.append(a)
    try:
        shape = np.broadcast_shapes(*[np.atleast_1d(a).shape for a in arrays])
        arrays = [np.broadcast_to(a, shape) for a in arrays]
    except ValueError:
        shapes = ", ".join(f"{n}{np.shape(a)}" for n, a in zip(names, arrays, strict=True))
        raise KernelArgumentError(
            f"{', '.join(names)} must have the same length (or be scalars), got {shapes}"
        ) from None
    return [owned(a, np.int64) for a in arrays]



def _as_weights(name, w, n: int) -> np.ndarray:
    a = np.asarray(w)
    if a.dtype.kind not in "biuf" or a.ndim > 1 or (a.ndim == 1 and a.shape[0] not in (1, n)):
        raise KernelArgumentError(
            f"{name} must be a real scalar or a 1-D array of length {n}, got "
            f"dtype {a.dtype}, shape {a.shape}"
        )
    a = owned(np.broadcast_to(a, (n,)), np.float64)
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if bad.size:
        raise KernelArgumentError(
            f"{name}[{bad[0]}] = {float(a[bad[0]])!r}: link loads must be finite and >= 0 wavelets"
        )
    return a


def _check_method(method) -> str:
    if method not in METHODS:
        raise KernelArgumentError(
            f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}"
        )
    return method


def _first_bad(mask) -> int:
    return int(np.flatnonzero(mask)[0])


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
