"""Cycle-level fabric speed (pytest-benchmark; warm: the kernel is compiled in setup).

Run: ``pytest benchmarks/bench_noc.py --benchmark-only``

The issue's targets (10x BookSim2's 0.33 M and 0.19 M router-cycles/s on this machine kind):
>= 3.3 M router-cycles/s on 16x16 uniform at 0.05 and >= 1.9 M on 32x32 at 0.02 (2 VCs, buffer
8, generic-4stage), and a whole WSE-2 fabric row broadcast + column chain reduce of 1,024
wavelets per core to completion in under 60 s. Each benchmark records the router-cycles per
second it reached in ``extra_info``; nothing here asserts a time.
"""

from __future__ import annotations

import pytest

from wse_sim.fabric import cycle


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    cycle.simulate(mesh=(4, 4), cycles=200, warmup=50)


@pytest.mark.parametrize("k,rate", [(16, 0.05), (32, 0.02), (8, 0.05), (64, 0.02)])
def test_synthetic_uniform(benchmark, k, rate):
    run = benchmark.pedantic(cycle.simulate, kwargs=dict(
        mesh=(k, k), traffic="uniform", rate=rate, vcs=2, buffer=8, router="generic-4stage",
        cycles=10_000, warmup=3_000, seed=0), rounds=3, iterations=1)
    benchmark.extra_info["router_cycles_per_s"] = run.router_cycles_per_s
    benchmark.extra_info["latency_mean"] = run.latency_mean


def test_chain_reduce_512(benchmark):
    run = benchmark.pedantic(cycle.collective, args=("chain-reduce",),
                             kwargs=dict(cores=512, wavelets=4096, router="wse"),
                             rounds=3, iterations=1)
    benchmark.extra_info["cycles"] = run.cycles


@pytest.mark.slow
def test_wse2_fabric_broadcast_and_chain_reduce(benchmark):
    run = benchmark.pedantic(cycle.collectives, args=([("broadcast", "row"),
                                                       ("chain-reduce", "col")],),
                             kwargs=dict(cores=(994, 750), wavelets=1024, router="wse"),
                             rounds=1, iterations=1)
    benchmark.extra_info["cycles"] = run.cycles
    benchmark.extra_info["router_cycles_per_s"] = run.router_cycles_per_s
