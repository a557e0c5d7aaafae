"""Tables of the cycle-level fabric for the notes: latency versus load, speed, reductions.

Run: ``python benchmarks/noc_tables.py [booksim|latency|speed|reduce|wse2 ...]`` (default: all);
prints markdown. Router-cycles/s are given per wall second and per CPU second of the process
(synthetic traffic runs on one thread; a whole-wafer program on all of numba's threads, so
its wall time is the figure to compare, its CPU time the sum over threads).
"""

from __future__ import annotations

import sys
import time

from wse_sim.fabric import cycle
from wse_sim.fabric.cycle.core import threads_for

RATES = {"uniform": (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4),
         "transpose": (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
         "neighbor": (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)}


def latency_table(cycles=6000, warmup=2000):
    print("### Latency (mean packet latency, cycles) versus offered load "
          "(packets/node/cycle), generic-4stage, 1-flit packets\n")
    print(f"{cycles} cycles, warm-up {warmup}, seed 0; `sat` = saturated (window packets did "
          "not drain or source queues grew); last column: accepted flits/node/cycle at rate "
          "1.0 (saturation throughput).\n")
    for traffic, rates in RATES.items():
        print(f"**{traffic}**\n")
        print("| mesh | VCs | buf | zero-load | " + " | ".join(f"{r:g}" for r in rates)
              + " | sat. thr. |")
        print("|" + "---|" * (len(rates) + 5))
        for k in (8, 16):
            for vcs in (1, 2):
                for buf in (4, 8):
                    cells = []
                    zl = None
                    for rate in rates:
                        r = cycle.simulate(mesh=(k, k), traffic=traffic, rate=rate, vcs=vcs,
                                           buffer=buf, cycles=cycles, warmup=warmup, seed=0)
                        zl = r.zero_load_latency
                        cells.append("sat" if r.saturated else f"{r.latency_mean:.1f}")
                    s = cycle.simulate(mesh=(k, k), traffic=traffic, rate=1.0, vcs=vcs,
                                       buffer=buf, cycles=cycles, warmup=warmup, seed=0)
                    print(f"| {k}x{k} | {vcs} | {buf} | {zl:.1f} | " + " | ".join(cells)
                          + f" | {s.accepted_rate:.3f} |")
        print()


# BookSim2 (public repository, iq_router, default allocators and delays), 8x8 mesh, DOR,
# uniform, 1-flit packets: offered packets/node/cycle -> mean packet latency; saturation
BOOKSIM_8X8 = {(2, 8): ({0.02: 33.3, 0.05: 33.5, 0.1: 34.1, 0.15: 35.3, 0.2: 37.1, 0.25: 41.1,
                         0.3: 101.0}, 0.297),
               (1, 4): ({0.02: 33.7, 0.05: 34.6, 0.1: 38.6}, 0.129)}


def booksim_table(cycles=6000, warmup=2000):
    print("### generic-4stage against BookSim2, 8x8 mesh, uniform, 1-flit packets\n")
    print(f"{cycles} cycles, warm-up {warmup}, seed 0. Cells: ours / BookSim mean packet "
          "latency (cycles); `sat` = saturated. Last column: accepted flits/node/cycle at "
          "offered 1.0 (ours) / BookSim's saturation throughput.\n")
    for (vcs, buf), (tab, sat) in BOOKSIM_8X8.items():
        cells = []
        for rate, want in tab.items():
            r = cycle.simulate(mesh=(8, 8), rate=rate, vcs=vcs, buffer=buf, cycles=cycles,
                               warmup=warmup, seed=0)
            ours = "sat" if r.saturated else f"{r.latency_mean:.1f}"
            cells.append(f"{rate:g}: {ours} / {want:g}")
        s = cycle.simulate(mesh=(8, 8), rate=1.0, vcs=vcs, buffer=buf, cycles=cycles,
                           warmup=warmup, seed=0)
        print(f"| {vcs} VC, {buf} flits | " + " | ".join(cells)
              + f" | {s.accepted_rate:.3f} / {sat:.3f} |")
    print()


def speed_table():
    print("### Speed: router-cycles per second (generic-4stage, uniform, 2 VCs, buffer 8)\n")
    print("| mesh | rate | cycles | wall s | CPU s | M router-cycles/s (wall) | "
          "M router-cycles/s (CPU) | active routers |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (8, 16, 32, 64, 256):
        for rate in (0.02, 0.05) if k != 16 else (0.02, 0.05):
            cyc, wu = (10_000, 3_000) if k <= 64 else (2_000, 500)
            c0 = time.process_time()
            r = cycle.simulate(mesh=(k, k), traffic="uniform", rate=rate, vcs=2, buffer=8,
                               cycles=cyc, warmup=wu, seed=0)
            cpu = time.process_time() - c0
            rc = k * k * r.cycles
            print(f"| {k}x{k} | {rate} | {r.cycles} | {r.wall_s:.2f} | {cpu:.2f} | "
                  f"{r.router_cycles_per_s / 1e6:.2f} | {rc / cpu / 1e6:.2f} | "
                  f"{r.active_router_fraction:.2f} |")
    print()


def reduce_table(P=512, B=4096):
    print(f"### Reductions of {B} wavelets per core over {P} cores in a row, wse router\n")
    print("| reduce | group | cycles | max link load | wavelet-hops | lower bound | wall s |")
    print("|---|---|---|---|---|---|---|")
    rows = [("chain-reduce", None), ("tree-reduce", None)]
    g = 2
    while g <= P:
        rows.append(("two-phase-reduce", g))
        g *= 2
    for name, grp in rows:
        c = cycle.collective(name, cores=P, wavelets=B, router="wse", group=grp)
        print(f"| {name} | {grp or ''} | {c.cycles} | {c.max_link_load} | {c.wavelet_hops} | "
              f"{c.lower_bound_cycles} | {c.wall_s:.2f} |")
    for name in ("broadcast", "ring-allreduce"):
        c = cycle.collective(name, cores=P, wavelets=B, router="wse")
        print(f"| {name} |  | {c.cycles} | {c.max_link_load} | {c.wavelet_hops} | "
              f"{c.lower_bound_cycles} | {c.wall_s:.2f} |")
    print()


def wse2_run(rows=994, cols=750, B=1024):
    c0 = time.process_time()
    t0 = time.perf_counter()
    c = cycle.collectives([("broadcast", "row"), ("chain-reduce", "col")], cores=(rows, cols),
                          wavelets=B, router="wse")
    print(f"### Whole fabric {rows}x{cols}: row broadcast + column chain reduce, {B} "
          "wavelets per core, wse\n")
    print(f"threads {threads_for(None, rows, cols)}, "
          f"cycles {c.cycles}, wall {time.perf_counter() - t0:.1f} s (kernel {c.wall_s:.1f} s),"
          f" CPU {time.process_time() - c0:.1f} s, max link load {c.max_link_load}, "
          f"wavelet-hops {c.wavelet_hops:,}, {c.router_cycles_per_s / 1e6:.1f} M "
          "router-cycles/s (wall)\n")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["booksim", "latency", "speed", "reduce", "wse2"]
    cycle.simulate(mesh=(4, 4), cycles=200, warmup=50)  # compile / load the kernel first
    for p in parts:
        {"booksim": booksim_table, "latency": latency_table, "speed": speed_table,
         "reduce": reduce_table, "wse2": wse2_run}[p]()
        sys.stdout.flush()
