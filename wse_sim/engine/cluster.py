"""N systems in data parallel: the batch split over the systems, weights broadcast down a
tree of broadcast/reduce nodes, gradients summed on their way back up.

The vendor's description of the fabric (``docs/hardware.md``, "Systems"): each node joins
``interconnect_fan_in`` children, reduces at line rate as gradients flow, and the node count
grows with N so each system keeps its own link's bandwidth; latency grows with the tree's
depth. Streams run at line rate through the tree, so what N adds is (a) the stream's rate
capped by the tree's edge and (b) the tree's latency where it cannot be hidden: once per
step, between the last gradient leaving a wafer and the update, and between the update and
the next step's first weights arriving (:func:`wse_sim.engine.streaming.step_cycles`).
"""

from __future__ import annotations

from ..spec.system import SystemSpec


def per_system_batch(batch: int, system: SystemSpec) -> int:
    """Samples the busiest system runs per step: ceil(batch / n_systems)."""
    return -(-int(batch) // system.n_systems)


def tree_latency_cycles(system: SystemSpec) -> float:
    """One traversal of the broadcast/reduce tree, cycles of the wafer's clock: levels x the
    per-level latency (0 for one system, which streams from the service directly)."""
    return system.tree_levels * system.interconnect_latency_s * system.wafer.clock_hz


def scaling_efficiency(samples_per_s: float, n_systems: int, alone_samples_per_s: float
                       ) -> float:
    """Samples/s of N systems over N times a one-system reference: 1.0 is linear scaling.

    The result's ``scaling_efficiency`` takes one system on the same global batch (its
    fastest micro-batch): below 1 by the tree's rate and latency and by the per-step costs
    (the exposed update) that N systems amortise over fewer micro-batches each.
    ``settings["scaling_efficiency_per_share"]`` takes one system alone on its share of the
    batch: below 1 by the tree only."""
    if n_systems == 1:
        return 1.0
    return float(samples_per_s / (n_systems * alone_samples_per_s))
