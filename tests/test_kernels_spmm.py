"""SparseTiles and spmm against numpy references: layout, bytes, products and per-core MACs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.kernels import KernelArgumentError, SparseTiles, spmm

densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def random_sparse(rng, shape, density, dtype=np.float32):
    """Random values with i.i.d. zeros; values are never exactly zero where kept."""
    vals = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return np.where(rng.random(shape) < density, vals, 0.0).astype(dtype)


def reference_macs(x, w, pr, pc):
    """Independent per-core count: sum_b sum_{k in tile i, x[b,k] != 0} nnz(w[k, cols of j])."""
    rows = np.array_split(np.arange(w.shape[0]), pr)
    cols = np.array_split(np.arange(w.shape[1]), pc)
    xn = (x != 0).astype(np.int64)
    wn = (w != 0).astype(np.int64)
    out = np.zeros((pr, pc), dtype=np.int64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[i, j] = (xn[:, r] @ wn[np.ix_(r, c)]).sum()
    return out


def reference_bytes(w, pr, pc, vb):
    """Byte model written out tile by tile: min(dense, values + 16-bit rows + col pointers)."""
    out = np.zeros((pr, pc), dtype=np.int64)
    for i, r in enumerate(np.array_split(np.arange(w.shape[0]), pr)):
        for j, c in enumerate(np.array_split(np.arange(w.shape[1]), pc)):
            nnz = np.count_nonzero(w[np.ix_(r, c)])
            out[i, j] = min(len(r) * len(c) * vb, nnz * (vb + 2) + (len(c) + 1) * 2)
    return out


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 30), n_out=st.integers(1, 30), pr=st.integers(1, 7),
       pc=st.integers(1, 7), density=densities, dtype=st.sampled_from(["fp16", "fp32"]),
       seed=st.integers(0, 1000))
def test_tiles_layout_roundtrip_and_bytes(n_in, n_out, pr, pc, density, dtype, seed):
    w = random_sparse(np.random.default_rng(seed), (n_in, n_out), density)
    t = SparseTiles.from_dense(w, pr, pc, dtype=dtype)
    assert np.array_equal(t.to_dense(), w)
    assert t.row_splits.dtype == np.int64 and t.col_splits.dtype == np.int64
    expect_rows = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_in), pr)])
    expect_cols = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_out), pc)])
    assert t.row_splits.tolist() == expect_rows.tolist()
    assert t.col_splits.tolist() == expect_cols.tolist()
    assert t.nnz.dtype == np.int64 and t.nnz.shape == (pr, pc)
    assert t.nnz.sum() == np.count_nonzero(w)
    vb = 2 if dtype == "fp16" else 4
    assert t.bytes_per_core.dtype == np.int64
    assert np.array_equal(t.bytes_per_core, reference_bytes(w, pr, pc, vb))


def test_tiles_dense_and_compressed_regimes():
    rng = np.random.default_rng(0)
    dense = random_sparse(rng, (16, 16), 1.0)
    t = SparseTiles.from_dense(dense, 2, 2, dtype="fp16")
    assert t.dense_tiles.all()
    assert (t.bytes_per_core == 8 * 8 * 2).all()  # values only, no indices
    sparse = random_sparse(rng, (16, 16), 0.1)
    t = SparseTiles.from_dense(sparse, 2, 2, dtype="fp32")
    assert not t.dense_tiles.any()
    assert np.array_equal(t.bytes_per_core, t.nnz * (4 + 2) + (8 + 1) * 2)


def test_tiles_keep_value_precision():
    w16 = np.array([[0.1, 0.0], [0.0, 3.0]], dtype=np.float16)
    assert np.array_equal(SparseTiles.from_dense(w16, 1, 1).to_dense(), w16)
    w64 = np.array([[1 / 3, 0.0], [0.0, np.pi]])
    back = SparseTiles.from_dense(w64, 2, 1, dtype="fp32").to_dense()
    assert back.dtype == np.float64 and np.array_equal(back, w64)


def test_tiles_are_frozen_flat_arrays():
    t = SparseTiles.from_dense(np.eye(5, dtype=np.float32), 2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.nnz = None
    with pytest.raises(ValueError, match="read-only"):
        t.values[0] = 2.0
    for name in ("indptr", "indices", "values", "nnz", "bytes_per_core", "dense_tiles"):
        assert isinstance(getattr(t, name), np.ndarray)
    assert t.indptr.shape == (2 * 5 + 1,)
    assert "grid=(2, 3)" in repr(t)


def test_more_cores_than_rows_leaves_empty_tiles():
    w = np.ones((2, 3), dtype=np.float32)
    t = SparseTiles.from_dense(w, 4, 5)
    assert t.nnz.tolist() == [[1, 1, 1, 0, 0]] * 2 + [[0] * 5] * 2
    assert (t.bytes_per_core[2:] == 0).all()
    y, macs = spmm(t, np.ones((1, 2), dtype=np.float32))
    assert np.array_equal(y, [[2.0, 2.0, 2.0]]) and macs.sum() == 6


@settings(max_examples=50, deadline=None)
@given(batch=st.integers(1, 9), n_in=st.integers(1, 30), n_out=st.integers(1, 30),
       pr=st.integers(1, 6), pc=st.integers(1, 6), w_density=densities, x_density=densities,
       x_dtype=st.sampled_from([np.float32, np.float16]), seed=st.integers(0, 1000))
def test_spmm_matches_numpy(batch, n_in, n_out, pr, pc, w_density, x_density, x_dtype, seed):
    rng = np.random.default_rng(seed)
    w = random_sparse(rng, (n_in, n_out), w_density)
    x = random_sparse(rng, (batch, n_in), x_density, dtype=x_dtype)
    y, macs = spmm(SparseTiles.from_dense(w, pr, pc), x)
    assert y.dtype == np.float32 and y.shape == (batch, n_out)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    bound = 1e-5 * (np.abs(x64) @ np.abs(w64))  # float32 accumulation error over <= 30 terms
    assert (np.abs(y - x64 @ w64) <= bound).all()
    assert macs.dtype == np.int64 and macs.shape == (pr, pc)
    assert np.array_equal(macs, reference_macs(x, w, pr, pc))
    assert macs.sum() == ((x != 0).astype(np.int64) @ (w != 0).astype(np.int64)).sum()


def test_spmm_exact_on_integers_and_deterministic():
    rng = np.random.default_rng(1)
    w = rng.integers(-3, 4, size=(70, 50)).astype(np.float32)
    x = rng.integers(-3, 4, size=(33, 70)).astype(np.float32)
    t = SparseTiles.from_dense(w, 3, 4)
    y, macs = spmm(t, x)
    assert np.array_equal(y, x @ w)
    y2, macs2 = spmm(t, x)
    assert np.array_equal(y, y2) and np.array_equal(macs, macs2)


def test_spmm_all_zero_and_dense_inputs():
    w = np.ones((6, 5), dtype=np.float32)
    t = SparseTiles.from_dense(w, 2, 2)
    y, macs = spmm(t, np.zeros((4, 6), dtype=np.float32))
    assert not y.any() and not macs.any()
    y, macs = spmm(t, np.ones((4, 6), dtype=np.float32))
    assert (y == 6).all() and macs.sum() == 4 * 6 * 5
    assert macs.tolist() == [[4 * 3 * 3, 4 * 3 * 2]] * 2
    y, macs = spmm(SparseTiles.from_dense(np.zeros((6, 5)), 2, 2), np.ones((4, 6)))
    assert not y.any() and not macs.any()


def test_spmm_skips_zero_activations():
    # A non-finite weight on an input that never fires must not poison the result.
    w = np.array([[np.inf, 1.0], [2.0, 3.0]], dtype=np.float32)
    x = np.array([[0.0, 1.0], [0.0, 2.0]], dtype=np.float32)
    y, macs = spmm(SparseTiles.from_dense(w, 2, 1), x)
    assert np.array_equal(y, [[2.0, 3.0], [4.0, 6.0]])
    assert macs.tolist() == [[0], [4]]


def test_spmm_chains_fortran_output():
    rng = np.random.default_rng(2)
    w1, w2 = random_sparse(rng, (20, 30), 0.5), random_sparse(rng, (30, 10), 0.5)
    x = random_sparse(rng, (8, 20), 0.7)
    h, _ = spmm(SparseTiles.from_dense(w1, 2, 3), x)
    y, _ = spmm(SparseTiles.from_dense(w2, 3, 2), h)
    y_c, _ = spmm(SparseTiles.from_dense(w2, 3, 2), np.ascontiguousarray(h))
    assert np.array_equal(y, y_c)


def test_spmm_large_batch_uses_blocks():
    # Bands of 1000 rows x 300 batch rows exceed the cache block: the k-blocked kernel runs.
    rng = np.random.default_rng(3)
    w = random_sparse(rng, (3000, 64), 0.05)
    x = random_sparse(rng, (300, 3000), 0.5)
    y, macs = spmm(SparseTiles.from_dense(w, 3, 5), x)
    ref = x.astype(np.float64) @ w.astype(np.float64)
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert np.array_equal(macs, reference_macs(x, w, 3, 5))
    # Short bands take the one-pass kernel; both sum over k ascending, so bit for bit equal.
    y_short, _ = spmm(SparseTiles.from_dense(w, 30, 2), x)
    assert np.array_equal(y, y_short)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: SparseTiles.from_dense(np.ones(4), 1, 1), "(4,)"),
        (lambda: SparseTiles.from_dense(np.ones((2, 2), complex), 1, 1), "complex"),
        (lambda: SparseTiles.from_dense(np.ones((2, 2)), 0, 1), ">= 1, got 0"),
        (lambda: SparseTiles.from_dense(np.ones((2, 2)), 1, -2), "-2"),
        (lambda: SparseTiles.from_dense(np.ones((2, 2)), 1.5, 1), "1.5"),
        (lambda: SparseTiles.from_dense(np.ones((2, 2)), 1, 1, dtype="int8"), "int8"),
        (lambda: spmm(np.ones((2, 2)), np.ones((1, 2))), "ndarray"),
        (lambda: spmm(SparseTiles.from_dense(np.ones((3, 2)), 1, 1), np.ones((4, 2))), "(4, 2)"),
        (lambda: spmm(SparseTiles.from_dense(np.ones((3, 2)), 1, 1), np.ones(3)), "(3,)"),
        (lambda: spmm(SparseTiles.from_dense(np.ones((3, 2)), 1, 1), np.ones((1, 3), complex)),
         "complex"),
    ],
)
def test_bad_arguments_name_the_value(call, needle):
    with pytest.raises(KernelArgumentError) as info:
        call()
    assert needle in str(info.value)


@pytest.mark.parametrize(("w_shape", "batch"), [((3, 4), 0), ((3, 0), 2), ((0, 3), 2)])
def test_empty_shapes(w_shape, batch):
    w = np.ones(w_shape, dtype=np.float32)
    x = np.ones((batch, w_shape[0]), dtype=np.float32)
    t = SparseTiles.from_dense(w, 2, 2)
    assert np.array_equal(t.to_dense(), w)
    y, macs = spmm(t, x)
    assert y.shape == (batch, w_shape[1]) and np.array_equal(y, x @ w)
    assert macs.shape == (2, 2) and not macs.any()
