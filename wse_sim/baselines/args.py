"""Argument checks of the GPU baseline: each raises GpuError naming the value."""

from __future__ import annotations

from numbers import Real

from ..errors import GpuError
from ..validate import check_gpu_count


def check_count(what: str, value) -> int:
    return check_gpu_count(what, value)  # an integer in [1, MAX_COUNT] (no int64 overflow)


def check_choice(what: str, value, choices) -> str:
    if value not in choices:
        raise GpuError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_fraction(what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
        raise GpuError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)
