"""Graphs from Hugging Face ``config.json`` files (architecture only, no weights).

Supported families (``model_type``, and the ``architectures`` entry it must name):

* ``llama`` (``LlamaForCausalLM``), ``mistral`` (``MistralForCausalLM``), ``qwen2``
  (``Qwen2ForCausalLM``) -> :func:`models.llama.llama`;
* ``gpt2`` (``GPT2LMHeadModel``) -> :func:`models.gpt.gpt`;
* ``bert`` (``BertForMaskedLM`` -> :func:`models.bert.bert`; ``BertForPreTraining``,
  ``BertForSequenceClassification``, ``BertForQuestionAnswering``), ``roberta`` and
  ``distilbert`` (``...ForMaskedLM``, ``...ForSequenceClassification``,
  ``...ForQuestionAnswering``) -> :mod:`models.hf_encoders`;
* ``vit`` (``ViTForImageClassification``) -> :func:`models.hf_encoders.vit`;
* ``resnet`` (``ResNetForImageClassification``, the ResNet-50 v1.5 layout) ->
  :func:`models.resnet.resnet50`.

``seq_len`` is the image size for ``resnet`` (ViT reads ``image_size`` from its config).

Every key of the config is accounted for: a key that shapes the graph is read, a key that cannot
change it (token ids, initialisation, norm epsilon, RoPE frequency scaling, dropout rates, ...) is
ignored, and a key outside both sets raises :class:`~wse_sim.errors.GraphError` naming it (pass
``strict=False`` to ignore unknown keys instead; they are listed in ``meta['hf_ignored']``).
Features the builders cannot express (mixtures of experts, quantised weights, per-layer
sliding windows, an activation other than the family's) always raise, naming the field.

>>> g = from_hf_config({"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
...                     "num_hidden_layers": 2, "num_attention_heads": 4,
...                     "num_key_value_heads": 2, "vocab_size": 1000,
...                     "max_position_embeddings": 128})
>>> g.meta["n_kv_heads"], g.op("layer0.k").out_shape
(2, (128, 128))
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from wse_sim.errors import GraphError
from wse_sim.graph import Graph

from .bert import bert
from .gpt import gpt
from .hf_encoders import encoder_graph, vit
from .llama import DEFAULT_SEQ_LEN, LlamaConfig, llama
from .resnet import resnet50

ARCHITECTURES = {
    "llama": ("LlamaForCausalLM",),
    "mistral": ("MistralForCausalLM",),
    "qwen2": ("Qwen2ForCausalLM",),
    "gpt2": ("GPT2LMHeadModel",),
    "bert": ("BertForMaskedLM", "BertForPreTraining", "BertForSequenceClassification",
             "BertForQuestionAnswering"),
    "roberta": ("RobertaForMaskedLM", "RobertaForSequenceClassification",
                "RobertaForQuestionAnswering"),
    "distilbert": ("DistilBertForMaskedLM", "DistilBertForSequenceClassification",
                   "DistilBertForQuestionAnswering"),
    "vit": ("ViTForImageClassification",),
    "resnet": ("ResNetForImageClassification",),
}
_HEADS = {"MaskedLM": "mlm", "PreTraining": "pretraining", "SequenceClassification": "classify",
          "QuestionAnswering": "qa"}
"""The ``architectures`` each ``model_type`` may name: the heads the builders reproduce."""

_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}

# Keys that cannot change the graph's ops, shapes, parameters or MACs.
_COMMON_IGNORED = frozenset({
    "_name_or_path", "architectures", "model_type", "transformers_version", "bos_token_id",
    "eos_token_id", "pad_token_id", "initializer_range", "use_cache", "torch_dtype", "dtype",
    "output_attentions", "output_hidden_states", "return_dict", "gradient_checkpointing",
    "tokenizer_class", "id2label", "label2id", "problem_type", "auto_map",
})
_LLAMA_IGNORED = _COMMON_IGNORED | {
    "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "pretraining_tp",
    "attention_dropout", "max_sequence_length", "original_max_position_embeddings",
}
_GPT2_IGNORED = _COMMON_IGNORED | {
    "attn_pdrop", "embd_pdrop", "resid_pdrop", "layer_norm_epsilon", "n_ctx",
    "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
    "summary_use_proj", "task_specific_params", "scale_attn_weights",
    "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
}
_BERT_IGNORED = _COMMON_IGNORED | {
    "attention_probs_dropout_prob", "hidden_dropout_prob", "layer_norm_eps",
    "classifier_dropout", "chunk_size_feed_forward", "is_encoder_decoder", "num_labels",
}
_DISTILBERT_IGNORED = _COMMON_IGNORED | {
    "attention_dropout", "dropout", "qa_dropout", "seq_classif_dropout",
    "chunk_size_feed_forward", "is_encoder_decoder", "num_labels",
}
_VISION_IGNORED = _COMMON_IGNORED | {
    "attention_probs_dropout_prob", "hidden_dropout_prob", "layer_norm_eps",
    "chunk_size_feed_forward", "is_encoder_decoder", "encoder_stride", "num_labels",
    "out_features", "out_indices", "stage_names",
}

# Keys that shape the graph, per family (read by the builders below).
_LLAMA_READ = frozenset({
    "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "vocab_size", "max_position_embeddings", "head_dim",
    "tie_word_embeddings", "hidden_act", "attention_bias", "mlp_bias",
})
_FAMILY_READ = {
    "llama": _LLAMA_READ,
    "mistral": (_LLAMA_READ - {"attention_bias", "mlp_bias"}) | {"sliding_window"},
    "qwen2": (_LLAMA_READ - {"attention_bias", "mlp_bias"})
    | {"sliding_window", "use_sliding_window", "max_window_layers", "layer_types"},
    "gpt2": frozenset({"n_layer", "n_embd", "n_head", "n_positions", "vocab_size", "n_inner",
                       "activation_function", "tie_word_embeddings", "add_cross_attention"}),
    "bert": frozenset({"hidden_size", "num_hidden_layers", "num_attention_heads",
                       "intermediate_size", "max_position_embeddings", "type_vocab_size",
                       "vocab_size", "hidden_act", "position_embedding_type",
                       "is_decoder", "add_cross_attention", "tie_word_embeddings"}),
    "distilbert": frozenset({"dim", "n_layers", "n_heads", "hidden_dim", "vocab_size",
                             "max_position_embeddings", "activation", "sinusoidal_pos_embds",
                             "tie_word_embeddings"}),
    "vit": frozenset({"hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "hidden_act", "image_size", "patch_size",
                      "num_channels", "qkv_bias", "pooler_act", "pooler_output_size"}),
    "resnet": frozenset({"depths", "hidden_sizes", "embedding_size", "layer_type", "hidden_act",
                         "num_channels", "downsample_in_first_stage",
                         "downsample_in_bottleneck"}),
}
_FAMILY_READ["roberta"] = _FAMILY_READ["bert"]
_FAMILY_IGNORED = {"llama": _LLAMA_IGNORED, "mistral": _LLAMA_IGNORED, "qwen2": _LLAMA_IGNORED,
                   "gpt2": _GPT2_IGNORED, "bert": _BERT_IGNORED, "roberta": _BERT_IGNORED,
                   "distilbert": _DISTILBERT_IGNORED, "vit": _VISION_IGNORED,
                   "resnet": _VISION_IGNORED}
ROBERTA_POSITION_OFFSET = 2
"""Rows of RoBERTa's position table before the first position (``padding_idx + 1`` in its
modelling code): ``max_position_embeddings`` counts them, so 514 rows serve 512 tokens."""

# Keys of other architectures that change the graph in ways no builder here expresses; present
# with a value other than "off" they always raise, whatever ``strict`` says.
_UNSUPPORTED = {
    "num_local_experts": "mixture-of-experts layers", "num_experts": "mixture-of-experts layers",
    "num_experts_per_tok": "mixture-of-experts routing",
    "n_routed_experts": "mixture-of-experts layers",
    "moe_intermediate_size": "mixture-of-experts layers",
    "quantization_config": "quantised weights (the graph's dtype is the weights' dtype)",
    "kv_lora_rank": "multi-head latent attention", "q_lora_rank": "multi-head latent attention",
    "qk_norm": "per-head q/k normalisation",
}


def _load(config) -> dict:
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise GraphError(f"no Hugging Face config at {path!r}; give the path of a "
                             "config.json (or of the folder holding it) or a dict") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise GraphError(f"cannot read {path!r} as a JSON config: {exc}") from None
        if not isinstance(data, dict):
            raise GraphError(f"{path!r} holds a JSON {type(data).__name__}, not an object; "
                             "a config.json is one JSON object")
        return data
    raise GraphError(f"from_hf_config takes a dict or the path of a config.json, got "
                     f"{type(config).__name__}")


def _family(cfg: dict) -> str:
    model_type = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise GraphError(f"config field 'architectures' must be a list of names, got {archs!r}")
    if model_type is None:
        by_arch = {a: fam for fam, names in ARCHITECTURES.items() for a in names}
        found = {by_arch[a] for a in archs if a in by_arch}
        if len(found) != 1:
            raise GraphError("config has no 'model_type' and its architectures "
                             f"{archs or '(none)'} name no single supported family; supported "
                             f"model_type values: {', '.join(ARCHITECTURES)}")
        model_type = found.pop()
    if model_type not in ARCHITECTURES:
        raise GraphError(f"unsupported architecture: model_type {model_type!r}; supported: "
                         f"{', '.join(ARCHITECTURES)}")
    for arch in archs:
        if arch not in ARCHITECTURES[model_type]:
            raise GraphError(f"unsupported architecture {arch!r} for model_type "
                             f"{model_type!r}; supported: "
                             f"{', '.join(ARCHITECTURES[model_type])} (the graph models that "
                             "head only)")
    return model_type


def _int(cfg: dict, key: str, default=None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise GraphError(f"config field {key!r} is missing; a {cfg.get('model_type')} "
                         "config.json needs it")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GraphError(f"config field {key!r} must be a positive integer, got {value!r}")
    return value


def _bool(cfg: dict, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise GraphError(f"config field {key!r} must be true or false, got {value!r}")
    return value


def _off(value) -> bool:
    return value in (None, False, 0, "", [], {})


def _check_keys(cfg: dict, family: str, strict: bool) -> list[str]:
    for key, what in _UNSUPPORTED.items():
        if key in cfg and not _off(cfg[key]):
            raise GraphError(f"unsupported config field {key!r}={cfg[key]!r}: {what} cannot "
                             f"be built from a {family} config")
    known = _FAMILY_READ[family] | _FAMILY_IGNORED[family] | set(_UNSUPPORTED)
    unknown = sorted(k for k in cfg if k not in known)
    if unknown and strict:
        raise GraphError(f"unsupported config field(s) {', '.join(map(repr, unknown))} for "
                         f"model_type {family!r}; remove them if they do not change the "
                         "architecture, or pass strict=False to ignore them")
    return unknown


def _activation(cfg: dict, key: str, allowed: tuple[str, ...], default: str) -> None:
    act = cfg.get(key, default)
    if act not in allowed:
        raise GraphError(f"unsupported config field {key!r}={act!r}; this family's builder "
                         f"uses {' / '.join(allowed)}")


def _llama_config(cfg: dict, family: str) -> LlamaConfig:
    _activation(cfg, "hidden_act", ("silu",), "silu")
    heads = _int(cfg, "num_attention_heads")
    window = 0
    if family == "mistral" and cfg.get("sliding_window") is not None:
        window = _int(cfg, "sliding_window")
    if family == "qwen2":
        types = cfg.get("layer_types")
        if types is not None and any(t != "full_attention" for t in types):
            raise GraphError("unsupported config field 'layer_types': per-layer sliding "
                             "windows are not modelled; every layer must be full_attention")
        if _bool(cfg, "use_sliding_window", False):
            raise GraphError("unsupported config field 'use_sliding_window'=true: Qwen2's "
                             "per-layer windows (from max_window_layers on) are not modelled")
    dtype = cfg.get("torch_dtype", cfg.get("dtype")) or "bfloat16"
    if dtype not in _TORCH_DTYPES:
        raise GraphError(f"unsupported config field 'torch_dtype'={dtype!r}; use one of "
                         f"{', '.join(_TORCH_DTYPES)}")
    head_dim = cfg.get("head_dim")
    attn_bias = _bool(cfg, "attention_bias", False)
    return LlamaConfig(
        n_layers=_int(cfg, "num_hidden_layers"), d_model=_int(cfg, "hidden_size"),
        n_heads=heads, n_kv_heads=_int(cfg, "num_key_value_heads", heads),
        d_ffn=_int(cfg, "intermediate_size"), vocab=_int(cfg, "vocab_size"),
        max_positions=_int(cfg, "max_position_embeddings"),
        d_head=0 if head_dim is None else _int(cfg, "head_dim"),
        tie_embeddings=_bool(cfg, "tie_word_embeddings", False),
        # Qwen2's attention always has q/k/v biases and none on the output (its modelling code)
        qkv_bias=True if family == "qwen2" else attn_bias,
        out_bias=False if family == "qwen2" else attn_bias,
        mlp_bias=_bool(cfg, "mlp_bias", False),
        rope_theta=float(cfg.get("rope_theta") or 10000.0), sliding_window=window,
        dtype=_TORCH_DTYPES[dtype])


def _gpt2(cfg: dict, seq_len: int | None, name: str) -> Graph:
    _activation(cfg, "activation_function", ("gelu_new", "gelu", "gelu_fast",
                                             "gelu_pytorch_tanh"), "gelu_new")
    d = _int(cfg, "n_embd", 768)
    if cfg.get("n_inner") is not None and cfg["n_inner"] != 4 * d:
        raise GraphError(f"unsupported config field 'n_inner'={cfg['n_inner']!r}: the GPT "
                         f"builder's MLP is 4 x n_embd = {4 * d}")
    if not _bool(cfg, "tie_word_embeddings", True):
        raise GraphError("unsupported config field 'tie_word_embeddings'=false: the GPT "
                         "builder ties the LM head to the token embedding")
    if _bool(cfg, "add_cross_attention", False):
        raise GraphError("unsupported config field 'add_cross_attention'=true")
    positions = _int(cfg, "n_positions", 1024)
    return gpt(_int(cfg, "n_layer", 12), d, _int(cfg, "n_head", 12),
               positions if seq_len is None else seq_len, vocab=_int(cfg, "vocab_size", 50257),
               max_positions=positions, name=name)


def _bert(cfg: dict, seq_len: int | None, name: str) -> Graph:
    _activation(cfg, "hidden_act", ("gelu",), "gelu")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise GraphError("unsupported config field 'position_embedding_type'="
                         f"{cfg['position_embedding_type']!r}; the BERT builder has absolute "
                         "position embeddings")
    for key in ("is_decoder", "add_cross_attention"):
        if _bool(cfg, key, False):
            raise GraphError(f"unsupported config field {key!r}=true: the BERT builder is an "
                             "encoder")
    if not _bool(cfg, "tie_word_embeddings", True):
        raise GraphError("unsupported config field 'tie_word_embeddings'=false: the BERT "
                         "builder ties the MLM decoder to the word embedding")
    return bert(_int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size"),
                _int(cfg, "num_attention_heads"), _int(cfg, "intermediate_size"),
                seq_len=128 if seq_len is None else seq_len, vocab=_int(cfg, "vocab_size"),
                max_positions=_int(cfg, "max_position_embeddings", 512),
                type_vocab=_int(cfg, "type_vocab_size", 2), name=name)


def _head(cfg: dict, family: str) -> str:
    archs = cfg.get("architectures") or [ARCHITECTURES[family][0]]
    if len(archs) != 1:
        raise GraphError(f"config field 'architectures'={archs!r} names {len(archs)} heads; "
                         "give one")
    for suffix, head in _HEADS.items():
        if archs[0].endswith("For" + suffix):
            return head
    return "mlm"


def _labels(cfg: dict) -> int:
    if cfg.get("id2label"):
        return len(cfg["id2label"])
    return _int(cfg, "num_labels", 2)


def _encoder_family(cfg: dict, family: str, seq_len: int | None, name: str) -> Graph:
    head = _head(cfg, family)
    if family == "distilbert":
        _activation(cfg, "activation", ("gelu",), "gelu")
        if _bool(cfg, "sinusoidal_pos_embds", False):
            raise GraphError("unsupported config field 'sinusoidal_pos_embds'=true: the "
                             "encoder builder has learned position embeddings")
        sizes = (_int(cfg, "n_layers"), _int(cfg, "dim"), _int(cfg, "n_heads"),
                 _int(cfg, "hidden_dim"))
        positions, types = _int(cfg, "max_position_embeddings", 512), 0
    else:
        _activation(cfg, "hidden_act", ("gelu",), "gelu")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise GraphError("unsupported config field 'position_embedding_type'="
                             f"{cfg['position_embedding_type']!r}; the encoder builder has "
                             "absolute position embeddings")
        for key in ("is_decoder", "add_cross_attention"):
            if _bool(cfg, key, False):
                raise GraphError(f"unsupported config field {key!r}=true: the encoder builder "
                                 "is an encoder")
        sizes = (_int(cfg, "num_hidden_layers"), _int(cfg, "hidden_size"),
                 _int(cfg, "num_attention_heads"), _int(cfg, "intermediate_size"))
        positions, types = _int(cfg, "max_position_embeddings", 512), _int(
            cfg, "type_vocab_size", 2)
    if head in ("mlm", "pretraining") and not _bool(cfg, "tie_word_embeddings", True):
        raise GraphError("unsupported config field 'tie_word_embeddings'=false: the MLM "
                         "decoder is tied to the word embedding")
    usable = positions - (ROBERTA_POSITION_OFFSET if family == "roberta" else 0)
    seq = min(128, usable) if seq_len is None else seq_len
    if seq > usable:
        raise GraphError(f"{name}: seq_len={seq} exceeds the {usable} positions of config "
                         "field 'max_position_embeddings'")
    if sizes[1] % sizes[2]:
        raise GraphError(f"{name}: hidden size {sizes[1]} is not a multiple of the "
                         f"{sizes[2]} attention heads")
    return encoder_graph(family, head, *sizes, seq_len=seq, vocab=_int(cfg, "vocab_size"),
                         max_positions=positions, type_vocab=types, num_labels=_labels(cfg),
                         act="gelu", name=name)


def _vit(cfg: dict, name: str) -> Graph:
    _activation(cfg, "hidden_act", ("gelu",), "gelu")
    if cfg.get("pooler_output_size") not in (None, cfg.get("hidden_size")):
        raise GraphError("unsupported config field 'pooler_output_size': the classifier reads "
                         "the class token, not a pooler")
    heads, hidden = _int(cfg, "num_attention_heads"), _int(cfg, "hidden_size")
    image, patch = _int(cfg, "image_size", 224), _int(cfg, "patch_size", 16)
    if hidden % heads or image % patch:
        raise GraphError(f"{name}: hidden_size {hidden} must be a multiple of "
                         f"num_attention_heads {heads} and image_size {image} of patch_size "
                         f"{patch}")
    return vit(_int(cfg, "num_hidden_layers"), hidden, heads, _int(cfg, "intermediate_size"),
               image, patch, _int(cfg, "num_channels", 3), _labels(cfg),
               qkv_bias=_bool(cfg, "qkv_bias", True), name=name)


def _resnet(cfg: dict, name: str, image: int) -> Graph:
    want = {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048], "embedding_size": 64,
            "layer_type": "bottleneck", "hidden_act": "relu", "num_channels": 3,
            "downsample_in_first_stage": False, "downsample_in_bottleneck": False}
    for key, value in want.items():
        if key in cfg and cfg[key] != value:
            raise GraphError(f"unsupported config field {key!r}={cfg[key]!r}: the ResNet "
                             f"builder is ResNet-50 v1.5 ({key}={value!r})")
    g = resnet50(image=image, classes=_labels(cfg))
    g.name = name
    return g


def from_hf_config(config, seq_len: int | None = None, name: str | None = None,
                   strict: bool = True) -> Graph:
    """A graph of the architecture a Hugging Face ``config.json`` describes.

    ``config`` is a dict or the path of a ``config.json`` (or of its folder). ``seq_len`` (tokens
    per sample) defaults as the zoo does: :data:`models.llama.DEFAULT_SEQ_LEN` capped at
    ``max_position_embeddings`` for llama/mistral/qwen2, ``n_positions`` for gpt2, 128 for bert.
    ``name`` defaults to the config's ``_name_or_path`` or its ``model_type``. The config is kept
    in ``meta['hf_config']``. Raises :class:`~wse_sim.errors.GraphError` naming an unsupported
    architecture or field, a missing or malformed size, or an unreadable file.
    """
    cfg = _load(config)
    family = _family(cfg)
    ignored = _check_keys(cfg, family, strict)
    name = name or cfg.get("_name_or_path") or family
    if family in ("llama", "mistral", "qwen2"):
        arch = _llama_config(cfg, family)
        if seq_len is None:
            seq_len = min(DEFAULT_SEQ_LEN, arch.max_positions)
        g = llama(arch, seq_len=seq_len, name=name)
    elif family == "gpt2":
        g = _gpt2(cfg, seq_len, name)
    elif family == "bert" and _head(cfg, family) == "mlm":
        g = _bert(cfg, seq_len, name)  # the zoo's BERT
    elif family in ("bert", "roberta", "distilbert"):
        g = _encoder_family(cfg, family, seq_len, name)
    elif family == "vit":
        g = _vit(cfg, name)
    else:
        g = _resnet(cfg, name, 224 if seq_len is None else seq_len)
    g.meta.update({"hf_family": family, "hf_config": cfg, "hf_ignored": ignored})
    return g
