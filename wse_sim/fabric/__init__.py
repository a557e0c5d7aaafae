"""The fabric: flows -> routes -> link loads.

:mod:`wse_sim.fabric.flow` is the flow-level model (each link's wavelets per sample divided by
its width: a lower bound on time, and fast).
"""

from .flow import link_loads
from .ingress import add_host_io

__all__ = ["add_host_io", "link_loads"]
