"""ONNX import: models built with onnx.helper must count like the zoo or a hand count."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from wse_sim.errors import GraphError, WseSimFileError  # noqa: E402
from wse_sim.graph import Graph  # noqa: E402
from wse_sim.importers import from_onnx, weight_masks  # noqa: E402
from wse_sim.importers import onnx_examples as ex  # noqa: E402
from wse_sim.importers._acts import batch_axis  # noqa: E402
from wse_sim.models import bert, resnet50  # noqa: E402


def test_mlp_counts_by_hand():
    g = from_onnx(ex.mlp([784, 256, 10]))
    assert g.total_params == 784 * 256 + 256 + 256 * 10 + 10
    assert g.forward_macs == 784 * 256 + 256 * 10
    assert [op.kind for op in g.ops()] == ["input", "dense", "elementwise", "dense", "loss"]
    assert g.op("fc1").out_shape == (256,)  # per sample: the batch is divided out


def test_small_cnn_matches_hand_built_graph():
    g = from_onnx(ex.small_cnn())
    h = Graph("hand")
    x = h.input("image", (3, 32, 32))
    x = h.relu("relu1", h.batchnorm("bn1", h.conv2d("conv1", x, 16, 3, padding=1, bias=False)))
    x = h.pool("pool1", x, kernel=2, stride=2)
    x = h.relu(
        "relu2", h.batchnorm("bn2", h.conv2d("conv2", x, 32, 3, stride=2, padding=1, bias=False))
    )
    x = h.pool("pool2", x, kernel=2, stride=2, kind="avg")
    h.loss("loss", h.dense("fc", h.pool("gap", x, kind="global_avg"), 10))
    assert (g.total_params, g.forward_macs) == (h.total_params, h.forward_macs)
    # conv1 3*16*9 + bn 32 + conv2 16*32*9 + bn 64 + fc 330
    assert g.total_params == 432 + 32 + 4608 + 64 + 330
    assert [(o.name, o.kind, o.out_shape, o.params, o.macs_fwd) for o in g.ops()] == [
        (o.name, o.kind, o.out_shape, o.params, o.macs_fwd) for o in h.ops()
    ]


def test_transformer_encoder_block_matches_zoo():
    kw = dict(seq=16, vocab=1000, max_positions=64)
    g = from_onnx(ex.bert(1, 64, 4, 256, **kw))
    z = bert(1, 64, 4, 256, seq_len=16, vocab=1000, max_positions=64)
    assert g.total_params == z.total_params
    assert g.forward_macs == z.forward_macs
    assert g.training_macs == z.training_macs
    kinds = sorted((o.kind, o.macs_fwd) for o in g.ops() if o.heavy and o.kind != "embedding")
    zkinds = sorted((o.kind, o.macs_fwd) for o in z.ops() if o.heavy and o.kind != "embedding")
    assert kinds == zkinds
    assert g.op("layer0.gelu").attrs["fn"] == "gelu"  # the Erf pattern became one GELU
    assert g.op("mlm.decoder").attrs["tied_to"] == "emb.word"


def test_resnet50_is_the_zoo_op_for_op():
    g = from_onnx(ex.resnet50(weights="external"), batch=256, read_weights=False)
    z = resnet50()
    assert g.meta["batch_default"] == z.meta["batch_default"] == 256
    assert [o.to_dict() for o in g.ops()] == [o.to_dict() for o in z.ops()]


def test_two_unsupported_op_types_are_both_named():
    with pytest.raises(GraphError) as e:
        from_onnx(ex.with_unsupported())
    msg = str(e.value)
    assert "LeakyRelu: 2 node(s), first 'leaky1'" in msg
    assert "Elu: 1 node(s), first 'elu'" in msg


def test_zero_weights_become_the_mask():
    model = ex.mlp([32, 24, 8], zero_fraction=0.4, seed=3)
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    g = from_onnx(model)
    masks = weight_masks(g)
    for op in ("fc1", "fc2"):
        expect = w[f"{op}.weight"].T != 0  # Gemm transB: stored (n_out, n_in)
        assert masks[op].shape == g.op(op).weight_shape
        assert np.array_equal(masks[op], expect)
        assert g.op(op).weight_density == pytest.approx(expect.mean())
        assert g.op(op).sparsity_pattern == "mask"  # counted from the mask, never drawn


def _kitchen_sink():
    net = ex.OnnxNet("sink")
    x = net.input("x", ["N", 8, 4, 4])
    w = net.init("ct.weight", (8, 4, 2, 2))
    x = net.node("ConvTranspose", [x, w], "ct", kernel_shape=[2, 2], strides=[2, 2])
    a, b = net.node(
        "Split", [x, net.const("sizes", np.array([2, 2], np.int64))], "split", n_out=2, axis=1
    )
    x = net.node(
        "Concat", [net.node("Tanh", [a], "tanh"), net.node("Sigmoid", [b], "sig")], "cat", axis=1
    )
    x = net.node("Flatten", [x], "flat", axis=1)
    x = net.node("Unsqueeze", [x, net.const("ax1", np.array([1], np.int64))], "unsq")
    x = net.node("Squeeze", [x, net.const("ax2", np.array([1], np.int64))], "sq")
    x = net.node("Cast", [x], "cast", to=TensorProto.FLOAT)
    x = net.node("Identity", [x], "ident")
    x = net.node("Dropout", [x, net.const("ratio", np.float32(0.25))], "drop")
    x = net.node("Gelu", [net.linear("fc", x, 256, 10, gemm=True)], "gelu")
    x = net.node("Softmax", [x], "softmax", axis=-1)
    return net.build([x], opset=20)


def test_layout_ops_and_activations():
    g = from_onnx(_kitchen_sink(), loss=None)
    ops = {o.name: o for o in g.ops()}
    assert ops["ct"].kind == "conv_transpose2d" and ops["ct"].out_shape == (4, 8, 8)
    assert ops["ct"].macs_fwd == 8 * 4 * 4 * 4 * 2 * 2
    assert ops["tanh"].attrs["fn"] == "tanh" and ops["sig"].attrs["fn"] == "sigmoid"
    assert ops["tanh"].in_shapes == ((2, 8, 8),)
    assert ops["cat"].out_shape == (4, 8, 8)
    assert ops["drop"].attrs["p"] == pytest.approx(0.25)
    assert ops["fc"].in_shapes == ((256,),) and ops["fc"].macs_fwd == 2560
    assert ops["gelu"].attrs["fn"] == "gelu" and ops["softmax"].kind == "softmax"
    # flatten, unsqueeze, squeeze, cast and identity: one reshape to what the Gemm reads
    assert [o.name for o in g.ops() if o.kind == "reshape" and "source_op" not in o.attrs] == ["sq"]
    assert ops["sq"].in_shapes == ((4, 8, 8),) and ops["sq"].out_shape == (256,)
    assert g.total_params == 8 * 4 * 4 + 2570


def test_batch_moved_by_a_transpose_is_followed():
    # (N, seq, d) -> (seq, N, d) -> MatMul: the graph stays per sample
    net = ex.OnnxNet("moved")
    x = net.input("x", ["N", 6, 8])
    x = net.node("Transpose", [x], "t", perm=[1, 0, 2])
    x = net.linear("fc", x, 8, 5)
    x = net.node("Transpose", [x], "back", perm=[1, 0, 2])
    g = from_onnx(net.build([x]))
    assert g.op("fc/MatMul").in_shapes == ((6, 8),)
    assert g.op("fc/MatMul").macs_fwd == 6 * 8 * 5
    assert not any(o.kind == "transpose" for o in g.ops())  # moving the batch moves no data


def test_batch_axis_through_a_merge():
    # (seq=16, batch=2, d=32) viewed as (32, 32): the batch is inside axis 0 at place 32
    assert batch_axis((16, 2, 32), 32, 2) == (1, True)
    assert batch_axis((32, 32), 32, 2) == (0, False)
    assert batch_axis((2, 16, 32), 512, 2) == (0, True)
    assert batch_axis((128, 1024), 128 * 1024, 1) == (None, False)  # a batch of one, merged


def test_symbolic_dimension_needs_input_shapes():
    net = ex.OnnxNet("sym")
    x = net.input("x", ["N", "seq", 8])
    model = net.build([net.linear("fc", x, 8, 4)])
    with pytest.raises(GraphError, match="input 'x': dimension 1 is symbolic"):
        from_onnx(model)
    g = from_onnx(model, input_shapes={"x": (1, 12, 8)})
    assert g.op("fc/MatMul").out_shape == (12, 4)
    with pytest.raises(GraphError, match="not inputs of the model"):
        from_onnx(model, input_shapes={"y": (1, 12, 8)})


def test_external_data_missing(tmp_path):
    model = ex.mlp([8, 4], weights="external")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(WseSimFileError, match="read_weights=False"):
        from_onnx(path)
    g = from_onnx(path, read_weights=False)
    assert g.total_params == 36 and not weight_masks(g)


def test_file_round_trip_keeps_masks(tmp_path):
    model = ex.mlp([16, 8], zero_fraction=0.5, seed=1)
    path = tmp_path / "pruned.onnx"
    onnx.save(model, str(path))
    a, b = weight_masks(from_onnx(path)), weight_masks(from_onnx(model))
    assert a.keys() == b.keys() == {"fc1"}
    assert np.array_equal(a["fc1"], b["fc1"])


def test_not_a_model():
    with pytest.raises(GraphError, match="path or an onnx.ModelProto"):
        from_onnx(42)
    with pytest.raises(WseSimFileError, match="does not exist"):
        from_onnx("/nonexistent/model.onnx")
    bad = helper.make_model(helper.make_graph([], "empty", [], []))
    with pytest.raises(GraphError):
        from_onnx(bad)
