"""The placer: stages, sizing, layout, replicas, pipelined and weight-streaming placement.

``place()`` -> :class:`Placement` (regions, routes, SRAM per core).
"""

from ..mapping.gemv import GemvResult, gemv  # the facade reaches mapping through here
from .llm import LLM_MODES, LlmPlan, kv_cache_bytes, place_llm
from .place import MODES, place
from .placement import Flow, Placement, Stage, StageData
from .replicas import allreduce_cycles_per_step
from .stages import host_io, stage_signature

__all__ = ["LLM_MODES", "MODES", "Flow", "GemvResult", "LlmPlan", "Placement", "Stage",
           "StageData", "allreduce_cycles_per_step", "gemv", "host_io", "kv_cache_bytes", "place",
           "place_llm", "stage_signature"]
