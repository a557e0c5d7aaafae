"""PyTorch import through torch.export: parameters, MACs and zero patterns survive."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from wse_sim.errors import GraphError  # noqa: E402
from wse_sim.importers import from_torch, weight_masks  # noqa: E402
from wse_sim.kernels.counts import band_weighted_sums  # noqa: E402
from wse_sim.kernels.tiles import splits  # noqa: E402


def _params(m) -> int:
    return sum(p.numel() for p in m.parameters())


class TinyTransformer(nn.Module):
    def __init__(self, vocab=100, d=32, heads=4, ffn=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layer = nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.1, batch_first=True)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        return self.head(self.layer(self.emb(ids)))


def test_mlp_params_and_macs():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5), nn.Tanh())
    g = from_torch(m, (torch.randn(4, 20),))
    assert g.total_params == _params(m)
    assert g.forward_macs == 20 * 30 + 30 * 5
    assert [o.kind for o in g.ops()] == [
        "input",
        "dense",
        "elementwise",
        "dense",
        "elementwise",
        "loss",
    ]
    assert g.op("0").out_shape == (30,) and g.meta["batch_default"] == 4


def test_tiny_transformer_params_and_macs():
    torch.manual_seed(0)
    seq, d, heads, ffn, vocab = 16, 32, 4, 64, 100
    m = TinyTransformer(vocab, d, heads, ffn)
    g = from_torch(m, (torch.randint(0, vocab, (2, seq)),))
    assert g.total_params == _params(m)
    qkv, attn, out, ff, head = (
        seq * d * 3 * d,
        2 * seq * seq * d,
        seq * d * d,
        2 * seq * d * ffn,
        seq * d * vocab,
    )
    assert g.forward_macs == qkv + attn + out + ff + head
    kinds = [o.kind for o in g.ops()]
    assert kinds.count("matmul") == 2 and kinds.count("dense") == 5
    assert kinds.count("softmax") == 1 and kinds.count("layernorm") == 2
    # the batch-first attention transposes the batch away and back: shapes stay per sample
    assert g.op("head").in_shapes == ((seq, d),)


def test_pruned_model_keeps_its_zero_pattern():
    torch.manual_seed(1)
    m = TinyTransformer()
    prune.l1_unstructured(m.head, "weight", amount=0.6)
    prune.random_unstructured(m.layer.linear1, "weight", amount=0.3)
    g = from_torch(m, (torch.randint(0, 100, (2, 16)),))
    assert g.total_params == _params(m)  # weight_orig counted, weight_mask (a buffer) not
    masks = weight_masks(g)
    for op, layer in (("head", m.head), ("layer.linear1", m.layer.linear1)):
        expect = (layer.weight != 0).numpy().T  # Linear stores (out, in); the IR (in, out)
        assert np.array_equal(masks[op], expect)
        assert g.op(op).weight_density == pytest.approx(expect.mean())
    assert "layer.linear2" not in masks  # unpruned: dense


def test_cnn_with_batch_norm_pooling_and_transposed_conv():
    class C(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            y = self.pool(torch.relu(self.bn(self.conv(x))))
            return self.fc(torch.flatten(self.gap(torch.sigmoid(self.up(y))), 1))

    m = C()
    g = from_torch(m, (torch.randn(2, 3, 16, 16),))
    assert g.total_params == _params(m)
    assert g.op("conv").macs_fwd == 8 * 16 * 16 * 3 * 9
    assert g.op("up").kind == "conv_transpose2d" and g.op("up").out_shape == (4, 16, 16)
    assert g.op("up").macs_fwd == 8 * 8 * 8 * 4 * 4
    assert g.op("gap").out_shape == (4,)


def test_two_unsupported_op_types_are_both_named():
    m = nn.Sequential(nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 8), nn.LeakyReLU(), nn.ELU())
    with pytest.raises(GraphError) as e:
        from_torch(m, (torch.randn(2, 8),))
    msg = str(e.value)
    assert "aten.elu: 2 node(s)" in msg and "aten.leaky_relu: 1 node(s)" in msg


def test_not_a_module():
    with pytest.raises(GraphError, match="torch.nn.Module"):
        from_torch(lambda x: x, (torch.randn(2, 2),))


def test_pruned_masks_counted_per_core_like_numpy():
    from wse_sim.mapping import view_of, weight_row_counts

    torch.manual_seed(2)
    m = nn.Sequential(nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 8))
    prune.l1_unstructured(m[0], "weight", amount=0.7)
    g = from_torch(m, (torch.randn(2, 48),))
    op = g.op("0")
    assert op.sparsity_pattern == "mask" and g.op("2").sparsity_pattern == "dense"
    a, b = 3, 4  # a region of 3 x 4 cores: K in 3 bands, N in 4 tiles
    rows, cols = splits(48, a), splits(40, b)
    rtn = weight_row_counts(op, view_of(op), b)  # what the placer and the engine use
    per_core = band_weighted_sums(rtn, np.ones(48, dtype=np.int64), rows)
    w = (m[0].weight != 0).numpy().T
    expect = [
        [w[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].sum() for j in range(b)] for i in range(a)
    ]
    assert per_core.tolist() == expect
