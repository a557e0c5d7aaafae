"""Weight sparsity masks and the argument checks shared by every kernel.

A mask is a boolean array, ``True`` where a weight is kept (non-zero). Three patterns:

- ``"unstructured"``: exactly ``round(density * size)`` kept weights at random positions.
- ``"n:m"``: ``n`` kept weights in every group of ``m`` consecutive weights along axis 0 (the input
  dimension of an ``(n_in, n_out)`` weight), as in NVIDIA 2:4 sparsity.
- ``"block"``: whole ``block``-shaped blocks kept or zeroed; exactly ``round(density * n_blocks)``
  blocks are kept.

Every mask is reproducible: the same arguments and ``seed`` give the same mask, bit for bit.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["KernelArgumentError", "PATTERNS", "sparsity_mask"]

#: The mask patterns :func:`sparsity_mask` knows.
PATTERNS = ("unstructured", "n:m", "block")

# How far `density` may sit from n/m before an "n:m" call is refused (float round-off only).
_NM_DENSITY_TOL = 1e-6


class KernelArgumentError(ValueError):
    """An argument passed to a ``wse_sim.kernels`` function is invalid.

    The message names the argument, its value and how to fix it. ``wse_sim.errors`` re-wraps or
    subclasses this; the kernels never import the rest of the project.
    """


def check_int(name: str, value, minimum: int = 0) -> int:
    """Return ``value`` as a Python int, or raise naming ``name`` if not an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise KernelArgumentError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__}); "
            f"pass a whole number such as {max(minimum, 1)}"
        )
    if value < minimum:
        raise KernelArgumentError(
            f"{name} must be an integer >= {minimum}, got {value!r}; pass a value >= {minimum}"
        )
    return int(value)


def check_density(name: str, value) -> float:
    """Return ``value`` as a float, or raise naming ``name`` if it is not a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KernelArgumentError(
            f"{name} must be a number in [0, 1] (fraction of weights kept), got {value!r}"
        )
    value = float(value)
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise KernelArgumentError(
            f"{name} must be in [0, 1] (fraction of weights kept, 1 - sparsity), got {value!r}; "
            f"for 90% sparsity pass {name}=0.1"
        )
    return value


def check_shape(name: str, shape) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints (an int means a 1-D shape)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise KernelArgumentError(
            f"{name} must be a tuple of non-negative ints such as (1024, 512), got {shape!r}"
        ) from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0:
            raise KernelArgumentError(
                f"{name} must be a tuple of non-negative ints such as (1024, 512), got {shape!r}"
            )
    return tuple(int(d) for d in dims)


def sparsity_mask(
    shape,
    density: float | None,
    pattern: str = "unstructured",
    seed: int = 0,
    block: tuple[int, ...] = (4, 4),
    n: int = 2,
    m: int = 4,
) -> np.ndarray:
    """Draw a boolean weight mask, ``True`` where a weight is kept.

    Parameters
    ----------
    shape : tuple of int
        Shape of the weight, e.g. ``(n_in, n_out)``.
    density : float in [0, 1], or None for ``"n:m"``
        Fraction of weights kept (1 - sparsity). For ``"n:m"`` the density is ``n / m`` by
        construction; ``density`` must then be ``None`` or agree with ``n / m`` (within 1e-6),
        otherwise the call is refused rather than silently ignoring the value.
    pattern : {"unstructured", "n:m", "block"}
        ``"unstructured"``: exactly ``round(density * size)`` kept weights (Python ``round``,
        half to even), uniformly at random without replacement.
        ``"n:m"``: in every group of ``m`` consecutive entries along axis 0 (the input dimension
        of an ``(n_in, n_out)`` weight) exactly ``n`` are kept, at random; when ``shape[0]`` is
        not a multiple of ``m`` the last, partial group of ``r`` entries keeps ``min(n, r)``.
        ``"block"``: the weight is cut into ``block``-shaped blocks (edge blocks may be partial)
        and exactly ``round(density * n_blocks)`` blocks, chosen at random, are kept whole.
    seed : int
        Seed for ``numpy.random.default_rng``; the same arguments give the same mask.
    block : tuple of int
        Block shape for ``"block"``, one entry per axis of ``shape``; no larger than ``shape``.
    n, m : int
        Kept weights per group, and group length, for ``"n:m"`` (``0 <= n <= m``, ``m >= 1``).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``

    Examples
    --------
    >>> int(sparsity_mask((8, 8), 0.25).sum())
    16
    >>> sparsity_mask((4, 1), None, pattern="n:m", n=1, m=2).sum(axis=0).tolist()
    [2]
    """
    shape = check_shape("shape", shape)
    if not isinstance(pattern, str) or pattern not in PATTERNS:
        raise KernelArgumentError(
            f"unknown pattern {pattern!r}; use one of {', '.join(repr(p) for p in PATTERNS)}"
        )
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    if pattern == "n:m":
        return _nm_mask(shape, density, n, m, rng)
    density = check_density("density", density)
    if pattern == "unstructured":
        return _unstructured_mask(shape, density, rng)
    return _block_mask(shape, density, block, rng)


def _unstructured_mask(shape: tuple[int, ...], density: float, rng) -> np.ndarray:
    """Exactly round(density * size) kept entries at random positions."""
    size = math.prod(shape)
    n_keep = round(density * size)
    mask = np.zeros(size, dtype=np.bool_)
    mask[rng.choice(size, size=n_keep, replace=False)] = True
    return mask.reshape(shape)


def _nm_mask(shape: tuple[int, ...], density, n, m, rng) -> np.ndarray:
    """n kept out of every m consecutive entries along axis 0."""
    m = check_int("m", m, 1)
    n = check_int("n", n, 0)
    if n > m:
        raise KernelArgumentError(
            f"n:m sparsity needs n <= m, got n={n}, m={m}; e.g. n=2, m=4 keeps 2 of every 4"
        )
    if density is not None:
        density = check_density("density", density)
        if abs(density - n / m) > _NM_DENSITY_TOL:
            raise KernelArgumentError(
                f"density={density!r} disagrees with n:m = {n}:{m} (density {n / m!r}); "
                f"pass density=None or density={n / m!r}"
            )
    if len(shape) == 0:
        raise KernelArgumentError("n:m sparsity needs shape with at least one axis, got ()")
    n_rows = shape[0]
    rest = math.prod(shape[1:])
    n_groups = -(-n_rows // m)
    # Random keys; padding rows of the last partial group get +inf so they rank last and the
    # partial group keeps min(n, r) of its r real rows.
    keys = rng.random((n_groups * m, rest))
    keys[n_rows:] = np.inf
    ranks = np.argsort(np.argsort(keys.reshape(n_groups, m, rest), axis=1), axis=1)
    mask = (ranks < n).reshape(n_groups * m, rest)[:n_rows]
    return np.ascontiguousarray(mask).reshape(shape)


def _block_mask(shape: tuple[int, ...], density: float, block, rng) -> np.ndarray:
    """Whole blocks kept: round(density * n_blocks) of them, at random."""
    block = check_shape("block", block)
    if len(block) != len(shape):
        raise KernelArgumentError(
            f"block={block!r} must have one entry per axis of shape={shape!r}"
        )
    for axis, (b, s) in enumerate(zip(block, shape, strict=True)):
        if b < 1 or b > s:
            raise KernelArgumentError(
                f"block={block!r} does not fit shape={shape!r}: block[{axis}]={b} must be in "
                f"[1, {s}]; use a smaller block"
            )
    grid = tuple(-(-s // b) for s, b in zip(shape, block, strict=True))
    keep = _unstructured_mask(grid, density, rng)
    for axis, b in enumerate(block):
        keep = np.repeat(keep, b, axis=axis)
    # Edge blocks are partial: crop the expanded mask back to the weight's shape.
    return np.ascontiguousarray(keep[tuple(slice(0, s) for s in shape)])
