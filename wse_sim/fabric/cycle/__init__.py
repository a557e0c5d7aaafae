"""Cycle-level fabric: wavelets hop by hop through real routers (the numba kernel
:func:`wse_sim.kernels.noc.simulate_network`), to check the flow-level model.

* :func:`simulate` runs synthetic traffic (uniform, transpose, neighbor, bit-complement,
  hotspot) with Bernoulli injection, a warm-up, a measurement window and a drain, as NoC
  simulators do, and reports latency and accepted throughput.
* :func:`collective` runs a collective (broadcast, chain / tree / two-phase reduce, ring
  all-reduce) of B wavelets per core on a row or a rectangle of cores over static per-color
  routes with multicast, with a small core model (a task fires when its wavelets have arrived
  and sends after ``task_cycles``), and reports cycles to completion.
* :data:`PRESETS` holds the two routers as data (:class:`RouterSpec`).

Python here only validates, builds route tables and queue maps with numpy and reads results;
every loop over cycles, routers and wavelets is in the kernel.
"""

from __future__ import annotations

from ...kernels import noc
from .collectives import collective, collectives
from .core import CollectiveResult, NocResult
from .presets import (
    COLLECTIVES,
    DEFAULT_TASK_CYCLES,
    HOTSPOT_FRACTION,
    OPP,
    PORT_RAMP,
    PRESETS,
    SOURCE_QUEUE_PACKETS,
    TRAFFIC,
    RouterSpec,
    router_spec,
)
from .programs import (
    DIR_STEP,
    Program,
    add_segments,
    add_unicasts,
    program_cycles,
    ragged,
    run_program,
    xy_route_entries,
)
from .synthetic import simulate

__all__ = [
    "COLLECTIVES", "DEFAULT_TASK_CYCLES", "DIR_STEP", "HOTSPOT_FRACTION", "OPP", "PORT_RAMP",
    "PRESETS", "SOURCE_QUEUE_PACKETS", "TRAFFIC", "CollectiveResult", "NocResult", "RouterSpec",
    "Program", "add_segments", "add_unicasts", "collective", "collectives", "noc", "program_cycles",
    "ragged", "router_spec", "run_program", "simulate", "xy_route_entries",
]
