"""Max-plus pipeline with finite buffers against a naive Python recurrence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wse_sim.kernels.pipeline import pipeline_summary, pipeline_times


def ref_pipeline(t, depth):
    """The recurrence of the module docstring, sample by sample, stage by stage, in lists."""
    n, m = len(t), len(t[0])
    depth = [depth] * max(m - 1, 1) if isinstance(depth, int) else list(depth)
    S = [[0.0] * m for _ in range(n)]
    F = [[0.0] * m for _ in range(n)]
    D = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for s in range(m):
            arrive = D[i][s - 1] if s > 0 else 0.0
            free = D[i - 1][s] if i > 0 else 0.0
            S[i][s] = max(arrive, free)
            F[i][s] = S[i][s] + float(t[i][s])
            D[i][s] = F[i][s]
            if s < m - 1 and i - depth[s] >= 0:
                D[i][s] = max(F[i][s], S[i - depth[s]][s + 1])
    return np.array(S), np.array(F), np.array(D)


stage_times = st.integers(1, 40).flatmap(
    lambda n: st.integers(1, 8).flatmap(
        lambda m: arrays(np.float64, (n, m), elements=st.floats(0.0, 100.0, width=32))
    )
)


@settings(deadline=None)
@given(t=stage_times, depth=st.integers(1, 8))
def test_matches_reference(t, depth):
    got = pipeline_times(t, depth)
    want = ref_pipeline(t.tolist(), depth)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float64 and g.shape == t.shape
        np.testing.assert_array_equal(g, w)  # same max/+ in the same order: bit for bit


@settings(deadline=None)
@given(t=stage_times, data=st.data())
def test_per_fifo_depths_match_reference(t, data):
    m = t.shape[1]
    depth = data.draw(st.lists(st.integers(1, 8), min_size=max(m - 1, 1), max_size=max(m - 1, 1)))
    got = pipeline_times(t, np.array(depth))
    for g, w in zip(got, ref_pipeline(t.tolist(), depth), strict=True):
        np.testing.assert_array_equal(g, w)


@settings(deadline=None)
@given(
    t_s=st.lists(st.floats(0.5, 50.0), min_size=1, max_size=8),
    depth=st.integers(1, 8),
)
def test_constant_times_give_bottleneck_rate_and_sum_latency(t_s, depth):
    t = np.tile(np.array(t_s), (200, 1))
    _, _, d = pipeline_times(t, depth)
    summary = pipeline_summary(d, t)
    assert summary.throughput_samples_per_cycle == pytest.approx(1.0 / max(t_s), rel=1e-9)
    assert summary.fill_latency_cycles == pytest.approx(sum(t_s), rel=1e-12)
    assert summary.bottleneck_stage == int(np.argmax(t_s))
    np.testing.assert_allclose(summary.utilisation, 200 * np.array(t_s) / d[-1, -1])


@settings(deadline=None)
@given(t=stage_times)
def test_more_buffer_never_makes_anything_later(t):
    # Max-plus monotonicity: every time is non-increasing in the depth, so the whole-run
    # throughput n / makespan is non-decreasing.
    prev = None
    for depth in range(1, 9):
        s, f, d = pipeline_times(t, depth)
        if prev is not None:
            assert (s <= prev[0]).all() and (f <= prev[1]).all() and (d <= prev[2]).all()
        prev = (s, f, d)
    d1, d8 = pipeline_times(t, 1)[2], pipeline_times(t, 8)[2]
    assert d8[-1, -1] <= d1[-1, -1]  # depth 1 never beats depth 8


@pytest.mark.parametrize("t_s", [[3.0, 1.0, 2.0], [1.0, 1.0, 5.0, 1.0], [2.0]])
def test_steady_throughput_monotone_in_depth_without_variation(t_s):
    t = np.tile(np.array(t_s), (64, 1))
    tps = [pipeline_summary(pipeline_times(t, b)[2], t)[0] for b in range(1, 9)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(tps, tps[1:], strict=False))
    assert tps[0] == pytest.approx(1 / max(t_s), rel=1e-12)


@settings(deadline=None)
@given(t=stage_times, depth=st.integers(1, 8))
def test_whole_run_cannot_beat_the_bottleneck(t, depth):
    # Each stage serves samples one at a time, so the makespan covers its total busy time.
    d = pipeline_times(t, depth)[2]
    busy = t.sum(axis=0).max()
    assert d[-1, -1] >= busy * (1 - 1e-12)


def test_variable_times_throughput_below_bottleneck_mean():
    rng = np.random.default_rng(3)
    mean = np.array([4.0, 6.0, 5.0, 6.5, 3.0, 6.4])
    t = mean * rng.uniform(0.6, 1.4, (4000, mean.size))
    for depth in (1, 2, 8):
        tp = pipeline_summary(pipeline_times(t, depth)[2], t).throughput_samples_per_cycle
        assert tp <= 1.0 / t.mean(axis=0).max() * (1 + 1e-2)
    # Variation costs throughput when buffers are shallow.
    tp1 = pipeline_summary(pipeline_times(t, 1)[2], t)[0]
    tp8 = pipeline_summary(pipeline_times(t, 8)[2], t)[0]
    assert tp1 < tp8


def test_single_sample_and_single_stage():
    t = np.array([[2.0, 3.0, 5.0]])
    s, f, d = pipeline_times(t, 4)
    assert s.tolist() == [[0.0, 2.0, 5.0]] and d.tolist() == [[2.0, 5.0, 10.0]]
    tp, fill, bottleneck, util = pipeline_summary(d, t)
    assert (tp, fill, bottleneck) == (0.1, 10.0, 2)
    np.testing.assert_allclose(util, [0.2, 0.3, 0.5])
    t = np.array([[2.0], [3.0], [1.0]])
    d = pipeline_times(t, 1)[2]
    assert d[:, 0].tolist() == [2.0, 5.0, 6.0]
    assert pipeline_summary(d, t, warmup_fraction=0.0)[0] == pytest.approx(2 / 4)


def test_blocking_holds_the_upstream_stage():
    # Stage 1 is slow; with one FIFO slot stage 0 must hold sample 2 until sample 1 starts.
    s, f, d = pipeline_times([[1.0, 3.0]] * 3, 1)
    assert f[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert d[:, 0].tolist() == [1.0, 2.0, 4.0]
    assert d[:, 1].tolist() == [4.0, 7.0, 10.0]


def test_deterministic_bit_identical():
    t = np.random.default_rng(0).uniform(0, 9, (300, 7))
    a = pipeline_times(t, 2)
    b = pipeline_times(t.copy(), 2)
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()
    sa, sb = pipeline_summary(a[2], t), pipeline_summary(b[2], t)
    assert sa[:3] == sb[:3] and sa.utilisation.tobytes() == sb.utilisation.tobytes()


def test_zero_times_give_infinite_throughput():
    t = np.zeros((4, 3))
    d = pipeline_times(t, 1)[2]
    summary = pipeline_summary(d, t)
    assert summary.throughput_samples_per_cycle == np.inf
    assert summary.utilisation.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("t", "depth", "match"),
    [
        ([[1.0, 2.0]], 0, "buffer_depth must be >= 1"),
        ([[1.0, 2.0]], 1.5, "buffer_depth must be an int"),
        ([[1.0, 2.0, 3.0]], [1, 2, 3], "length n_stages - 1 = 2"),
        ([[1.0, -2.0]], 1, r"stage_times\[0, 1\] = -2.0"),
        ([[1.0, np.inf]], 1, "finite"),
        ([1.0, 2.0], 1, "2-D"),
        (np.zeros((0, 3)), 1, "n_samples >= 1"),
    ],
)
def test_bad_arguments(t, depth, match):
    with pytest.raises(ValueError, match=match):
        pipeline_times(t, depth)


def test_bad_summary_arguments():
    t = np.ones((3, 2))
    d = pipeline_times(t, 1)[2]
    with pytest.raises(ValueError, match="warmup_fraction"):
        pipeline_summary(d, t, warmup_fraction=1.0)
    with pytest.raises(ValueError, match="depart has shape"):
        pipeline_summary(d[:2], t)
