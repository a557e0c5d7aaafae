"""Mask-only MAC counts and weight bytes against numpy references and SparseTiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.kernels import (
    KernelArgumentError,
    SparseTiles,
    macs_from_row_counts,
    row_tile_nnz,
    row_tile_nnz_binomial,
    sparsity_mask,
    spmm,
    tile_macs,
    tile_weight_bytes,
)

densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def reference_row_tile_nnz(mask, pc):
    cols = np.array_split(np.arange(mask.shape[1]), pc)
    return np.stack([mask[:, c].sum(axis=1) for c in cols], axis=1).astype(np.int64)


def reference_tile_macs(w_mask, x_nonzero, pr, pc):
    rows = np.array_split(np.arange(w_mask.shape[0]), pr)
    cols = np.array_split(np.arange(w_mask.shape[1]), pc)
    xn, wn = x_nonzero.astype(np.int64), w_mask.astype(np.int64)
    return np.array([[(xn[:, r] @ wn[np.ix_(r, c)]).sum() for c in cols] for r in rows],
                    dtype=np.int64).reshape(pr, pc)


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 40), batch=st.integers(1, 10),
       pr=st.integers(1, 8), pc=st.integers(1, 8), w_density=densities, x_density=densities,
       seed=st.integers(0, 1000))
def test_counts_match_reference(n_in, n_out, batch, pr, pc, w_density, x_density, seed):
    rng = np.random.default_rng(seed)
    w_mask = rng.random((n_in, n_out)) < w_density
    x_nz = rng.random((batch, n_in)) < x_density
    rtn = row_tile_nnz(w_mask, pc)
    assert rtn.dtype == np.int64 and np.array_equal(rtn, reference_row_tile_nnz(w_mask, pc))
    expect = reference_tile_macs(w_mask, x_nz, pr, pc)
    macs = macs_from_row_counts(rtn, x_nz.sum(axis=0), pr)
    assert macs.dtype == np.int64 and np.array_equal(macs, expect)
    assert np.array_equal(tile_macs(w_mask, x_nz, pr, pc), expect)
    assert expect.sum() == (x_nz.astype(np.int64) @ w_mask.astype(np.int64)).sum()


@settings(max_examples=30, deadline=None)
@given(n_in=st.integers(1, 30), n_out=st.integers(1, 30), pr=st.integers(1, 6),
       pc=st.integers(1, 6), density=densities, dtype=st.sampled_from(["fp16", "fp32"]),
       seed=st.integers(0, 1000))
def test_tile_weight_bytes_equals_sparse_tiles(n_in, n_out, pr, pc, density, dtype, seed):
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n_in, n_out)) < density, 1.5, 0.0)
    tiles = SparseTiles.from_dense(w, pr, pc, dtype=dtype)
    nbytes = tile_weight_bytes(row_tile_nnz(w != 0, pc), pr, dtype, n_out=n_out)
    assert nbytes.dtype == np.int64 and np.array_equal(nbytes, tiles.bytes_per_core)
    assert np.array_equal(tiles.row_tile_nnz(), row_tile_nnz(w != 0, pc))


def test_tile_macs_agrees_with_spmm():
    rng = np.random.default_rng(4)
    w = sparsity_mask((50, 40), 0.3, seed=2) * rng.standard_normal((50, 40))
    x = np.maximum(rng.standard_normal((16, 50)), 0).astype(np.float32)  # ReLU-sparse
    _, macs = spmm(SparseTiles.from_dense(w, 4, 3), x)
    assert np.array_equal(macs, tile_macs(w != 0, x != 0, 4, 3))


def test_binomial_counts_match_iid_mask_in_distribution():
    """Same mean and variance per column tile as an i.i.d. Bernoulli mask, within sampling error.

    The exact-count "unstructured" mask is hypergeometric (slightly smaller variance), so the
    reference here is an i.i.d. Bernoulli mask, whose per-tile row counts are exactly binomial.
    """
    n_in, n_out, pc, d = 4000, 301, 7, 0.3
    fast = row_tile_nnz_binomial(n_in, n_out, d, pc, seed=11)
    iid = row_tile_nnz(np.random.default_rng(12).random((n_in, n_out)) < d, pc)
    widths = np.diff(np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n_out), pc)]))
    mean, var = widths * d, widths * d * (1 - d)
    for counts in (fast, iid):
        assert counts.shape == (n_in, pc) and counts.dtype == np.int64
        # 5 standard errors: the sample mean's sd is sqrt(var / n); the sample variance's is
        # about var * sqrt(2 / n) (near-normal counts).
        assert (np.abs(counts.mean(axis=0) - mean) < 5 * np.sqrt(var / n_in)).all()
        assert (np.abs(counts.var(axis=0, ddof=1) - var) < 5 * var * np.sqrt(2 / n_in)).all()
    # The two paths against each other: difference of two independent estimates.
    se_mean = np.sqrt(2 * var / n_in)
    assert (np.abs(fast.mean(axis=0) - iid.mean(axis=0)) < 5 * se_mean).all()
    # The exact-count mask: same mean, variance no larger than binomial (hypergeometric).
    exact = row_tile_nnz(sparsity_mask((n_in, n_out), d, seed=13), pc)
    assert (np.abs(exact.mean(axis=0) - mean) < 5 * np.sqrt(var / n_in)).all()
    assert (exact.var(axis=0, ddof=1) < var * (1 + 5 * np.sqrt(2 / n_in))).all()


def test_binomial_counts_reproducible_and_bounded():
    a = row_tile_nnz_binomial(100, 37, 0.5, 4, seed=3)
    assert np.array_equal(a, row_tile_nnz_binomial(100, 37, 0.5, 4, seed=3))
    assert (a >= 0).all() and (a <= np.array([10, 9, 9, 9])).all()
    assert not row_tile_nnz_binomial(5, 8, 0.0, 2).any()
    assert (row_tile_nnz_binomial(5, 8, 1.0, 2) == 4).all()
    # Usable straight in the byte and MAC formulas.
    assert tile_weight_bytes(a, 3, "fp16", n_out=37).shape == (3, 4)
    assert macs_from_row_counts(a, np.full(100, 2), 3).sum() == 2 * a.sum()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: row_tile_nnz(np.ones(4, bool), 2), "(4,)"),
        (lambda: row_tile_nnz(np.ones((4, 4), bool), 0), "pc"),
        (lambda: row_tile_nnz(np.array([["a"]]), 1), "<U1"),
        (lambda: row_tile_nnz_binomial(4, 4, 1.2, 2), "1.2"),
        (lambda: row_tile_nnz_binomial(-4, 4, 0.5, 2), "-4"),
        (lambda: row_tile_nnz_binomial(4, -5, 0.5, 2), "-5"),
        (lambda: row_tile_nnz_binomial(4, 4, float("nan"), 2), "nan"),
        (lambda: row_tile_nnz_binomial(4, 4, 0.5, 0), "pc"),
        (lambda: row_tile_nnz_binomial(4, 4, 0.5, 2, seed=-7), "-7"),
        (lambda: tile_weight_bytes(np.ones((4, 2), int), 0, "fp16", n_out=4), "got 0"),
        (lambda: tile_weight_bytes(np.ones((4, 0), int), 2, "fp16", n_out=4), "(4, 0)"),
        (lambda: tile_weight_bytes(np.ones((4, 2), int), 2, "fp16", n_out=-4), "-4"),
        (lambda: macs_from_row_counts(np.ones((4, 2), int), np.ones(3, int), 2), "3 entries"),
        (lambda: macs_from_row_counts(np.ones((4, 2)), np.ones(4, int), 2), "float64"),
        (lambda: macs_from_row_counts(-np.ones((4, 2), int), np.ones(4, int), 2), "-1"),
        (lambda: tile_macs(np.ones((4, 3), bool), np.ones((2, 5), bool), 1, 1), "5 columns"),
        (lambda: tile_macs(np.ones((4, 3), bool), np.ones((2, 4), bool), 0, 1), "pr must"),
        (lambda: tile_weight_bytes(np.ones((4, 2), int), 2, "bf16", n_out=4), "bf16"),
        (lambda: tile_weight_bytes(np.full((4, 2), 3), 2, "fp16", n_out=4), "n_out=4"),
    ],
)
def test_bad_arguments_name_the_value(call, needle):
    with pytest.raises(KernelArgumentError) as info:
        call()
    assert needle in str(info.value)
