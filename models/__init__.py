"""The model zoo (installed as ``wse_sim.models``): graph builders by name.

>>> from wse_sim.models import available, get
>>> available()  # doctest: +NORMALIZE_WHITESPACE
['bert-base', 'bert-large', 'cvae', 'cvae-cs2', 'gpt2-small', 'gpt2-xl', 'gpt3-xl', 'gptj-6b',
 'llama2-13b', 'llama2-7b', 'llama3-70b', 'llama3-8b', 'mistral-7b', 'qwen2-72b', 'resnet50']
>>> get("bert_base", seq_len=64).meta["seq_len"]
64
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from wse_sim.errors import GraphError, unknown_name
from wse_sim.graph import Graph
from wse_sim.validate import check_model_args

from .bert import bert, bert_base, bert_large
from .cvae import cvae, cvae_cs2
from .data import contact_maps, expected_contact_density, token_batch
from .gpt import gpt, gpt_preset, gptj, gptj_preset
from .hf import from_hf_config
from .llama import LLAMA_PRESETS, LlamaConfig, llama, llama_preset
from .resnet import resnet50

_MODELS: dict[str, tuple[Callable[..., Graph], str]] = {
    "cvae": (cvae, "DeepDriveMD convolutional VAE on 28x28 residue contact maps"),
    "cvae-cs2": (cvae_cs2, "the CVAE as ported to the CS-2: 256x256 maps, latent 3, batch 64"),
    "bert-large": (bert_large, "BERT-Large + MLM head, 24 x 1024, seq 128"),
    "bert-base": (bert_base, "BERT-Base + MLM head, 12 x 768, seq 128"),
    "resnet50": (resnet50, "ResNet-50 (torchvision v1.5), 224x224 images"),
    "gpt2-small": (functools.partial(gpt_preset, "gpt2-small"),
                   "GPT-2 small decoder, 12 x 768, context 1024"),
    "gpt2-xl": (functools.partial(gpt_preset, "gpt2-xl"),
                "GPT-2 XL decoder, 48 x 1600, context 1024"),
    "gpt3-xl": (functools.partial(gpt_preset, "gpt3-xl"),
                "GPT-3 XL decoder, 24 x 2048, context 2048"),
    "gptj-6b": (functools.partial(gptj_preset, "gptj-6b"),
                "GPT-J 6B: 28 x 4096, 16 heads, rotary on 64 dims, parallel blocks, vocab 50400"),
    **{key: (functools.partial(llama_preset, key), text)
       for key, (_, text) in LLAMA_PRESETS.items()},
}


def available() -> list[str]:
    """The model names :func:`get` knows, sorted."""
    return sorted(_MODELS)


def builder(name: str):
    """The builder function of model ``name`` (its signature lists the model's arguments)."""
    return _MODELS[_canonical(name)][0]


def _canonical(name) -> str:
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else None
    if key not in _MODELS:
        raise GraphError(unknown_name("model", name, _MODELS))
    return key


def get(name: str, /, **kwargs) -> Graph:
    """Build model ``name`` (see :func:`available`; '_' and '-' are interchangeable).

    ``kwargs`` go to the builder (e.g. ``seq_len`` for BERT and GPT, ``map_size`` for the
    CVAE, ``image`` for ResNet-50). An unknown name or keyword, or a bad size, raises
    :class:`~wse_sim.errors.GraphError` naming it.
    """
    key = _canonical(name)
    builder = _MODELS[key][0]
    # names, types and ranges of the arguments, from the builder's signature: wse_sim.validate
    return builder(**check_model_args(key, builder, kwargs, GraphError))


@functools.cache
def _describe(key: str) -> tuple:
    g = get(key)
    return (g.total_params, g.forward_macs, g.training_macs, len(g),
            g.meta.get("batch_default"))


def describe(name: str) -> dict:
    """``{name, params, forward_macs, training_macs, ops, batch_default, description}`` of model
    ``name`` built at its default arguments (MACs per sample)."""
    key = _canonical(name)
    params, fwd, train, n_ops, batch = _describe(key)
    return {"name": key, "params": params, "forward_macs": fwd, "training_macs": train,
            "ops": n_ops, "batch_default": batch, "description": _MODELS[key][1]}


__all__ = [
    "LlamaConfig", "available", "bert", "bert_base", "bert_large", "builder", "contact_maps",
    "cvae", "cvae_cs2", "describe", "expected_contact_density", "from_hf_config", "get", "gpt",
    "gpt_preset", "gptj", "gptj_preset", "llama", "llama_preset", "resnet50", "token_batch",
]
