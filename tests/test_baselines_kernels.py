"""Shape-aware kernels: tile and wave quantization, TF32 / CUDA cores, fused attention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.baselines import gpu_baseline
from wse_sim.baselines.gemm import TILE_K, gemm_times
from wse_sim.baselines.roofline import (
    CUDA_CORE_EFFICIENCY,
    TENSOR_CORE_EFFICIENCY,
    attention_groups,
    memory_bytes,
)
from wse_sim.graph import Graph
from wse_sim.models import get as get_model
from wse_sim.spec import gpu

V100 = gpu("v100")


def gemm_s(m, n, k, count=1, spec=V100, tensor=True):
    """Compute seconds of one GEMM (memory kept negligible)."""
    c, _, _ = gemm_times([count], [m], [n], [k], [1.0], spec.fp16_tensor_flops, spec.sms,
                         TENSOR_CORE_EFFICIENCY, tensor, spec.hbm_bytes_per_s)
    return float(c[0])


def one_dense(rows: int, k: int = 4096, n: int = 1024) -> Graph:
    g = Graph(f"dense{rows}")
    g.dense("fc", g.input("x", (rows, k)), n, bias=False)
    return g


def test_a_129_row_gemm_costs_two_tile_rows():
    # 80 products of 128 x 128 fill the V100's 80 SMs once; a 129th row doubles the tiles
    on = gemm_s(128, 128, 4096, count=80)
    past = gemm_s(129, 128, 4096, count=80)
    assert past == pytest.approx(2 * on, rel=0.05)
    assert on == pytest.approx(80 * 2 * 128 * 128 * 4096 / (125e12 * TENSOR_CORE_EFFICIENCY))


def test_a_gemm_one_row_past_a_tile_boundary_is_slower_than_one_on_it():
    launch = V100.kernel_launch_s
    t = {}
    for rows in (1280, 1281):  # 10 x 8 tiles of 128 x 128 = one wave on 80 SMs; then 11 x 8
        r = gpu_baseline(one_dense(rows), "v100", mode="infer", batch_per_gpu=1)
        t[rows] = r.ops[0].time_s - launch
        assert r.ops[0].bound == "compute"
    # the library's best tile and split-K soften the padding but cannot remove it
    assert t[1281] > 1.05 * t[1280]
    assert r.ops[0].flops == 2 * 1281 * 4096 * 1024  # the useful FLOPs, not the padded ones


def test_one_cta_past_a_full_wave_costs_a_second_wave():
    sms = V100.sms
    full = gemm_s(128 * sms, 128, 256)  # 1 x 80 x 1 tiles of 128 x 128, K = 256
    over = gemm_s(128 * sms + 1, 128, 256)
    assert over > 1.5 * full


@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 5000), n=st.integers(1, 5000), k=st.integers(1, 5000),
       dm=st.integers(0, 300), dn=st.integers(0, 300), dk=st.integers(0, 300),
       tensor=st.booleans())
def test_a_larger_gemm_is_never_faster_nor_above_peak(m, n, k, dm, dn, dk, tensor):
    small = gemm_s(m, n, k, tensor=tensor)
    big = gemm_s(m + dm, n + dn, k + dk, tensor=tensor)
    assert big >= small * (1 - 1e-12)
    assert small >= 2 * m * n * k / (125e12 * TENSOR_CORE_EFFICIENCY) * (1 - 1e-12)


def test_k_is_rounded_up_to_the_k_tile():
    assert gemm_s(1024, 1024, 1) == pytest.approx(gemm_s(1024, 1024, TILE_K))
    assert gemm_s(1024, 1024, TILE_K + 1) > gemm_s(1024, 1024, TILE_K)


def test_small_tiles_are_chosen_for_thin_products():
    # N = 64: a 128-wide tile would waste half of every tile, the 64-wide tiles win
    _, _, tile = gemm_times([1], [8192], [64], [576], [1.0], 125e12, 80,
                            TENSOR_CORE_EFFICIENCY, True, 900e9)
    from wse_sim.baselines.gemm import TILES
    assert TILES[int(tile[0])][1] == 64


def test_fp32_uses_tf32_tensor_cores_where_the_gpu_has_them():
    g = one_dense(1280 * 4)
    for name in ("a100", "h100", "h200", "b200"):
        spec = gpu(name)
        assert spec.tf32_tensor_flops > spec.fp32_flops
        mixed = gpu_baseline(g, name, mode="infer", batch_per_gpu=1).ops[0]
        fp32 = gpu_baseline(g, name, mode="infer", precision="fp32", batch_per_gpu=1).ops[0]
        if fp32.bound == mixed.bound == "compute":
            ratio = spec.fp16_tensor_flops / spec.tf32_tensor_flops
            assert (fp32.time_s - spec.kernel_launch_s) == pytest.approx(
                ratio * (mixed.time_s - spec.kernel_launch_s), rel=0.15)
    # the V100 has no TF32: fp32 runs on CUDA cores, 125 / 15.7 = 8x slower than fp16
    assert gpu("v100").tf32_tensor_flops == 0
    mixed = gpu_baseline(g, "v100", mode="infer", batch_per_gpu=1).ops[0].time_s
    fp32 = gpu_baseline(g, "v100", mode="infer", precision="fp32", batch_per_gpu=1).ops[0].time_s
    # the pipes' peaks times their fitted efficiencies (~5x), less tile effects
    assert fp32 > 0.9 * (125 * TENSOR_CORE_EFFICIENCY) / (15.7 * CUDA_CORE_EFFICIENCY) * mixed


def attention_block(seq: int = 512, d: int = 256, heads: int = 4, causal=False) -> Graph:
    from wse_sim.models.bert import attention  # the zoo's attention builder
    g = Graph("attn")
    x = g.input("x", (seq, d))
    y = attention(g, "a", x, heads, d // heads, d, 0.1, causal=causal)
    g.loss("loss", g.layernorm("ln", g.add_("res", x, y)))
    return g


def test_attention_groups_find_the_zoo_attention():
    g = attention_block()
    assert attention_groups(g) == {"a.context": ("a.scores", "a.probs", "a.probs_dropout",
                                                 "a.context")}
    bert = get_model("bert-large", seq_len=128)
    assert len(attention_groups(bert)) == 24


@pytest.mark.parametrize("name", ["v100", "a100", "h100"])
def test_fused_attention_moves_less_memory_and_is_faster_at_long_sequences(name):
    g = attention_block(seq=1024)
    un = gpu_baseline(g, name, batch_per_gpu=8, attention="unfused")
    fu = gpu_baseline(g, name, batch_per_gpu=8, attention="fused")
    assert fu.attention == "fused" and un.attention == "unfused"
    assert fu.samples_per_s > un.samples_per_s
    fused_rows = [r for r in fu.ops if r.kind == "attention"]
    assert {r.phase for r in fused_rows} == {"fwd", "bwd_input"}
    assert not {"a.scores", "a.probs", "a.probs_dropout"} & {r.op for r in fu.ops}
    assert sum(r.bytes for r in fused_rows) < sum(
        r.bytes for r in un.ops if r.op in ("a.scores", "a.probs", "a.probs_dropout",
                                            "a.context"))
    # backward: 5 products of the forward's 2 (the scores are recomputed)
    fwd, bwd = (next(r for r in fused_rows if r.phase == p) for p in ("fwd", "bwd_input"))
    assert bwd.flops == pytest.approx(2.5 * fwd.flops)
    un_static, un_sample = memory_bytes(g, True, "mixed", "unfused")
    fu_static, fu_sample = memory_bytes(g, True, "mixed", "fused")
    assert fu_static == un_static and fu_sample < un_sample


def test_causal_fused_attention_skips_the_blocks_above_the_diagonal():
    full = gpu_baseline(attention_block(seq=1024), "a100", batch_per_gpu=4, attention="fused")
    causal = gpu_baseline(attention_block(seq=1024, causal=True), "a100", batch_per_gpu=4,
                          attention="fused")
    f, c = (next(r for r in x.ops if r.kind == "attention" and r.phase == "fwd")
            for x in (full, causal))
    blocks = 1024 // 128
    assert c.flops == pytest.approx(f.flops * (blocks + 1) / (2 * blocks))
    assert c.time_s < f.time_s


def test_wave_quantization_makes_throughput_depend_on_the_sm_count():
    g = one_dense(1280)
    base = gpu_baseline(g, "v100", mode="infer", batch_per_gpu=1).ops[0].time_s
    fewer = gpu_baseline(g, gpu("v100", sms=79), mode="infer", batch_per_gpu=1).ops[0].time_s
    assert fewer > 1.05 * base  # 80 tiles on 79 SMs: a second wave, or smaller tiles
    assert np.isfinite(fewer)
