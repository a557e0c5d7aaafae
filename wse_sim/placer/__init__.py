"""The placer: stages, sizing, layout, replicas, pipelined and weight-streaming placement.

``place()`` -> :class:`Placement` (regions, routes, SRAM per core).
"""

from .place import MODES, place
from .placement import Flow, Placement, Stage, StageData
from .replicas import allreduce_cycles_per_step
from .stages import stage_signature

__all__ = ["MODES", "Flow", "Placement", "Stage", "StageData", "allreduce_cycles_per_step",
           "place", "stage_signature"]
