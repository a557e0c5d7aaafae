"""Import speed (pytest-benchmark): BERT-Large seq 128 with the MLM head, built with onnx.helper
with its weights as external data that is never written (shapes only), imported with
``read_weights=False``. Target: under 5 s.

    python -m pytest benchmarks/bench_import.py --benchmark-only
"""

import pytest

onnx = pytest.importorskip("onnx")

from wse_sim.importers import from_onnx  # noqa: E402
from wse_sim.importers.onnx_examples import bert_large  # noqa: E402
from wse_sim.models import get  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return bert_large(seq=128, weights="external")


def test_import_bert_large(benchmark, model):
    g = benchmark.pedantic(
        from_onnx,
        args=(model,),
        kwargs={"batch": 64, "read_weights": False},
        rounds=3,
        iterations=1,
    )
    zoo = get("bert-large", seq_len=128)
    assert g.total_params == zoo.total_params
    assert g.forward_macs == zoo.forward_macs
    benchmark.extra_info.update(ops=len(g), params=g.total_params, nodes=len(model.graph.node))
