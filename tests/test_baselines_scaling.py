"""Data-parallel scaling and equivalence: monotone clusters, buckets, auto batch, the default
CLI run, and the H200 / B200 presets."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim import cli
from wse_sim.baselines import equivalent_gpus, gpu_baseline, gpu_summary
from wse_sim.baselines.scaling import (
    DDP_FIRST_BUCKET_BYTES,
    NODE_STEP,
    buckets,
    cluster_sizes,
)
from wse_sim.models import get as get_model
from wse_sim.spec import gpu, preset_sources

BERT = get_model("bert-large", seq_len=128)
BASES = {(name, overlap): gpu_baseline(BERT, name, batch_per_gpu=32, overlap=overlap)
         for name in ("v100", "h200") for overlap in (True, False)}


def test_default_cli_run_has_a_finite_equivalent_gpu_count():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = cli.main(["run", "--json"])
    assert rc in (0, None)
    record = json.loads(out.getvalue())
    block = record["gpu"]
    n = block["equivalent_gpus"]
    assert isinstance(n, int) and n >= 1
    assert block["cluster_samples_per_s"] >= record["samples_per_s"]
    assert block["global_batch"] == n * block["batch_per_gpu"]
    assert block["allreduce"].split("/")[0] in ("ring", "tree")
    assert "note" not in block


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(BASES)), a=st.integers(1, 10**6), b=st.integers(1, 10**6))
def test_more_gpus_never_lower_cluster_throughput(key, a, b):
    base = BASES[key]
    lo, hi = sorted((a, b))
    assert base.throughput(hi) >= base.throughput(lo)
    r = base.with_n_gpus(hi)
    assert r.n_gpus_used <= hi and r.global_batch == r.n_gpus_used * 32
    assert r.samples_per_s == base.throughput(hi)


def test_cluster_sizes_are_every_count_then_close_together():
    # data parallelism runs on any count: every size up to 64 nodes' worth, then <= 2% apart
    sizes = cluster_sizes(8, 10**6).tolist()
    assert sizes[:512] == list(range(1, 513)) and sizes == sorted(set(sizes))
    assert sizes[-1] == 10**6
    assert all(b / a <= NODE_STEP + 1e-9 or b - a == 1 for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))


def test_equivalent_gpus_is_the_fewest_cluster_that_reaches_the_target():
    base = BASES["h200", True]
    for target in (1e3, 3e4, 1e6):
        n = equivalent_gpus(target, base)
        assert base.throughput(n) >= target and (n == 1 or base.throughput(n - 1) < target)


def test_buckets_follow_ddp_and_cover_every_gradient():
    grads = [(0.001 * i, 4e6) for i in range(1, 40)]  # 39 ops of 4 MB each, in backward order
    bk = buckets(grads, 25 * 2**20)
    assert sum(b for _, b in bk) == pytest.approx(39 * 4e6)
    assert bk[0][1] >= DDP_FIRST_BUCKET_BYTES and bk[0][1] <= 4e6  # the small first bucket
    assert all(b <= 25 * 2**20 + 4e6 for _, b in bk)
    assert [t for t, _ in bk] == sorted(t for t, _ in bk)
    one = gpu_baseline(BERT, "v100", batch_per_gpu=32, bucket_bytes=1e12, n_gpus=64)
    assert len(one.buckets) == 2  # the 1 MiB first bucket, then everything
    assert one.exposed_allreduce_s > 0.9 * one.allreduce_s  # the big one waits for the end


def test_auto_batch_states_the_global_batch_in_the_summary():
    class Wafer:
        samples_per_s, mode = 2e5, "train"

    block = gpu_summary(Wafer(), "a100", get_model("cvae", map_size=28))
    n = block["equivalent_gpus"]
    assert isinstance(n, int) and block["global_batch"] == n * block["batch_per_gpu"]


def test_bigger_memory_never_lowers_the_auto_batch_throughput():
    cvae = get_model("cvae", map_size=256)
    h100 = gpu_baseline(cvae, "h100", batch_per_gpu="auto")
    h200 = gpu_baseline(cvae, "h200", batch_per_gpu="auto")
    assert h200.samples_per_s >= h100.samples_per_s * 0.99


# ---- the new presets --------------------------------------------------------------------------
def test_h200_is_an_h100_with_more_and_faster_memory():
    h100, h200 = gpu("h100"), gpu("h200")
    assert h200.memory_bytes == 141e9 and h200.hbm_bytes_per_s == 4.8e12
    for f in ("fp16_tensor_flops", "fp16_tensor_sparse_flops", "fp32_flops",
              "tf32_tensor_flops", "sms", "nvlink_bytes_per_s"):
        assert getattr(h200, f) == getattr(h100, f), f


@pytest.mark.parametrize("name", ["a100", "h100", "h200", "b200"])
def test_tensor_peaks_are_dense_half_of_the_sparse_datasheet_figure(name):
    g = gpu(name)
    assert g.fp16_tensor_sparse_flops == pytest.approx(2 * g.fp16_tensor_flops, rel=0.01)
    assert g.tf32_tensor_flops == pytest.approx(g.fp16_tensor_flops / 2, rel=0.03)


def test_b200_datasheet_figures_and_sources():
    b = gpu("b200")
    assert (b.fp16_tensor_flops, b.tf32_tensor_flops, b.fp32_flops) == (2.25e15, 1.1e15, 80e12)
    assert (b.hbm_bytes_per_s, b.memory_bytes, b.nvlink_bytes_per_s) == (8e12, 180e9, 1.8e12)
    assert (b.sms, b.gpus_per_node, b.tdp_w) == (148, 8, 1000.0)
    for name in ("h200", "b200"):
        src = preset_sources(name)
        assert "all" in src and all(v.split(":")[0] in ("stated", "derived", "assumed")
                                    for v in src.values())


def test_inference_needs_no_allreduce_so_any_count_works():
    base = gpu_baseline(BERT, "b200", mode="infer", batch_per_gpu=64)
    n = equivalent_gpus(1001.5 * base.samples_per_s, base)
    assert n == 1002 and math.isfinite(base.throughput(10**7))
