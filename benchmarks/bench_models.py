"""Model-zoo build speed (pytest-benchmark): each training LLM built at seq 4,096.

Graph construction is per op (a few dozen ops per layer), never per token, so the build time
depends on the layer count, not on the sequence length.

    python -m pytest benchmarks/bench_models.py --benchmark-only
"""

import pytest

from wse_sim.models import get

CASES = {
    "gpt2-small": {"seq_len": 4096, "max_positions": 4096},
    "gptj-6b": {"seq_len": 4096, "max_positions": 4096},
    "llama2-7b": {"seq_len": 4096},
    "llama3-8b": {"seq_len": 4096},
    "llama3-70b": {"seq_len": 4096},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_at_seq_4096(benchmark, name):
    g = benchmark.pedantic(get, args=(name,), kwargs=CASES[name], rounds=5, iterations=1)
    benchmark.extra_info.update(ops=len(g), params=g.total_params)
