"""Model builders: parameter and MAC counts against published figures and hand arithmetic."""

from __future__ import annotations

import pytest

from wse_sim.errors import GraphError, WseSimError
from wse_sim.graph import sparsify
from wse_sim.models import (
    available,
    bert,
    bert_base,
    bert_large,
    cvae,
    describe,
    expected_contact_density,
    get,
    gpt,
    gpt_preset,
    resnet50,
)

NAMES = ["bert-base", "bert-large", "cvae", "cvae-cs2", "gpt2-small", "gpt2-xl", "gpt3-xl",
         "gptj-6b", "llama2-13b", "llama2-7b", "llama3-70b", "llama3-8b", "mistral-7b",
         "qwen2-72b", "resnet50"]


@pytest.fixture(scope="module")
def large():
    return bert_large()


# ---- parameter counts against published figures ------------------------------------------
@pytest.mark.parametrize(("name", "lo", "hi"), [
    ("bert-large", 334e6, 336e6),       # 335M (Devlin et al.), no pooler / NSP head
    ("bert-base", 109e6, 110.5e6),      # 110M
    ("resnet50", 25.5e6, 25.6e6),       # torchvision: 25,557,032
    ("gpt2-small", 123e6, 125e6),       # 124M with the tied head
    ("gpt2-xl", 1.55e9, 1.56e9),        # 1.558B
    ("gpt3-xl", 1.3e9, 1.35e9),         # 1.3B (Brown et al., Table 2.1)
])
def test_params_match_published(name, lo, hi):
    assert lo <= get(name).total_params <= hi


def test_bert_params_exact():
    # embeddings + 24 layers + MLM head (transform + LN + decoder bias; decoder weight tied)
    h, f, v, s = 1024, 4096, 30522, 512
    emb = v * h + s * h + 2 * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h
    head = h * h + h + 2 * h + v
    assert bert_large().total_params == emb + 24 * layer + head == 335_174_458


def test_resnet50_params_exact_and_macs():
    g = resnet50()
    assert g.total_params == 25_557_032  # torchvision resnet50()
    assert 4.0e9 <= g.forward_macs <= 4.2e9
    assert g.op("layer4.2.relu").out_shape == (2048, 7, 7)
    assert g.op("maxpool").out_shape == (64, 56, 56)
    assert g.op("fc").out_shape == (1000,)
    # v1.5: the stride sits on the 3x3 conv, not the first 1x1
    assert g.op("layer2.0.conv1").attrs["stride"] == 1
    assert g.op("layer2.0.conv2").attrs["stride"] == 2
    assert all(not op.attrs["bias"] for op in g.ops() if op.kind == "conv2d")


def test_cvae_params_by_hand():
    k = 9  # 3x3 kernels
    conv1 = 1 * 64 * k + 64                       # 640
    conv2 = conv3 = conv4 = 64 * 64 * k + 64       # 36,928 each
    flat = 64 * 14 * 14                           # stride 2 halves 28 -> 14: 12,544
    enc_dense = flat * 128 + 128                  # 1,605,760
    z_mean = z_log_var = 128 * 10 + 10            # 1,290 each
    dec_dense1 = 10 * 128 + 128                   # 1,408
    dec_dense2 = 128 * flat + flat                # 1,618,176
    deconv1 = deconv2 = deconv3 = 64 * 64 * k + 64  # 36,928 each
    deconv4 = 64 * 1 * k + 1                      # 577
    total = (conv1 + conv2 + conv3 + conv4 + enc_dense + z_mean + z_log_var + dec_dense1
             + dec_dense2 + deconv1 + deconv2 + deconv3 + deconv4)
    assert total == 3_450_709
    assert cvae().total_params == total


# ---- MAC counts ---------------------------------------------------------------------------
@pytest.mark.parametrize(("builder", "n_layers", "h"), [(bert_large, 24, 1024),
                                                        (bert_base, 12, 768)])
def test_bert_forward_macs_formula(builder, n_layers, h):
    s, v = 128, 30522
    # per layer: q, k, v, out projections 4 h^2 s; scores + context 2 s^2 h; FFN 8 h^2 s
    layer = 4 * h * h * s + 2 * s * s * h + 8 * h * h * s
    head = s * h * h + s * h * v  # MLM transform + tied decoder on every position
    assert builder(seq_len=s).forward_macs == n_layers * layer + head


def test_training_macs_relationship(large):
    dense = [op for op in large.ops() if op.kind == "dense"]
    matmul = [op for op in large.ops() if op.kind == "matmul"]
    # dense: input grad and weight grad each cost a forward's MACs
    assert all(op.macs_bwd_input == op.macs_bwd_weight == op.macs_fwd for op in dense)
    # matmul of two activations: no weight grad, but a gradient for each of its two inputs
    assert all(op.macs_bwd_weight == 0 and op.macs_bwd_input == 2 * op.macs_fwd
               for op in matmul)
    assert all(op.training_macs == 0 for op in large.ops() if op.kind == "embedding")
    fwd_dense = sum(op.macs_fwd for op in dense)
    fwd_matmul = sum(op.macs_fwd for op in matmul)
    assert fwd_dense + fwd_matmul == large.forward_macs
    assert large.training_macs == 3 * fwd_dense + 3 * fwd_matmul == 3 * large.forward_macs


def test_gpt_macs_and_causal():
    g = gpt_preset("gpt2-small")
    s, d, v = 1024, 768, 50257
    assert g.forward_macs == 12 * (12 * d * d * s + 2 * s * s * d) + s * d * v
    assert g.op("layer0.scores").out_shape == (12, 1024, 1024)
    assert g.op("layer0.scores").attrs["causal"] is True
    head = g.op("lm_head")
    assert head.params == 0 and head.attrs["tied_to"] == "emb.token"
    assert g.op("emb.position").attrs["index"] == "position"


# ---- structure and shapes -----------------------------------------------------------------
@pytest.mark.parametrize("n", [28, 64, 256])
def test_cvae_output_shape_equals_input(n):
    g = cvae(map_size=n)
    assert g.op("dec.sigmoid").out_shape == g.op("contact_map").out_shape == (1, n, n)
    assert g.op("enc.conv2").out_shape == (64, n // 2, n // 2)
    assert g.op("enc.z").out_shape == (10,)
    assert g.op("loss").inputs == ("dec.sigmoid", "enc.z_mean", "enc.z_log_var")
    assert g.meta == {**g.meta, "model": "cvae", "map_size": n, "batch_default": 32}


def test_cvae_input_density():
    assert cvae().op("contact_map").out_density == expected_contact_density(28)
    assert cvae(input_density=0.1).op("contact_map").out_density == 0.1
    assert cvae(map_size=256).op("contact_map").out_density < 0.2


@pytest.mark.parametrize("bad", [27, 1])
def test_cvae_odd_map_size(bad):
    with pytest.raises(GraphError, match=f"map_size must be even.*{bad}"):
        cvae(map_size=bad)


def test_bert_layer_shapes_and_names(large):
    assert large.op("layer0.q").out_shape == (128, 1024)
    assert large.op("layer0.q_heads").out_shape == (16, 128, 64)
    assert large.op("layer23.scores").out_shape == (16, 128, 128)
    assert large.op("layer23.context").out_shape == (16, 128, 64)
    assert large.op("layer5.attn_out").out_shape == (128, 1024)
    assert large.op("layer5.ffn1").out_shape == (128, 4096)
    assert large.op("mlm.decoder").out_shape == (128, 30522)
    assert large.op("mlm.decoder").attrs["tied_to"] == "emb.word"
    assert "pooler" not in " ".join(op.name for op in large.ops())
    assert large.meta["model"] == "bert-large" and large.meta["batch_default"] == 64


def test_sparsify_docstring_example():
    assert sparsify(get("bert-base"), 0.75).op("layer0.ffn1").weight_density == 0.25


# ---- registry and errors ------------------------------------------------------------------
def test_available_and_aliases():
    assert available() == NAMES
    assert get("bert_large", seq_len=64).meta["seq_len"] == 64
    assert get("GPT2_small", seq_len=128).op("tokens").out_shape == (128,)
    assert get("resnet50", image=64).op("fc").out_shape == (1000,)


def test_describe():
    d = describe("resnet50")
    assert {"name", "params", "forward_macs"} <= set(d)
    assert (d["name"], d["params"]) == ("resnet50", 25_557_032)
    assert describe("bert_base")["forward_macs"] == bert_base().forward_macs


def test_unknown_model_names_it_and_known():
    with pytest.raises(GraphError, match="'bert-huge'.*bert-base.*resnet50"):
        get("bert-huge")
    with pytest.raises(GraphError, match="'gpt5'"):
        gpt_preset("gpt5")


def test_bad_kwargs_named():
    with pytest.raises(GraphError, match="'seq_length'.*seq_len"):
        get("bert-large", seq_length=512)
    with pytest.raises(GraphError, match="seq_len.*-1"):
        get("bert-base", seq_len=-1)
    with pytest.raises(GraphError, match="map_size.*0"):
        get("cvae", map_size=0)
    with pytest.raises(GraphError, match="image.*2.5"):
        get("resnet50", image=2.5)
    with pytest.raises(GraphError, match="seq_len=4096 exceeds max_positions=1024"):
        get("gpt2-small", seq_len=4096)
    with pytest.raises(GraphError, match="heads=7"):
        bert(2, 64, 7, 256)
    with pytest.raises(GraphError, match="n_heads=5"):
        gpt(2, 64, 5, 16)
    with pytest.raises(GraphError, match="dropout.*1.5"):
        cvae(dropout=1.5)
    with pytest.raises(WseSimError, match="input_density.*2"):
        cvae(input_density=2)
