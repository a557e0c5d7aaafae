"""ONNX models built node by node with ``onnx.helper``: zoo networks as an exporter writes them.

Used by the tests, the import benchmark and the acceptance check (an ONNX ResNet-50 must
simulate like the zoo's). ``weights='random'`` stores normal random float32 values (optionally
with a fraction set to zero, to check masks); ``weights='external'`` stores shapes only, each
initializer pointing at an external data file that is never written (import those with
``read_weights=False``).

>>> from wse_sim.importers.onnx_examples import mlp                     # doctest: +SKIP
>>> model = mlp([784, 256, 10])                                         # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np

from wse_sim.errors import GraphError

EXTERNAL_FILE = "weights.bin"
"""Name of the (never written) external data file of ``weights='external'`` models."""


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover
        raise GraphError("building ONNX models needs the onnx package: pip install onnx") from e
    return onnx


class OnnxNet:
    """A graph under construction: nodes, initializers and unique tensor names."""

    def __init__(
        self, name: str, weights: str = "random", seed: int = 0, zero_fraction: float = 0.0
    ):
        if weights not in ("random", "external"):
            raise GraphError(f"weights must be 'random' or 'external', got {weights!r}")
        self.onnx = _onnx()
        self.name, self.weights = name, weights
        self.rng = np.random.default_rng(seed)
        self.zero_fraction = zero_fraction
        self.nodes, self.inits, self.inputs = [], [], []
        self._n = 0
        self._offset = 0

    def fresh(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def init(self, name: str, shape, value: np.ndarray | None = None, prune: bool = False):
        """Add an initializer; random values unless ``value``; ``prune`` zeroes a fraction."""
        onnx = self.onnx
        shape = tuple(int(d) for d in shape)
        if value is None and self.weights == "external":
            t = onnx.TensorProto()
            t.name, t.data_type = name, onnx.TensorProto.FLOAT
            t.dims.extend(shape)
            t.data_location = onnx.TensorProto.EXTERNAL
            n = 4 * math.prod(shape)
            for k, v in (
                ("location", EXTERNAL_FILE),
                ("offset", str(self._offset)),
                ("length", str(n)),
            ):
                e = t.external_data.add()
                e.key, e.value = k, v
            self._offset += n
            self.inits.append(t)
            return name
        if value is None:
            value = self.rng.standard_normal(shape).astype(np.float32)
            if prune and self.zero_fraction > 0:
                value[self.rng.random(shape) < self.zero_fraction] = 0.0
        self.inits.append(onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def input(self, name: str, shape, elem=None) -> str:
        onnx = self.onnx
        self.inputs.append(
            onnx.helper.make_tensor_value_info(
                name, elem if elem is not None else onnx.TensorProto.FLOAT, list(shape)
            )
        )
        return name

    def node(self, op: str, inputs, name: str, n_out: int = 1, **attrs):
        outs = [f"{name}:out{i}" if n_out > 1 else f"{name}:out" for i in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def const(self, name: str, value) -> str:
        return self.init(name, np.shape(value), np.asarray(value))

    # ---- layers ---------------------------------------------------------------------
    def conv(self, name, x, c_in, c_out, k, stride=1, pad=None, bias=False):
        pad = k // 2 if pad is None else pad
        ins = [x, self.init(f"{name}.weight", (c_out, c_in, k, k), prune=True)]
        if bias:
            ins.append(self.init(f"{name}.bias", (c_out,)))
        return self.node(
            "Conv", ins, name, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4
        )

    def bn(self, name, x, c):
        ins = [x] + [self.init(f"{name}.{p}", (c,)) for p in ("weight", "bias")]
        ins += [
            self.const(f"{name}.running_mean", np.zeros(c, np.float32)),
            self.const(f"{name}.running_var", np.ones(c, np.float32)),
        ]
        return self.node("BatchNormalization", ins, name)

    def linear(self, name, x, n_in, n_out, bias=True, gemm=False):
        """``gemm``: a Gemm with transB (as torch exports 2-D inputs); else MatMul + Add."""
        if gemm:
            ins = [x, self.init(f"{name}.weight", (n_out, n_in), prune=True)]
            if bias:
                ins.append(self.init(f"{name}.bias", (n_out,)))
            return self.node("Gemm", ins, name, transB=1)
        y = self.node(
            "MatMul", [x, self.init(f"{name}.weight", (n_in, n_out), prune=True)], f"{name}/MatMul"
        )
        if bias:
            y = self.node("Add", [y, self.init(f"{name}.bias", (n_out,))], f"{name}/Add")
        return y

    def layernorm(self, name, x, d):
        return self.node(
            "LayerNormalization",
            [x, self.init(f"{name}.weight", (d,)), self.init(f"{name}.bias", (d,))],
            name,
            axis=-1,
        )

    def gelu_erf(self, name, x):
        """GELU as exporters before opset 20 write it: x * 0.5 * (1 + erf(x / sqrt 2))."""
        d = self.node(
            "Div", [x, self.const(f"{name}.sqrt2", np.float32(math.sqrt(2)))], f"{name}/Div"
        )
        e = self.node("Erf", [d], f"{name}/Erf")
        a = self.node("Add", [e, self.const(f"{name}.one", np.float32(1))], f"{name}/Add")
        m = self.node("Mul", [x, a], f"{name}/Mul")
        return self.node("Mul", [m, self.const(f"{name}.half", np.float32(0.5))], f"{name}/Mul_1")

    def reshape(self, name, x, shape):
        return self.node(
            "Reshape", [x, self.const(f"{name}.shape", np.array(shape, np.int64))], name
        )

    def build(self, outputs, opset: int = 17):
        onnx = self.onnx
        outs = [
            onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs
        ]
        graph = onnx.helper.make_graph(
            self.nodes, self.name, self.inputs, outs, initializer=self.inits
        )
        return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])


def mlp(sizes, batch="N", weights="random", zero_fraction=0.0, seed=0):
    """Gemm + Relu layers of ``sizes`` (the first is the input width)."""
    net = OnnxNet("mlp", weights, seed, zero_fraction)
    x = net.input("x", [batch, sizes[0]])
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        x = net.linear(f"fc{i + 1}", x, a, b, gemm=True)
        if i < len(sizes) - 2:
            x = net.node("Relu", [x], f"relu{i + 1}")
    return net.build([x])


def small_cnn(batch="N", weights="random", seed=0):
    """conv 3x3 (3 -> 16) + BN + ReLU + max pool 2, conv 3x3 stride 2 (16 -> 32) + BN + ReLU,
    average pool 2, global average pool, flatten, Gemm to 10, on 3 x 32 x 32 images."""
    net = OnnxNet("small_cnn", weights, seed)
    x = net.input("image", [batch, 3, 32, 32])
    x = net.node("Relu", [net.bn("bn1", net.conv("conv1", x, 3, 16, 3), 16)], "relu1")
    x = net.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    x = net.node("Relu", [net.bn("bn2", net.conv("conv2", x, 16, 32, 3, stride=2), 32)], "relu2")
    x = net.node("AveragePool", [x], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    x = net.node("GlobalAveragePool", [x], "gap")
    x = net.node("Flatten", [x], "flatten", axis=1)
    return net.build([net.linear("fc", x, 32, 10, gemm=True)])


def resnet50(batch="N", image=224, classes=1000, weights="external", seed=0, zero_fraction=0.0):
    """ResNet-50 v1.5 laid out as torchvision's ONNX export writes it (conv without bias,
    BatchNormalization, Relu, residual Add, GlobalAveragePool, Flatten, Gemm); with random
    weights, ``zero_fraction`` of each conv and Gemm weight is zeroed (pruned) at random."""
    net = OnnxNet("resnet50", weights, seed, zero_fraction)
    x = net.input("image", [batch, 3, image, image])

    def conv_bn(name, x, c_in, c_out, k, s, relu=True, bn=None):
        y = net.bn(bn or f"{name}_bn", net.conv(name, x, c_in, c_out, k, s), c_out)
        return net.node("Relu", [y], f"{name}_relu") if relu else y

    x = conv_bn("conv1", x, 3, 64, 7, 2, bn="bn1")
    x = net.node("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = 64
    for s, (width, blocks, stride) in enumerate(
        ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=1
    ):
        for b in range(blocks):
            p = f"layer{s}.{b}"
            st = stride if b == 0 else 1
            h = conv_bn(f"{p}.conv1", x, c_in, width, 1, 1, bn=f"{p}.bn1")
            h = conv_bn(f"{p}.conv2", h, width, width, 3, st, bn=f"{p}.bn2")
            h = conv_bn(f"{p}.conv3", h, width, width * 4, 1, 1, relu=False, bn=f"{p}.bn3")
            if st != 1 or c_in != width * 4:
                x = conv_bn(
                    f"{p}.downsample.conv",
                    x,
                    c_in,
                    width * 4,
                    1,
                    st,
                    relu=False,
                    bn=f"{p}.downsample.bn",
                )
            x = net.node("Relu", [net.node("Add", [h, x], f"{p}.add")], f"{p}.relu")
            c_in = width * 4
    x = net.node("Flatten", [net.node("GlobalAveragePool", [x], "avgpool")], "flatten", axis=1)
    return net.build([net.linear("fc", x, 2048, classes, gemm=True)])


def bert(
    n_layers=1,
    hidden=64,
    heads=4,
    ffn=256,
    seq=16,
    vocab=1000,
    max_positions=64,
    type_vocab=2,
    batch="N",
    weights="random",
    mlm_head=True,
    seed=0,
):
    """A BERT encoder (post-LN) with the MLM head, as a transformer exporter writes it:
    Gather embeddings (positions from a constant index), MatMul + Add projections, Reshape and
    Transpose into heads, MatMul scores, Div by sqrt(d_head), Softmax, Erf-form GELU, and the
    decoder as a Gemm-free MatMul against the transposed word table (tied weights)."""
    net = OnnxNet("bert", weights, seed)
    onnx = net.onnx
    d = hidden // heads
    tokens = net.input("tokens", [batch, seq], onnx.TensorProto.INT64)
    types = net.input("token_types", [batch, seq], onnx.TensorProto.INT64)
    word = net.init("emb.word.weight", (vocab, hidden))
    x = net.node("Gather", [word, tokens], "emb.word")
    pos_ids = net.const("emb.position_ids", np.arange(seq, dtype=np.int64)[None, :])
    pos = net.node(
        "Gather",
        [net.init("emb.position.weight", (max_positions, hidden)), pos_ids],
        "emb.position",
    )
    typ = net.node(
        "Gather", [net.init("emb.token_type.weight", (type_vocab, hidden)), types], "emb.token_type"
    )
    x = net.node("Add", [x, pos], "emb.add_position")
    x = net.node("Add", [x, typ], "emb.add_token_type")
    x = net.layernorm("emb.layernorm", x, hidden)
    scale = net.const("attn.scale", np.float32(math.sqrt(d)))
    for i in range(n_layers):
        p = f"layer{i}"
        heads_of = {}
        for part in ("q", "k", "v"):
            y = net.linear(f"{p}.{part}", x, hidden, hidden)
            y = net.reshape(f"{p}.{part}_split", y, [0, seq, heads, d])
            perm = [0, 2, 3, 1] if part == "k" else [0, 2, 1, 3]
            heads_of[part] = net.node("Transpose", [y], f"{p}.{part}_heads", perm=perm)
        s = net.node("MatMul", [heads_of["q"], heads_of["k"]], f"{p}.scores")
        s = net.node("Div", [s, scale], f"{p}.scale")
        pr = net.node("Softmax", [s], f"{p}.probs", axis=-1)
        c = net.node("MatMul", [pr, heads_of["v"]], f"{p}.context")
        c = net.node("Transpose", [c], f"{p}.context_heads", perm=[0, 2, 1, 3])
        c = net.reshape(f"{p}.merge", c, [0, seq, hidden])
        a = net.linear(f"{p}.attn_out", c, hidden, hidden)
        x = net.layernorm(f"{p}.attn_ln", net.node("Add", [x, a], f"{p}.attn_add"), hidden)
        h = net.gelu_erf(f"{p}.gelu", net.linear(f"{p}.ffn1", x, hidden, ffn))
        h = net.linear(f"{p}.ffn2", h, ffn, hidden)
        x = net.layernorm(f"{p}.ffn_ln", net.node("Add", [x, h], f"{p}.ffn_add"), hidden)
    if not mlm_head:
        return net.build([x])
    h = net.gelu_erf("mlm.gelu", net.linear("mlm.dense", x, hidden, hidden))
    h = net.layernorm("mlm.layernorm", h, hidden)
    w_t = net.node("Transpose", [word], "mlm.decoder_weight", perm=[1, 0])
    logits = net.node("MatMul", [h, w_t], "mlm.decoder")
    logits = net.node("Add", [logits, net.init("mlm.decoder.bias", (vocab,))], "mlm.bias")
    return net.build([logits])


def bert_large(seq=128, weights="external", batch="N"):
    """BERT-Large (24 x 1024, 16 heads, FFN 4096, vocab 30522) with the MLM head."""
    return bert(
        24, 1024, 16, 4096, seq=seq, vocab=30522, max_positions=512, batch=batch, weights=weights
    )


def with_unsupported(batch="N"):
    """An MLP with a LeakyRelu twice and an Elu once: two unsupported op types."""
    net = OnnxNet("unsupported")
    x = net.input("x", [batch, 8])
    x = net.node("LeakyRelu", [net.linear("fc1", x, 8, 8, gemm=True)], "leaky1")
    x = net.node("Elu", [net.linear("fc2", x, 8, 8, gemm=True)], "elu")
    x = net.node("LeakyRelu", [net.linear("fc3", x, 8, 8, gemm=True)], "leaky2")
    return net.build([x])
