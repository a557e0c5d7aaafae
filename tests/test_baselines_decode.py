"""LLM decode on GPUs: a memory-bound GEMV pass at its own share of HBM bandwidth."""

from __future__ import annotations

import pytest

from wse_sim.baselines.llm import GEMV_HBM_SHARE, KERNELS_PER_LAYER, gpu_llm
from wse_sim.models import llama_preset
from wse_sim.spec import gpu

G = llama_preset("llama2-7b", seq_len=256)


def test_decode_streams_weights_and_kv_at_the_gemv_share():
    r = gpu_llm(G, "h100", 1, "decode", 2048, 1)
    spec = gpu("h100")
    assert r.bound == "memory"
    weights = sum(op.weight_count for op in G.ops() if op.kind == "dense") * 2
    kv = 32 * 2048 * 2 * 32 * 128 * 2  # layers x positions x (K, V) x kv heads x d_head x bytes
    act = 4096 * 2 * 32 * 8
    assert r.memory_s == pytest.approx((weights + kv + act) / (spec.hbm_bytes_per_s
                                                               * GEMV_HBM_SHARE))
    assert r.launch_s == pytest.approx(32 * KERNELS_PER_LAYER * spec.kernel_launch_s)
    assert r.time_per_token_s == pytest.approx(r.memory_s + r.launch_s)


def test_decode_follows_hbm_not_the_tensor_peak():
    base = gpu("h100")
    t0 = gpu_llm(G, base, 1, "decode", 2048, 1).memory_s
    assert gpu_llm(G, base.replace(hbm_bytes_per_s=2 * base.hbm_bytes_per_s), 1, "decode",
                   2048, 1).memory_s == pytest.approx(t0 / 2)
    assert gpu_llm(G, base.replace(fp16_tensor_flops=2 * base.fp16_tensor_flops), 1,
                   "decode", 2048, 1).time_per_token_s == pytest.approx(
        gpu_llm(G, base, 1, "decode", 2048, 1).time_per_token_s)
