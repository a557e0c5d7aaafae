"""The zoo's training LLMs (issue 23, models): GPT-2 with longer position tables, GPT-J 6B, and
the LLaMA presets at the training sequence lengths 2,048 and 4,096."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.functional import forward
from wse_sim.graph import Graph
from wse_sim.models import get, gptj
from wse_sim.models.data import default_inputs
from wse_sim.models.llama import rope


def gptj_params_by_hand(n_layers, d, d_ff, vocab):
    """Parameters of a GPT-J decoder written out from the architecture (HF GPTJForCausalLM)."""
    layer = (2 * d                      # ln_1 gain and bias (the block's only norm)
             + 4 * d * d                # q, k, v, out projections, no bias
             + d * d_ff + d_ff          # fc_in with bias
             + d_ff * d + d)            # fc_out with bias
    return (vocab * d                   # wte (no position table: rotary)
            + n_layers * layer
            + 2 * d                     # ln_f
            + d * vocab + vocab)        # lm_head, untied, with bias


# ---- GPT-2: max_positions --------------------------------------------------------------------
@pytest.mark.parametrize("name, d_model, ctx", [("gpt2-small", 768, 1024),
                                                ("gpt2-xl", 1600, 1024)])
def test_gpt2_longer_position_table_builds_and_adds_only_its_rows(name, d_model, ctx):
    base = get(name)
    g = get(name, seq_len=2048, max_positions=2048)
    assert g.op("emb.position").weight_shape == (2048, d_model)
    assert g.op("layer0.scores").out_shape[1:] == (2048, 2048)
    assert g.total_params - base.total_params == (2048 - ctx) * d_model
    # the table is a lookup: its size changes no MAC; everything else is per token
    assert g.forward_macs > 2 * base.forward_macs  # attention grows as seq^2


def test_gpt2_default_position_table_is_unchanged():
    assert get("gpt2-small").total_params == 124_439_808  # the released checkpoint
    assert get("gpt2-small", max_positions=1024).total_params == 124_439_808
    assert get("gpt2-small", seq_len=512, max_positions=2048).op("emb.position") \
        .weight_shape == (2048, 768)


# ---- GPT-J 6B -----------------------------------------------------------------------------------
def test_gptj_6b_parameter_count():
    g = get("gptj-6b")
    assert g.total_params == gptj_params_by_hand(28, 4096, 16384, 50400) == 6_050_882_784
    assert round(g.total_params / 1e9, 2) == 6.05  # "6B" (Wang & Komatsuzaki, 2021)
    # The model card (huggingface.co/EleutherAI/gpt-j-6b) lists n_parameters 6,053,381,344,
    # 2,498,560 more than this architecture holds; transformers' GPTJForCausalLM holds exactly
    # the count above (test_parameter_counts_equal_transformers), so the test pins that.


def test_gptj_6b_structure():
    g = get("gptj-6b", seq_len=256)
    assert "emb.position" not in g  # rotary, no learned table
    assert g.meta["seq_len"] == 256 and g.meta["rotary_dim"] == 64 and g.meta["d_head"] == 256
    # one layernorm per block feeds both the attention and the MLP (parallel block)
    assert "layer0.ln2" not in g
    assert g.op("layer0.q").inputs == g.op("layer0.ffn1").inputs == ("layer0.ln1",)
    assert set(g.successors("layer5.ln1")) == {"layer5.q", "layer5.k", "layer5.v",
                                               "layer5.ffn1"}
    assert g.op("layer5.ffn_add").inputs == ("layer5.attn_add", "layer5.ffn2")
    assert g.op("layer5.attn_add").inputs == ("layer4.ffn_add", "layer5.attn_out")
    # projections without bias, MLP with bias, 4 x d_model wide
    for part in ("q", "k", "v", "attn_out"):
        assert g.op(f"layer0.{part}").params == 4096 * 4096
    assert g.op("layer0.ffn1").params == 4096 * 16384 + 16384
    assert g.op("layer0.ffn1").out_shape == (256, 16384)
    assert g.op("layer0.gelu").attrs["fn"] == "gelu"
    # 16 heads of 256; rotary on the first 64 dims of each, interleaved pairs as in GPT-J
    assert g.op("layer0.scores").out_shape == (16, 256, 256)
    assert g.op("layer27.scores").attrs["causal"] and g.op("layer0.scores").attrs["group"] == 1
    rope = g.op("layer0.k_rope")
    assert (rope.attrs["rotary_dim"], rope.attrs["layout"]) == (64, "interleaved")
    assert rope.out_shape == (16, 256, 256) and rope.params == 0
    assert rope.vector_ops == 3 * 16 * 256 * 64  # only the rotated quarter of each head works
    head = g.op("lm_head")
    assert head.attrs["tied_to"] is None and head.attrs["bias"]
    assert head.params == 4096 * 50400 + 50400


@settings(max_examples=25, deadline=None)
@given(layers=st.integers(1, 3), heads=st.integers(1, 4), half_dh=st.integers(1, 6),
       rot_pairs=st.integers(1, 6), d_ff=st.integers(1, 64), vocab=st.integers(2, 200),
       seq=st.integers(1, 20))
def test_gptj_params_and_macs_by_hand(layers, heads, half_dh, rot_pairs, d_ff, vocab, seq):
    dh = 2 * half_dh
    rot = 2 * min(rot_pairs, half_dh)
    d = heads * dh
    g = gptj(layers, d, heads, seq, rotary_dim=rot, d_ff=d_ff, vocab=vocab, max_positions=32)
    assert g.total_params == gptj_params_by_hand(layers, d, d_ff, vocab)
    per_token = 4 * d * d + 2 * d * d_ff
    attn = 2 * heads * seq * seq * dh
    assert g.forward_macs == layers * (seq * per_token + attn) + seq * d * vocab
    assert g.op("layer0.q_rope").vector_ops == 3 * heads * seq * rot


def test_tiny_gptj_runs_functionally():
    g = gptj(2, 32, 4, 8, rotary_dim=4, vocab=50, max_positions=16)
    acts = forward(g, default_inputs(g, 2))
    assert acts["lm_head"].shape == (2, 8, 50) and np.all(np.isfinite(acts["lm_head"]))
    # the MLP reads the same normalised input as the attention
    np.testing.assert_array_equal(acts["layer1.ffn1"].shape, (2, 8, 128))


# ---- partial and interleaved rotary in functional simulation ---------------------------------
def _rope_graph(shape, rotary_dim, layout):
    g = Graph("t")
    rope(g, "y", g.input("x", shape), 10000.0, rotary_dim, layout)
    return g


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_partial_rope_passes_the_rest_through_and_keeps_pair_norms(layout):
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 12)).astype(np.float32)
    y = forward(_rope_graph((3, 5, 12), 4, layout), {"x": x})["y"]
    np.testing.assert_array_equal(y[..., 4:], x[..., 4:])  # past rotary_dim: untouched
    pairs = ((0, 1), (2, 3)) if layout == "interleaved" else ((0, 2), (1, 3))
    for i, j in pairs:
        np.testing.assert_allclose(y[..., i] ** 2 + y[..., j] ** 2,
                                   x[..., i] ** 2 + x[..., j] ** 2, rtol=1e-4, atol=1e-5)
    # position 1, pair 0 turns by exactly 1 radian; pair 1 by 10000**(-2/4) = 0.01 radian
    i, j = pairs[1]
    c, s = np.cos(0.01), np.sin(0.01)
    np.testing.assert_allclose(y[..., 1, i], x[..., 1, i] * c - x[..., 1, j] * s, rtol=1e-4,
                               atol=1e-5)


# ---- LLaMA presets at the training sequence lengths --------------------------------------------
LLMS = {
    # name: (params (B), layers, query heads, kv heads, d_head, max_positions)
    "llama2-7b": (6.74, 32, 32, 32, 128, 4096),
    "llama3-8b": (8.03, 32, 32, 8, 128, 8192),
    "llama3-70b": (70.6, 80, 64, 8, 128, 8192),
    "gptj-6b": (6.05, 28, 16, 16, 256, 2048),
}


@pytest.mark.parametrize("name", sorted(LLMS))
def test_training_llms_build_at_2048_and_4096(name):
    billions, layers, hq, hkv, dh, ctx = LLMS[name]
    extra = {"max_positions": 4096} if ctx < 4096 else {}
    g2, g4 = get(name, seq_len=2048), get(name, seq_len=4096, **extra)
    assert g2.total_params == g4.total_params  # rotary: nothing depends on the length
    assert round(g4.total_params / 1e9, 1 if billions > 10 else 2) == billions
    group = hq // hkv
    assert g4.op("layer0.scores").out_shape == (hkv, group * 4096, 4096)
    assert g4.op(f"layer{layers - 1}.probs").attrs["causal"]
    assert "loss" in g4 and g4.op("loss").attrs["fn"] == "cross_entropy"
    # per-token work doubles with the sequence, attention quadruples: exact
    attn2 = layers * 2 * hq * dh * 2048 * 2048
    assert g4.forward_macs - 2 * g2.forward_macs == 2 * attn2
    # training: products run forward, input gradient and weight gradient; the attention
    # matmuls (no weights) have two input gradients
    dense = sum(op.macs_fwd for op in g4.ops() if op.kind == "dense")
    assert g4.training_macs == 3 * g4.forward_macs
    assert dense + 4 * attn2 == g4.forward_macs


# ---- against transformers' own models, built from config on the meta device ------------------
_HF_SCRIPT = r"""
import json, sys
import numpy as np
import torch
from transformers import GPTJConfig, GPTJForCausalLM, LlamaConfig, LlamaForCausalLM
from transformers.models.gptj.modeling_gptj import apply_rotary_pos_emb, create_sinusoidal_positions

out = {}
with torch.device("meta"):  # shapes only: no memory, no weights
    out["gptj-6b"] = sum(p.numel() for p in GPTJForCausalLM(GPTJConfig(
        n_layer=28, n_embd=4096, n_head=16, rotary_dim=64, vocab_size=50400,
        n_positions=2048)).parameters())
    for name, (d, ffn, heads, kv, layers, vocab) in {
            "llama2-7b": (4096, 11008, 32, 32, 32, 32000),
            "llama3-8b": (4096, 14336, 32, 8, 32, 128256),
            "llama3-70b": (8192, 28672, 64, 8, 80, 128256)}.items():
        out[name] = sum(p.numel() for p in LlamaForCausalLM(LlamaConfig(
            hidden_size=d, intermediate_size=ffn, num_attention_heads=heads,
            num_key_value_heads=kv, num_hidden_layers=layers, vocab_size=vocab,
            tie_word_embeddings=False)).parameters())
# GPT-J's rotary on x (batch, seq, heads, d_head): the first 64 dims, interleaved pairs
x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 6, 2, 80)).astype("float32"))
table = create_sinusoidal_positions(16, 64)
sincos = table[torch.arange(6)][None]
sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)
rot = apply_rotary_pos_emb(x[..., :64], sin, cos)
out["rope_x"] = x.numpy().tolist()
out["rope_y"] = torch.cat([rot, x[..., 64:]], dim=-1).numpy().tolist()
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def hf_counts(tmp_path_factory):
    """transformers' counts, in a child process run outside the repository: the repository's
    top-level ``kernels`` package would shadow the Hugging Face ``kernels`` package that
    transformers imports."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", _HF_SCRIPT], capture_output=True, text=True,
                         cwd=tmp_path_factory.mktemp("hf"), env=env, timeout=300)
    if run.returncode:
        pytest.skip(f"transformers could not build the models: {run.stderr[-400:]}")
    return json.loads(run.stdout)


@pytest.mark.parametrize("name", sorted(LLMS))
def test_parameter_counts_equal_transformers(hf_counts, name):
    assert get(name, seq_len=128).total_params == hf_counts[name]


def test_gptj_rope_equals_transformers(hf_counts):
    x = np.asarray(hf_counts["rope_x"], dtype=np.float32)  # (1, seq, heads, d_head)
    want = np.asarray(hf_counts["rope_y"], dtype=np.float32)
    seq, heads, dh = x.shape[1:]
    g = Graph("t")
    rope(g, "y", g.input("x", (heads, seq, dh)), 10000.0, 64, "interleaved")
    y = forward(g, {"x": x.transpose(0, 2, 1, 3).copy()})["y"].transpose(0, 2, 1, 3)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert not math.isclose(float(np.abs(want - x).max()), 0.0)
