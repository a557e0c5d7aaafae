"""Link-load kernels against a hop-by-hop pure-Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.kernels.routes import (
    DIR_E,
    DIR_N,
    DIR_S,
    DIR_W,
    add_column_reduce,
    add_link_rects,
    add_row_multicast,
    add_segments,
    add_xy_routes,
    busiest_link,
    column_reduce_segments,
    link_cycles,
    max_link_load,
    region_max_link_load,
    routes_through,
    row_multicast_segments,
    zero_loads,
)

METHODS = ["walk", "prefix", "auto"]
_STEP = {DIR_E: (0, 1), DIR_W: (0, -1), DIR_S: (1, 0), DIR_N: (-1, 0)}


# ---- reference: walk every hop -----------------------------------------------------------------


def ref_walk(r0, c0, r1, c1):
    """Links ``(r, c, d)`` of the XY path (columns first, then rows), and routers visited."""
    links, routers = [], [(r0, c0)]
    r, c = r0, c0
    while c != c1:
        d = DIR_E if c1 > c else DIR_W
        links.append((r, c, d))
        c += _STEP[d][1]
        routers.append((r, c))
    while r != r1:
        d = DIR_S if r1 > r else DIR_N
        links.append((r, c, d))
        r += _STEP[d][0]
        routers.append((r, c))
    return links, routers


def ref_loads(rows, cols, flows):
    loads = np.zeros((rows, cols, 4))
    covered = np.zeros((rows, cols, 4), dtype=bool)
    for r0, c0, r1, c1, w in flows:
        for r, c, d in ref_walk(r0, c0, r1, c1)[0]:
            loads[r, c, d] += w
            covered[r, c, d] = True
    return loads, covered


def ref_multicast(rows, cols, rects):
    """Each row: the union of the paths from c_src to every column, each link once."""
    loads = np.zeros((rows, cols, 4))
    for r_lo, r_hi, c_lo, c_hi, c_src, w in rects:
        for r in range(r_lo, r_hi):
            links = set()
            for c in range(c_lo, c_hi):
                links.update(ref_walk(r, c_src, r, c)[0])
            for link in links:
                loads[link] += w
    return loads


def ref_reduce(rows, cols, rects):
    """Each column: every row's partial sum joins the chain; each link carries w once."""
    loads = np.zeros((rows, cols, 4))
    for r_lo, r_hi, c_lo, c_hi, r_sink, w in rects:
        for c in range(c_lo, c_hi):
            links = set()
            for r in range(r_lo, r_hi):
                links.update(ref_walk(r, c, r_sink, c)[0])
            for link in links:
                loads[link] += w
    return loads


def assert_loads_equal(got, want, covered=None):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9 * max(1.0, np.abs(want).max()))
    if covered is not None:
        assert not got[~covered].any(), "a link no flow crosses got a non-zero load"


# ---- strategies ---------------------------------------------------------------------------------

weights = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def mesh_and_routes(draw, max_routes=30):
    rows = draw(st.integers(1, 12))
    cols = draw(st.integers(1, 12))
    n = draw(st.integers(0, max_routes))
    r = st.integers(0, rows - 1)
    c = st.integers(0, cols - 1)
    routes = [(draw(r), draw(c), draw(r), draw(c), draw(weights)) for _ in range(n)]
    return rows, cols, routes


@st.composite
def mesh_and_segments(draw):
    rows, cols, routes = draw(mesh_and_routes())
    segs = []
    for r0, c0, r1, c1, w in routes:
        if draw(st.booleans()):
            segs.append((r0, c0, r0, c1, w))  # horizontal (or zero-length)
        else:
            segs.append((r0, c0, r1, c0, w))  # vertical (or zero-length)
    return rows, cols, segs


def cols_of(flows):
    a = np.array(flows, dtype=np.float64).reshape(-1, 5)
    return [a[:, i].astype(np.int64) for i in range(4)] + [a[:, 4]]


@st.composite
def mesh_and_rects(draw):
    rows = draw(st.integers(1, 12))
    cols = draw(st.integers(1, 12))
    rects = []
    for _ in range(draw(st.integers(0, 8))):
        r_lo, r_hi = sorted((draw(st.integers(0, rows)), draw(st.integers(0, rows))))
        c_lo, c_hi = sorted((draw(st.integers(0, cols)), draw(st.integers(0, cols))))
        rects.append((r_lo, r_hi, c_lo, c_hi, draw(weights)))
    return rows, cols, rects


# ---- add_segments / add_xy_routes ----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None)
@given(case=mesh_and_routes())
def test_xy_routes_match_reference(method, case):
    rows, cols, routes = case
    loads = zero_loads(rows, cols)
    hops = add_xy_routes(loads, *cols_of(routes), method=method)
    want, covered = ref_loads(rows, cols, routes)
    assert_loads_equal(loads, want, covered)
    ref_hops = sum(w * (abs(r1 - r0) + abs(c1 - c0)) for r0, c0, r1, c1, w in routes)
    assert hops == pytest.approx(ref_hops, rel=1e-12, abs=1e-9)
    assert loads.sum() == pytest.approx(hops, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None)
@given(case=mesh_and_segments())
def test_segments_match_reference(method, case):
    rows, cols, segs = case
    loads = zero_loads(rows, cols)
    hops = add_segments(loads, *cols_of(segs), method=method)
    want, covered = ref_loads(rows, cols, segs)
    assert_loads_equal(loads, want, covered)
    assert loads.sum() == pytest.approx(hops, rel=1e-9, abs=1e-9)


@settings(deadline=None)
@given(case=mesh_and_routes(max_routes=1), w=st.floats(0.5, 10.0))
def test_xy_route_uses_source_row_then_destination_column(case, w):
    rows, cols, routes = case
    if not routes:
        return
    sr, sc, dr, dc, _ = routes[0]
    loads = zero_loads(rows, cols)
    add_xy_routes(loads, sr, sc, dr, dc, w)
    ew = loads[:, :, [DIR_E, DIR_W]].sum(axis=2)
    ns = loads[:, :, [DIR_S, DIR_N]].sum(axis=2)
    assert not np.delete(ew, sr, axis=0).any()
    assert not np.delete(ns, dc, axis=1).any()
    assert ew[sr].sum() == pytest.approx(w * abs(dc - sc))
    assert ns[:, dc].sum() == pytest.approx(w * abs(dr - sr))
    assert loads.max(initial=0.0) <= w


def test_loads_accumulate_in_place_and_scalars_broadcast():
    loads = zero_loads(2, 3)
    add_segments(loads, 0, 0, 0, 2, 1.5)
    add_segments(loads, [0, 1], [0, 2], [0, 0], [2, 2], 1.0)  # one E, one N
    assert loads[0, :, DIR_E].tolist() == [2.5, 2.5, 0.0]
    assert loads[1, 2, DIR_N] == 1.0
    assert loads.sum() == 6.0


@pytest.mark.parametrize("method", METHODS)
def test_no_flows_add_nothing(method):
    loads = zero_loads(3, 3)
    assert add_xy_routes(loads, [], [], [], [], 1.0, method=method) == 0.0
    assert add_segments(loads, 1, 1, 1, 1, 5.0, method=method) == 0.0  # zero length
    assert add_row_multicast(loads, 3, 3, 0, 3, 0, 1.0, method=method) == 0.0  # no rows
    assert not loads.any()
    assert routes_through(3, 3, [], [], [], []).sum() == 0


def test_prefix_and_walk_agree_on_a_wide_mesh():
    # > 64 columns: several parallel column blocks in the prefix sum.
    rng = np.random.default_rng(7)
    rows, cols, n = 37, 203, 3000
    sr, dr = rng.integers(0, rows, (2, n))
    sc, dc = rng.integers(0, cols, (2, n))
    w = rng.uniform(0.0, 5.0, n)
    a, b = zero_loads(rows, cols), zero_loads(rows, cols)
    add_xy_routes(a, sr, sc, dr, dc, w, method="walk")
    add_xy_routes(b, sr, sc, dr, dc, w, method="prefix")
    assert_loads_equal(b, a, covered=a != 0)
    c = zero_loads(rows, cols)
    add_xy_routes(c, sr, sc, dr, dc, w, method="prefix")
    assert np.array_equal(b, c)  # deterministic, bit for bit


def test_links_off_the_mesh_stay_zero():
    loads = zero_loads(5, 6)
    r, c = np.meshgrid(np.arange(5), np.arange(6), indexing="ij")
    add_xy_routes(loads, r.ravel(), c.ravel(), 4 - r.ravel(), 5 - c.ravel(), 1.0, method="prefix")
    assert not loads[:, -1, DIR_E].any() and not loads[:, 0, DIR_W].any()
    assert not loads[-1, :, DIR_S].any() and not loads[0, :, DIR_N].any()


# ---- errors ---------------------------------------------------------------------------------


def test_diagonal_segment_is_named():
    loads = zero_loads(4, 4)
    with pytest.raises(ValueError, match=r"segment 1 is diagonal: \(0, 0\) -> \(2, 3\)"):
        add_segments(loads, [0, 0], [0, 0], [0, 2], [3, 3], 1.0)
    assert not loads.any()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda L: add_segments(L, 0, 0, 0, 4, 1.0), r"segment 0: .* leaves the 4 x 4 mesh"),
        (lambda L: add_xy_routes(L, [0, -1], 0, 0, 0, 1.0), r"route 1: .* leaves the 4 x 4 mesh"),
        (lambda L: add_segments(L, 0, 0, 0, 1, -1.0), r"w\[0\] = -1.0"),
        (lambda L: add_segments(L, 0, 0, 0, 1, np.nan), r"finite"),
        (lambda L: add_segments(L, 0.0, 0, 0, 1, 1.0), r"r0 must hold integers"),
        (lambda L: add_segments(L, [0, 1], 0, [0, 1, 2], 1, 1.0), r"same length"),
        (lambda L: add_segments(L, 0, 0, 0, 1, 1.0, method="fast"), r"method must be"),
        (lambda L: add_link_rects(L, DIR_E, 0, 1, 0, 4, 1.0), r"E links leave rows \[0, 4\)"),
        (lambda L: add_link_rects(L, 7, 0, 1, 0, 1, 1.0), r"direction\[0\] = 7"),
        (lambda L: add_row_multicast(L, 0, 5, 0, 4, 0, 1.0), r"outside the 4 x 4 mesh"),
        (lambda L: add_column_reduce(L, 2, 1, 0, 4, 0, 1.0), r"rectangle 0"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    loads = zero_loads(4, 4)
    with pytest.raises(ValueError, match=match):
        call(loads)


def test_bad_loads_array():
    with pytest.raises(ValueError, match=r"zero_loads\(rows, cols\)"):
        add_segments(np.zeros((3, 3, 4), dtype=np.float32), 0, 0, 0, 1, 1.0)
    ro = zero_loads(2, 2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        add_segments(ro, 0, 0, 0, 1, 1.0)


# ---- multicast and reduction ------------------------------------------------------------------


def test_edge_multicast_loads_n_minus_1_links_once():
    n, w = 9, 3.0
    loads = zero_loads(1, n)
    hops = add_row_multicast(loads, 0, 1, 0, n, 0, w)
    assert hops == (n - 1) * w
    assert np.count_nonzero(loads) == n - 1
    assert loads[0, : n - 1, DIR_E].tolist() == [w] * (n - 1)
    # From the east edge it goes west.
    loads = zero_loads(1, n)
    add_row_multicast(loads, 0, 1, 0, n, n - 1, w)
    assert loads[0, 1:, DIR_W].tolist() == [w] * (n - 1) and np.count_nonzero(loads) == n - 1


@st.composite
def multicast_case(draw, axis):
    rows, cols, rects = draw(mesh_and_rects())
    extent = cols if axis == "row" else rows
    out = [
        (r_lo, r_hi, c_lo, c_hi, draw(st.integers(0, extent - 1)), w)
        for r_lo, r_hi, c_lo, c_hi, w in rects
    ]
    return rows, cols, out


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None)
@given(case=multicast_case("row"))
def test_row_multicast_matches_reference(method, case):
    rows, cols, rects = case
    want = ref_multicast(rows, cols, rects)
    covered = ref_multicast(rows, cols, [r[:5] + (1.0,) for r in rects]) != 0
    args = [np.array([r[i] for r in rects], dtype=np.int64) for i in range(5)]
    w = np.array([r[5] for r in rects], dtype=np.float64)
    loads = zero_loads(rows, cols)
    hops = add_row_multicast(loads, *args, w, method=method)
    assert_loads_equal(loads, want, covered)
    assert hops == pytest.approx(want.sum(), rel=1e-9, abs=1e-9)
    via_segments = zero_loads(rows, cols)
    add_segments(via_segments, *row_multicast_segments(*args, w), method=method)
    assert_loads_equal(via_segments, want)


@pytest.mark.parametrize("method", METHODS)
@settings(deadline=None)
@given(case=multicast_case("col"))
def test_column_reduce_matches_reference(method, case):
    rows, cols, rects = case
    want = ref_reduce(rows, cols, rects)
    covered = ref_reduce(rows, cols, [r[:5] + (1.0,) for r in rects]) != 0
    args = [np.array([r[i] for r in rects], dtype=np.int64) for i in range(5)]
    w = np.array([r[5] for r in rects], dtype=np.float64)
    loads = zero_loads(rows, cols)
    hops = add_column_reduce(loads, *args, w, method=method)
    assert_loads_equal(loads, want, covered)
    assert hops == pytest.approx(want.sum(), rel=1e-9, abs=1e-9)
    via_segments = zero_loads(rows, cols)
    add_segments(via_segments, *column_reduce_segments(*args, w), method=method)
    assert_loads_equal(via_segments, want)


def test_column_reduce_chain_into_a_sink_below():
    loads = zero_loads(6, 2)
    add_column_reduce(loads, 1, 4, 0, 2, 5, 2.0)  # rows 1..3 reduce into row 5
    assert loads[:, 0, DIR_S].tolist() == [0.0, 2.0, 2.0, 2.0, 2.0, 0.0]
    assert np.count_nonzero(loads) == 8


def test_segment_builders_scalars():
    r0, c0, r1, c1, w = column_reduce_segments(0, 3, 1, 3, 1, 1.0)
    got = sorted(zip(r0.tolist(), c0.tolist(), r1.tolist(), c1.tolist(), strict=True))
    assert got == [(0, 1, 1, 1), (0, 2, 1, 2), (2, 1, 1, 1), (2, 2, 1, 2)]
    assert w.tolist() == [1.0] * 4
    empty = row_multicast_segments(2, 2, 0, 5, 0, 1.0)
    assert all(a.shape == (0,) for a in empty)


@settings(deadline=None)
@given(case=mesh_and_rects(), d=st.sampled_from([DIR_E, DIR_W, DIR_S, DIR_N]))
def test_link_rects_match_slicing(case, d):
    rows, cols, rects = case
    dr, dc = _STEP[d]
    want = np.zeros((rows, cols, 4))
    covered = np.zeros((rows, cols, 4), dtype=bool)
    clipped = []
    for r_lo, r_hi, c_lo, c_hi, w in rects:
        # Clip to the cores whose d-link exists.
        r_lo, r_hi = max(r_lo, int(dr < 0)), min(r_hi, rows - int(dr > 0))
        c_lo, c_hi = max(c_lo, int(dc < 0)), min(c_hi, cols - int(dc > 0))
        r_hi, c_hi = max(r_hi, r_lo), max(c_hi, c_lo)
        want[r_lo:r_hi, c_lo:c_hi, d] += w
        covered[r_lo:r_hi, c_lo:c_hi, d] = True
        clipped.append((r_lo, r_hi, c_lo, c_hi, w))
    for method in METHODS:
        loads = zero_loads(rows, cols)
        a = np.array(clipped, dtype=np.float64).reshape(-1, 5)
        hops = add_link_rects(loads, d, *a[:, :4].astype(np.int64).T, a[:, 4], method=method)
        assert_loads_equal(loads, want, covered)
        assert hops == pytest.approx(want.sum(), rel=1e-9, abs=1e-9)


# ---- routes_through and summaries ---------------------------------------------------------------


@settings(deadline=None)
@given(case=mesh_and_routes())
def test_routes_through_matches_reference(case):
    rows, cols, routes = case
    want = np.zeros((rows, cols), dtype=np.int32)
    for r0, c0, r1, c1, _ in routes:
        for r, c in set(ref_walk(r0, c0, r1, c1)[1]):
            want[r, c] += 1
    got = routes_through(rows, cols, *cols_of(routes)[:4])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_summaries():
    loads = zero_loads(3, 4)
    add_segments(loads, [0, 1], [0, 3], [0, 2], [3, 3], [1.0, 4.0])  # E row 0; S col 3
    assert max_link_load(loads) == 4.0
    assert busiest_link(loads) == (1, 3, DIR_S, 4.0)
    np.testing.assert_array_equal(
        region_max_link_load(loads, [0, 0, 2, 1], [1, 3, 3, 1], [0, 0, 0, 0], [3, 4, 4, 4]),
        [1.0, 4.0, 0.0, 0.0],
    )
    np.testing.assert_array_equal(link_cycles(loads, 2), loads / 2)
    with pytest.raises(ValueError, match="wavelets_per_cycle"):
        link_cycles(loads, 0)
    assert max_link_load(zero_loads(0, 5)) == 0.0
