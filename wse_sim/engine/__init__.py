"""The engine: ``simulate()`` turns a Placement into a :class:`SimResult` (pipelined or weight
streaming, with energy)."""

from .result import BOUNDS, SimResult, StageRow
from .simulate import ACTIVATIONS, simulate

__all__ = ["ACTIVATIONS", "BOUNDS", "SimResult", "StageRow", "simulate"]
