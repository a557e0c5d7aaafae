"""conv2d and conv_transpose2d against numpy/scipy references, with per-core MAC counts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wse_sim.kernels import KernelArgumentError, conv2d, conv_transpose2d

densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def random_sparse(rng, shape, density, dtype=np.float32):
    vals = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return np.where(rng.random(shape) < density, vals, 0.0).astype(dtype)


def ref_conv2d(x, w, s, p):
    """Tap-by-tap im2col reference in float64: y = sum_taps patch(dh, dw) . w[:, :, dh, dw]."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    c_out, _, kh, kw = w.shape
    ho = (x.shape[2] - kh) // s + 1
    wo = (x.shape[3] - kw) // s + 1
    y = np.zeros((x.shape[0], c_out, ho, wo))
    for dh in range(kh):
        for dw in range(kw):
            patch = x[:, :, dh:dh + s * (ho - 1) + 1:s, dw:dw + s * (wo - 1) + 1:s]
            y += np.einsum("bchw,oc->bohw", patch, w[:, :, dh, dw].astype(np.float64))
    return y


def ref_conv_transpose2d(x, w, s, p, op):
    """Scatter reference: every input pixel times every tap into a full canvas, then crop."""
    b, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    full = np.zeros((b, c_out, (h - 1) * s + kh + op, (wd - 1) * s + kw + op))
    for dh in range(kh):
        for dw in range(kw):
            full[:, :, dh:dh + s * (h - 1) + 1:s, dw:dw + s * (wd - 1) + 1:s] += np.einsum(
                "bchw,co->bohw", x.astype(np.float64), w[:, :, dh, dw].astype(np.float64))
    ho = (h - 1) * s - 2 * p + kh + op
    wo = (wd - 1) * s - 2 * p + kw + op
    return full[:, :, p:p + ho, p:p + wo]


def ref_macs(conv, x, w, pr, pc, in_axis, out_axis):
    """Per-core non-zero products: the same convolution of 0/1 indicators, summed per tile."""
    ci = np.array_split(np.arange(x.shape[1]), pr)
    co = np.array_split(np.arange(w.shape[out_axis]), pc)
    xn, wn = (x != 0).astype(np.float64), (w != 0).astype(np.float64)
    out = np.zeros((pr, pc), dtype=np.int64)
    for i, cin in enumerate(ci):
        for j, cout in enumerate(co):
            wt = np.take(np.take(wn, cin, axis=in_axis), cout, axis=out_axis)
            out[i, j] = round(conv(xn[:, cin], wt).sum())
    return out


conv_cases = st.fixed_dictionaries({
    "batch": st.integers(1, 3), "c_in": st.integers(1, 5), "c_out": st.integers(1, 5),
    "h": st.integers(1, 8), "w": st.integers(1, 8), "kh": st.integers(1, 4),
    "kw": st.integers(1, 4), "stride": st.integers(1, 3), "padding": st.integers(0, 2),
    "pr": st.integers(1, 6), "pc": st.integers(1, 6), "w_density": densities,
    "x_density": densities, "dtype": st.sampled_from([np.float32, np.float16]),
    "seed": st.integers(0, 1000),
})


@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_conv2d_matches_reference(case):
    c = case
    assume(c["kh"] <= c["h"] + 2 * c["padding"] and c["kw"] <= c["w"] + 2 * c["padding"])
    rng = np.random.default_rng(c["seed"])
    x = random_sparse(rng, (c["batch"], c["c_in"], c["h"], c["w"]), c["x_density"], c["dtype"])
    w = random_sparse(rng, (c["c_out"], c["c_in"], c["kh"], c["kw"]), c["w_density"])
    s, p = c["stride"], c["padding"]
    y, macs = conv2d(x, w, s, p, c["pr"], c["pc"])
    ref = ref_conv2d(x, w, s, p)
    assert y.dtype == np.float32 and y.shape == ref.shape
    bound = 1e-5 * ref_conv2d(np.abs(x), np.abs(w), s, p) + 1e-30
    assert (np.abs(y - ref) <= bound).all()
    expect = ref_macs(lambda a, b: ref_conv2d(a, b, s, p), x, w, c["pr"], c["pc"], 1, 0)
    assert macs.dtype == np.int64 and np.array_equal(macs, expect)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases, data=st.data())
def test_conv_transpose2d_matches_reference(case, data):
    c = case
    s, p = c["stride"], c["padding"]
    op = data.draw(st.integers(0, s - 1))
    h, wd = c["h"], c["w"]
    assume((h - 1) * s - 2 * p + c["kh"] + op >= 1 and (wd - 1) * s - 2 * p + c["kw"] + op >= 1)
    rng = np.random.default_rng(c["seed"])
    x = random_sparse(rng, (c["batch"], c["c_in"], h, wd), c["x_density"], c["dtype"])
    w = random_sparse(rng, (c["c_in"], c["c_out"], c["kh"], c["kw"]), c["w_density"])
    y, macs = conv_transpose2d(x, w, s, p, c["pr"], c["pc"], output_padding=op)
    ref = ref_conv_transpose2d(x, w, s, p, op)
    assert y.dtype == np.float32 and y.shape == ref.shape
    bound = 1e-5 * ref_conv_transpose2d(np.abs(x), np.abs(w), s, p, op) + 1e-30
    assert (np.abs(y - ref) <= bound).all()
    expect = ref_macs(lambda a, b: ref_conv_transpose2d(a, b, s, p, op), x, w, c["pr"], c["pc"],
                      0, 1)
    assert np.array_equal(macs, expect)


def test_conv2d_matches_scipy_correlate():
    rng = np.random.default_rng(5)
    x = random_sparse(rng, (2, 3, 9, 7), 0.6)
    w = random_sparse(rng, (4, 3, 3, 2), 0.5)
    y, _ = conv2d(x, w, 1, 1, 2, 2)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.array([[sum(scipy.signal.correlate(xp[b, ci], w[co, ci], mode="valid")
                         for ci in range(3)) for co in range(4)] for b in range(2)])
    assert np.allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("s", "p", "k"), [(1, 0, 3), (2, 1, 3), (3, 2, 4), (2, 0, 1)])
def test_conv_transpose_is_adjoint_of_conv(s, p, k):
    """<conv2d(x, w), g> == <x, conv_transpose2d(g, w)> with the same weight tensor."""
    rng = np.random.default_rng(6)
    x = random_sparse(rng, (2, 3, 11, 10), 0.7)
    w = random_sparse(rng, (5, 3, k, k), 0.6)
    y, _ = conv2d(x, w, s, p)
    g = random_sparse(rng, y.shape, 0.8)
    op = (x.shape[2] - ((y.shape[2] - 1) * s - 2 * p + k), x.shape[3] - ((y.shape[3] - 1) * s
                                                                         - 2 * p + k))
    xt, _ = conv_transpose2d(g, w, s, p, output_padding=op)
    assert xt.shape == x.shape
    lhs = np.vdot(y.astype(np.float64), g)
    rhs = np.vdot(x.astype(np.float64), xt)
    assert np.isclose(lhs, rhs, rtol=1e-5)


def test_conv_all_zero_and_dense():
    x = np.ones((2, 4, 5, 5), dtype=np.float32)
    w = np.ones((6, 4, 3, 3), dtype=np.float32)
    y, macs = conv2d(x, w, 1, 0, 2, 3)
    assert (y == 36).all() and macs.sum() == 2 * 6 * 9 * 36
    assert (macs == macs[0, 0]).all()
    y, macs = conv2d(np.zeros_like(x), w, 1, 1, 2, 3)
    assert not y.any() and not macs.any()
    y, macs = conv_transpose2d(x, np.zeros((4, 2, 3, 3)), 2, 0, 2, 2)
    assert not y.any() and not macs.any()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 5, 3, 3))), "5"),
        (lambda: conv2d(np.ones((2, 4, 4)), np.ones((3, 2, 3, 3))), "(2, 4, 4)"),
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), stride=0), "stride"),
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), padding=-1), "-1"),
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), padding=(1, 2, 3)),
         "(1, 2, 3)"),
        (lambda: conv2d(np.ones((1, 2, 2, 2)), np.ones((3, 2, 5, 5))), "5x5"),
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), pr=0), "pr"),
        (lambda: conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 0, 3))), "(3, 2, 0, 3)"),
        (lambda: conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3))), "3"),
        (lambda: conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 3)), stride=2,
                                  output_padding=2), "output_padding=2"),
        (lambda: conv_transpose2d(np.ones((1, 2, 1, 1)), np.ones((2, 2, 1, 1)), padding=1),
         "padding=1"),
        (lambda: conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 3)),
                                  output_padding=-1), "-1"),
        (lambda: conv2d(np.ones((1, 2, 4, 4), complex), np.ones((3, 2, 3, 3))), "complex"),
    ],
)
def test_bad_arguments_name_the_value(call, needle):
    with pytest.raises(KernelArgumentError) as info:
        call()
    assert needle in str(info.value)
