"""LLM inference: GEMV on a region, decode / prefill on the wafer, the GPU side, the CLI."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

import wse_sim as ws
from wse_sim import gemv
from wse_sim.baselines.llm import gpu_llm
from wse_sim.engine import simulate_llm
from wse_sim.errors import GpuError, GraphError, PlacementError
from wse_sim.models import get
from wse_sim.placer import kv_cache_bytes, place_llm

WSE2 = ws.wafer("wse2")
WSE3 = ws.wafer("wse3")


@pytest.fixture(scope="module")
def llama8b():
    return get("llama3-8b", seq_len=16)


# ---- GEMV -----------------------------------------------------------------------------------
def test_gemv_small_case_by_hand():
    # tiny = WSE-2 fields: hop 1, ramp 2, wavelet overhead 1, 4 lanes, 16/8 B ports, 0.85 GHz
    r = gemv(ws.wafer("tiny"), 8, 8, region=(2, 2))
    bcast = 2 * 2 + (2 + 2) * 1 + 4 / 2  # ramps, hops, 4 fp16 values in 2 wavelets
    local = 4 * 4 / 4 + 20  # 16 FMACs at 4 per cycle + task overhead
    w = max(1, 1 + 2 / 4)  # cycles per received wavelet: dispatch + 2 adds on 4 lanes
    chain = 1 * (1 + 2 * 2 + w) + 2 * w
    tree = 1 * 1 + 1 * (2 * 2 + 1 * 2 * w)
    assert r.time_chain_s == pytest.approx((bcast + local + chain) / 0.85e9)
    assert r.time_tree_s == pytest.approx((bcast + local + tree) / 0.85e9)
    assert r.reduction == "tree" and r.time_s == r.time_tree_s


def test_gemv_time_is_u_shaped_in_region_size():
    sizes = [130, 160, 200, 260, 330, 420, 540, 660, 750]
    t = np.array([gemv(WSE2, 16384, 16384, region=s).time_s for s in sizes])
    i = int(np.argmin(t))
    assert 0 < i < len(sizes) - 1  # an interior optimum
    assert np.all(np.diff(t[: i + 1]) < 0) and np.all(np.diff(t[i:]) > 0)


def test_tree_beats_chain_on_large_regions_chain_on_small():
    big = gemv(WSE2, 16384, 16384, region=600)
    assert big.time_tree_s < big.time_chain_s
    small = gemv(WSE2, 256, 256, region=(4, 1))
    assert small.time_chain_s < small.time_tree_s and small.reduction == "chain"


def test_gemv_best_region_beats_every_square():
    best = gemv(WSE2, 16384, 16384)
    assert all(best.time_s <= gemv(WSE2, 16384, 16384, region=s).time_s
               for s in (150, 300, 450, 750))
    assert best.weight_bytes_per_core <= WSE2.sram_bytes_per_core
    assert best.to_dict()["cores"] == best.region[0] * best.region[1]


def test_gemv_that_does_not_fit_names_bytes():
    with pytest.raises(PlacementError, match="bytes per core"):
        gemv(ws.wafer("tiny"), 16384, 16384)
    with pytest.raises(PlacementError, match="exceeds"):
        gemv(ws.wafer("tiny"), 64, 64, region=17)


# ---- decode and prefill on the wafer ----------------------------------------------------------
def test_decode_time_per_token_grows_with_context(llama8b):
    t = [simulate_llm(place_llm(llama8b, WSE3, "decode", ctx, 1)).time_per_token_s
         for ctx in (1024, 4096, 16384)]
    assert t[0] < t[1] < t[2]


def test_batch_lowers_per_request_rate_raises_total(llama8b):
    rs = [simulate_llm(place_llm(llama8b, WSE3, "decode", 2048, b)) for b in (1, 4, 16)]
    per = [r.tokens_per_s for r in rs]
    total = [r.total_tokens_per_s for r in rs]
    assert per[0] > per[1] > per[2] and total[0] < total[1] < total[2]
    assert total[2] == pytest.approx(16 * per[2])


def test_kv_cache_beyond_sram_raises_then_places_on_more_wafers(llama8b):
    small = ws.wafer("wse2", rows=420, cols=420)
    with pytest.raises(PlacementError, match=r"needs [\d,]+ bytes .* has [\d,]+ usable"):
        place_llm(llama8b, small, "decode", 4096, 1)
    plan = place_llm(llama8b, small, "decode", 4096, 1, wafers="auto")
    assert plan.wafers >= 2
    r = simulate_llm(plan)
    assert r.interwafer_s > 0 and r.tokens_per_s > 0
    for st in plan.stages:
        assert st.sram_bytes_per_core <= st.sram_capacity_bytes_per_core
    with pytest.raises(PlacementError):
        place_llm(llama8b, small, "decode", 4096, 1, wafers=plan.wafers - 1)


def test_more_kv_than_placed_raises(llama8b):
    plan = place_llm(llama8b, WSE3, "decode", 1024, 1)
    with pytest.raises(PlacementError, match="reserved"):
        simulate_llm(plan, context=4096)


def test_slower_interwafer_link_slows_decode(llama8b):
    fast = ws.wafer("wse3")
    slow = fast.replace(offwafer_bytes_per_s=fast.offwafer_bytes_per_s / 1000)
    a = simulate_llm(place_llm(llama8b, fast, "decode", 1024, 1, wafers=2))
    b = simulate_llm(place_llm(llama8b, slow, "decode", 1024, 1, wafers=2))
    assert b.time_per_token_s > a.time_per_token_s


def test_interwafer_latency_is_charged_once_per_wafer_boundary(llama8b):
    """At batch 1 the step is the sum of the wafers plus one hop per boundary, so adding
    ``d`` seconds to the spec's latency adds exactly ``(wafers - 1) d`` per token."""
    fast = ws.wafer("wse3")
    slow = fast.replace(interwafer_latency_s=fast.interwafer_latency_s + 1e-3)
    a = simulate_llm(place_llm(llama8b, fast, "decode", 1024, 1, wafers=3))
    b = simulate_llm(place_llm(llama8b, slow, "decode", 1024, 1, wafers=3))
    assert b.time_per_token_s - a.time_per_token_s == pytest.approx(2e-3, rel=1e-9)
    one = simulate_llm(place_llm(llama8b, slow, "decode", 1024, 1))
    assert one.interwafer_s == 0


def test_decode_on_a_training_placement_names_the_fix():
    plan = ws.place(get("gpt2-small", seq_len=16), ws.wafer("wse2", rows=64, cols=64),
                    training=False)
    with pytest.raises(ws.SimulationError, match="mode='decode'"):
        ws.simulate(plan, mode="decode")


def test_place_and_simulate_dispatch_on_mode(llama8b):
    plan = ws.place(llama8b, WSE3, mode="decode", context=2048, batch=2)
    r = ws.simulate(plan, mode="decode", context=2048, batch=2)
    assert r.total_tokens_per_s == pytest.approx(2 * r.tokens_per_s)
    assert r.time_per_token_s == pytest.approx(1 / r.tokens_per_s)
    assert r.time_to_first_token_s > r.time_per_token_s
    assert len(r.layers) == 33 and r.layers[-1].name == "lm_head"
    assert sum(lc.sram_bytes for lc in r.layers) >= plan.weight_bytes - 2 * 128256 * 4096 * 2
    assert json.dumps(r.to_dict()) and json.dumps(plan.to_dict())


def test_prefill_grows_with_prompt_and_uses_the_wafer(llama8b):
    a = simulate_llm(place_llm(llama8b, WSE3, "prefill", 1024, 1))
    b = simulate_llm(place_llm(llama8b, WSE3, "prefill", 4096, 1))
    assert b.time_to_first_token_s > 3 * a.time_to_first_token_s
    flops = 2 * 4096 * sum(op.weight_count for op in llama8b.ops() if op.kind == "dense")
    assert flops / b.time_to_first_token_s < WSE3.peak_flops("bf16")  # under the peak


def test_sliding_window_caps_the_kv_cache():
    g = get("mistral-7b", seq_len=16)
    assert kv_cache_bytes(g, 8192, 1) == kv_cache_bytes(g, 4096, 1) == 32 * 4096 * 2 * 8 * 128 * 2


def test_encoder_is_not_a_decoder():
    with pytest.raises(GraphError, match="non-causal"):
        place_llm(get("bert-base"), WSE2, "decode", 128, 1)


# ---- GPU side -------------------------------------------------------------------------------
def test_gpu_decode_memory_bound_prefill_compute_bound(llama8b):
    d = gpu_llm(llama8b, "h100", 1, "decode", 4096, 1)
    p = gpu_llm(llama8b, "h100", 1, "prefill", 4096, 1)
    assert d.bound == "memory" and p.bound == "compute"
    # the step reads every product's weights once: no faster than HBM allows
    weights = sum(op.weight_count for op in llama8b.ops() if op.kind == "dense") * 2
    assert d.time_per_token_s > weights / 3.35e12


def test_gpu_batch_and_tensor_parallel():
    g = get("llama3-70b", seq_len=16)
    with pytest.raises(GpuError, match="n_gpus>=2"):
        gpu_llm(g, "h100", 1, "decode", 4096, 1)
    rates = [gpu_llm(g, "h100", n, "decode", 4096, 1).tokens_per_s for n in (2, 4, 8)]
    assert rates[0] < rates[1] < rates[2]
    one, many = (gpu_llm(g, "h100", 8, "decode", 4096, b) for b in (1, 16))
    assert many.tokens_per_s < one.tokens_per_s and many.total_tokens_per_s > one.total_tokens_per_s
    assert gpu_llm(g, "h100", 8, "decode", 16384, 1).time_per_token_s > one.time_per_token_s


# ---- CLI ------------------------------------------------------------------------------------
def test_cli_run_decode_json():
    from wse_sim import cli

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = cli.main(["run", "--model", "llama3-8b", "--mode", "decode", "--context", "4096",
                       "--wafer", "wse3", "--gpu", "h100", "--json", "--no-progress"])
    assert rc == 0
    rec = json.loads(buf.getvalue())
    assert rec["result"]["tokens_per_s"] > 0 and rec["gpu"]["1"]["tokens_per_s"] > 0
    sweep = [s["tokens_per_s"] for s in rec["context_sweep"]]
    assert all(a > b for a, b in zip(sweep, sweep[1:], strict=False))
