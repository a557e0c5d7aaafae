"""The fast paths of issue 16 give the same bits as the paths they replace."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.kernels import KernelArgumentError
from wse_sim.kernels.blocks import band_rows
from wse_sim.kernels.counts import band_weighted_sums
from wse_sim.kernels.peaks import region_peaks
from wse_sim.kernels.routes import add_link_rects, add_xy_routes, region_max_link_load
from wse_sim.kernels.tiles import splits, tile_bytes


def _traffic(rng, rows, cols, n_rects, n_routes):
    d = rng.integers(0, 4, n_rects)
    r0 = rng.integers(0, rows, n_rects)
    c0 = rng.integers(0, cols, n_rects)
    r1 = np.minimum(rows, r0 + rng.integers(0, rows + 1, n_rects))
    c1 = np.minimum(cols, c0 + rng.integers(0, cols + 1, n_rects))
    # keep every named link on the mesh
    r0 = np.where(d == 3, np.maximum(r0, 1), r0)
    r1 = np.where(d == 2, np.minimum(r1, rows - 1), r1)
    c0 = np.where(d == 1, np.maximum(c0, 1), c0)
    c1 = np.where(d == 0, np.minimum(c1, cols - 1), c1)
    r1, c1 = np.maximum(r1, r0), np.maximum(c1, c0)
    w = rng.random(n_rects) * rng.choice([1e-3, 1.0, 1e6], n_rects)
    routes = (rng.integers(0, rows, n_routes), rng.integers(0, cols, n_routes),
              rng.integers(0, rows, n_routes), rng.integers(0, cols, n_routes),
              rng.random(n_routes) * 7.0)
    return (d, r0, r1, c0, c1, w), routes


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), rows=st.integers(1, 24), cols=st.integers(1, 24),
       method=st.sampled_from(["auto", "walk", "prefix"]))
def test_region_peaks_equal_region_max_of_built_loads(seed, rows, cols, method):
    rng = np.random.default_rng(seed)
    rects, routes = _traffic(rng, rows, cols, int(rng.integers(0, 40)), int(rng.integers(0, 9)))
    # disjoint regions: a row band cut into column blocks
    cuts = np.unique(np.r_[0, rng.integers(0, cols + 1, 3), cols])
    lo, hi = cuts[:-1], cuts[1:]
    r_lo = np.zeros(len(lo), dtype=np.int64)
    r_hi = np.full(len(lo), rows)
    loads = np.zeros((rows, cols, 4))
    add_link_rects(loads, *rects, method=method)
    add_xy_routes(loads, *routes, method=method)
    want = region_max_link_load(loads, r_lo, r_hi, lo, hi)
    got = region_peaks(rows, cols, rects, routes, r_lo, r_hi, lo, hi, method=method)
    assert got.tobytes() == want.tobytes()


def test_region_peaks_refuses_overlapping_regions():
    z = np.zeros(0, dtype=np.int64)
    with pytest.raises(KernelArgumentError, match="overlap"):
        region_peaks(4, 4, (z, z, z, z, z, np.zeros(0)), (z, z, z, z, np.zeros(0)),
                     [0, 1], [2, 3], [0, 1], [2, 3])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 40), b=st.integers(1, 6),
       groups=st.integers(1, 5), coarse=st.sampled_from([1, 3]))
def test_band_rows_equal_per_group_numpy(seed, k, b, groups, coarse):
    rng = np.random.default_rng(seed)
    widths = rng.integers(1, 9, b)
    rtn = rng.integers(0, widths + 1, (k, b))
    sizes = rng.integers(1, coarse + 1, k)
    rows_u = rng.integers(1, k + 3, groups)
    xs = rng.integers(0, 5, (groups, k)) * (rng.random((groups, k)) < 0.7)
    macs, x_band, heights, nnz, comp = band_rows(rtn, xs, rows_u, sizes, widths, 2, coarse,
                                                 True)
    row = 0
    for u in range(groups):
        bands = splits(k, int(rows_u[u]))
        n_u = int(rows_u[u])
        nz = band_weighted_sums(rtn, np.ones(k, dtype=np.int64), bands)
        h = np.array([sizes[a:z].sum() for a, z in zip(bands[:-1], bands[1:], strict=True)])
        _, dense = tile_bytes(nz, h[:, None], widths[None, :], 2)
        want_macs = band_weighted_sums(rtn, xs[u].astype(np.int64), bands) / coarse
        sl = slice(row, row + n_u)
        assert macs[sl].tobytes() == want_macs.tobytes()
        assert nnz[sl].tobytes() == nz.astype(np.float64).tobytes()
        assert heights[sl].tolist() == h.astype(np.float64).tolist()
        assert comp[sl].tolist() == (~dense).astype(np.float64).tolist()
        xb = [float(xs[u, a:z].sum()) for a, z in zip(bands[:-1], bands[1:], strict=True)]
        assert x_band[sl].tolist() == xb
        row += n_u
