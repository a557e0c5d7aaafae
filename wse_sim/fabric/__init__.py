"""The fabric: flows -> routes -> link loads.

:mod:`wse_sim.fabric.flow` is the flow-level model (each link's wavelets per sample divided by
its width: a lower bound on time, and fast). :mod:`wse_sim.fabric.cycle` is the cycle-level
one (routers, queues, credits); :func:`compare_stage` runs a placed stage through both.
"""

from . import cycle
from .compare import StageComparison, compare_stage
from .flow import link_loads, link_traffic
from .ingress import add_host_io

__all__ = ["StageComparison", "add_host_io", "compare_stage", "cycle", "link_loads",
           "link_traffic"]
