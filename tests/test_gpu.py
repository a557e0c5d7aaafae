"""GPU baseline: roofline, memory, sparsity, data-parallel scaling, equivalence, calibration."""

from __future__ import annotations

import json
import math

import pytest

import wse_sim
from wse_sim.baselines import (
    GpuResult,
    cluster_samples_per_s,
    equivalent_gpus,
    gpu_baseline,
    scaling_curve,
)
from wse_sim.baselines.roofline import (
    AUTO_BATCH_TOLERANCE,
    HBM_EFFICIENCY,
    OPTIMIZER_BYTES_PER_PARAM,
    TENSOR_CORE_EFFICIENCY,
)
from wse_sim.errors import GpuError, SpecError, WseSimError
from wse_sim.graph import Graph, sparsify
from wse_sim.jsonable import jsonable
from wse_sim.models import get as get_model
from wse_sim.spec import gpu

GPUS = ("v100", "a100", "h100")
ALL_GPUS = ("v100", "a100", "h100", "h200", "b200")  # in order of every datasheet rate


# ---- small graphs ---------------------------------------------------------------------------
def mlp(width: int = 1024, depth: int = 3) -> Graph:
    """Dense layers with ReLU: compute-bound at large batch in mixed precision."""
    g = Graph("mlp")
    h = g.input("x", (64, width))  # 64 rows per sample: a token block
    for i in range(depth):
        h = g.relu(f"relu{i}", g.dense(f"fc{i}", h, width))
    g.loss("loss", h)
    g.meta["batch_default"] = 64
    return g


def block(seq: int = 64, d: int = 256, heads: int = 4) -> Graph:
    """One post-LN transformer encoder block (attention, softmax, layernorm, GELU, dropout)."""
    g = Graph("block")
    x = g.input("x", (seq, d))
    parts = {}
    for p in ("q", "k", "v"):
        r = g.reshape(f"{p}_split", g.dense(p, x, d), (seq, heads, d // heads))
        parts[p] = g.transpose(f"{p}_heads", r, (1, 0, 2))
    probs = g.softmax("probs", g.matmul("scores", parts["q"], parts["k"], transpose_b=True))
    ctx = g.matmul("context", g.dropout("probs_dropout", probs, 0.1), parts["v"])
    merged = g.reshape("merge", g.transpose("ctx_heads", ctx, (1, 0, 2)), (seq, d))
    a = g.layernorm("attn_ln", g.add_("attn_add", x, g.dense("attn_out", merged, d)))
    h = g.dense("ffn2", g.gelu("gelu", g.dense("ffn1", a, 4 * d)), d)
    y = g.layernorm("ffn_ln", g.add_("ffn_add", a, h))
    g.loss("loss", y)
    return g


def comm_heavy() -> Graph:
    """A huge weight used once per sample: gradients dwarf compute, so scaling is poor."""
    g = Graph("comm_heavy")
    g.dense("fc", g.input("x", (8192,)), 8192)
    return g


def row(result: GpuResult, op: str, phase: str = "fwd"):
    return next(r for r in result.ops if r.op == op and r.phase == phase)


# ---- the public entry point -----------------------------------------------------------------
def test_result_fields_and_json():
    r = gpu_baseline(block(), "v100", batch_per_gpu=32)
    assert (r.gpu, r.mode, r.precision, r.batch_per_gpu, r.n_gpus) == \
        ("v100", "train", "mixed", 32, 1)
    assert r.gpus_per_node == 6
    assert r.samples_per_s == pytest.approx(32 / r.step_time_s)
    assert r.samples_per_s_per_gpu == r.samples_per_s
    assert r.scaling_efficiency == 1.0 and r.allreduce_s == 0.0
    assert r.step_time_s == pytest.approx(r.forward_time_s + r.backward_time_s
                                          + r.optimizer_time_s)
    assert {x.phase for x in r.ops} == {"fwd", "bwd_input", "bwd_weight", "optimizer"}
    assert {x.bound for x in r.ops} <= {"compute", "memory", "launch"}
    assert sum(x.time_s for x in r.ops) == pytest.approx(r.step_time_s)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["ops"][0]["op"] == r.ops[0].op and d["spec"]["name"] == "v100"
    assert "ops" not in r.to_dict(ops=False)


def test_jsonable_writes_non_finite_floats_as_null():
    d = jsonable({"a": math.inf, "b": [-math.inf, math.nan, 1.5]})
    assert d == {"a": None, "b": [None, None, 1.5]}
    json.dumps(d, allow_nan=False)


def test_deterministic():
    a = gpu_baseline(block(), "a100", batch_per_gpu=16, n_gpus=24)
    b = gpu_baseline(block(), "a100", batch_per_gpu=16, n_gpus=24)
    assert a.to_dict() == b.to_dict()


def test_views_cost_nothing_and_inputs_get_no_gradient():
    r = gpu_baseline(block(), "v100", batch_per_gpu=8)
    ops = {x.op for x in r.ops}
    assert not ops & {"x", "q_split", "merge"}
    # q, k, v read the graph input: no input-gradient kernel, but a weight gradient
    assert not [x for x in r.ops if x.op == "q" and x.phase == "bwd_input"]
    assert row(r, "q", "bwd_weight")
    # a batched matmul back-propagates into both operands with two GEMMs
    assert row(r, "scores", "bwd_input").flops == pytest.approx(2 * row(r, "scores").flops)


def test_inference_runs_forward_only_without_dropout_or_loss():
    train = gpu_baseline(block(), "v100", batch_per_gpu=32)
    infer = gpu_baseline(block(), "v100", mode="infer", batch_per_gpu=32)
    assert {x.phase for x in infer.ops} == {"fwd"}
    assert not {x.op for x in infer.ops} & {"probs_dropout", "loss"}
    assert infer.samples_per_s > train.samples_per_s
    assert infer.memory_bytes_per_gpu < train.memory_bytes_per_gpu


def test_optimizer_streams_master_weights_and_two_moments():
    g = mlp()
    r = gpu_baseline(g, "v100")
    opt = row(r, "optimizer", "optimizer")
    assert opt.bytes == g.total_params * OPTIMIZER_BYTES_PER_PARAM
    assert opt.bound in ("memory", "launch")
    expected = opt.bytes / (900e9 * HBM_EFFICIENCY) + gpu("v100").kernel_launch_s
    assert opt.time_s == pytest.approx(expected)


def test_matmul_that_fills_whole_tiles_and_one_wave_runs_at_peak_times_efficiency():
    # 1280 x 1024 outputs = 10 x 8 tiles of 128 x 128 = exactly the V100's 80 SMs, one wave
    g = Graph("one_wave")
    g.dense("fc", g.input("x", (1280, 4096)), 1024, bias=False)
    r = gpu_baseline(g, "v100", mode="infer", batch_per_gpu=1)
    fc = row(r, "fc")
    assert fc.bound == "compute"
    assert fc.flops == 2 * 1280 * 4096 * 1024
    assert fc.time_s == pytest.approx(fc.flops / (125e12 * TENSOR_CORE_EFFICIENCY)
                                      + gpu("v100").kernel_launch_s)


# ---- monotonic in the hardware ------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "infer"])
@pytest.mark.parametrize("precision", ["mixed", "fp32"])
def test_faster_gpu_is_never_slower(mode, precision):
    for g in (mlp(), block()):
        thr = [gpu_baseline(g, name, mode=mode, precision=precision,
                            batch_per_gpu=16).samples_per_s for name in ALL_GPUS]
        assert thr == sorted(thr), (g.name, thr)


@pytest.mark.parametrize("field", ["fp16_tensor_flops", "fp32_flops", "hbm_bytes_per_s",
                                   "nvlink_bytes_per_s", "internode_bytes_per_s_per_node"])
def test_raising_any_rate_never_lowers_throughput(field):
    base = gpu("a100")
    faster = base.replace(**{field: 2 * getattr(base, field)})
    for precision in ("mixed", "fp32"):
        for n in (1, 8, 64):
            kw = dict(batch_per_gpu=32, precision=precision, n_gpus=n)
            slow = gpu_baseline(block(), base, **kw).samples_per_s
            assert gpu_baseline(block(), faster, **kw).samples_per_s >= slow


def test_memory_bound_ops_scale_with_hbm_not_flops():
    launch = gpu("v100").kernel_launch_s
    kw = dict(batch_per_gpu=512, fused=False)  # every op its own kernel
    base = gpu_baseline(block(), "v100", **kw)
    fast_hbm = gpu_baseline(block(), gpu("v100", hbm_bytes_per_s=1800e9), **kw)
    fast_tc = gpu_baseline(block(), gpu("v100", fp16_tensor_flops=250e12), **kw)
    for op in ("attn_ln", "probs", "gelu", "attn_add"):
        for phase in ("fwd", "bwd_input"):
            t0 = row(base, op, phase).time_s - launch
            assert row(base, op, phase).bound == "memory"
            assert row(fast_hbm, op, phase).time_s - launch == pytest.approx(t0 / 2)
            assert row(fast_tc, op, phase).time_s == row(base, op, phase).time_s


def test_compute_bound_matmul_scales_with_the_precisions_peak():
    g = mlp(width=4096, depth=1)
    launch = gpu("v100").kernel_launch_s
    t = {}
    for precision in ("mixed", "fp32"):
        for label, spec in (("base", gpu("v100")),
                            ("tc", gpu("v100", fp16_tensor_flops=250e12)),
                            ("fp32", gpu("v100", fp32_flops=31.4e12))):
            r = gpu_baseline(g, spec, precision=precision, batch_per_gpu=64)
            t[precision, label] = row(r, "fc0").time_s - launch
    # twice the peak at most halves the product (the memory term may then bind), and the other
    # unit's peak changes nothing
    for precision, faster, other in (("mixed", "tc", "fp32"), ("fp32", "fp32", "tc")):
        base = t[precision, "base"]
        assert base / 2 * (1 - 1e-12) <= t[precision, faster] < 0.55 * base
        assert t[precision, other] == base


# ---- sparsity -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "infer"])
def test_2to4_sparsity_speeds_up_a100_and_h100_not_v100(mode):
    dense = mlp(width=4096, depth=2)
    sparse = sparsify(dense, 0.5, pattern="n:m")
    for name in GPUS:
        d = gpu_baseline(dense, name, mode=mode, batch_per_gpu=64)
        s = gpu_baseline(sparse, name, mode=mode, batch_per_gpu=64)
        speedup = s.samples_per_s / d.samples_per_s
        if name == "v100":
            assert speedup == 1.0
        else:
            assert 1.05 < speedup <= 2.0
            fc_speedup = row(d, "fc0").time_s / row(s, "fc0").time_s
            assert 1.5 < fc_speedup <= 2.0
            if mode == "train":  # only the forward product uses the sparse tensor cores
                assert row(s, "fc0", "bwd_weight").time_s == row(d, "fc0", "bwd_weight").time_s


def test_2to4_gives_nothing_in_fp32():
    dense = mlp(width=4096, depth=2)
    sparse = sparsify(dense, 0.5, pattern="n:m")
    for name in GPUS:
        assert gpu_baseline(sparse, name, precision="fp32", batch_per_gpu=16).samples_per_s == \
            gpu_baseline(dense, name, precision="fp32", batch_per_gpu=16).samples_per_s


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_unstructured_sparsity_gives_no_speedup(sparsity):
    dense = block()
    sparse = sparsify(dense, sparsity, pattern="unstructured")
    for name in GPUS:
        for mode in ("train", "infer"):
            a = gpu_baseline(dense, name, mode=mode, batch_per_gpu=16)
            b = gpu_baseline(sparse, name, mode=mode, batch_per_gpu=16)
            assert a.samples_per_s == b.samples_per_s


# ---- memory capacity ------------------------------------------------------------------------
def test_batch_that_does_not_fit_is_an_error_naming_it():
    g = block(seq=512, d=1024, heads=16)
    with pytest.raises(GpuError, match=r"batch_per_gpu=100000 .*GB.*'auto'"):
        gpu_baseline(g, "v100", batch_per_gpu=100_000)


@pytest.mark.parametrize("graph", [lambda: block(seq=512, d=1024, heads=16), mlp])
def test_auto_batch_maximises_throughput_within_memory(graph):
    g = graph()
    r = gpu_baseline(g, "v100", batch_per_gpu="auto")
    assert r.memory_bytes_per_gpu <= gpu("v100").memory_bytes
    for b in (1, 2, 8, 32, 64, 256, 1024, 4096):
        try:
            other = gpu_baseline(g, "v100", batch_per_gpu=b)
        except GpuError:  # does not fit: auto may not pick it either
            assert r.batch_per_gpu < b
            continue
        assert r.samples_per_s >= (1 - AUTO_BATCH_TOLERANCE) * other.samples_per_s, b


def test_model_too_big_for_any_batch_is_an_error():
    g = Graph("huge")
    g.dense("fc", g.input("x", (81920,)), 81920)  # 6.7 G params x 16 B of state > 80 GB
    with pytest.raises(GpuError, match="does not fit on h100.*even at batch 1"):
        gpu_baseline(g, "h100", batch_per_gpu="auto")


# ---- bad inputs -----------------------------------------------------------------------------
def test_unknown_gpu_names_the_value():
    with pytest.raises(SpecError, match="'p100'"):
        gpu_baseline(mlp(), "p100")


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"n_gpus": 0}, "n_gpus.*0"),
    ({"n_gpus": -3}, "n_gpus.*-3"),
    ({"n_gpus": 2.5}, "n_gpus.*2.5"),
    ({"n_gpus": True}, "n_gpus.*True"),
    ({"gpus_per_node": 0}, "gpus_per_node.*0"),
    ({"mode": "training"}, "mode.*'training'"),
    ({"precision": "fp16"}, "precision.*'fp16'"),
    ({"batch_per_gpu": 0}, "batch_per_gpu.*0"),
    ({"batch_per_gpu": "max"}, "batch_per_gpu.*'max'"),
    ({"overlap": 1.5}, "overlap.*1.5"),
    ({"attention": "flash"}, "attention.*'flash'"),
    ({"bucket_bytes": 0}, "bucket_bytes.*0"),
])
def test_bad_arguments_raise_gpu_error_naming_the_value(kwargs, text):
    with pytest.raises(GpuError, match=text) as info:
        gpu_baseline(mlp(), "v100", **kwargs)
    assert isinstance(info.value, WseSimError) and isinstance(info.value, ValueError)


def test_not_a_graph():
    with pytest.raises(GpuError, match="Graph"):
        gpu_baseline("bert-large", "v100")


# ---- data-parallel scaling ------------------------------------------------------------------
def test_node_sizes_follow_the_presets():
    assert [gpu_baseline(mlp(), name).gpus_per_node for name in GPUS] == [6, 8, 8]
    assert gpu_baseline(mlp(), "v100", gpus_per_node=4).gpus_per_node == 4


@pytest.mark.parametrize("graph", [mlp, block, comm_heavy])
@pytest.mark.parametrize("name", GPUS)
def test_more_gpus_never_lower_throughput(graph, name):
    ns = [*range(1, 80), 100, 129, 256, 257, 1000, 1025, 4096, 10**5, 10**6]
    curve = scaling_curve(graph(), name, ns, batch_per_gpu=8)
    thr = [t for _, t, _ in curve]
    eff = [e for _, _, e in curve]
    assert [n for n, _, _ in curve] == ns
    assert all(b >= a for a, b in zip(thr[:-1], thr[1:], strict=True))
    assert all(0 < e <= 1 + 1e-12 for e in eff)
    assert eff[0] == 1.0 and eff[-1] < 1.0


def test_leaving_the_node_can_idle_gpus_rather_than_slow_down():
    base = gpu_baseline(comm_heavy(), "v100", batch_per_gpu=8)
    r7 = base.with_n_gpus(7)
    assert r7.n_gpus_used in (1, 6)  # the 7th GPU would cross to InfiniBand and cost more
    assert r7.samples_per_s == base.with_n_gpus(6).samples_per_s or r7.n_gpus_used == 1
    assert r7.samples_per_s_per_gpu == pytest.approx(r7.samples_per_s / 7)
    big = base.with_n_gpus(10**5)
    assert 6 < big.n_gpus_used <= 10**5  # enough GPUs pay for the InfiniBand all-reduce
    assert big.n_gpus_used % 6 == 0  # across nodes a job runs on whole nodes
    assert big.global_batch == big.n_gpus_used * 8


def test_inference_scales_perfectly():
    base = gpu_baseline(block(), "h100", mode="infer", batch_per_gpu=8)
    r = base.with_n_gpus(1000)
    assert r.samples_per_s == pytest.approx(1000 * base.samples_per_s)
    assert r.scaling_efficiency == pytest.approx(1.0) and r.allreduce_s == 0.0


def test_bucketed_overlap_hides_part_of_the_allreduce():
    g = mlp(width=2048, depth=6)  # 6 x 8 MB of fp16 gradients: several 25 MiB buckets
    kw = dict(batch_per_gpu=8, n_gpus=64)
    after = gpu_baseline(g, "v100", overlap=False, **kw)
    during = gpu_baseline(g, "v100", **kw)
    assert during.overlap and len(during.buckets) > 1
    assert sum(b for _, b in during.buckets) == pytest.approx(during.grad_bytes)
    assert after.exposed_allreduce_s == pytest.approx(after.allreduce_s)
    assert 0 <= during.exposed_allreduce_s < during.allreduce_s
    assert after.samples_per_s <= during.samples_per_s
    # buckets are ready in backward order, none after the backward pass ends
    ready = [t for t, _ in during.buckets]
    assert ready == sorted(ready) and ready[-1] <= during.backward_time_s * (1 + 1e-12)


def test_with_n_gpus_matches_a_fresh_baseline():
    for n in (2, 6, 7, 48):
        a = gpu_baseline(block(), "v100", batch_per_gpu=16, n_gpus=n)
        b = gpu_baseline(block(), "v100", batch_per_gpu=16).with_n_gpus(n)
        assert a.to_dict() == b.to_dict()
        assert cluster_samples_per_s(a, n)[0] == a.samples_per_s


def test_grad_bytes_follow_precision():
    g = mlp()
    assert gpu_baseline(g, "v100").grad_bytes == 2 * g.total_params
    assert gpu_baseline(g, "v100", precision="fp32").grad_bytes == 4 * g.total_params
    assert gpu_baseline(g, "v100", mode="infer").grad_bytes == 0


# ---- equivalent GPUs ------------------------------------------------------------------------
class FakeSim:
    def __init__(self, samples_per_s, graph=None, mode="train"):
        self.samples_per_s, self.graph, self.mode = samples_per_s, graph, mode


def test_equivalent_gpus_is_the_fewest_that_reach_the_target():
    base = gpu_baseline(block(), "v100", batch_per_gpu=16)
    for factor in (0.5, 1.0, 3.7, 25.0, 38.0):  # the ring caps it near 40x
        target = factor * base.samples_per_s
        n = equivalent_gpus(target, base)
        assert isinstance(n, int)
        assert base.throughput(n) >= target
        assert n == 1 or base.throughput(n - 1) < target
    assert equivalent_gpus(base.samples_per_s, base) == 1


def test_equivalent_gpus_accepts_results_and_names():
    g = block()
    base = gpu_baseline(g, "a100", batch_per_gpu=16)
    target = 100 * base.samples_per_s
    n = equivalent_gpus(target, base)
    assert equivalent_gpus(FakeSim(target), base) == n
    assert equivalent_gpus(FakeSim(target, graph=g), "a100", batch_per_gpu=16) == n
    assert equivalent_gpus(target, "a100", graph=g, batch_per_gpu=16) == n
    infer = equivalent_gpus(FakeSim(target, graph=g, mode="infer"), "a100", batch_per_gpu=16)
    assert infer < n  # inference needs no all-reduce (and its steps are shorter)
    with pytest.raises(GpuError, match="graph"):
        equivalent_gpus(target, "a100")


def test_equivalent_gpus_is_infinite_only_past_the_largest_cluster():
    base = gpu_baseline(block(), "v100", batch_per_gpu=16)
    # a flat ring's 2(N-1) latency steps used to cap this near batch / (2 x 5 us) = 1.6 M/s;
    # the tree's log N latency lets a large enough cluster pass it
    n = equivalent_gpus(3.2e6, base)
    assert isinstance(n, int) and base.throughput(n) >= 3.2e6
    assert equivalent_gpus(math.inf, base) == math.inf
    assert equivalent_gpus(1e6, base, max_gpus=10) == math.inf


@pytest.mark.parametrize("target", [0, -1.0, math.nan, "fast", None])
def test_equivalent_gpus_rejects_bad_targets(target):
    base = gpu_baseline(mlp(), "v100")
    with pytest.raises(GpuError, match="target"):
        equivalent_gpus(target, base)


def test_package_exports_the_gpu_preset_function_and_the_baseline():
    assert wse_sim.gpu("v100") == gpu("v100")
    assert wse_sim.gpu_baseline is gpu_baseline and wse_sim.equivalent_gpus is equivalent_gpus


# ---- calibration: see tests/test_baselines_calibration.py ----------------------------------
def test_same_factors_serve_other_models_and_gpus():
    bert = get_model("bert-large", seq_len=128)
    v100 = gpu_baseline(bert, "v100", batch_per_gpu=64).samples_per_s
    h100 = gpu_baseline(bert, "h100", batch_per_gpu=64).samples_per_s
    assert v100 < h100 < 989 / 125 * v100  # never better than the ratio of tensor peaks
    long = gpu_baseline(get_model("bert-large", seq_len=512), "v100", batch_per_gpu="auto")
    assert long.samples_per_s < v100 / 4 * 1.2  # 4x the tokens per sequence, plus attention
    with pytest.raises(GpuError, match="does not fit on v100"):
        gpu_baseline(get_model("cvae", map_size=1024), "v100", batch_per_gpu="auto")
