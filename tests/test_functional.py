"""Functional simulation: kernel forward against numpy references, and measured densities."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wse_sim as ws
from wse_sim import functional as F
from wse_sim.graph import Graph, Op
from wse_sim.graph.drawn import drawn_matrix
from wse_sim.mapping import view_of, weight_row_counts
from wse_sim.models import bert, cvae, expected_contact_density
from wse_sim.models.data import default_inputs


def close(a, b, rtol=1e-4):
    """Equal within float32 tolerance relative to the array's scale."""
    scale = max(float(np.abs(b).max(initial=0.0)), 1e-6)
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


def density(x):
    return np.count_nonzero(x) / x.size


@pytest.fixture(scope="module")
def small_cvae():
    return cvae(map_size=16, filters=8)


def test_cvae_kernels_match_numpy_reference(small_cvae):
    g = small_cvae
    inputs = default_inputs(g, 4)
    fast = F.forward(g, inputs)
    ref = F.forward(g, inputs, use_kernels=False)
    assert list(fast) == [op.name for op in g.ops()]
    for op in g.heavy_ops():
        assert fast[op.name].shape == (4, *op.out_shape)
        close(fast[op.name], ref[op.name])
    close(fast["dec.sigmoid"], ref["dec.sigmoid"])
    close(fast["loss"], ref["loss"])
    assert fast["loss"].shape == (4, 1)


def naive_conv2d(x, w, s, p):
    """Direct loops (float64): y[b, o, i, j] = sum w[o, c, u, v] x[b, c, i*s+u-p, j*s+v-p]."""
    b, c_in, h, wd = x.shape
    c_out, _, k, _ = w.shape
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    y = np.zeros((b, c_out, ho, wo))
    for i in range(ho):
        for j in range(wo):
            for u in range(k):
                for v in range(k):
                    r, c = i * s + u - p, j * s + v - p
                    if 0 <= r < h and 0 <= c < wd:
                        y[:, :, i, j] += x[:, :, r, c].astype(np.float64) @ w[:, :, u, v].T
    return y


def hand_graph() -> Graph:
    g = Graph("hand")
    x = g.input("x", (3, 8, 8), density=0.5)
    h = g.relu("relu1", g.conv2d("conv", x, 4, 3, stride=2))
    h = g.conv_transpose2d("deconv", h, 2, 3, stride=2)
    h = g.reshape("flat", g.relu("relu2", h), (2 * 8 * 8,))
    y = g.relu("relu3", g.dense("fc", h, 10))
    g.loss("loss", y)
    return g


def test_hand_graph_dense_relu_conv():
    g = hand_graph()
    inputs = default_inputs(g, 3, seed=1)
    assert 0.3 < density(inputs["x"]) < 0.7  # zeros at rate 1 - out_density
    fast = F.forward(g, inputs, seed=1)
    ref = F.forward(g, inputs, seed=1, use_kernels=False)
    for name in fast:
        close(fast[name], ref[name])
    w = F.weights(g, seed=1)
    assert w["conv"].shape == (4, 3, 3, 3) and w["fc"].shape == (128, 10)
    close(fast["conv"], naive_conv2d(inputs["x"], w["conv"], 2, 1))
    close(fast["relu1"], np.maximum(fast["conv"], 0))
    close(fast["fc"], fast["flat"] @ w["fc"])
    # the transposed conv is the adjoint of conv2d with the same weight, stride and padding
    t = fast["deconv"]
    probe = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
    back = naive_conv2d(probe, w["deconv"], 2, 1)
    assert back.shape == fast["relu1"].shape
    np.testing.assert_allclose(np.vdot(t, probe), np.vdot(fast["relu1"], back), rtol=1e-4)


def test_contact_map_density_is_measured_at_the_first_conv():
    g = cvae(map_size=64, filters=8)
    maps = default_inputs(g, 4)["contact_map"]
    assert maps.shape == (4, 1, 64, 64) and maps.dtype == np.float32
    per_sample = np.count_nonzero(maps.reshape(4, -1), axis=1) / 64 ** 2
    assert per_sample.mean() < 0.4
    assert abs(per_sample.mean() - expected_contact_density(64)) < 0.1
    measured = F.measured_densities(g, default_inputs, n_samples=4)
    assert np.array_equal(measured["enc.conv1"], per_sample)
    assert set(measured) == {op.name for op in g.heavy_ops()}
    for d in measured.values():
        assert d.shape == (4,) and d.dtype == np.float64 and ((d >= 0) & (d <= 1)).all()
    means = F.mean_densities(g, default_inputs, n_samples=4)
    assert means == {k: pytest.approx(v.mean()) for k, v in measured.items()}


def test_relu_outputs_are_partly_zero(small_cvae):
    acts = F.forward(small_cvae, default_inputs(small_cvae, 4))
    relus = [op.name for op in small_cvae.ops() if op.attrs.get("fn") == "relu"]
    assert len(relus) == 10  # enc.relu1-5, dec.relu1-5
    for name in relus:
        assert 0 < density(acts[name]) < 1, name


def test_sparsified_weights_are_masked(small_cvae):
    sparse = ws.sparsify(small_cvae, 0.9)
    w_dense, w_sparse = F.weights(small_cvae), F.weights(sparse)
    for op in sparse.ops():
        if op.kind not in ("dense", "conv2d", "conv_transpose2d"):
            continue
        w = w_sparse[op.name]
        # non-zero exactly where the mask the placer counts says (one mask per op, on its view)
        nz = w != 0
        on_view = nz.reshape(nz.shape[0], -1).T if op.kind == "conv2d" else \
            nz.reshape(nz.shape[0], -1)
        assert np.array_equal(on_view, drawn_matrix(op)), op.name
        assert np.array_equal(on_view.sum(axis=1),
                              weight_row_counts(op, view_of(op), 1)[:, 0]), op.name
        sd = math.sqrt(w.size * 0.1 * 0.9)  # i.i.d. Bernoulli(0.1): a binomial total
        assert abs(np.count_nonzero(w) - 0.1 * w.size) <= 5 * sd + 1, op.name
        kept = w != 0
        assert np.array_equal(w[kept], w_dense[op.name][kept])  # same weights, masked
    d_dense = F.measured_densities(small_cvae, default_inputs, n_samples=3)
    d_sparse = F.measured_densities(sparse, default_inputs, n_samples=3)
    assert d_sparse.keys() == d_dense.keys()
    assert all(d_sparse[k].shape == (3,) for k in d_sparse)
    inputs = default_inputs(sparse, 2)
    fast, ref = F.forward(sparse, inputs), F.forward(sparse, inputs, use_kernels=False)
    close(fast["dec.sigmoid"], ref["dec.sigmoid"])


def test_nm_mask_lies_on_the_im2col_view(small_cvae):
    sparse = ws.sparsify(small_cvae, 0.5, pattern="n:m")
    w = F.weights(sparse)["enc.conv2"]  # (c_out, c_in, kh, kw)
    view = w.reshape(w.shape[0], -1).T  # (c_in*kh*kw, c_out), rows in im2col order
    groups = (view != 0).reshape(-1, 4, view.shape[1]).sum(axis=1)
    assert (groups == 2).all()


def test_token_inputs_and_embeddings():
    g = bert(1, 32, 2, 64, seq_len=16, vocab=100)
    inputs = default_inputs(g, 2)
    assert inputs["tokens"].shape == (2, 16) and inputs["tokens"].max() < 100
    assert set(np.unique(inputs["token_types"])) <= {0, 1}
    acts = F.forward(g, inputs)
    table = F.weights(g)["emb.position"]
    assert np.array_equal(acts["emb.position"][1], table[:16])
    close(acts["mlm.decoder"], acts["mlm.layernorm"] @ F.weights(g)["emb.word"].T)
    d = F.measured_densities(g, default_inputs, n_samples=2)
    assert (d["emb.word"] == 1).all()
    assert (d["layer0.q"] < 1).all()  # embedding dropout zeros reach the first projection


def test_unsupported_op_and_missing_input_raise():
    g = Graph("bad")
    x = g.input("x", (4,))
    g.add(Op("swishy", "elementwise", inputs=(x,), in_shapes=((4,),), out_shape=(4,),
             attrs={"fn": "swish"}))
    with pytest.raises(ws.SimulationError, match="swishy"):
        F.forward(g, {"x": np.ones((2, 4))})
    with pytest.raises(ws.SimulationError, match="'x'"):
        F.forward(g, {})
    with pytest.raises(ws.SimulationError, match="shape"):
        F.forward(g, {"x": np.ones((2, 5))})
    with pytest.raises(ws.SimulationError, match="n_samples"):
        F.measured_densities(g, default_inputs, n_samples=0)


def test_same_seed_same_bits(small_cvae):
    inputs = default_inputs(small_cvae, 3, seed=5)
    again = default_inputs(small_cvae, 3, seed=5)
    assert all(np.array_equal(inputs[k], again[k]) for k in inputs)
    a = F.forward(small_cvae, inputs, seed=5)
    b = F.forward(small_cvae, inputs, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = F.forward(small_cvae, inputs, seed=6)
    assert not np.array_equal(a["enc.conv1"], c["enc.conv1"])
    m1 = F.measured_densities(small_cvae, default_inputs, n_samples=2, seed=3)
    m2 = F.measured_densities(small_cvae, default_inputs, n_samples=2, seed=3)
    assert all(np.array_equal(m1[k], m2[k]) for k in m1)
