"""Placer speed (pytest-benchmark): BERT-Large seq 128 training on WSE-2, warm.

    python -m pytest benchmarks/bench_placer.py --benchmark-only
"""

import pytest

import wse_sim as ws
from wse_sim.models import get


@pytest.fixture(scope="module")
def bert_large():
    graph = get("bert-large", seq_len=128)
    ws.place(graph, ws.wafer("wse2"))  # warm: JIT-compiled kernels load from cache
    return graph


def test_place_bert_large_wse2(benchmark, bert_large):
    plan = benchmark.pedantic(ws.place, args=(bert_large, ws.wafer("wse2")), rounds=3,
                              iterations=1)
    benchmark.extra_info.update(balance=plan.balance, utilization=plan.utilization,
                                stages=len(plan.stages), mode=plan.mode)


@pytest.mark.parametrize("name", ["bert-base", "resnet50", "cvae"])
def test_place_other_models_wse2(benchmark, name):
    graph = get(name)
    ws.place(graph, ws.wafer("wse2"))
    benchmark.pedantic(ws.place, args=(graph, ws.wafer("wse2")), rounds=3, iterations=1)
