"""Real masks through the whole path: sparsify(masks=...), the mapping's per-tile counts, the
placer's stage signature, the functional weights, JSON, and the tables to pandas."""

import json

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.errors import SparsityError
from wse_sim.functional.weights import weights
from wse_sim.graph import Graph
from wse_sim.kernels.tiles import splits
from wse_sim.mapping import (
    MAX_COUNTED_ROWS,
    Split,
    expected_x_counts,
    region_costs,
    view_of,
    weight_row_counts,
)
from wse_sim.placer import stage_signature
from wse_sim.placer.stages import stage_set


def _mlp() -> Graph:
    g = Graph("m")
    x = g.input("x", (12, 40))
    h = g.relu("r", g.dense("fc", x, 30))
    g.loss("loss", g.dense("fc2", h, 30))
    g.meta["batch_default"] = 8
    return g


def _tile_mask(a: int, b: int, i: int, j: int) -> np.ndarray:
    rows, cols = splits(40, a), splits(30, b)
    m = np.zeros((40, 30), dtype=bool)
    m[rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = True
    return m


def test_all_nonzeros_in_one_tile_give_that_core_all_the_macs():
    a, b = 4, 3
    mask = _tile_mask(a, b, 2, 1)
    op = ws.sparsify(_mlp(), masks={"fc": mask}).op("fc")
    view = view_of(op)
    split = Split(h=a, w=b, k_on_rows=True, groups=1)
    rtn = weight_row_counts(op, view, b)
    cost = region_costs(view, rtn, expected_x_counts(view, 1.0, 1), split, ws.wafer("wse2"),
                        dtype="fp16", training=False, first=True, extra_vector_ops=0.0, batch=1,
                        nnz_total=int(mask.sum()))
    assert cost.macs[2, 1] == 12 * mask.sum()  # 12 rows of X, each meets every kept weight
    assert cost.macs.sum() == cost.macs[2, 1]
    assert cost.compute_cycles[2, 1] == cost.compute_cycles.max()


def test_sparsify_masks_fields_json_and_npz(tmp_path):
    g = _mlp()
    rng = np.random.default_rng(1)
    w = rng.standard_normal((40, 30)) * (rng.random((40, 30)) < 0.25)  # weights: non-zero kept
    s = ws.sparsify(g, masks={"fc": w})
    op = s.op("fc")
    assert op.sparsity_pattern == "mask" and op.weight_density == np.count_nonzero(w) / w.size
    assert np.array_equal(op.attrs["weight_mask"], w != 0)
    d = op.to_dict()
    assert "weight_mask" not in d["attrs"] and d["attrs"]["weight_mask_digest"]
    json.dumps(s.to_dict())  # the array is left out: the graph stays JSON
    assert s.op("fc2").sparsity_pattern == "dense" and g.op("fc").sparsity_pattern == "dense"
    np.savez(tmp_path / "pruned.npz", fc=w != 0)
    again = ws.sparsify(g, masks=str(tmp_path / "pruned.npz")).op("fc")
    assert again.attrs["weight_mask_digest"] == d["attrs"]["weight_mask_digest"]
    both = ws.sparsify(g, 0.5, masks={"fc": w})  # masks win for the ops they name
    assert both.op("fc").sparsity_pattern == "mask"
    assert both.op("fc2").sparsity_pattern == "unstructured"
    redrawn = ws.sparsify(s, 0.5)  # a synthetic pattern over a real mask drops the array
    assert "weight_mask" not in redrawn.op("fc").attrs


def test_wrong_name_shape_or_pattern_raise_naming_both():
    g = _mlp()
    with pytest.raises(SparsityError, match=r"'fcc'.*'m'.*did you mean 'fc'"):
        ws.sparsify(g, masks={"fcc": np.ones((40, 30))})
    with pytest.raises(SparsityError, match=r"'fc' has shape \(30, 40\).*\(40, 30\)"):
        ws.sparsify(g, masks={"fc": np.ones((30, 40))})
    with pytest.raises(SparsityError, match="masks="):
        ws.sparsify(g, 0.5, pattern="mask")
    with pytest.raises(SparsityError, match="weight_sparsity"):
        ws.sparsify(g)


def test_different_masks_of_one_density_have_different_signatures():
    g = _mlp()
    m1 = _tile_mask(4, 3, 0, 0)
    m2 = np.zeros_like(m1)
    m2.flat[: m1.sum()] = True  # the same count, another place

    def sig(m):
        return stage_signature(stage_set(ws.sparsify(g, masks={"fc": m}), True).data[0])

    assert sig(m1) == sig(m1.copy())
    assert sig(m1) != sig(m2)  # equal density and nnz, another mask: costs are not shared


@pytest.mark.parametrize("kind", ["conv2d", "conv_transpose2d"])
def test_conv_masks_are_counted_on_the_view_layout(kind):
    g = Graph("c")
    x = g.input("img", (6, 8, 8))
    if kind == "conv2d":
        g.conv2d("c", x, 5, 3, padding=1)
    else:
        g.conv_transpose2d("c", x, 5, 3, stride=2)
    shape = g.op("c").weight_shape
    m = np.random.default_rng(3).random(shape) < 0.3
    op = ws.sparsify(g, masks={"c": m}).op("c")
    view = view_of(op)
    # the view: conv2d im2col (c_in*kh*kw, c_out); conv_transpose2d (c_in, c_out*kh*kw)
    k = m.reshape(shape[0], -1).T if kind == "conv2d" else m.reshape(shape[0], -1)
    assert (view.k, view.n) == k.shape
    b = 4
    cols = splits(view.n, b)
    expect = np.stack([k[:, cols[j] : cols[j + 1]].sum(axis=1) for j in range(b)], axis=1)
    assert np.array_equal(weight_row_counts(op, view, b), expect)


def test_coarse_rows_sum_the_real_counts():
    g = Graph("wide")
    n_in = MAX_COUNTED_ROWS + 1000
    g.dense("fc", g.input("x", (n_in,)), 6)
    m = np.random.default_rng(4).random((n_in, 6)) < 0.1
    op = ws.sparsify(g, masks={"fc": m}).op("fc")
    view = view_of(op)
    assert view.coarse == 2
    rtn = weight_row_counts(op, view, 3)
    assert rtn.shape == (view.k_rows, 3)
    assert np.array_equal(rtn[0], [m[:2, 0:2].sum(), m[:2, 2:4].sum(), m[:2, 4:6].sum()])
    assert rtn.sum() == m.sum()


def test_functional_weights_use_the_real_mask():
    g = _mlp()
    m = _tile_mask(2, 2, 1, 0)
    w = weights(ws.sparsify(g, masks={"fc": m}))["fc"]
    assert np.array_equal(w != 0, m)


def test_masked_graph_places_and_simulates_with_the_mask_counted():
    g = _mlp()
    m = _tile_mask(1, 1, 0, 0)
    m[:, 10:] = False  # a third of the outputs kept
    s = ws.sparsify(g, masks={"fc": m})
    wafer = ws.wafer("wse2", rows=16, cols=16)
    plan = ws.place(s, wafer)
    sd = next(d for d in plan.data if d.op.name == "fc")
    assert sd.nnz == m.sum()
    r = ws.simulate(plan, samples=4)
    dense = ws.simulate(ws.place(g, wafer), samples=4)
    assert 0 < r.macs_per_sample < dense.macs_per_sample
    json.dumps(r.to_dict(), allow_nan=False)


def test_sweep_table_to_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    rows = [{"key": "a", "samples_per_s": 1.0}, {"key": "b", "samples_per_s": 2.5}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = ws.read_table(tmp_path)
    assert table == rows
    df = table.to_frame()
    assert isinstance(df, pd.DataFrame) and list(df["samples_per_s"]) == [1.0, 2.5]
