"""Bad input to the GPU baseline's fusions and LLM layouts: GpuError naming the value."""

from __future__ import annotations

import pytest

from wse_sim.baselines import gpu_baseline
from wse_sim.errors import GpuError
from wse_sim.models import get as get_model
from wse_sim.models import llama_preset

L7 = llama_preset("llama2-7b", seq_len=256)
BERT = get_model("bert-base", seq_len=128)


@pytest.mark.parametrize("graph,kwargs,text", [
    (BERT, {"fused": "yes"}, "fused must be"),
    (BERT, {"fused": ["nope"]}, "unknown fusion"),
    (BERT, {"grad_accumulation": 0}, "grad_accumulation"),
    (BERT, {"parallel": "auto"}, "not a decoder"),
    (BERT, {"parallel": "ddp", "global_batch": 8}, "unknown argument"),
    (L7, {"parallel": "fsdp"}, "parallel must be"),
    (L7, {"parallel": {"tp": 3}, "n_gpus": 8}, "tp"),
    (L7, {"parallel": {"tp": 16}, "n_gpus": 16}, "within a node"),
    (L7, {"parallel": {"zero": 5}, "n_gpus": 8}, "zero"),
    (L7, {"parallel": {"bogus": 1}, "n_gpus": 8}, "unknown key"),
    (L7, {"parallel": {"dp": 4, "tp": 4}, "n_gpus": 8}, "exceeds n_gpus"),
    (L7, {"parallel": {"recompute": "yes"}, "n_gpus": 8}, "recompute"),
    (L7, {"parallel": "auto", "mode": "infer"}, "for training"),
    (L7, {"parallel": "auto", "precision": "fp32"}, "mixed precision"),
    (L7, {"parallel": "auto", "batch_per_gpu": 4}, "micro_batch"),
    (L7, {"parallel": "auto", "global_batch": 0}, "global_batch"),
    (L7, {"parallel": {"micro_batch": 0}, "n_gpus": 8}, "micro_batch"),
])
def test_bad_layout_arguments(graph, kwargs, text):
    with pytest.raises(GpuError, match=text):
        gpu_baseline(graph, "h100", **kwargs)
