"""Synthetic traffic: Bernoulli sources, XY routing, warm-up, window and drain."""

from __future__ import annotations

import numpy as np

from ...errors import FabricError, unknown_name
from ...kernels import noc
from .core import NocResult, _mesh, _no_program, _pos_int, _raise_kernel, _run
from .presets import HOTSPOT_FRACTION, SOURCE_QUEUE_PACKETS, TRAFFIC, RouterSpec, router_spec

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
        more cycles or 4x the longest route's zero-load latency if that is longer, else the
        run is called saturated); then the network drains empty
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
    # window packets get `cycles` more cycles to arrive, and at least 4x the zero-load
    # latency of the longest route (a 256x256 mesh needs ~2,600 cycles for one packet)
    drain = cycles + max(cycles, 4 * spec.zero_load_cycles(rows + cols - 2, L))
    synth = (pat, table, hot, HOTSPOT_FRACTION, float(rate), L, cycles, warmup, cycles,
             drain, SOURCE_QUEUE_PACKETS, seed)
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
