"""Errors raised by wse-sim.

Every error a user can provoke with bad input is a :class:`WseSimError`. Each message says what was
wrong, the offending value, and what would fix it. Subclasses also derive from the matching builtin
(``ValueError``; lookups too, so ``str()`` stays readable), so generic callers keep working.
"""

from __future__ import annotations


class WseSimError(Exception):
    """Base class of every error wse-sim raises on purpose."""


class SpecError(WseSimError, ValueError):
    """A wafer or GPU spec, or a preset name, is invalid."""


class GraphError(WseSimError, ValueError):
    """A graph is malformed: shapes do not chain, a cycle, an unknown op or model."""


class SparsityError(WseSimError, ValueError):
    """A sparsity value or pattern is invalid."""


class PlacementError(WseSimError):
    """A graph cannot be placed on the wafer (SRAM, cores or colors exhausted)."""


class SimulationError(WseSimError, ValueError):
    """Simulation settings are invalid (mode, batch, samples, activations)."""


class FabricError(SimulationError):
    """The cycle-level fabric simulator was misconfigured or found an inconsistency."""


class GpuError(WseSimError, ValueError):
    """A GPU baseline cannot be computed (unknown GPU, bad count, batch does not fit)."""


class WseSimFileError(WseSimError, OSError):
    """A file (saved result, sweep space) is missing or malformed."""


class MissingDependencyError(WseSimError, ImportError):
    """An optional package a feature needs is not installed (the message names the install)."""


class ResourceError(WseSimError, MemoryError):
    """A request needs more memory or work than allowed (``max_memory_bytes``, ``max_points``);
    raised before anything is allocated."""


def unknown_name(kind: str, name: object, known) -> str:
    """Message for an unknown preset/model/field name, listing the known ones."""
    return f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known))}"
