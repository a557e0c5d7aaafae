"""The engine: ``simulate()`` turns a Placement into a :class:`SimResult` (pipelined or weight
streaming, with energy)."""

from ..mapping.costs import OPTIMIZER_VECTOR_OPS  # re-exported: the report's trace uses it
from .decode import LayerCost, LlmResult, simulate_llm
from .result import BOUNDS, SimResult, StageRow
from .simulate import ACTIVATIONS, simulate

__all__ = ["ACTIVATIONS", "BOUNDS", "OPTIMIZER_VECTOR_OPS", "LayerCost", "LlmResult", "SimResult",
           "StageRow", "simulate", "simulate_llm"]
