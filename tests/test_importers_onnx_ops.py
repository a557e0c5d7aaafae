"""ONNX ops added for real exported models: chains identified by value, RMS norm, grouped and
dilated convs, ReLU6 / hard-swish, padding, positions taken from activations, concat with a
stored row, tied copies, masks and scales folded beside attention."""

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from wse_sim.errors import GraphError  # noqa: E402
from wse_sim.importers import from_onnx  # noqa: E402
from wse_sim.importers.onnx_examples import OnnxNet  # noqa: E402


def _scalar(net, name, v):
    return net.const(name, np.array(v, dtype=np.float32))


def test_tanh_gelu_written_out_is_one_gelu():
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): seven nodes, one op."""
    net = OnnxNet("gelu_new")
    x = net.linear("fc", net.input("x", [2, 8]), 8, 8, gemm=True)
    c = math.sqrt(2 / math.pi)
    p = net.node("Pow", [x, _scalar(net, "three", 3.0)], "pow")
    t = net.node("Mul", [p, _scalar(net, "k", 0.044715)], "m1")
    t = net.node("Add", [x, t], "a1")
    t = net.node("Tanh", [net.node("Mul", [t, _scalar(net, "c", c)], "m2")], "tanh")
    t = net.node("Add", [t, _scalar(net, "one", 1.0)], "a2")
    y = net.node("Mul", [net.node("Mul", [x, _scalar(net, "half", 0.5)], "m3"), t], "m4")
    g = from_onnx(net.build([y]))
    fns = [o.attrs.get("fn") for o in g.ops() if o.kind == "elementwise"]
    assert fns == ["gelu"]


def test_a_chain_of_no_known_function_stays_unsupported():
    net = OnnxNet("square")
    x = net.linear("fc", net.input("x", [2, 8]), 8, 8, gemm=True)
    y = net.node("Pow", [x, _scalar(net, "two", 2.0)], "sq")
    with pytest.raises(GraphError, match="Pow: 1 node"):
        from_onnx(net.build([y]))


def test_rms_norm_pattern_and_its_gain():
    net = OnnxNet("rms")
    x = net.linear("fc", net.input("x", [2, 4, 16]), 16, 16)
    sq = net.node("Pow", [x, _scalar(net, "two", 2.0)], "pow")
    mean = net.node("ReduceMean", [sq], "mean", axes=[-1], keepdims=1)
    r = net.node("Reciprocal", [net.node("Sqrt", [net.node(
        "Add", [mean, _scalar(net, "eps", 1e-6)], "eps_add")], "sqrt")], "rec")
    y = net.node("Mul", [net.init("gain", (16,)), net.node("Mul", [x, r], "scale")], "gain_mul")
    g = from_onnx(net.build([y]), loss=None)
    norms = [o for o in g.ops() if o.kind == "layernorm"]
    assert len(norms) == 1 and norms[0].attrs["norm"] == "rms" and norms[0].params == 16
    assert g.total_params == 16 * 16 + 16 + 16


def test_depthwise_dilated_conv_relu6_hardswish_and_pad():
    net = OnnxNet("mobile")
    x = net.input("x", [2, 8, 12, 12])
    w = net.init("dw.weight", (8, 1, 3, 3))
    x = net.node("Conv", [x, w], "dw", kernel_shape=[3, 3], group=8, dilations=[2, 2],
                 pads=[2, 2, 2, 2])
    x = net.node("Clip", [x, _scalar(net, "lo", 0.0), _scalar(net, "hi", 6.0)], "relu6")
    x = net.node("HardSwish", [x], "hswish")
    pads = net.const("pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int64))
    x = net.node("Pad", [x, pads], "pad")
    y = net.node("Conv", [x, net.init("pw.weight", (4, 8, 1, 1))], "pw", kernel_shape=[1, 1])
    g = from_onnx(net.build([y]), loss=None)
    dw = g.op("dw")
    assert dw.attrs["groups"] == 8 and dw.attrs["dilation"] == 2
    assert dw.macs_fwd == 8 * 12 * 12 * 9 and dw.params == 8 * 9
    assert [g.op(n).attrs.get("fn") for n in ("relu6", "hswish")] == ["relu6", "hardswish"]
    assert g.op("pad").out_shape == (8, 13, 13) and g.op("pw").out_shape == (4, 13, 13)


def test_first_token_and_class_token():
    """x[:, 0] (Gather of a constant index) and Concat of a stored row with activations."""
    net = OnnxNet("cls")
    x = net.linear("fc", net.input("x", [2, 6, 8]), 8, 8)
    cls = net.init("cls_token", (2, 1, 8), np.repeat(
        np.random.default_rng(0).standard_normal((1, 1, 8)).astype(np.float32), 2, axis=0))
    x = net.node("Concat", [cls, x], "cat", axis=1)
    y = net.node("Gather", [x, net.const("zero", np.array(0, dtype=np.int64))], "first", axis=1)
    g = from_onnx(net.build([y]), loss=None)
    assert g.op("cat").out_shape == (7, 8) and g.op("cat").params == 8  # one row, stored once
    assert g.op("first").out_shape == (1, 8)
    assert g.total_params == 8 * 8 + 8 + 8


def test_mask_and_scale_beside_attention_fold_away():
    net = OnnxNet("attn")
    q = net.linear("q", net.input("x", [2, 4, 8]), 8, 8)
    k = net.linear("k", "x", 8, 8)
    kt = net.node("Transpose", [k], "kt", perm=[0, 2, 1])
    s = net.node("MatMul", [net.node("Mul", [q, _scalar(net, "scale", 0.35)], "qs"), kt], "qk")
    mask = net.const("mask", np.triu(np.full((4, 4), -np.inf, np.float32), 1))
    p = net.node("Softmax", [net.node("Add", [s, mask], "masked")], "probs", axis=-1)
    g = from_onnx(net.build([p]), loss=None)
    kinds = [o.kind for o in g.ops()]
    assert "elementwise" not in kinds and "transpose" not in kinds
    assert g.op("qk").attrs["transpose_b"] and g.total_params == 2 * (8 * 8 + 8)
