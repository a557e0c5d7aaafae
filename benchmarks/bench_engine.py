"""Engine speed (pytest-benchmark): place + simulate BERT-Large seq 128 training on WSE-2 with
64 samples, warm; plus simulate alone and the peak memory of one run.

    python -m pytest benchmarks/bench_engine.py --benchmark-only
"""

import tracemalloc

import pytest

import wse_sim as ws
from wse_sim.models import get


@pytest.fixture(scope="module")
def bert_large():
    graph = get("bert-large", seq_len=128)
    ws.simulate(ws.place(graph, ws.wafer("wse2")), samples=64)  # warm the JIT cache
    return graph


def _place_and_simulate(graph):
    return ws.simulate(ws.place(graph, ws.wafer("wse2")), samples=64)


def test_place_and_simulate_bert_large(benchmark, bert_large):
    result = benchmark.pedantic(_place_and_simulate, args=(bert_large,), rounds=3,
                                iterations=1)
    tracemalloc.start()
    _place_and_simulate(bert_large)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    benchmark.extra_info.update(samples_per_s=result.samples_per_s,
                                peak_python_heap_mb=peak / 2**20)


def test_simulate_only_bert_large(benchmark, bert_large):
    plan = ws.place(bert_large, ws.wafer("wse2"))
    benchmark.pedantic(ws.simulate, args=(plan,), kwargs={"samples": 64}, rounds=3,
                       iterations=1)
