"""Packed weight masks (kernels.bitmask) and the one drawn mask per op (graph.drawn)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.errors import SparsityError, WseSimError
from wse_sim.graph import Op
from wse_sim.graph.drawn import clear_drawn_cache, drawn_bits, drawn_matrix, drawn_row_counts
from wse_sim.kernels.bitmask import bernoulli_bits, bit_row_tile_nnz, pack_mask, unpack_mask
from wse_sim.kernels.counts import row_tile_nnz
from wse_sim.kernels.masks import KernelArgumentError
from wse_sim.mapping import view_of, weight_row_counts


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 200), st.integers(1, 40), st.integers(0, 2**31))
def test_popcounts_equal_counting_the_bool_mask(rows, cols, pc, seed):
    mask = np.random.default_rng(seed).random((rows, cols)) < 0.4
    bits = pack_mask(mask)
    assert np.array_equal(unpack_mask(bits, cols), mask)
    assert np.array_equal(bit_row_tile_nnz(bits, cols, pc), row_tile_nnz(mask, pc))
    for coarse in (2, 3, 7):
        want = np.add.reduceat(row_tile_nnz(mask, pc), np.arange(0, rows, coarse), axis=0)
        assert np.array_equal(bit_row_tile_nnz(bits, cols, pc, coarse), want)


def test_small_case_by_hand():
    mask = np.zeros((1, 130), bool)
    mask[0, [0, 63, 64, 127, 128, 129]] = True
    bits = pack_mask(mask)
    assert bits.tolist() == [[1 | 1 << 63, 1 | 1 << 63, 3]]
    # array_split of 130 into 3: 44, 43, 43 -> columns [0, 44), [44, 87), [87, 130)
    assert bit_row_tile_nnz(bits, 130, 3).tolist() == [[1, 2, 3]]  # {0}, {63, 64}, {127-129}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 300), st.floats(0.0, 1.0), st.integers(0, 10**9),
       st.integers(1, 50), st.integers(1, 50))
def test_every_tiling_counts_the_same_mask(rows, cols, d, seed, pa, pb):
    bits = bernoulli_bits(rows, cols, d, seed)
    mask = unpack_mask(bits, cols)
    a, b = bit_row_tile_nnz(bits, cols, pa), bit_row_tile_nnz(bits, cols, pb)
    assert np.array_equal(a.sum(axis=1), mask.sum(axis=1))  # conserved across tilings
    assert np.array_equal(b.sum(axis=1), mask.sum(axis=1))
    assert np.array_equal(bernoulli_bits(rows, cols, d, seed), bits)  # reproducible
    if cols % 64:  # the last word's bits past column n_cols are clear
        assert not (bits[:, -1] >> np.uint64(cols % 64)).any()


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(0, 10**9))
def test_masks_of_one_seed_are_nested_in_density(d1, d2, seed):
    lo, hi = sorted((d1, d2))
    a = unpack_mask(bernoulli_bits(17, 150, lo, seed), 150)
    b = unpack_mask(bernoulli_bits(17, 150, hi, seed), 150)
    assert not (a & ~b).any()  # every non-zero of the sparser mask is kept by the denser


@pytest.mark.parametrize("d", [0.5, 0.3, 0.05, 0.9])
def test_bernoulli_law(d):
    rows, cols, pc = 512, 4096, 64
    c = bit_row_tile_nnz(bernoulli_bits(rows, cols, d, seed=3), cols, pc)
    w = cols // pc
    n = c.size
    # mean and variance of Binomial(w, d) per (row, tile), with 6-sigma sampling bands
    assert abs(c.mean() - w * d) < 6 * np.sqrt(w * d * (1 - d) / n)
    assert c.var() == pytest.approx(w * d * (1 - d), rel=6 * np.sqrt(2 / n))
    # neighbouring rows and words are uncorrelated (a counter-based generator done wrong is not)
    m = unpack_mask(bernoulli_bits(rows, cols, d, seed=3), cols).astype(float)
    assert abs(np.corrcoef(m[:-1].ravel(), m[1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(m[:, :-64].ravel(), m[:, 64:].ravel())[0, 1]) < 0.01


def test_seeds_give_different_masks():
    a, b = bernoulli_bits(8, 256, 0.5, 0), bernoulli_bits(8, 256, 0.5, 1)
    assert 0.4 < np.mean(unpack_mask(a, 256) != unpack_mask(b, 256)) < 0.6


def test_bad_bits_are_refused():
    with pytest.raises(KernelArgumentError, match="ceil"):
        bit_row_tile_nnz(np.zeros((2, 1), np.uint64), 65, 2)
    with pytest.raises(KernelArgumentError, match="bool"):
        pack_mask(np.zeros((2, 3), np.int8))
    with pytest.raises(KernelArgumentError):
        bernoulli_bits(2, 3, 1.5)


def _one_dense(d, pattern="unstructured", n_in=96, n_out=200):
    return Op("fc", "dense", out_shape=(4, n_out), weight_shape=(n_in, n_out), attrs={"rows": 4},
              weight_density=d, sparsity_pattern=pattern if d < 1 else "dense", mask_seed=5)


def test_placer_counts_and_functional_mask_agree():
    op = _one_dense(0.3)
    view = view_of(op)
    m = drawn_matrix(op)
    for b in (1, 3, 7, 64):
        assert np.array_equal(weight_row_counts(op, view, b), row_tile_nnz(m, b))
    assert drawn_bits(op) is drawn_bits(op)  # drawn once, kept
    clear_drawn_cache()
    assert np.array_equal(drawn_matrix(op), m)  # redrawn bit for bit


def test_lower_sparsity_never_removes_work():
    lo, hi = _one_dense(0.2), _one_dense(0.6)
    for b in (1, 5, 33):
        more, fewer = (weight_row_counts(o, view_of(o), b) for o in (hi, lo))
        assert (more >= fewer).all() and more.sum() > fewer.sum()


def test_structured_patterns_are_packed_masks():
    op = _one_dense(0.5, pattern="n:m")
    c = drawn_row_counts(op, 4)
    assert c.sum() == 96 * 200 // 2  # 2:4 keeps exactly half
    dense = _one_dense(1.0)
    with pytest.raises(SparsityError, match="drawn") as e:
        drawn_bits(dense)
    assert isinstance(e.value, WseSimError)
    for bad in (None, 2.5, -1):
        with pytest.raises(SparsityError, match="mask_seed"):
            drawn_bits(dataclasses.replace(op, mask_seed=bad))
