"""The GPU baseline against the published V100 BERT-Large figures, and the tuned stack."""

from __future__ import annotations

import pytest

from wse_sim.baselines import gpu_baseline
from wse_sim.baselines.calibration import (
    A100_BERT_LARGE,
    FIT_POINTS,
    RESNET50,
    V100_BERT_LARGE,
    CalibrationPoint,
    fit,
    predict,
)
from wse_sim.baselines.fusion import FUSIONS
from wse_sim.baselines.roofline import CUDA_CORE_EFFICIENCY, TENSOR_CORE_EFFICIENCY
from wse_sim.graph import Graph
from wse_sim.models import get as get_model
from wse_sim.spec import gpu

BERT = {s: get_model("bert-large", seq_len=s) for s in (128, 512)}


@pytest.mark.parametrize("point", [p for p in V100_BERT_LARGE if p.seq_len == 128],
                         ids=lambda p: f"{p.seq_len}-{p.precision}")
def test_fitted_calibration_points_within_10_percent(point):
    assert predict(BERT[point.seq_len], point) == pytest.approx(point.samples_per_s, rel=0.10)


@pytest.mark.parametrize("point", A100_BERT_LARGE, ids=lambda p: p.precision)
def test_held_out_a100_seq128_within_10_percent(point):
    # not used by the fit: another GPU, TF32 tensor cores and flash attention
    assert predict(BERT[128], point, gpu="a100") == pytest.approx(point.samples_per_s, rel=0.10)


@pytest.mark.parametrize("case", [c for c in RESNET50 if c[1] == "v100"],
                         ids=lambda c: f"{c[0]}-{c[2]}")
def test_held_out_v100_resnet50_within_10_percent(case):
    # convolutions (implicit GEMMs by shape) and batchnorms, never seen by the fit; each
    # stack against the kernels it runs
    stack, name, precision, batch, published = case
    r = gpu_baseline(get_model("resnet50"), name, precision=precision, batch_per_gpu=batch,
                     fused=stack == "mxnet")
    assert r.samples_per_s == pytest.approx(published, rel=0.10)


@pytest.mark.parametrize("pipe,value", [("tensor", TENSOR_CORE_EFFICIENCY),
                                        ("cuda", CUDA_CORE_EFFICIENCY)])
def test_fitted_constants_are_the_documented_fit(pipe, value):
    assert fit(BERT[FIT_POINTS[pipe].seq_len], pipe) == pytest.approx(value, abs=1e-3)


def test_held_out_seq512_figures_need_more_than_the_physics_allows():
    # the README's seq-512 figures are held out of the fit: per token they run 1.3-1.5x faster
    # than its seq-128 figures although a 512-token sequence does more work per token, and in
    # fp32 they need more FLOP/s than the V100's CUDA cores have
    flops = {s: gpu_baseline(BERT[s], "v100", batch_per_gpu=2).ops for s in (128, 512)}
    per_seq = {s: sum(r.flops for r in flops[s] if r.kind in ("dense", "matmul")) / 2
               for s in flops}
    assert per_seq[512] / 512 > per_seq[128] / 128
    fp32_512 = next(p for p in V100_BERT_LARGE if p.seq_len == 512 and p.precision == "fp32")
    assert fp32_512.samples_per_s * per_seq[512] > gpu("v100").fp32_flops
    for p in V100_BERT_LARGE:
        if p.seq_len == 512:  # so the model (which never beats the peak) predicts below them
            assert predict(BERT[512], p) < p.samples_per_s


def test_one_binned_length_explains_both_held_out_figures():
    # the README's data loader (LDDL) bins sequences by length and pads a batch only to its
    # bin: if that is what the seq-512 figures ran, a single mean padded length must explain
    # BOTH of them (fp32 on CUDA cores and mixed on tensor cores, with the constants fitted at
    # seq 128). It does near 2/3 of 512; a model whose pipes were priced inconsistently would
    # need two different lengths
    held_out = [p for p in V100_BERT_LARGE if p.seq_len == 512]
    fits = []
    for length in range(288, 400, 16):
        g = get_model("bert-large", seq_len=length)
        errors = [predict(g, CalibrationPoint(length, p.precision, p.micro_batch,
                                              p.accumulation, p.samples_per_s))
                  / p.samples_per_s - 1 for p in held_out]
        if all(abs(e) <= 0.10 for e in errors):
            fits.append(length)
    assert fits and all(300 <= x <= 350 for x in fits)


def block(seq: int = 128, d: int = 256, heads: int = 4) -> Graph:
    g = Graph("block")
    x = g.input("x", (seq, d))
    parts = {}
    for p in ("q", "k", "v"):
        r = g.reshape(f"{p}_split", g.dense(p, x, d), (seq, heads, d // heads))
        parts[p] = g.transpose(f"{p}_heads", r, (1, 0, 2))
    probs = g.softmax("probs", g.matmul("scores", parts["q"], parts["k"], transpose_b=True))
    ctx = g.matmul("context", g.dropout("probs_dropout", probs, 0.1), parts["v"])
    merged = g.reshape("merge", g.transpose("ctx_heads", ctx, (1, 0, 2)), (seq, d))
    a = g.layernorm("attn_ln", g.add_("attn_add", x, g.dropout(
        "attn_drop", g.dense("attn_out", merged, d), 0.1)))
    h = g.dense("ffn2", g.gelu("gelu", g.dense("ffn1", a, 4 * d)), d)
    g.loss("loss", g.layernorm("ffn_ln", g.add_("ffn_add", a, h)))
    return g


@pytest.mark.parametrize("name", ["v100", "a100", "h100"])
@pytest.mark.parametrize("precision", ["mixed", "fp32"])
def test_fused_is_never_slower_than_unfused_nor_than_any_fusion_switched_off(name, precision):
    g = block()
    kw = dict(batch_per_gpu=16, precision=precision)
    full = gpu_baseline(g, name, **kw)
    eager = gpu_baseline(g, name, fused=False, **kw)
    assert eager.fusions == () and full.samples_per_s > eager.samples_per_s
    assert {"epilogue_activation", "dropout_add", "softmax_dropout", "add_norm",
            "multi_tensor_optimizer"} <= set(full.fusions)
    assert ("flash_attention" in full.fusions) == gpu(name).flash_attention
    for off in full.fusions:
        less = gpu_baseline(g, name, fused=set(FUSIONS) - {off}, **kw)
        assert eager.samples_per_s <= less.samples_per_s <= full.samples_per_s * (1 + 1e-12)
        assert off not in less.fusions


def test_a_fused_activation_launches_no_kernel_and_moves_fewer_bytes():
    g = block()
    full = gpu_baseline(g, "v100", batch_per_gpu=16)
    eager = gpu_baseline(g, "v100", batch_per_gpu=16, fused=False)
    gelu = {r.phase: r for r in full.ops if r.op == "gelu"}
    gelu0 = {r.phase: r for r in eager.ops if r.op == "gelu"}
    n = 16 * 128 * 1024 * 2  # elements x bytes of the activation
    assert gelu["fwd"].bytes == n and gelu0["fwd"].bytes == 2 * n  # write only; read + write
    assert gelu["bwd_input"].bytes == n and gelu0["bwd_input"].bytes == 3 * n
    assert gelu["fwd"].time_s == pytest.approx(n / (900e9 * 0.8))  # no launch


@pytest.mark.parametrize("name", ["a100", "h100", "h200", "b200"])
def test_tf32_is_never_slower_than_fp32_on_cuda_cores(name):
    spec = gpu(name)
    cuda_only = spec.replace(tf32_tensor_flops=0.0)
    for g in (block(), get_model("resnet50")):
        tf32 = gpu_baseline(g, spec, precision="fp32", batch_per_gpu=8).samples_per_s
        fp32 = gpu_baseline(g, cuda_only, precision="fp32", batch_per_gpu=8).samples_per_s
        assert tf32 >= fp32


def test_gradient_accumulation_amortises_the_optimizer_and_never_slows_a_step():
    g = block()
    one = gpu_baseline(g, "v100", batch_per_gpu=16, n_gpus=16)
    acc = gpu_baseline(g, "v100", batch_per_gpu=16, n_gpus=16, grad_accumulation=8)
    assert acc.optimizer_time_s == pytest.approx(one.optimizer_time_s / 8)
    assert acc.samples_per_s > one.samples_per_s
