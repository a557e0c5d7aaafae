"""LLaMA-family builder, its zoo entries and Hugging Face config import."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.errors import GraphError, WseSimError
from wse_sim.models import LlamaConfig, from_hf_config, get, llama

# ---- the official config.json of each zoo LLM (Hugging Face hub, as published) -------------
LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.0.dev0", "use_cache": True, "vocab_size": 128256,
}  # meta-llama/Meta-Llama-3-8B
LLAMA3_70B = {
    **LLAMA3_8B, "hidden_size": 8192, "intermediate_size": 28672, "num_attention_heads": 64,
    "num_hidden_layers": 80, "transformers_version": "4.40.0.dev0",
}  # meta-llama/Meta-Llama-3-70B: differs from the 8B only in these sizes
LLAMA2_7B = {
    "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
    "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.31.0.dev0", "use_cache": True, "vocab_size": 32000,
}  # meta-llama/Llama-2-7b-hf
LLAMA2_13B = {
    **LLAMA2_7B, "_name_or_path": "meta-llama/Llama-2-13b-hf", "hidden_size": 5120,
    "intermediate_size": 13824, "num_attention_heads": 40, "num_hidden_layers": 40,
    "num_key_value_heads": 40, "transformers_version": "4.32.0.dev0",
}  # meta-llama/Llama-2-13b-hf
QWEN2_72B = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 8192,
    "initializer_range": 0.02, "intermediate_size": 29568, "max_position_embeddings": 131072,
    "max_window_layers": 80, "model_type": "qwen2", "num_attention_heads": 64,
    "num_hidden_layers": 80, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 152064,
}  # Qwen/Qwen2-72B
MISTRAL_7B = {
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.34.0.dev0", "use_cache": True, "vocab_size": 32000,
}  # mistralai/Mistral-7B-v0.1
GPT2 = {
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768,
    "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
    "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
    "summary_type": "cls_index", "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}  # openai-community/gpt2
BERT_BASE = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1,
    "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
    "position_embedding_type": "absolute", "transformers_version": "4.6.0.dev0",
    "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}  # google-bert/bert-base-uncased

HF_CONFIGS = {"llama3-8b": LLAMA3_8B, "llama2-7b": LLAMA2_7B, "llama2-13b": LLAMA2_13B,
              "llama3-70b": LLAMA3_70B, "qwen2-72b": QWEN2_72B, "mistral-7b": MISTRAL_7B,
              "gpt2-small": GPT2, "bert-base": BERT_BASE}
SEQ = 64  # short sequences keep the builds fast; parameters do not depend on it


def ops_of(g):
    return [op.to_dict() for op in g.ops()]


def params_by_hand(n_layers, d, heads, kv, d_head, ffn, vocab, tied=False, qkv_bias=False):
    """Parameters of a LLaMA-family decoder written out from the architecture."""
    attn = d * heads * d_head + 2 * d * kv * d_head + heads * d_head * d
    if qkv_bias:
        attn += heads * d_head + 2 * kv * d_head
    layer = attn + 3 * d * ffn + 2 * d  # q k v o, gate up down, two RMSNorm gains
    return n_layers * layer + vocab * d * (1 if tied else 2) + d  # + final norm


# ---- parameter counts -----------------------------------------------------------------------
# Published figures (billions) and where they are published. The hub figures are the checkpoint
# pages' safetensors parameter counts; the papers round to the size in the name.
PUBLISHED = {
    # huggingface.co/meta-llama/Meta-Llama-3-8B ("8.03B params"); Meta, "Introducing Meta
    # Llama 3", 2024, https://ai.meta.com/blog/meta-llama-3/ ("8B")
    "llama3-8b": (8.03, (32, 4096, 32, 8, 128, 14336, 128256)),
    # Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat Models", 2023,
    # https://arxiv.org/abs/2307.09288 (7B, 13B); huggingface.co/meta-llama/Llama-2-7b-hf
    # ("6.74B params") and Llama-2-13b-hf ("13B params")
    "llama2-7b": (6.74, (32, 4096, 32, 32, 128, 11008, 32000)),
    "llama2-13b": (13.02, (40, 5120, 40, 40, 128, 13824, 32000)),
    # huggingface.co/meta-llama/Meta-Llama-3-70B ("70.6B params")
    "llama3-70b": (70.55, (80, 8192, 64, 8, 128, 28672, 128256)),
    # Yang et al., "Qwen2 Technical Report", 2024, https://arxiv.org/abs/2407.10671 (72B,
    # 70.21B non-embedding); huggingface.co/Qwen/Qwen2-72B ("72.7B params")
    "qwen2-72b": (72.71, (80, 8192, 64, 8, 128, 29568, 152064)),
    # Jiang et al., "Mistral 7B", 2023, https://arxiv.org/abs/2310.06825;
    # huggingface.co/mistralai/Mistral-7B-v0.1 ("7.24B params")
    "mistral-7b": (7.24, (32, 4096, 32, 8, 128, 14336, 32000)),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_published_and_arithmetic(name):
    published, arch = PUBLISHED[name]
    g = get(name, seq_len=SEQ)
    assert g.total_params == params_by_hand(*arch, qkv_bias=name == "qwen2-72b")
    assert round(g.total_params / 1e9, 2) == published


def test_qwen2_non_embedding_parameters_match_report():
    g = get("qwen2-72b", seq_len=SEQ)
    emb = g.op("emb.token").params + g.op("lm_head").params
    assert round((g.total_params - emb) / 1e9, 2) == 70.21


# ---- structure --------------------------------------------------------------------------------
def test_gqa_shapes_and_macs_equal_multi_head():
    g = get("llama3-8b", seq_len=SEQ)
    assert g.op("layer0.k").out_shape == (SEQ, 8 * 128)
    assert g.op("layer0.q_groups").out_shape == (8, 4 * SEQ, 128)
    assert g.op("layer0.scores").out_shape == (8, 4 * SEQ, SEQ)
    assert g.op("layer0.context_ungroup").out_shape == (32, SEQ, 128)
    # grouping must not change the attention work: 32 heads x seq^2 x d_head
    assert g.op("layer0.scores").macs_fwd == 32 * SEQ * SEQ * 128
    assert g.op("layer0.context").macs_fwd == 32 * SEQ * SEQ * 128
    assert g.op("layer31.probs").attrs["causal"] and g.op("layer0.scores").attrs["group"] == 4


def test_mha_has_gpt_attention_layout():
    g = get("llama2-7b", seq_len=SEQ)
    assert "layer0.q_groups" not in g and "layer0.context_ungroup" not in g
    assert g.op("layer0.scores").out_shape == (32, SEQ, SEQ)


def test_rmsnorm_swiglu_rope_ops():
    g = get("mistral-7b", seq_len=SEQ)
    ln = g.op("layer3.ln2")
    assert (ln.kind, ln.attrs["norm"], ln.params) == ("layernorm", "rms", 4096)
    assert g.op("layer3.silu").attrs["fn"] == "silu"
    assert g.op("layer3.swiglu").inputs == ("layer3.silu", "layer3.up")
    assert g.op("layer3.q_rope").attrs["fn"] == "rope" and g.op("layer3.k_rope").params == 0
    assert g.op("lm_head").attrs["tied_to"] is None and g.op("lm_head").attrs["bias"] is False
    assert g.op("layer0.scores").attrs["window"] == 4096 and g.meta["sliding_window"] == 4096
    assert "emb.position" not in g  # rotary, no position table


def test_tied_embeddings_save_one_table():
    cfg = LlamaConfig(2, 64, 4, 2, 128, 1000, 256)
    untied = llama(cfg, seq_len=16)
    tied = llama(LlamaConfig(2, 64, 4, 2, 128, 1000, 256, tie_embeddings=True), seq_len=16)
    assert untied.total_params - tied.total_params == 1000 * 64
    assert tied.op("lm_head").attrs["tied_to"] == "emb.token"
    assert tied.forward_macs == untied.forward_macs


@settings(max_examples=25, deadline=None)
@given(layers=st.integers(1, 3), kv=st.integers(1, 4), group=st.integers(1, 4),
       d_head=st.sampled_from([2, 8, 16]), ffn=st.integers(1, 96), vocab=st.integers(2, 300),
       seq=st.integers(1, 24), tied=st.booleans(), qkv_bias=st.booleans())
def test_params_and_macs_by_hand(layers, kv, group, d_head, ffn, vocab, seq, tied, qkv_bias):
    heads = kv * group
    d = heads * d_head
    g = llama(LlamaConfig(layers, d, heads, kv, ffn, vocab, 32, tie_embeddings=tied,
                          qkv_bias=qkv_bias), seq_len=seq)
    assert g.total_params == params_by_hand(layers, d, heads, kv, d_head, ffn, vocab, tied,
                                            qkv_bias)
    proj = d * heads * d_head + 2 * d * kv * d_head + heads * d_head * d + 3 * d * ffn
    attn = 2 * heads * seq * seq * d_head
    assert g.forward_macs == layers * (seq * proj + attn) + seq * d * vocab


def test_default_seq_len_is_capped_by_positions():
    assert get("llama3-8b").meta["seq_len"] == 4096
    assert llama(LlamaConfig(1, 64, 4, 4, 64, 100, 512)).meta["seq_len"] == 512
    with pytest.raises(GraphError, match="seq_len=9000 exceeds max_positions=8192"):
        get("llama3-8b", seq_len=9000)


@pytest.mark.parametrize("cfg, match", [
    (LlamaConfig(1, 96, 6, 4, 64, 100, 64), "n_heads=6 is not a multiple of n_kv_heads=4"),
    (LlamaConfig(1, 60, 8, 8, 64, 100, 64), "d_model=60 is not a multiple of n_heads=8"),
    (LlamaConfig(1, 63, 9, 9, 64, 100, 64), "head width 7 is odd"),
    (LlamaConfig(0, 64, 4, 4, 64, 100, 64), "n_layers must be a positive integer"),
])
def test_bad_architecture_names_the_size(cfg, match):
    with pytest.raises(GraphError, match=match):
        llama(cfg, seq_len=8)


# ---- Hugging Face configs ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_official_hf_config_builds_the_zoo_graph(name):
    seq = None if name in ("gpt2-small", "bert-base") else SEQ
    zoo = get(name) if seq is None else get(name, seq_len=seq)
    g = from_hf_config(HF_CONFIGS[name], seq_len=seq)
    assert ops_of(g) == ops_of(zoo)
    assert (g.total_params, g.forward_macs, g.dtype) == (zoo.total_params, zoo.forward_macs,
                                                         zoo.dtype)


def test_hf_default_seq_len_matches_zoo():
    assert from_hf_config(MISTRAL_7B).meta["seq_len"] == get("mistral-7b").meta["seq_len"]


def test_hf_config_from_file_and_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_7B))
    a = from_hf_config(tmp_path / "config.json", seq_len=16)
    b = from_hf_config(str(tmp_path), seq_len=16)
    assert a.total_params == b.total_params == get("llama2-7b").total_params
    assert a.name == "meta-llama/Llama-2-7b-hf" and a.meta["hf_family"] == "llama"


def test_hf_tied_and_head_dim_and_bias_fields():
    small = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "head_dim": 32, "vocab_size": 1000, "max_position_embeddings": 128,
             "tie_word_embeddings": True, "attention_bias": True}
    g = from_hf_config(small, seq_len=8)
    assert g.op("layer0.q").out_shape == (8, 4 * 32)  # head_dim overrides hidden / heads
    assert g.op("lm_head").attrs["tied_to"] == "emb.token"
    assert g.op("layer0.attn_out").attrs["bias"] and g.op("layer0.k").attrs["bias"]
    assert not g.op("layer0.gate").attrs["bias"]


@pytest.mark.parametrize("change, match", [
    ({"model_type": "mixtral", "architectures": ["MixtralForCausalLM"]},
     "unsupported architecture: model_type 'mixtral'"),
    ({"architectures": ["LlamaForSequenceClassification"]},
     "unsupported architecture 'LlamaForSequenceClassification'"),
    ({"num_local_experts": 8}, "unsupported config field 'num_local_experts'"),
    ({"quantization_config": {"quant_method": "awq"}},
     "unsupported config field 'quantization_config'"),
    ({"hidden_act": "gelu"}, "unsupported config field 'hidden_act'='gelu'"),
    ({"fancy_new_field": 3}, "unsupported config field\\(s\\) 'fancy_new_field'"),
    ({"hidden_size": None}, "config field 'hidden_size' is missing"),
    ({"num_hidden_layers": 0}, "'num_hidden_layers' must be a positive integer"),
    ({"torch_dtype": "int8"}, "'torch_dtype'='int8'"),
])
def test_hf_config_errors_name_the_field(change, match):
    with pytest.raises(GraphError, match=match):
        from_hf_config({**LLAMA3_8B, **change}, seq_len=8)


def test_hf_unknown_field_ignored_when_not_strict():
    g = from_hf_config({**LLAMA3_8B, "fancy_new_field": 3}, seq_len=8, strict=False)
    assert g.meta["hf_ignored"] == ["fancy_new_field"]
    assert g.total_params == get("llama3-8b").total_params


def test_hf_qwen2_window_and_gpt2_inner_errors():
    with pytest.raises(GraphError, match="use_sliding_window"):
        from_hf_config({**QWEN2_72B, "use_sliding_window": True}, seq_len=8)
    with pytest.raises(GraphError, match="n_inner"):
        from_hf_config({**GPT2, "n_inner": 1000})
    assert from_hf_config(QWEN2_72B, seq_len=8).meta["sliding_window"] == 0


@pytest.mark.parametrize("bad", [[1, 2], 42, "/nonexistent/config.json"])
def test_hf_bad_input_is_a_graph_error(bad):
    with pytest.raises(WseSimError, match="config"):
        from_hf_config(bad)


def test_hf_bad_json_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(GraphError, match="cannot read"):
        from_hf_config(tmp_path)
