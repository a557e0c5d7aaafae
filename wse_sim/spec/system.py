"""A system beside the wafer: :class:`SystemSpec`, its memory service and the interconnect
that joins N systems in data parallel (presets ``cs1``, ``cs2``, ``cs3``).

A system is one wafer, the external memory service its weights stream from (it holds the
weights and optimizer state and runs the weight update), and the broadcast/reduce tree that
joins ``n_systems`` of them (weights broadcast out, gradients summed on the way back). Every
figure says where it comes from (stated, derived or assumed); sources in
``docs/hardware.md`` ("Systems").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import SpecError, unknown_name
from ..validate import Rule, check_fields, checked_init
from ..validate.checks import MAX_BANDWIDTH_BYTES_PER_S, MAX_COUNT, MAX_FLOPS
from .fields import replaced
from .presets import WAFER_PRESETS
from .wafer import WaferSpec

ETHERNET_12X100G_BYTES_PER_S = 150e9  # 12 x 100 GbE = 1.2 Tb/s each way, derived (datasheets)
MAX_SERVICE_BYTES = 1e18  # 1 EB of parameter storage, 400x the largest MemoryX, assumed

SYSTEM_RULES: dict[str, Rule] = {
    "name": Rule("str", fix="name the system, e.g. name='my-system'"),
    "n_systems": Rule("int", 1, 1 << 20, unit="systems", fix="give n >= 1, e.g. n=4"),
    "memory_capacity_bytes": Rule("number", 0, MAX_SERVICE_BYTES, low_open=True, unit="bytes"),
    "memory_bytes_per_s": Rule("number", 0, MAX_BANDWIDTH_BYTES_PER_S, low_open=True,
                               unit="bytes/s", fix="e.g. memory_bytes_per_s=150e9"),
    "optimizer_flops": Rule("number", 0, MAX_FLOPS, low_open=True, unit="FLOP/s"),
    "optimizer_memory_bytes_per_s": Rule("number", 0, MAX_BANDWIDTH_BYTES_PER_S,
                                         low_open=True, unit="bytes/s"),
    "interconnect_bytes_per_s": Rule("number", 0, MAX_BANDWIDTH_BYTES_PER_S, low_open=True,
                                     unit="bytes/s", fix="e.g. interconnect_bytes_per_s=150e9"),
    "interconnect_latency_s": Rule("number", 0, 1.0, unit="s"),
    "interconnect_fan_in": Rule("int", 2, MAX_COUNT, unit="systems per node",
                                fix="a tree node joins >= 2 children, e.g. 4"),
    "host_input_bytes_per_s": Rule("number", 0, MAX_BANDWIDTH_BYTES_PER_S, low_open=True,
                                   unit="bytes/s"),
    "weight_streaming": Rule("bool"),
}


@checked_init(SpecError, "use wse_sim.system('cs2', n=1, **overrides) for a preset")
@dataclass(frozen=True)
class SystemSpec:
    """One or ``n_systems`` wafer-scale systems training in data parallel.

    Bandwidths are bytes/s in each direction (the links are full duplex: weights stream in
    while gradients stream out). The optimizer figures are the memory service's, where the
    weight update runs.
    """

    name: str
    wafer: WaferSpec
    n_systems: int = 1
    memory_capacity_bytes: float = 4e12  # weights + optimizer state the service holds
    memory_bytes_per_s: float = ETHERNET_12X100G_BYTES_PER_S  # service -> each system
    optimizer_flops: float = 1e13  # the service's compute for the weight update
    optimizer_memory_bytes_per_s: float = 1.2e12  # the service's DRAM bandwidth
    interconnect_bytes_per_s: float = ETHERNET_12X100G_BYTES_PER_S  # per system, tree edge
    interconnect_latency_s: float = 2e-6  # one tree level (switch + NICs)
    interconnect_fan_in: int = 4  # systems (or nodes) one broadcast/reduce node joins
    host_input_bytes_per_s: float = ETHERNET_12X100G_BYTES_PER_S  # training data in
    # whether the product runs weight streaming at all: False for the CS-1, which shipped
    # before MemoryX / SwarmX (stated: weight streaming was introduced with them for the CS-2,
    # Hot Chips 33, 2021); place(mode='auto') then never picks it, and a forced or
    # only-possible streaming run says it is a what-if
    weight_streaming: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.wafer, WaferSpec):
            raise SpecError(f"SystemSpec.wafer must be a WaferSpec, got "
                            f"{type(self.wafer).__name__}; use wse_sim.wafer('wse2')")
        for k, v in check_fields(self, SYSTEM_RULES, "SystemSpec").items():
            object.__setattr__(self, k, v)

    @property
    def stream_bytes_per_s(self) -> float:
        """Bytes/s a weight (or gradient) stream reaches each wafer at: the service, the
        wafer's own I/O and, with more than one system, the tree's edge, whichever is least."""
        bw = min(self.memory_bytes_per_s, self.wafer.offwafer_bytes_per_s)
        return min(bw, self.interconnect_bytes_per_s) if self.n_systems > 1 else bw

    @property
    def tree_levels(self) -> int:
        """Levels of broadcast/reduce nodes between the memory service and the systems:
        ceil(log_fan_in(n_systems)), 0 for one system (it talks to the service directly)."""
        levels, reach = 0, 1
        while reach < self.n_systems:
            reach *= self.interconnect_fan_in
            levels += 1
        return levels

    def replace(self, **changes) -> SystemSpec:
        """A copy with fields replaced (``n_systems``, bandwidths, ``wafer``, ...)."""
        return replaced(self, changes)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["wafer"] = self.wafer.name
        d.update(stream_bytes_per_s=self.stream_bytes_per_s, tree_levels=self.tree_levels)
        return d


def _presets() -> dict[str, SystemSpec]:
    # Sources (docs/hardware.md, "Systems"): CS-1/CS-2/CS-3 datasheets state 12 x 100 GbE of
    # system I/O; MemoryX holds weights and optimizer state and runs the update (vendor
    # MemoryX/SwarmX descriptions, Hot Chips 34); SwarmX nodes are 1:4 broadcast/reduce.
    return {
        # CS-1 shipped without MemoryX: its service is a host at the system's I/O, assumed
        "cs1": SystemSpec("cs1", WAFER_PRESETS["wse1"], memory_capacity_bytes=4e12,
                          weight_streaming=False),
        "cs2": SystemSpec("cs2", WAFER_PRESETS["wse2"], memory_capacity_bytes=4e12),
        "cs3": SystemSpec("cs3", WAFER_PRESETS["wse3"], memory_capacity_bytes=1.5e12),
    }


SYSTEM_PRESETS: dict[str, SystemSpec] = _presets()
_WAFER_SYSTEM = {"wse1": "cs1", "wse2": "cs2", "wse3": "cs3"}


def system(name: str | SystemSpec = "cs2", n: int = 1, **overrides) -> SystemSpec:
    """System preset ``name`` ('cs1', 'cs2', 'cs3') as ``n`` systems in data parallel, with
    fields replaced.

    >>> system("cs2", n=4).tree_levels
    1
    """
    if isinstance(name, SystemSpec):
        base = name
    else:
        key = str(name).lower().replace("-", "")
        if key not in SYSTEM_PRESETS:
            raise SpecError(unknown_name("system", name, SYSTEM_PRESETS))
        base = SYSTEM_PRESETS[key]
    return base.replace(n_systems=n, **overrides)


def system_for(wafer: WaferSpec, n: int = 1) -> SystemSpec:
    """The default system around ``wafer``: its preset's (wse2 -> cs2, ...) or else cs2's
    service, with the wafer's own off-wafer bandwidth as the service's, so a what-if of
    ``offwafer_bytes_per_s`` moves the stream."""
    base = SYSTEM_PRESETS[_WAFER_SYSTEM.get(wafer.name, "cs2")]
    return base.replace(wafer=wafer, n_systems=n, memory_bytes_per_s=wafer.offwafer_bytes_per_s)
