"""Router presets as data: :class:`RouterSpec` and :data:`PRESETS`, and the run settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import FabricError, unknown_name
from ...kernels import noc

PORT_RAMP = noc.RAMP
OPP = (1, 0, 3, 2, 4)  # input port a flit sent on output o arrives on
TRAFFIC = ("uniform", "transpose", "neighbor", "bit-complement", "hotspot")
COLLECTIVES = ("broadcast", "chain-reduce", "tree-reduce", "two-phase-reduce", "ring-allreduce")
HOTSPOT_FRACTION = 0.2  # share of hotspot traffic sent to the centre node, assumed (a setting)
SOURCE_QUEUE_PACKETS = 256  # per-node source queue; overflowing it marks the run saturated
DEFAULT_TASK_CYCLES = 1  # one add per received wavelet: WaferSpec.wavelet_overhead_cycles


@dataclass(frozen=True)
class RouterSpec:
    """One router design: pipeline, links, buffers and virtual channels (cycles, flits)."""

    name: str
    route_cycles: int  # route computation (RC) of a head flit
    vc_alloc_cycles: int  # virtual-channel allocation (VA) of a head flit
    switch_alloc_cycles: int  # switch allocation (SA)
    switch_cycles: int  # switch traversal (ST)
    link_cycles: int  # wire between two routers
    credit_cycles: int  # a freed buffer slot reaches the upstream router
    ramp_in_cycles: int  # core -> router (injection channel)
    ramp_out_cycles: int  # router -> core (ejection channel)
    max_vcs: int  # virtual channels (colors) per input port
    queue_depth: int  # flits per input FIFO (one per port and VC) unless a run sets it
    # a packet's head starts route computation when it reaches the front of its VC FIFO (the
    # cycle after the packet ahead of it left), not when it is written: one packet at a time
    # per input VC goes through RC, VA and SA (BookSim's iq_router VC state machine)
    rc_at_front: bool = False
    # cycles after a tail wins switch allocation before its output VC can be allocated again
    # (0: in the same cycle, after switch allocation)
    vc_release_cycles: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        for f in ("route_cycles", "vc_alloc_cycles", "switch_alloc_cycles", "switch_cycles",
                  "link_cycles"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise FabricError(f"RouterSpec.{f} must be an int >= 0, got {v!r}")
        if not isinstance(self.rc_at_front, bool):
            raise FabricError(f"RouterSpec.rc_at_front must be a bool, got {self.rc_at_front!r}")
        v = self.vc_release_cycles
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise FabricError(f"RouterSpec.vc_release_cycles must be an int >= 0, got {v!r}")
        for f in ("credit_cycles", "ramp_in_cycles", "ramp_out_cycles", "max_vcs",
                  "queue_depth"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise FabricError(f"RouterSpec.{f} must be an int >= 1, got {v!r}")
        if self.hop_cycles < 1:
            raise FabricError(f"RouterSpec {self.name!r}: switch_alloc_cycles + switch_cycles + "
                              "link_cycles must be >= 1 (a flit cannot cross two routers in "
                              "one cycle)")

    @property
    def pre_cycles(self) -> int:
        """Cycles a head flit spends in a router before switch allocation (RC + VA)."""
        return self.route_cycles + self.vc_alloc_cycles

    @property
    def hop_cycles(self) -> int:
        """Cycles from winning switch allocation to the next router's buffer (SA + ST + link)."""
        return self.switch_alloc_cycles + self.switch_cycles + self.link_cycles

    @property
    def eject_cycles(self) -> int:
        """Cycles from winning switch allocation to the core (SA + ST + ejection channel)."""
        return self.switch_alloc_cycles + self.switch_cycles + self.ramp_out_cycles

    def zero_load_cycles(self, hops: int, flits: int = 1) -> int:
        """Latency of one packet of ``flits`` flits over ``hops`` hops in an empty network."""
        return (self.ramp_in_cycles + (hops + 1) * self.pre_cycles + hops * self.hop_cycles
                + self.eject_cycles + flits - 1)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(pre_cycles=self.pre_cycles, hop_cycles=self.hop_cycles,
                 eject_cycles=self.eject_cycles)
        return d


PRESETS: dict[str, RouterSpec] = {
    # A Cerebras WSE router as the project models it (docs/hardware.md, WaferSpec fields).
    "wse": RouterSpec(
        name="wse",
        route_cycles=0,  # static per-color routes: nothing to compute, stated (SDK)
        vc_alloc_cycles=0,  # a color is its own channel end to end: no allocation, stated (SDK)
        switch_alloc_cycles=0,  # 1 cycle per hop router and wire together, stated [SC22]
        switch_cycles=0,  # [OSDI25] (hop_latency_cycles): modelled as the link's one cycle
        link_cycles=1,  # the 1 cycle per hop, stated
        credit_cycles=1,  # back-pressure to the neighbour, assumed (not published)
        ramp_in_cycles=2,  # core -> router, 2 cycles: Luczynski et al., "Near-Optimal
        ramp_out_cycles=2,  # Wafer-Scale Reduce", HPDC 2024 [HPDC24]; assumed, medium
        max_vcs=24,  # 24 routable colors, stated (Cerebras SDK)
        queue_depth=4,  # wavelets per color per input port, ASSUMED: the depth is not
        # published; 4 covers the 2-cycle credit round trip twice, so one stream runs at the
        # full link rate and a short stall does not reach back a hop
        note="Cerebras WSE fabric: static color routes with multicast, 1 cycle per hop"),
    # The textbook input-queued virtual-channel router of NoC papers (Dally & Towles,
    # "Principles and Practices of Interconnection Networks", 2004, ch. 16), as BookSim runs it
    "generic-4stage": RouterSpec(
        name="generic-4stage",
        route_cycles=1,  # RC, 1 cycle, stated by the definition
        vc_alloc_cycles=1,  # VA, separable round-robin, one iteration, no speculation
        switch_alloc_cycles=1,  # SA, separable round-robin, one iteration
        switch_cycles=1,  # ST
        link_cycles=1,  # 1-cycle links
        # BookSim credit_delay = 0 over a 1-cycle credit channel: a credit sent in cycle T is
        # read by the upstream router in T + 2 (the Channel timing above), derived
        credit_cycles=2,
        # the injection channel has BookSim's 1-cycle channel latency, which is 2 cycles from
        # the source's write to the router's input stage: Channel::ReadInputs queues a flit
        # sent in cycle T at T + 1, WriteOutputs exposes it at T + 1 and the router reads it
        # in cycle T + 2 (the same 2 cycles sit inside hop_cycles and eject_cycles), derived
        ramp_in_cycles=2,
        ramp_out_cycles=1,  # 1-cycle ejection channel
        max_vcs=16,  # a bound on the setting, not a design figure (derived: int8 VC ids)
        queue_depth=8,  # flits per VC, the usual NoC-paper default (a setting)
        # BookSim2 iq_router: a head is routed only once it is the front flit of its VC
        # (_SWAllocUpdate moves the VC to `routing` when the tail ahead of it leaves), stated
        rc_at_front=True,
        # BookSim2 wait_for_tail_credit = 0 (default): BufferState::SendingFlit frees the
        # output VC when the tail is sent, i.e. in the SA update after this cycle's VC
        # allocation was evaluated, so the next VA that sees it is the next cycle's, stated
        vc_release_cycles=1,
        note="4-stage input-queued VC router (RC, VA, SA, ST), BookSim-like"),
}


def router_spec(router: str | RouterSpec) -> RouterSpec:
    """A preset by name, or a :class:`RouterSpec` passed through."""
    if isinstance(router, RouterSpec):
        return router
    if router not in PRESETS:
        raise FabricError(unknown_name("router", router, PRESETS) + "; or pass a RouterSpec")
    return PRESETS[router]
