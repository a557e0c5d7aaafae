"""Fabric and pipeline kernels at wafer scale (pytest-benchmark; warm times, JIT paid in setup).

Run: ``pytest benchmarks/bench_fabric.py --benchmark-only``
"""

from __future__ import annotations

import numpy as np
import pytest

from wse_sim.kernels.pipeline import pipeline_summary, pipeline_times
from wse_sim.kernels.routes import (
    add_column_reduce,
    add_row_multicast,
    add_xy_routes,
    routes_through,
    zero_loads,
)

ROWS, COLS = 994, 750  # WSE-2 mesh
N_ROUTES = 100_000
N_RECTS = 2_000


@pytest.fixture(scope="module")
def routes():
    rng = np.random.default_rng(0)
    sr, dr = rng.integers(0, ROWS, (2, N_ROUTES))
    sc, dc = rng.integers(0, COLS, (2, N_ROUTES))
    return sr, sc, dr, dc, rng.uniform(1.0, 64.0, N_ROUTES)


@pytest.fixture(scope="module")
def rects():
    """2,000 regions tiling the mesh (40 bands of 50 rectangles), like a placed model."""
    r_edges = np.linspace(0, ROWS, 41).astype(np.int64)
    c_edges = np.linspace(0, COLS, 51).astype(np.int64)
    r_lo, c_lo = np.meshgrid(r_edges[:-1], c_edges[:-1], indexing="ij")
    r_hi, c_hi = np.meshgrid(r_edges[1:], c_edges[1:], indexing="ij")
    r_lo, r_hi, c_lo, c_hi = (a.ravel() for a in (r_lo, r_hi, c_lo, c_hi))
    rng = np.random.default_rng(1)
    return r_lo, r_hi, c_lo, c_hi, rng.uniform(1.0, 256.0, r_lo.size)


@pytest.mark.parametrize("method", ["prefix", "walk"])
def test_xy_routes_100k(benchmark, routes, method):
    add_xy_routes(zero_loads(ROWS, COLS), *routes, method=method)  # compile outside the timing
    if method == "walk":
        benchmark.pedantic(
            lambda: add_xy_routes(zero_loads(ROWS, COLS), *routes, method=method),
            rounds=3, iterations=1,
        )
    else:
        benchmark(lambda: add_xy_routes(zero_loads(ROWS, COLS), *routes, method=method))


def test_routes_through_100k(benchmark, routes):
    routes_through(ROWS, COLS, *routes[:4])
    benchmark(routes_through, ROWS, COLS, *routes[:4])


def test_multicast_and_reduce_2000_rects(benchmark, rects):
    r_lo, r_hi, c_lo, c_hi, w = rects

    def run():
        loads = zero_loads(ROWS, COLS)
        add_row_multicast(loads, r_lo, r_hi, c_lo, c_hi, c_lo, w)  # enters at the west edge
        add_column_reduce(loads, r_lo, r_hi, c_lo, c_hi, r_hi - 1, w)  # sums at the bottom row
        return loads

    run()
    loads = benchmark(run)
    assert loads.max() > 0


def test_pipeline_1024x400(benchmark):
    rng = np.random.default_rng(2)
    t = rng.uniform(50.0, 150.0, (1024, 400))
    pipeline_times(t, 2)

    def run():
        d = pipeline_times(t, 2)[2]
        return pipeline_summary(d, t)

    benchmark(run)
