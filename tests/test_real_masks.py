"""Real masks: counted per tile, never drawn; bad names and shapes refused."""

import numpy as np
import pytest

from wse_sim.errors import SparsityError
from wse_sim.graph import Graph
from wse_sim.graph.masks import apply_masks, mask_matrix, mask_row_counts
from wse_sim.kernels.counts import band_weighted_sums
from wse_sim.kernels.tiles import splits


def _graph() -> Graph:
    g = Graph("m")
    x = g.input("x", (12, 40))
    g.dense("fc", x, 30)
    c = g.input("img", (3, 8, 8))
    g.conv2d("conv", c, 5, 3)
    return g


def test_all_nonzeros_in_one_tile_give_that_core_all_the_macs():
    g = _graph()
    a, b = 4, 3  # logical core rows (K bands) and columns (N tiles)
    rows, cols = splits(40, a), splits(30, b)
    mask = np.zeros((40, 30), dtype=bool)
    mask[rows[2] : rows[3], cols[1] : cols[2]] = True  # exactly the tile of core (2, 1)
    op = apply_masks(g, {"fc": mask}).op("fc")
    assert op.sparsity_pattern == "mask"
    assert op.weight_density == pytest.approx(mask.mean())
    rtn = mask_row_counts(op, b)
    x = np.full(40, 12, dtype=np.int64)  # dense activations: 12 rows reach every input
    macs = band_weighted_sums(rtn, x, rows)
    assert macs[2, 1] == 12 * mask.sum() and macs.sum() == macs[2, 1]


def test_counts_equal_a_numpy_count_over_the_tiles():
    rng = np.random.default_rng(0)
    g = _graph()
    w = rng.standard_normal((5, 3, 3, 3)) * (rng.random((5, 3, 3, 3)) < 0.3)
    op = apply_masks(g, {"conv": w}).op("conv")  # the weights themselves: non-zero = kept
    k = mask_matrix(op)
    assert k.shape == (27, 5) and k.sum() == np.count_nonzero(w)
    cols = splits(5, 2)
    expect = np.stack([k[:, cols[j] : cols[j + 1]].sum(axis=1) for j in range(2)], axis=1)
    assert np.array_equal(mask_row_counts(op, 2), expect)
    coarse = mask_row_counts(op, 2, coarse=4)
    assert np.array_equal(coarse.sum(axis=0), expect.sum(axis=0)) and coarse.shape[0] == 7


def test_wrong_op_name_or_shape_names_both(tmp_path):
    g = _graph()
    with pytest.raises(SparsityError, match=r"'fcc'.*did you mean 'fc'"):
        apply_masks(g, {"fcc": np.ones((40, 30))})
    with pytest.raises(SparsityError, match=r"op 'fc' has shape \(30, 40\).*\(40, 30\)"):
        apply_masks(g, {"fc": np.ones((30, 40))})
    path = tmp_path / "pruned.npz"
    np.savez(path, fc=np.eye(40, 30))
    op = apply_masks(g, str(path)).op("fc")
    assert op.weight_density == pytest.approx(30 / 1200)
    assert g.op("fc").sparsity_pattern == "dense"  # the input graph is unchanged
