"""Resource guards: refuse a request this machine cannot hold *before* allocating for it.

:func:`place` and :func:`simulate` estimate the memory their per-core and per-sample arrays
take (:func:`place_bytes`, :func:`simulate_bytes`) and raise
:class:`~wse_sim.errors.ResourceError` above :func:`max_memory_bytes`, naming the size asked
for and the limit, instead of dying in numpy's allocator or to the kernel's OOM killer.

The limit is, in order: :func:`set_max_memory_bytes` (or the :func:`memory_limit` context),
the environment variable ``WSE_SIM_MAX_MEMORY_BYTES``, else :data:`MEMORY_FRACTION` of this
machine's physical memory.
"""

from __future__ import annotations

import contextlib
import os

from .errors import ResourceError

MEMORY_FRACTION = 0.5  # of physical memory: leaves room for the OS, other jobs, workers; assumed
FALLBACK_MEMORY_BYTES = 8 * 2**30  # when the OS does not say (no sysconf); assumed
ENV_VAR = "WSE_SIM_MAX_MEMORY_BYTES"

# Bytes per core, measured with tracemalloc (peak of place() / simulate(), divided by the
# cores; cvae and bert-base on 100 x 100 to 400 x 400 meshes): place() peaks at 60-450 B per core
# pipelined; weight streaming evaluates every distinct stage on the whole wafer, ~15 B per
# core per stage (1.5 KB per core for bert-base's 101 stages). simulate() peaks at 45-150 B
# per core. The constants round those up, so an estimate is an upper bound, not a prediction.
PLACE_BYTES_PER_CORE = 512  # measured (see above), rounded up
PLACE_BYTES_PER_CORE_PER_STAGE = 16  # measured (weight streaming, see above), rounded up
SIMULATE_BYTES_PER_CORE = 256  # measured (see above), rounded up
# compute, link, memory, stage times, starts, finishes...: at most 12 float64 (samples, S)
# arrays alive at once in the pipeline recurrence; derived from the engine's arrays
SIMULATE_BYTES_PER_SAMPLE_STAGE = 12 * 8

_limit: int | None = None


def machine_memory_bytes() -> int:
    """Physical memory of this machine, bytes (:data:`FALLBACK_MEMORY_BYTES` if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_BYTES


def max_memory_bytes() -> int:
    """The memory one place() or simulate() may ask for, bytes (see the module docstring)."""
    if _limit is not None:
        return _limit
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            value = int(float(env))
        except ValueError:
            value = 0
        if value < 1:
            raise ResourceError(f"{ENV_VAR}={env!r} is not a byte count >= 1; set it to e.g. "
                                "8e9 or unset it (default: half of this machine's memory)")
        return value
    return int(MEMORY_FRACTION * machine_memory_bytes())


def set_max_memory_bytes(limit: int | None) -> None:
    """Set the limit (bytes, >= 1), or None to go back to the default."""
    global _limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ResourceError(f"max_memory_bytes must be an integer >= 1 or None, got {limit!r}")
    _limit = limit


@contextlib.contextmanager
def memory_limit(limit: int | None):
    """``with memory_limit(2**30): ...`` runs with that limit, then restores the previous."""
    global _limit
    old = _limit
    set_max_memory_bytes(limit)
    try:
        yield
    finally:
        _limit = old


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.3g} {unit}"
    return f"{n:,.0f} bytes"


def require(what: str, need_bytes: float, fix: str) -> None:
    """Raise :class:`ResourceError` when ``need_bytes`` exceeds :func:`max_memory_bytes`."""
    limit = max_memory_bytes()
    if not need_bytes <= limit:  # also catches a NaN estimate
        raise ResourceError(
            f"{what} would need about {_size(need_bytes)} of memory, above the limit of "
            f"{_size(limit)} (max_memory_bytes={limit:,}); {fix}, or raise the limit on purpose "
            f"(wse_sim.resources.set_max_memory_bytes, or {ENV_VAR})")


def place_bytes(cores: int, stages: int) -> float:
    """Upper estimate of place()'s peak memory on ``cores`` cores for ``stages`` stages."""
    return float(cores) * (PLACE_BYTES_PER_CORE + PLACE_BYTES_PER_CORE_PER_STAGE * stages)


def simulate_bytes(cores: int, stages: int, samples: int) -> float:
    """Upper estimate of simulate()'s peak memory."""
    return (float(cores) * SIMULATE_BYTES_PER_CORE
            + float(samples) * max(stages, 1) * SIMULATE_BYTES_PER_SAMPLE_STAGE)


def check_place(graph, wafer) -> None:
    """Refuse a place() whose arrays would not fit (before any is built)."""
    stages = len(graph.heavy_ops())
    require(f"place({graph.name!r} on a {wafer.rows:,} x {wafer.cols:,} wafer "
            f"({wafer.cores:,} cores, {stages} stages))",
            place_bytes(wafer.cores, stages), "use a smaller wafer (rows, cols)")


def check_simulate(placement, samples: int) -> None:
    """Refuse a simulate() whose arrays would not fit (before any is built)."""
    w, stages = placement.wafer, len(placement.stages)
    require(f"simulate({samples:,} samples x {stages} stages on {w.cores:,} cores)",
            simulate_bytes(w.cores, stages, samples), "simulate fewer samples")


__all__ = ["MEMORY_FRACTION", "check_place", "check_simulate", "machine_memory_bytes",
           "max_memory_bytes", "memory_limit", "place_bytes", "require", "set_max_memory_bytes",
           "simulate_bytes"]
