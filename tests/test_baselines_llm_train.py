"""LLM training on GPU clusters: layouts, memory, monotonicity, equivalence in GPUs."""

from __future__ import annotations

import math

import pytest

from wse_sim.baselines import equivalent_gpus, gpu_baseline
from wse_sim.baselines.llm_train import gpu_train_llm
from wse_sim.errors import GpuError
from wse_sim.models import LlamaConfig, llama, llama_preset
from wse_sim.models import get as get_model

SEQ = 4096
L7 = llama_preset("llama2-7b", seq_len=SEQ)
L70 = llama(LlamaConfig(80, 8192, 64, 8, 28672, 32000, 4096), seq_len=SEQ, name="llama2-70b")


def test_auto_reports_the_layout_mfu_and_tokens_per_gpu():
    r = gpu_baseline(L7, "h100", n_gpus=8, parallel="auto")
    assert set(r.parallel) == {"dp", "tp", "pp", "zero", "recompute", "micro_batch"}
    p = r.parallel
    assert p["dp"] * p["tp"] * p["pp"] == r.n_gpus_used <= 8
    assert 0 < r.mfu < 1
    assert r.tokens_per_s_per_gpu == pytest.approx(r.samples_per_s * SEQ / 8)
    assert r.memory_bytes_per_gpu <= r.memory_capacity_bytes
    assert r.to_dict()["n_nodes"] == 1


def test_more_gpus_never_fewer_samples_per_s_with_auto():
    prev = 0.0
    for n in (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
        thr = gpu_train_llm(L7, "h100", n).samples_per_s
        assert thr >= prev
        prev = thr


def test_70b_auto_never_plain_data_parallel():
    r = gpu_train_llm(L70, "h100", 64)
    p = r.parallel
    assert p["tp"] > 1 or p["pp"] > 1 or p["zero"] == 3
    # Adam state alone (16 bytes a parameter) exceeds 8 x 80 GB: no layout fits one node
    with pytest.raises(GpuError, match="bytes per GPU"):
        gpu_train_llm(L70, "h100", 8)


def test_a_layout_that_does_not_fit_names_the_bytes():
    with pytest.raises(GpuError, match=r"needs [\d,]+ bytes per GPU"):
        gpu_train_llm(L7, "h100", 8, parallel={"dp": 8, "zero": 0})
    with pytest.raises(GpuError, match="does not fit"):  # plain data parallelism
        gpu_baseline(L7, "h100", batch_per_gpu=1)


def test_zero_stages_and_recompute_trade_memory_for_time():
    base = dict(dp=8, tp=1, pp=1, micro_batch=1)
    mem = [gpu_train_llm(L7, "h200", 8, parallel={**base, "zero": z}).memory_bytes_per_gpu
           for z in (1, 2, 3)]
    assert mem[0] > mem[1] > mem[2]
    on, off = (gpu_train_llm(L7, "h200", 8, parallel={**base, "zero": 3, "recompute": r})
               for r in (True, False))
    assert on.memory_bytes_per_gpu < off.memory_bytes_per_gpu
    assert on.step_time_s > off.step_time_s


def test_pipeline_bubble_is_pp_minus_one_slots():
    r = gpu_train_llm(L7, "h100", 16, parallel={"dp": 4, "tp": 2, "pp": 2, "zero": 1})
    slot = r.bubble_s / (2 - 1)
    assert r.micro_batches > 1 and slot > 0
    assert r.step_time_s >= (r.micro_batches + 1) * slot * (1 - 1e-9)


def test_equivalence_counts_gpus_not_nodes():
    bert = get_model("bert-large", seq_len=128)
    one = gpu_baseline(bert, "a100", batch_per_gpu=64)
    target = 11.5 * one.single_gpu_samples_per_s  # more than 8 GPUs, far less than 16
    n = equivalent_gpus(target, one)
    assert 12 <= n < 16 and n % 8
    r = one.with_n_gpus(n)
    assert r.n_gpus_used == n and r.n_nodes == 2


def test_equivalence_for_llm_training_searches_gpu_counts():
    class Stream:  # a weight-streaming training result on two systems
        samples_per_s = 40.0
        mode = "train"
        systems = 2

    n = equivalent_gpus(Stream(), "h100", graph=L7)
    assert gpu_train_llm(L7, "h100", n).samples_per_s >= 40.0
    assert gpu_train_llm(L7, "h100", n - 1).samples_per_s < 40.0
    assert math.isinf(equivalent_gpus(1e12, "h100", graph=L7, max_gpus=64))


def test_gpu_summary_of_an_llm_training_result_uses_the_layouts():
    from wse_sim.baselines import gpu_summary

    class Stream:
        samples_per_s = 40.0
        mode = "train"
        systems = 2

    block = gpu_summary(Stream(), "h100", L7)
    assert block["systems"] == 2 and block["cluster_samples_per_s"] >= 40.0
    assert block["equivalent_gpus"] == equivalent_gpus(Stream(), "h100", graph=L7)
    assert block["equivalent_nodes"] == -(-block["equivalent_gpus"] // 8)
    p = block["parallel"]
    assert p["dp"] * p["tp"] * p["pp"] <= block["equivalent_gpus"] and 0 < block["mfu"] < 1


def test_tensor_parallel_shards_the_products_by_their_features():
    from wse_sim.baselines.llm_shard import sharded_ops

    how = sharded_ops(L7)
    assert [how[f"layer0.{x}"] for x in ("q", "k", "v", "gate", "up")] == ["column"] * 5
    assert how["layer0.attn_out"] == how["layer0.down"] == "row"
    assert how["layer0.scores"] == how["layer0.silu"] == "split"
    assert how["lm_head"] == "column" and how["loss"] == "split"  # vocabulary parallel
    assert how["layer0.ln1"] == how["layer0.attn_add"] == how["emb.token"] == "whole"
    # one layer of a tp=8 shard: an eighth of the products, the norms whole; so its time is
    # more than an eighth of one GPU's and less than all of it
    from wse_sim.baselines.fusion import FUSIONS
    from wse_sim.baselines.llm_shard import layer_parts
    from wse_sim.spec import gpu

    one, eight = (layer_parts(L7, gpu("h100"), 1, tp, "fused", frozenset(FUSIONS)).layer.sum()
                  for tp in (1, 8))
    assert one / 8 < eight < one / 4
