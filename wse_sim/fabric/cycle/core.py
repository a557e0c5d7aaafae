"""Results of the cycle-level fabric, argument checks and the one call into the kernel."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import FabricError
from ...kernels import noc
from ...kernels.noc_workers import available_threads
from .presets import RouterSpec

# programs on fewer routers run on one thread (threads=None): each cycle starts two parallel
# phases, a few microseconds each, more than a small mesh's visits. Assumed, from the measured
# ~2 us per start and ~50 ns per router visit on this project's 2-core machine
PARALLEL_MIN_ROUTERS = 65536


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


def threads_for(threads, rows: int, cols: int) -> int:
    """Workers of a program's run: ``threads`` (an int >= 1, or None: all of numba's threads
    on a mesh of at least PARALLEL_MIN_ROUTERS routers, else 1); never more than
    half the rows (each span of rows is two rows from the next). The result does not depend
    on it."""
    if threads is not None:
        _pos_int("threads", threads)
        if threads > 1024:
            raise FabricError(f"threads={threads} is more than 1024; pass threads=None to use "
                              "numba's threads (numba.set_num_threads)")
        want = int(threads)
    else:
        want = available_threads() if rows * cols >= PARALLEL_MIN_ROUTERS else 1
    return max(1, min(want, rows // 2))


_EMPTY_I32 = np.zeros(0, dtype=np.int32)


def _run(rows, cols, vcs, depth, spec: RouterSpec, qid, q_router, q_port, q_vc, router_q0,
         program, synth, prog, workers: int = 1):
    stats = np.zeros(noc.N_STATS, dtype=np.int64)
    link = np.zeros(rows * cols * 4, dtype=np.int64)
    lat = np.zeros(noc.LAT_BINS, dtype=np.int64)
    nlat = np.zeros(noc.LAT_BINS, dtype=np.int64)
    t0 = time.perf_counter()
    err = noc.simulate_network(
        rows, cols, vcs, depth, spec.route_cycles, spec.vc_alloc_cycles, spec.hop_cycles,
        spec.eject_cycles, spec.ramp_in_cycles, spec.credit_cycles,
        int(spec.rc_at_front), spec.vc_release_cycles,
        qid, q_router, q_port, q_vc, router_q0, program, workers, *synth, *prog,
        stats, link, lat, nlat)
    wall = time.perf_counter() - t0
    return err, stats, link.reshape(rows, cols, 4), lat, nlat, wall


def _no_program():
    z32 = _EMPTY_I32
    return (np.zeros(0, dtype=np.uint8), 1, z32, z32, z32, z32, z32, z32, z32, z32, z32, z32,
            np.zeros(1, dtype=np.int32), 0)
