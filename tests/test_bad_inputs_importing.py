"""Bad inputs of the surfaces issue 25 added: grouped/dilated conv and pad builders,
from_torch's kwargs, from_hf_config's new families, and the ONNX ops now translated. Each case
asserts the specific error class (and a word of its message)."""

import numpy as np
import pytest

from wse_sim.errors import GraphError
from wse_sim.graph import Graph
from wse_sim.graph.extra import pad
from wse_sim.models import from_hf_config


def _img(c=4, h=8, w=8):
    g = Graph("g")
    return g, g.input("x", (c, h, w))


@pytest.mark.parametrize("kw,word", [
    (dict(groups=3), "groups=3"),            # 3 does not divide 4 input channels
    (dict(groups=0), "groups"),
    (dict(groups=2.5), "groups"),
    (dict(dilation=0), "dilation"),
    (dict(dilation=4, kernel=3, padding=0), "does not fit"),  # span 9 > 8
    (dict(padding=-1), "padding"),
    (dict(padding="valid"), "padding"),
])
def test_conv2d_bad_group_dilation_padding(kw, word):
    g, x = _img()
    args = dict(out_channels=4, kernel=3)
    args.update(kw)
    with pytest.raises(GraphError, match=word):
        g.conv2d("c", x, **args)


@pytest.mark.parametrize("pads", [(1, 1, 1), (-1, 0, 0, 0), "1111", (1.5, 0, 0, 0)])
def test_pad_bad_pads(pads):
    g, x = _img()
    with pytest.raises(GraphError, match="pad"):
        pad(g, "p", x, pads)


def test_pad_of_a_sequence_is_refused():
    g = Graph("g")
    x = g.input("x", (8, 16))
    with pytest.raises(GraphError, match="channels, height, width"):
        pad(g, "p", x, (1, 1, 1, 1))


_BERT = {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
         "max_position_embeddings": 64}


@pytest.mark.parametrize("cfg,word", [
    ({**_BERT, "architectures": ["BertForTokenClassification"]}, "BertForTokenClassification"),
    ({**_BERT, "architectures": ["BertForMaskedLM", "BertForPreTraining"]}, "architectures"),
    ({**_BERT, "model_type": "roberta", "architectures": ["RobertaForMaskedLM"],
      "max_position_embeddings": 10}, "max_position_embeddings"),
    ({"model_type": "distilbert", "dim": 64, "n_layers": 1, "n_heads": 4, "hidden_dim": 128,
      "vocab_size": 100, "sinusoidal_pos_embds": True}, "sinusoidal_pos_embds"),
    ({"model_type": "vit", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
      "intermediate_size": 128, "image_size": 30, "patch_size": 16}, "patch_size"),
    ({"model_type": "vit", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
      "intermediate_size": 128, "hidden_act": "relu"}, "hidden_act"),
    ({"model_type": "resnet", "depths": [3, 4, 23, 3]}, "depths"),
    ({"model_type": "resnet", "layer_type": "basic"}, "layer_type"),
    ({"model_type": "albert"}, "albert"),
])
def test_hf_config_unsupported_named(cfg, word):
    with pytest.raises(GraphError, match=word):
        from_hf_config(cfg, seq_len=32)


def test_from_torch_kwargs_must_be_a_dict():
    torch = pytest.importorskip("torch")
    from wse_sim.importers import from_torch

    with pytest.raises(GraphError, match="kwargs"):
        from_torch(torch.nn.Linear(4, 4), (torch.randn(2, 4),), kwargs=[1])


@pytest.mark.parametrize("bounds,word", [((0.0, 1.0), "Clip"), ((-1.0, 6.0), "Clip")])
def test_onnx_clip_other_than_relu6(bounds, word):
    pytest.importorskip("onnx")
    from wse_sim.importers import from_onnx
    from wse_sim.importers.onnx_examples import OnnxNet

    net = OnnxNet("clip")
    x = net.input("x", [2, 8])
    lo = net.const("lo", np.array(bounds[0], dtype=np.float32))
    hi = net.const("hi", np.array(bounds[1], dtype=np.float32))
    y = net.node("Clip", [net.linear("fc", x, 8, 8, gemm=True), lo, hi], "clip")
    with pytest.raises(GraphError, match=word):
        from_onnx(net.build([y]))


def test_onnx_gather_of_scattered_positions():
    pytest.importorskip("onnx")
    from wse_sim.importers import from_onnx
    from wse_sim.importers.onnx_examples import OnnxNet

    net = OnnxNet("gather")
    x = net.input("x", [2, 6, 8])
    idx = net.const("idx", np.array([0, 2], dtype=np.int64))
    y = net.node("Gather", [net.linear("fc", x, 8, 8), idx], "take", axis=1)
    with pytest.raises(GraphError, match="contiguous"):
        from_onnx(net.build([y]))
