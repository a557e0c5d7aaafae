"""Issue 23: place + simulate of each weight-streaming acceptance case, warm (pytest-benchmark).

    python -m pytest benchmarks/bench_streaming.py --benchmark-only

The target is <= 1 s per case on a quiet machine; figures go in the note, never into
assertions. A case whose preset this checkout's zoo lacks is skipped with the reason.
"""

from __future__ import annotations

import os

import pytest
from weight_streaming import CASES, build

import wse_sim as ws


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_place_simulate_warm(benchmark, case):
    label, model, kwargs, system, n, batch = case
    graph, note = build(model, kwargs, stand_ins=False)
    if graph is None:
        pytest.skip(note)
    spec = ws.system(system, n=n)

    def once():
        plan = ws.place(graph, spec, training=True, batch=batch)
        return ws.simulate(plan, mode="train", batch=batch)

    once()  # warm: numba kernels loaded, masks drawn
    r = benchmark.pedantic(once, rounds=3, iterations=1)
    benchmark.extra_info.update(samples_per_s=r.samples_per_s, micro_batch=r.micro_batch,
                                load_avg=os.getloadavg()[0])
