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

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FabricError, unknown_name
from ..kernels import noc

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
    note: str = ""

    def __post_init__(self) -> None:
        for f in ("route_cycles", "vc_alloc_cycles", "switch_alloc_cycles", "switch_cycles",
                  "link_cycles"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise FabricError(f"RouterSpec.{f} must be an int >= 0, got {v!r}")
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
    # A Cerebras WSE router as the project models it (wse_sim/spec.py WaferSpec fields).
    "wse": RouterSpec(
        name="wse",
        route_cycles=0,  # static per-color routes: nothing to compute, stated (SDK)
        vc_alloc_cycles=0,  # a color is its own channel end to end: no allocation, stated (SDK)
        switch_alloc_cycles=0,  # 1 cycle per hop router and wire together, stated
        switch_cycles=0,  # (WaferSpec.hop_latency_cycles): modelled as the link's one cycle
        link_cycles=1,  # the 1 cycle per hop, stated
        credit_cycles=1,  # back-pressure to the neighbour, assumed (not published)
        ramp_in_cycles=2,  # core -> router, 2 cycles: "A reduce-collective performance model
        ramp_out_cycles=2,  # on the Cerebras CS-2" (HPDC 2024), medium confidence
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
        credit_cycles=1,  # 1-cycle credit links
        ramp_in_cycles=1,  # 1-cycle injection channel
        ramp_out_cycles=1,  # 1-cycle ejection channel
        max_vcs=16,  # a bound on the setting, not a design figure (derived: int8 VC ids)
        queue_depth=8,  # flits per VC, the usual NoC-paper default (a setting)
        note="4-stage input-queued VC router (RC, VA, SA, ST), BookSim-like"),
}


def router_spec(router: str | RouterSpec) -> RouterSpec:
    """A preset by name, or a :class:`RouterSpec` passed through."""
    if isinstance(router, RouterSpec):
        return router
    if router not in PRESETS:
        raise FabricError(unknown_name("router", router, PRESETS) + "; or pass a RouterSpec")
    return PRESETS[router]


# ---- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NocResult:
    """A synthetic-traffic run. Rates are flits per node per cycle; latencies cycles."""

    mesh: tuple[int, int]
    traffic: str
    router: str
    rate: float  # packets per node per cycle offered (Bernoulli)
    packet_flits: int
    vcs: int
    buffer: int
    warmup: int
    cycles: int  # cycles simulated in all (warm-up, window, drain)
    measure_cycles: int  # length of the measurement window
    injected: int  # flits injected into the network
    delivered: int  # flits delivered to cores
    in_flight: int  # flits in the network when the run stopped (0 after the drain)
    packets_measured: int  # packets created in the window (all followed to delivery)
    latency_mean: float  # creation -> tail delivered, source queueing included
    latency_p50: float
    latency_p99: float
    network_latency_mean: float  # head injected -> tail delivered
    network_latency_p50: float
    network_latency_p99: float
    zero_load_latency: float  # the router's pipeline sum over the mean hop count of the pattern
    accepted_rate: float  # flits delivered per node per cycle in the window
    offered_rate: float  # flits offered per node per cycle (rate x packet_flits)
    saturated: bool
    peak_queue: int  # largest FIFO occupancy seen, flits
    router_cycles_per_s: float  # routers x simulated cycles / kernel wall time
    active_router_fraction: float  # router visits / (routers x cycles)
    wall_s: float
    link_utilisation: np.ndarray = field(repr=False)  # (rows, cols, 4) flits/cycle, window

    def to_dict(self, arrays: bool = False) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "link_utilisation"}
        d["mesh"] = list(self.mesh)
        d["max_link_utilisation"] = float(self.link_utilisation.max(initial=0.0))
        if arrays:
            d["link_utilisation"] = self.link_utilisation.tolist()
        return d


@dataclass(frozen=True)
class CollectiveResult:
    """A collective (or several at once) run to completion on static color routes."""

    name: str
    cores: tuple[int, int]
    wavelets: int  # per core
    router: str
    group: int
    task_cycles: int
    colors: int  # colors the routes use
    cycles: int  # to completion, counting cycle 0 (the first injection) to the last event
    wavelet_hops: int  # link traversals of all wavelets
    max_link_load: int  # wavelets over the busiest link
    injected: int
    delivered: int
    in_flight: int
    peak_queue: int
    lower_bound_cycles: int  # max link load + the shortest latency a wavelet must pay
    router_cycles_per_s: float
    wall_s: float
    link_load: np.ndarray = field(repr=False)  # (rows, cols, 4) wavelets per link

    def to_dict(self, arrays: bool = False) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "link_load"}
        d["cores"] = list(self.cores)
        if arrays:
            d["link_load"] = self.link_load.tolist()
        return d


# ---- validation ----------------------------------------------------------------------------
def _pos_int(name: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise FabricError(f"{name} must be an int >= {lo}, got {v!r}")
    return int(v)


def _mesh(mesh) -> tuple[int, int]:
    if isinstance(mesh, str):
        parts = mesh.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            mesh = (int(parts[0]), int(parts[1]))
    if (not isinstance(mesh, (tuple, list)) or len(mesh) != 2):
        raise FabricError(f"mesh must be (rows, cols), got {mesh!r}; e.g. mesh=(16, 16)")
    r, c = (_pos_int("mesh rows/cols", v) for v in mesh)
    if r * c > 2 ** 24:
        raise FabricError(f"mesh {r}x{c} has {r * c:,} routers; at most 2**24 are supported")
    return r, c


def _raise_kernel(err: int, stats: np.ndarray, what: str) -> None:
    if err == noc.OK:
        return
    cyc = int(stats[noc.S_ERROR_CYCLE])
    msg = {
        noc.ERR_CONSERVATION: "flit conservation failed (injected + forks != delivered + "
                              "in flight)",
        noc.ERR_NO_QUEUE: "a route leads into a port/color without a queue",
        noc.ERR_RECOUNT: "flit counters disagree with the buffers",
        noc.ERR_TIMEOUT: "the run did not finish (deadlock, or raise max_cycles)",
        noc.ERR_POOL: "the packet pool ran out",
        noc.ERR_NO_SLOT: "a wavelet reached a core with no task for its color",
        noc.ERR_ROUTE: "a route mask is empty or leaves the mesh",
    }.get(err, f"error code {err}")
    raise FabricError(f"cycle-level fabric, {what}: {msg} at cycle {cyc}; this is a bug in "
                      "the program's routes or in the simulator, please report it")


_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def _run(rows, cols, vcs, depth, spec: RouterSpec, qid, q_router, q_port, q_vc, router_q0,
         program, synth, prog):
    stats = np.zeros(noc.N_STATS, dtype=np.int64)
    link = np.zeros(rows * cols * 4, dtype=np.int64)
    lat = np.zeros(noc.LAT_BINS, dtype=np.int64)
    nlat = np.zeros(noc.LAT_BINS, dtype=np.int64)
    t0 = time.perf_counter()
    err = noc.simulate_network(
        rows, cols, vcs, depth, spec.route_cycles, spec.vc_alloc_cycles, spec.hop_cycles,
        spec.eject_cycles, spec.ramp_in_cycles, spec.credit_cycles,
        qid, q_router, q_port, q_vc, router_q0, program, *synth, *prog,
        stats, link, lat, nlat)
    wall = time.perf_counter() - t0
    return err, stats, link.reshape(rows, cols, 4), lat, nlat, wall


def _no_program():
    z32 = _EMPTY_I32
    return (np.zeros(0, dtype=np.uint8), 1, z32, z32, z32, z32, _EMPTY_I64, _EMPTY_I64,
            _EMPTY_I64, z32, z32, z32, np.zeros(1, dtype=np.int32), 0)


_WARM = [False]


def _warm() -> None:
    """Load the compiled kernel once per process, so a run's timing excludes it."""
    if not _WARM[0]:
        _WARM[0] = True
        simulate((2, 2), rate=0.1, cycles=20, warmup=5, _warming=True)


# ---- synthetic traffic ---------------------------------------------------------------------
def _dense_queues(rows, cols, vcs):
    R = rows * cols
    nq = R * 5 * vcs
    idx = np.arange(nq, dtype=np.int64)
    qid = idx.astype(np.int32)
    q_router = (idx // (5 * vcs)).astype(np.int32)
    q_port = ((idx // vcs) % 5).astype(np.int32)
    q_vc = (idx % vcs).astype(np.int32)
    router_q0 = (np.arange(R + 1, dtype=np.int64) * 5 * vcs).astype(np.int32)
    return qid, q_router, q_port, q_vc, router_q0


def _pattern(traffic: str, rows: int, cols: int):
    """Kernel pattern code and destination table; mean hop count of the pattern."""
    R = rows * cols
    n = np.arange(R)
    y, x = n // cols, n % cols
    if traffic == "uniform":
        # E|dx| + E|dy| for independent uniform coordinates
        hops = (cols * cols - 1) / (3 * cols) + (rows * rows - 1) / (3 * rows)
        return 0, np.zeros(1, dtype=np.int32), hops
    if traffic == "hotspot":
        u = (cols * cols - 1) / (3 * cols) + (rows * rows - 1) / (3 * rows)
        h = float(np.mean(np.abs(x - cols // 2) + np.abs(y - rows // 2)))
        return 2, np.zeros(1, dtype=np.int32), HOTSPOT_FRACTION * h + (1 - HOTSPOT_FRACTION) * u
    if traffic == "transpose":
        if rows != cols:
            raise FabricError(f"transpose traffic needs a square mesh, got {rows}x{cols}")
        d = x * cols + y
    elif traffic == "neighbor":
        d = ((y + 1) % rows) * cols + (x + 1) % cols
    elif traffic == "bit-complement":
        d = (rows - 1 - y) * cols + (cols - 1 - x)
    else:
        raise FabricError(unknown_name("traffic pattern", traffic, TRAFFIC))
    hops = float(np.mean(np.abs(d % cols - x) + np.abs(d // cols - y)))
    return 1, d.astype(np.int32), hops


def _percentile(hist: np.ndarray, q: float) -> float:
    total = hist.sum()
    if total == 0:
        return float("nan")
    return float(np.searchsorted(np.cumsum(hist), q * total))


def simulate(mesh=(16, 16), traffic: str = "uniform", rate: float = 0.05, packet_flits: int = 1,
             vcs: int = 2, buffer: int | None = 8, router: str | RouterSpec = "generic-4stage",
             cycles: int = 10_000, warmup: int = 3_000, seed: int = 0,
             _warming: bool = False) -> NocResult:
    """Synthetic traffic on a ``rows x cols`` mesh with XY routing; returns a :class:`NocResult`.

    Parameters
    ----------
    traffic : 'uniform' (destination uniform over all nodes, the source included),
        'transpose' ((x, y) -> (y, x)), 'neighbor' ((x+1) mod k, (y+1) mod k),
        'bit-complement' ((k-1-x, k-1-y)) or 'hotspot' (HOTSPOT_FRACTION of packets to the
        centre node, the rest uniform)
    rate : packets per node per cycle, Bernoulli (0 <= rate <= 1)
    packet_flits : flits per packet
    vcs, buffer : virtual channels per port and flits per VC FIFO (None: the preset's depth)
    cycles : sources inject in [0, cycles); packets created in [warmup, cycles) are measured
        and followed to delivery (background traffic continues meanwhile, up to ``cycles``
        more cycles, else the run is called saturated); then the network drains empty
    """
    if not _warming:
        _warm()
    rows, cols = _mesh(mesh)
    spec = router_spec(router)
    if traffic not in TRAFFIC:
        raise FabricError(unknown_name("traffic pattern", traffic, TRAFFIC))
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise FabricError(f"rate must be a number in [0, 1] packets per node per cycle, "
                          f"got {rate!r}")
    L = _pos_int("packet_flits", packet_flits)
    V = _pos_int("vcs", vcs)
    if V > spec.max_vcs:
        raise FabricError(f"vcs={V} exceeds router {spec.name!r}'s {spec.max_vcs}; use fewer")
    depth = spec.queue_depth if buffer is None else _pos_int("buffer", buffer)
    cycles = _pos_int("cycles", cycles)
    warmup = _pos_int("warmup", warmup, 0)
    if warmup >= cycles:
        raise FabricError(f"warmup={warmup} must be below cycles={cycles} (the window is "
                          "[warmup, cycles))")
    seed = _pos_int("seed", seed, 0)
    if L * rows * cols * 5 * V * depth >= 2 ** 31:
        raise FabricError("packet_flits x buffers too large for int32 flit ids; shrink the run")
    pat, table, mean_hops = _pattern(traffic, rows, cols)
    hot = (rows // 2) * cols + cols // 2
    qs = _dense_queues(rows, cols, V)
    synth = (pat, table, hot, HOTSPOT_FRACTION, float(rate), L, cycles, warmup, cycles,
             2 * cycles, SOURCE_QUEUE_PACKETS, seed)
    err, st, link, lat, nlat, wall = _run(rows, cols, V, depth, spec, *qs, 0, synth,
                                          _no_program())
    _raise_kernel(err, st, f"{traffic} traffic on {rows}x{cols}")
    window = cycles - warmup
    R = rows * cols
    done = int(st[noc.S_TAGGED_DONE])
    created_win = int(st[noc.S_CREATED_WIN])
    growth = int(st[noc.S_BACKLOG_END] - st[noc.S_BACKLOG_START])
    saturated = (not st[noc.S_DRAINED]) or st[noc.S_SRC_OVERFLOW] > 0 or (
        growth > 0.05 * max(created_win, 1) and growth > R)
    sim_cycles = int(st[noc.S_CYCLES])
    return NocResult(
        mesh=(rows, cols), traffic=traffic, router=spec.name, rate=float(rate),
        packet_flits=L, vcs=V, buffer=depth, warmup=warmup, cycles=sim_cycles,
        measure_cycles=window, injected=int(st[noc.S_INJECTED]),
        delivered=int(st[noc.S_DELIVERED]), in_flight=int(st[noc.S_IN_FLIGHT]),
        packets_measured=created_win,
        latency_mean=float(st[noc.S_LAT_SUM] / done) if done else float("nan"),
        latency_p50=_percentile(lat, 0.5), latency_p99=_percentile(lat, 0.99),
        network_latency_mean=float(st[noc.S_NLAT_SUM] / done) if done else float("nan"),
        network_latency_p50=_percentile(nlat, 0.5), network_latency_p99=_percentile(nlat, 0.99),
        zero_load_latency=float(spec.ramp_in_cycles + (mean_hops + 1) * spec.pre_cycles
                                + mean_hops * spec.hop_cycles + spec.eject_cycles + L - 1),
        accepted_rate=float(st[noc.S_DELIV_WIN_FLITS]) / (R * window),
        offered_rate=float(rate) * L, saturated=bool(saturated),
        peak_queue=int(st[noc.S_PEAK_QUEUE]),
        router_cycles_per_s=R * sim_cycles / max(wall, 1e-9),
        active_router_fraction=float(st[noc.S_ROUTER_CYCLES]) / max(R * sim_cycles, 1),
        wall_s=wall, link_utilisation=link / window)


# ---- programs: static color routes, nodes, slots -------------------------------------------
# A program is built on *lines* of cores (a row or a column) in line coordinates: position 0..P-1
# along the line, "forward" = increasing position. Ports in line terms:
IN_RAMP, IN_FWD, IN_BWD = 0, 1, 2  # from the core; travelling forward; travelling backward
OUT_F, OUT_B, OUT_R = 1, 2, 4  # output bits: forward, backward, to the core


@dataclass
class _Line:
    """One collective on one line of P cores, before it is laid on the mesh."""

    colors: int
    # route entries: position, in-port (IN_*), color, output bits (OUT_*)
    r_pos: list = field(default_factory=list)
    r_in: list = field(default_factory=list)
    r_col: list = field(default_factory=list)
    r_out: list = field(default_factory=list)
    # nodes: position, output color (-1 sink), count, lead, task cycles, input colors (-1 pad)
    n_pos: list = field(default_factory=list)
    n_col: list = field(default_factory=list)
    n_cnt: list = field(default_factory=list)
    n_lead: list = field(default_factory=list)
    n_task: list = field(default_factory=list)
    n_ins: list = field(default_factory=list)

    def route(self, pos, port, color, out):
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        self.r_pos.append(pos)
        self.r_in.append(np.full(len(pos), port, dtype=np.int64))
        self.r_col.append(np.full(len(pos), color, dtype=np.int64))
        self.r_out.append(np.broadcast_to(np.asarray(out), pos.shape).astype(np.int64))

    def segment(self, src, dst, color):
        """Route color from the core at src forward to the core at dst (src < dst)."""
        src = np.atleast_1d(np.asarray(src, dtype=np.int64))
        dst = np.atleast_1d(np.asarray(dst, dtype=np.int64))
        if not len(src):
            return
        self.route(src, IN_RAMP, color, OUT_F)
        n = dst - src - 1
        mids = np.repeat(src + 1, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        self.route(mids, IN_FWD, color, OUT_F)
        self.route(dst, IN_FWD, color, OUT_R)

    def nodes(self, pos, color, cnt, lead, task, ins):
        """Nodes at positions ``pos``; ``ins`` (n, k) input colors, -1 for none."""
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        n = len(pos)
        self.n_pos.append(pos)
        self.n_col.append(np.broadcast_to(np.asarray(color, dtype=np.int64), (n,)))
        self.n_cnt.append(np.full(n, cnt, dtype=np.int64))
        self.n_lead.append(np.full(n, lead, dtype=np.int64))
        self.n_task.append(np.broadcast_to(np.asarray(task, dtype=np.int64), (n,)))
        self.n_ins.append(np.asarray(ins, dtype=np.int64).reshape(n, -1))

    def node_arrays(self):
        k = max(a.shape[1] for a in self.n_ins)
        ins = np.concatenate([np.pad(a, ((0, 0), (0, k - a.shape[1])), constant_values=-1)
                              for a in self.n_ins])
        return (np.concatenate(self.n_pos), np.concatenate(self.n_col),
                np.concatenate(self.n_cnt), np.concatenate(self.n_lead),
                np.concatenate(self.n_task), ins)


def _trailing_zeros(x: np.ndarray) -> np.ndarray:
    """Trailing zero bits of positive ints (int64 array)."""
    low = x & -x
    return np.round(np.log2(low)).astype(np.int64)


def _line_collective(name: str, P: int, B: int, task: int, group: int) -> _Line:
    """Routes and nodes of one collective on a line of P cores (B wavelets per core)."""
    pos = np.arange(P, dtype=np.int64)
    if name == "broadcast":
        ln = _Line(colors=1)
        ln.route(0, IN_RAMP, 0, OUT_F)
        ln.route(pos[1:-1], IN_FWD, 0, OUT_F | OUT_R)  # multicast: each link once
        ln.route(P - 1, IN_FWD, 0, OUT_R)
        ln.nodes([0], 0, B, 0, 0, [[-1]])
        ln.nodes(pos[1:], -1, B, 0, 0, np.zeros((P - 1, 1)))
        return ln
    if name == "chain-reduce":
        return _line_collective("two-phase-reduce", P, B, task, P)
    if name == "two-phase-reduce":
        # phase 1: chains of `group` cores (color 0) ending at each group's last core;
        # phase 2: a chain over those leaders (color 1). Pipelined: no barrier between them.
        g = min(group, P)
        ln = _Line(colors=2 if g < P else 1)
        leaders = np.minimum(np.arange(0, P, g) + g, P) - 1
        is_leader = np.zeros(P, dtype=bool)
        is_leader[leaders] = True
        ln.segment(pos[~is_leader], pos[~is_leader] + 1, 0)
        ln.segment(leaders[:-1], leaders[1:], 1)
        grp = pos // g
        last = len(leaders) - 1
        in1 = np.where(pos % g != 0, 0, -1)
        in2 = np.where(is_leader & (grp > 0), 1, -1)
        col = np.where(is_leader, np.where(grp < last, 1, -1), 0)
        has_in = (in1 >= 0) | (in2 >= 0)
        ln.nodes(pos, col, B, 0, np.where(has_in, task, 0), np.stack([in1, in2], axis=1))
        return ln
    if name == "tree-reduce":
        # binomial tree rooted at the last core: in reversed coordinates x = P-1-pos, core x
        # sends to x - 2^j on color j, j its lowest set bit
        levels = max(1, math.ceil(math.log2(P)))
        ln = _Line(colors=levels)
        x = P - 1 - pos
        tz = np.full(P, levels, dtype=np.int64)
        tz[x > 0] = _trailing_zeros(x[x > 0])
        for lv in range(levels):  # one segment set per tree level (colors)
            sel = (x > 0) & (tz == lv)
            ln.segment(pos[sel], pos[sel] + (1 << lv), lv)
        lv = np.arange(levels)[None, :]
        ins = np.where((lv < tz[:, None]) & (x[:, None] + (1 << lv) < P), lv, -1)
        has_in = (ins >= 0).any(axis=1)
        ln.nodes(pos, np.where(x > 0, tz, -1), B, 0, np.where(has_in, task, 0), ins)
        return ln
    if name == "ring-allreduce":
        # ring 0 -> 1 -> ... -> P-1 -> 0 (color 0 forward, color 1 back along the line);
        # reduce-scatter then all-gather as one stream of 2 (P-1) chunks per core: output k
        # needs input k - m (m wavelets per chunk), so the first chunk goes out at once
        ln = _Line(colors=2)
        m = -(-B // P)
        ln.segment(pos[:-1], pos[:-1] + 1, 0)
        ln.route(P - 1, IN_RAMP, 1, OUT_B)
        ln.route(pos[1:-1], IN_BWD, 1, OUT_B)
        ln.route(0, IN_BWD, 1, OUT_R)
        ln.nodes(pos, np.where(pos == P - 1, 1, 0), 2 * (P - 1) * m, m, task,
                 np.where(pos == 0, 1, 0)[:, None])
        return ln
    raise FabricError(unknown_name("collective", name, COLLECTIVES))


@dataclass
class _Program:
    rows: int
    cols: int
    colors: int = 0
    routes: list = field(default_factory=list)  # (router, port, color, mask) arrays
    nodes: list = field(default_factory=list)  # (core, color, count, lead, task, inputs)


def _lay(prog: _Program, ln: _Line, axis: str) -> None:
    """Lay one line collective on every row (axis 'row') or column (axis 'col')."""
    rows, cols = prog.rows, prog.cols
    if axis == "row":
        n_lines = rows
        lines = np.arange(rows)[:, None] * cols + np.arange(cols)[None, :]
        f, b = 0, 1  # forward = east
    else:
        n_lines = cols
        lines = np.arange(rows)[None, :] * cols + np.arange(cols)[:, None]
        f, b = 2, 3  # forward = south
    in_map = np.array([PORT_RAMP, OPP[f], OPP[b]], dtype=np.int64)
    c0 = prog.colors
    pos = np.concatenate(ln.r_pos)
    port = in_map[np.concatenate(ln.r_in)]
    col = np.concatenate(ln.r_col) + c0
    out = np.concatenate(ln.r_out)
    mask = (((out & OUT_F) > 0).astype(np.int64) << f) | (
        ((out & OUT_B) > 0).astype(np.int64) << b) | (((out & OUT_R) > 0).astype(np.int64) << 4)
    prog.routes.append((lines[:, pos].ravel(), np.tile(port, n_lines), np.tile(col, n_lines),
                        np.tile(mask, n_lines)))
    npos, ncol, cnt, lead, task, ins = ln.node_arrays()
    ncol = np.where(ncol >= 0, ncol + c0, -1)
    ins = np.where(ins >= 0, ins + c0, -1)
    prog.nodes.append((lines[:, npos].ravel(), np.tile(ncol, n_lines), np.tile(cnt, n_lines),
                       np.tile(lead, n_lines), np.tile(task, n_lines),
                       np.tile(ins, (n_lines, 1))))
    prog.colors += ln.colors


def _compile_program(prog: _Program):
    """Route table, queue map, nodes sorted by core and input slots for the kernel."""
    rows, cols, C = prog.rows, prog.cols, prog.colors
    R = rows * cols
    tbl = np.zeros(R * 5 * C, dtype=np.uint8)
    for r, p, c, m in prog.routes:
        np.bitwise_or.at(tbl, (r * 5 + p) * C + c, m.astype(np.uint8))
    used = np.flatnonzero(tbl)
    qid = np.full(R * 5 * C, -1, dtype=np.int32)
    qid[used] = np.arange(len(used), dtype=np.int32)
    q_router = (used // (5 * C)).astype(np.int32)
    q_port = ((used // C) % 5).astype(np.int32)
    q_vc = (used % C).astype(np.int32)
    router_q0 = np.searchsorted(q_router, np.arange(R + 1)).astype(np.int32)
    # nodes, sorted by core (stable: the order parts were laid)
    k = max(n[5].shape[1] for n in prog.nodes)
    cat = [np.concatenate([n[i] for n in prog.nodes]).astype(np.int64) for i in range(5)]
    ins = np.concatenate([np.pad(n[5], ((0, 0), (0, k - n[5].shape[1])), constant_values=-1)
                          for n in prog.nodes])
    order = np.argsort(cat[0], kind="stable")
    core, color, cnt, lead, task = (a[order] for a in cat)
    ins = ins[order]
    valid = ins >= 0
    n_in = valid.sum(axis=1)
    in_col = ins[valid]
    in1 = np.cumsum(n_in)
    in0 = in1 - n_in
    slot_node = np.repeat(np.arange(len(core)), n_in).astype(np.int32)
    key = core[slot_node] * C + in_col
    if len(np.unique(key)) != len(key):
        raise FabricError("two tasks of one core listen on the same color; give each its own")
    slot_base = np.full(R * C, -1, dtype=np.int32)
    slot_base[key] = np.arange(len(key), dtype=np.int32)
    core_node0 = np.searchsorted(core, np.arange(R + 1)).astype(np.int32)
    tag = np.zeros(len(core), dtype=np.int32)
    qs = (qid, q_router, q_port, q_vc, router_q0)
    pr = (tbl, C, slot_base, core.astype(np.int32), color.astype(np.int32), tag, cnt, lead,
          task, in0.astype(np.int32), in1.astype(np.int32), slot_node, core_node0)
    return qs, pr


def run_program(prog: _Program, spec: RouterSpec, depth: int, max_cycles: int, what: str):
    """Run a program to completion: kernel stats, link loads (rows, cols, 4), wall seconds."""
    qs, pr = _compile_program(prog)
    _warm()
    synth = (0, np.zeros(1, dtype=np.int32), 0, 0.0, 0.0, 1, 0, 0, 0, 0, 1, 0)
    err, st, link, _, _, wall = _run(prog.rows, prog.cols, prog.colors, depth, spec, *qs, 1,
                                     synth, (*pr, int(max_cycles)))
    _raise_kernel(err, st, what)
    return st, link, wall


def program_cycles(stats: np.ndarray) -> int:
    """Cycles a program spans: from cycle 0 (the first injection) through the cycle of its
    last event (a task done or a wavelet received), both counted; 0 for an empty program."""
    return int(stats[noc.S_DONE_CYCLE]) + 1 if stats[noc.S_DELIVERED] else 0


DIR_STEP = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (drow, dcol) of E, W, S, N


def _ragged(n: np.ndarray):
    """For segment lengths n: (segment index, position within the segment) of every element."""
    seg = np.repeat(np.arange(len(n)), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return seg, pos


def add_segments(prog: _Program, kind: str, row0, col0, direction: int, length, count, color,
                 task: int = 0) -> None:
    """Straight streams of ``length`` cores from (row0, col0) towards ``direction`` (0..3, E W
    S N), ``count`` wavelets each on ``color`` (arrays, one entry per stream).

    kind 'multicast': the first core sends, every other core receives (each link once);
    'chain': the first core sends, each next core adds its own (``task`` cycles) and
    forwards; the last core keeps the result.
    """
    row0, col0, length, count, color = (np.array(a, dtype=np.int64) for a in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (row0, col0, length, count,
                                                                 color))))
    keep = (length >= 2) & (count > 0)
    row0, col0, length, count, color = (a[keep] for a in (row0, col0, length, count, color))
    if not len(row0):
        return
    dr, dc = DIR_STEP[direction]
    seg, pos = _ragged(length)
    routers = (row0[seg] + dr * pos) * prog.cols + col0[seg] + dc * pos
    first, last = pos == 0, pos == length[seg] - 1
    mid = ~first & ~last
    col = color[seg]
    inp = OPP[direction]
    r_list = [routers[first], routers[last]]
    p_list = [np.full(first.sum(), PORT_RAMP), np.full(last.sum(), inp)]
    c_list = [col[first], col[last]]
    m_list = [np.full(first.sum(), 1 << direction), np.full(last.sum(), 16)]
    if kind == "multicast":
        r_list.append(routers[mid])
        p_list.append(np.full(mid.sum(), inp))
        c_list.append(col[mid])
        m_list.append(np.full(mid.sum(), (1 << direction) | 16))
        n_col = np.where(first, col, -1)
        n_task = np.zeros(len(pos), dtype=np.int64)
    elif kind == "chain":
        r_list += [routers[mid], routers[mid]]
        p_list += [np.full(mid.sum(), inp), np.full(mid.sum(), PORT_RAMP)]
        c_list += [col[mid], col[mid]]
        m_list += [np.full(mid.sum(), 16), np.full(mid.sum(), 1 << direction)]
        n_col = np.where(last, -1, col)
        n_task = np.where(first, 0, task)
    else:
        raise FabricError(f"stream kind must be 'multicast' or 'chain', got {kind!r}")
    prog.routes.append(tuple(np.concatenate(x).astype(np.int64)
                             for x in (r_list, p_list, c_list, m_list)))
    ins = np.where(first, -1, col)[:, None]
    prog.nodes.append((routers, n_col, count[seg], np.zeros(len(pos), dtype=np.int64), n_task,
                       ins))
    prog.colors = max(prog.colors, int(color.max()) + 1)


def xy_route_entries(rows: int, cols: int, sr, sc, dr, dc):
    """Router, input port and output mask of every hop of XY routes (X first), and the route
    each entry belongs to; a route to its own core is one entry ramp -> ramp."""
    sr, sc, dr, dc = (np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (sr, sc, dr, dc))
    nx, ny = np.abs(dc - sc), np.abs(dr - sr)
    steps = nx + ny
    seg, pos = _ragged(steps + 1)  # one entry per router on the path
    n_x = nx[seg]
    sx = np.sign(dc - sc)[seg]
    sy = np.sign(dr - sr)[seg]
    row = np.where(pos <= n_x, sr[seg], sr[seg] + sy * (pos - n_x))
    col = np.where(pos <= n_x, sc[seg] + sx * pos, dc[seg])
    dir_x = np.where(sx > 0, 0, 1)
    dir_y = np.where(sy > 0, 2, 3)
    # direction of the step leaving this router and of the one that arrived here
    out_dir = np.where(pos < n_x, dir_x, dir_y)
    in_dir = np.where(pos - 1 < n_x, dir_x, dir_y)
    is_last = pos == steps[seg]
    mask = np.where(is_last, 16, 1 << out_dir)
    port = np.where(pos == 0, PORT_RAMP, np.asarray(OPP)[in_dir])
    return row * cols + col, port, mask, seg


def add_unicasts(prog: _Program, sr, sc, dr, dc, count, color0: int) -> int:
    """XY point-to-point streams of ``count`` wavelets each, coloured from ``color0`` so that
    no two share a (router, input port, color) or a receiving (core, color); returns the
    number of colors used."""
    sr, sc, dr, dc, count = (np.array(a, dtype=np.int64) for a in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (sr, sc, dr, dc, count))))
    keep = count > 0
    sr, sc, dr, dc, count = (a[keep] for a in (sr, sc, dr, dc, count))
    if not len(sr):
        return 0
    routers, port, mask, seg = xy_route_entries(prog.rows, prog.cols, sr, sc, dr, dc)
    dst = dr * prog.cols + dc
    # keys that must be unique per color: every (router, port) a route enters, and the
    # receiving core (a pseudo port 5)
    k_r = np.concatenate([routers * 6 + port, dst * 6 + 5])
    k_seg = np.concatenate([seg, np.arange(len(sr))])
    colors = np.zeros(len(sr), dtype=np.int64)
    for _ in range(len(sr) + 1):  # greedy: bump the later route of each clash
        key = k_r * (len(sr) + 1) + colors[k_seg]
        order = np.lexsort((k_seg, key))
        dup = np.zeros(len(key), dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            break
        bump = np.unique(k_seg[dup])
        colors[bump] += 1
    col = colors + color0
    prog.routes.append((routers, port, col[seg], mask))
    src = sr * prog.cols + sc
    z = np.zeros(len(sr), dtype=np.int64)
    prog.nodes.append((src, col, count, z, z, np.full((len(sr), 1), -1)))
    prog.nodes.append((dst, np.full(len(sr), -1), count, z, z, col[:, None]))
    used = int(colors.max()) + 1
    prog.colors = max(prog.colors, color0 + used)
    return used


def _cores(cores) -> tuple[int, int]:
    if isinstance(cores, (int, np.integer)) and not isinstance(cores, bool):
        return 1, _pos_int("cores", cores, 2)
    return _mesh(cores)


def collectives(parts, cores=512, wavelets: int = 4096, router: str | RouterSpec = "wse",
                task_cycles: int = DEFAULT_TASK_CYCLES, buffer: int | None = None,
                max_cycles: int | None = None) -> CollectiveResult:
    """Several collectives at once on one rectangle, each on its own colors.

    ``parts`` is a sequence of ``(name, axis)`` or ``(name, axis, group)``: axis 'row' runs
    the collective along every row (west to east: a broadcast from the west core, reductions
    ending at the east core), 'col' along every column (north to south). E.g. a whole-wafer
    row broadcast plus column chain reduce: ``[("broadcast", "row"), ("chain-reduce",
    "col")]``.
    """
    rows, cols = _cores(cores)
    spec = router_spec(router)
    B = _pos_int("wavelets", wavelets)
    task = _pos_int("task_cycles", task_cycles, 0)
    depth = spec.queue_depth if buffer is None else _pos_int("buffer", buffer)
    prog = _Program(rows, cols)
    names, groups = [], []
    for part in parts:
        name, axis = part[0], part[1]
        group = part[2] if len(part) > 2 else None
        if name not in COLLECTIVES:
            raise FabricError(unknown_name("collective", name, COLLECTIVES))
        if axis not in ("row", "col"):
            raise FabricError(f"axis must be 'row' or 'col', got {axis!r}")
        P = cols if axis == "row" else rows
        if P < 2:
            raise FabricError(f"{name} along {axis}s needs at least 2 cores per {axis}, got "
                              f"{rows}x{cols}; use cores=<int >= 2> or a larger rectangle")
        if name == "two-phase-reduce":
            if group is None:
                raise FabricError("two-phase-reduce needs group=<cores per first-phase "
                                  "chain>, e.g. group=16")
            group = _pos_int("group", group)
        else:
            group = 0 if group is None else _pos_int("group", group)
        _lay(prog, _line_collective(name, P, B, task, group), axis)
        names.append(f"{name}/{axis}")
        groups.append(group)
    if prog.colors > spec.max_vcs:
        raise FabricError(f"the routes need {prog.colors} colors but router {spec.name!r} has "
                          f"{spec.max_vcs}; run fewer collectives at once")
    if max_cycles is None:
        # far above any sane completion time: every wavelet over every hop, serialised
        max_cycles = 64 * (B * max(rows, cols) + 4 * (rows + cols) * (spec.hop_cycles + 8)) + 1000
    st, link, wall = run_program(prog, spec, depth, int(max_cycles), "+".join(names))
    R = rows * cols
    cyc = program_cycles(st)
    mx = int(link.max(initial=0))
    return CollectiveResult(
        name="+".join(names), cores=(rows, cols), wavelets=B, router=spec.name,
        group=max(groups) if groups else 0, task_cycles=task, colors=prog.colors, cycles=cyc,
        wavelet_hops=int(link.sum()), max_link_load=mx, injected=int(st[noc.S_INJECTED]),
        delivered=int(st[noc.S_DELIVERED]), in_flight=int(st[noc.S_IN_FLIGHT]),
        peak_queue=int(st[noc.S_PEAK_QUEUE]),
        lower_bound_cycles=mx + spec.zero_load_cycles(1) if mx else 0,
        router_cycles_per_s=R * int(st[noc.S_CYCLES]) / max(wall, 1e-9), wall_s=wall,
        link_load=link)


def collective(name: str, cores=512, wavelets: int = 4096, router: str | RouterSpec = "wse",
               group: int | None = None, task_cycles: int = DEFAULT_TASK_CYCLES,
               axis: str = "row", buffer: int | None = None) -> CollectiveResult:
    """One collective of ``wavelets`` per core on a row of ``cores`` (an int) or on every
    row ('row') or column ('col') of a ``(rows, cols)`` rectangle.

    name : 'broadcast' (from the first core, multicast: each link once), 'chain-reduce'
        (partial sums core to core, each adds its own: task_cycles per wavelet),
        'tree-reduce' (binomial tree, one color per level), 'two-phase-reduce' (chains of
        ``group`` cores, then a chain over their ends) or 'ring-allreduce' (reduce-scatter
        then all-gather around a ring, chunks of wavelets / cores).
    """
    part = (name, axis) if group is None else (name, axis, group)
    return collectives([part], cores=cores, wavelets=wavelets, router=router,
                       task_cycles=task_cycles, buffer=buffer)
