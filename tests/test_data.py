"""Synthetic contact maps and token batches."""

from __future__ import annotations

import numpy as np
import pytest

from wse_sim.errors import GraphError
from wse_sim.models import data
from wse_sim.models.data import (
    box_side,
    chain_coords,
    contact_maps,
    expected_contact_density,
    token_batch,
)


@pytest.mark.parametrize("n", [28, 100])
def test_contact_maps_binary_symmetric_banded(n):
    maps = contact_maps(4, n, seed=3)
    assert maps.shape == (4, n, n) and maps.dtype == np.bool_
    assert (maps == maps.transpose(0, 2, 1)).all()
    idx = np.arange(n)
    assert maps[:, idx, idx].all()              # self contact
    assert maps[:, idx[:-1], idx[1:]].all()     # bonded neighbours: 3.8 A < 8 A
    assert 0 < maps.mean() < 1


def test_density_decreases_with_size():
    d = [contact_maps(4, n, seed=1).mean() for n in (28, 64, 256)]
    assert d[0] > d[1] > d[2]
    assert d[2] < 0.2  # mostly zero


def test_reproducible_and_seed_dependent():
    a = contact_maps(3, 64, seed=7)
    assert np.array_equal(a, contact_maps(3, 64, seed=7))
    assert not np.array_equal(a, contact_maps(3, 64, seed=8))
    assert not np.array_equal(a[0], a[1])
    # a map does not depend on how many are drawn with it
    assert np.array_equal(a[:2], contact_maps(2, 64, seed=7))


def test_blocked_distances_match(monkeypatch):
    whole = contact_maps(3, 64, seed=2)
    monkeypatch.setattr(data, "_BLOCK_ELEMS", 1000)  # forces the row-block path
    assert np.array_equal(contact_maps(3, 64, seed=2), whole)


def test_chain_is_compact_with_fixed_bonds():
    n = 1024
    x = chain_coords(4, n, seed=0)
    bonds = np.linalg.norm(np.diff(x, axis=1), axis=2)
    assert bonds.max() <= 3.8 + 1e-9
    assert np.mean(np.isclose(bonds, 3.8)) > 0.9  # only bonds folded at a wall shrink
    assert x.min() >= 0 and x.max() <= box_side(n)
    rg = np.sqrt(((x - x.mean(axis=1, keepdims=True)) ** 2).sum(axis=2).mean(axis=1))
    # folded proteins: Rg = 2.2 N^0.38 = 30.6 A at N = 1024; a free walk would be ~2x larger
    assert np.all(np.abs(rg / (2.2 * n ** 0.38) - 1) < 0.2)


@pytest.mark.parametrize("n", [28, 128])
def test_expected_density_matches_maps(n):
    measured = contact_maps(32, n, seed=11).mean()
    assert expected_contact_density(n) == pytest.approx(measured, rel=0.1)


def test_expected_density_large_n_is_sparse():
    d = expected_contact_density(1024)
    assert 5 / 1024 < d < 40 / 1024  # tens of contacts per residue, not N
    assert expected_contact_density(1024) == d  # cached and deterministic


def test_token_batch():
    t = token_batch(16, 128, 30522, seed=0)
    assert t.shape == (16, 128) and t.dtype == np.int32
    assert t.min() >= 0 and t.max() < 30522
    assert np.array_equal(t, token_batch(16, 128, 30522, seed=0))
    assert not np.array_equal(t, token_batch(16, 128, 30522, seed=1))
    counts = np.bincount(t.ravel(), minlength=30522)
    assert counts[0] == counts.max()  # Zipf: the first rank is the most frequent


def test_bad_arguments_named():
    with pytest.raises(GraphError, match="n_residues.*0"):
        contact_maps(1, 0)
    with pytest.raises(GraphError, match="cutoff.*-1"):
        contact_maps(1, 10, cutoff=-1.0)
    with pytest.raises(GraphError, match="vocab.*0"):
        token_batch(1, 8, 0)
