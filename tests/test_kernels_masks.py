"""sparsity_mask: exact counts, patterns, reproducibility and argument errors."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.kernels import KernelArgumentError, sparsity_mask

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))
densities = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, density=densities, seed=st.integers(0, 2**32))
def test_unstructured_keeps_exact_count(shape, density, seed):
    mask = sparsity_mask(shape, density, seed=seed)
    assert mask.dtype == np.bool_ and mask.shape == shape
    assert mask.sum() == round(density * math.prod(shape))


def test_unstructured_is_reproducible_and_seeded():
    a = sparsity_mask((64, 32), 0.3, seed=7)
    assert np.array_equal(a, sparsity_mask((64, 32), 0.3, seed=7))
    assert not np.array_equal(a, sparsity_mask((64, 32), 0.3, seed=8))


def test_unstructured_any_ndim():
    assert sparsity_mask((3, 4, 5), 0.5).sum() == 30
    assert sparsity_mask(10, 0.2).shape == (10,)
    assert sparsity_mask((0, 5), 0.5).shape == (0, 5)


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 30), n_out=st.integers(1, 6), m=st.integers(1, 6), data=st.data())
def test_nm_keeps_n_of_every_m_along_axis0(n_in, n_out, m, data):
    n = data.draw(st.integers(0, m))
    mask = sparsity_mask((n_in, n_out), None, pattern="n:m", n=n, m=m, seed=data.draw(
        st.integers(0, 100)))
    for g0 in range(0, n_in, m):
        group = mask[g0:g0 + m]
        assert (group.sum(axis=0) == min(n, group.shape[0])).all()


def test_nm_density_must_agree():
    mask = sparsity_mask((8, 4), 0.5, pattern="n:m", n=2, m=4)
    assert mask.sum() == 16
    with pytest.raises(KernelArgumentError, match="0.3"):
        sparsity_mask((8, 4), 0.3, pattern="n:m", n=2, m=4)


def test_nm_reproducible_and_random():
    a = sparsity_mask((64, 16), None, pattern="n:m", seed=3)
    assert np.array_equal(a, sparsity_mask((64, 16), None, pattern="n:m", seed=3))
    # Not the same positions in every group: the choice is random.
    assert len({tuple(a[g:g + 4, 0]) for g in range(0, 64, 4)}) > 1


@settings(max_examples=40, deadline=None)
@given(shape=shapes, density=densities, data=st.data())
def test_block_keeps_whole_blocks(shape, density, data):
    block = (data.draw(st.integers(1, shape[0])), data.draw(st.integers(1, shape[1])))
    mask = sparsity_mask(shape, density, pattern="block", block=block, seed=1)
    grid = (-(-shape[0] // block[0]), -(-shape[1] // block[1]))
    kept = 0
    for bi in range(grid[0]):
        for bj in range(grid[1]):
            tile = mask[bi * block[0]:(bi + 1) * block[0], bj * block[1]:(bj + 1) * block[1]]
            assert tile.all() or not tile.any()
            kept += bool(tile.all())
    assert kept == round(density * grid[0] * grid[1])


def test_block_partial_edges():
    mask = sparsity_mask((5, 5), 1.0, pattern="block", block=(4, 4))
    assert mask.all()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"shape": (4, 4), "density": -0.1}, "-0.1"),
        ({"shape": (4, 4), "density": 1.5}, "1.5"),
        ({"shape": (4, 4), "density": float("nan")}, "nan"),
        ({"shape": (4, 4), "density": "half"}, "half"),
        ({"shape": (4, 4), "density": 0.5, "pattern": "diagonal"}, "diagonal"),
        ({"shape": (4, 4), "density": None, "pattern": "n:m", "n": 5, "m": 4}, "n=5"),
        ({"shape": (4, 4), "density": None, "pattern": "n:m", "n": 1, "m": 0}, "m must"),
        ({"shape": (4, 4), "density": 0.5, "pattern": "block", "block": (8, 2)}, "(8, 2)"),
        ({"shape": (4, 4), "density": 0.5, "pattern": "block", "block": (2,)}, "(2,)"),
        ({"shape": (4, -1), "density": 0.5}, "-1"),
        ({"shape": "big", "density": 0.5}, "big"),
        ({"shape": (4, 4), "density": 0.5, "seed": -3}, "-3"),
        ({"shape": (4, 4), "density": None}, "None"),
        ({"shape": (4, 4), "density": 0.5, "seed": 1.5}, "1.5"),
        ({"shape": (4, 4), "density": None, "pattern": "n:m", "n": -1, "m": 4}, "-1"),
        ({"shape": (4, 4), "density": 0.5, "pattern": "block", "block": (0, 2)}, "(0, 2)"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, needle):
    with pytest.raises(KernelArgumentError) as info:
        sparsity_mask(**kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("module", ["masks", "tiles", "counts", "spmm", "conv"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"wse_sim.kernels.{module}"))
    assert result.failed == 0 and result.attempted > 0
