"""Graph IR pieces the importers need: grouped / depthwise / dilated conv2d, its matrix view,
ReLU6 / hard-swish, pad and RMS norm; counts by hand, and the mapping of a depthwise layer."""

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.graph import Graph
from wse_sim.graph.extra import pad, rmsnorm
from wse_sim.graph.op import ELEMENTWISE_FNS, RMSNORM_VECTOR_OPS
from wse_sim.mapping.view import view_of


@pytest.mark.parametrize("groups", [1, 2, 8, 32])
def test_grouped_conv_counts_by_hand(groups):
    g = Graph("g")
    x = g.input("x", (32, 14, 14))
    c = g.op(g.conv2d("c", x, 64, 3, stride=2, padding=1, groups=groups))
    assert c.out_shape == (64, 7, 7)
    assert c.weight_shape == (64, 32 // groups, 3, 3)
    assert c.params == 64 * (32 // groups) * 9 + 64
    assert c.macs_fwd == 64 * 7 * 7 * (32 // groups) * 9
    v = view_of(c)  # the per-group view: K is one group's im2col rows, N every output
    assert (v.rows, v.k, v.n) == (49, 32 // groups * 9, 64)
    assert v.rows * v.k / v.reuse == pytest.approx(32 * 14 * 14)  # every input pixel once


def test_dilation_spreads_the_taps():
    g = Graph("g")
    x = g.input("x", (4, 16, 16))
    same = g.op(g.conv2d("same", x, 4, 3, dilation=2))  # 'same' pads 2 for a span of 5
    valid = g.op(g.conv2d("valid", x, 4, 3, dilation=3, padding=0))  # span 7
    assert same.out_shape == (4, 16, 16) and same.attrs["padding"] == 2
    assert valid.out_shape == (4, 10, 10) and valid.macs_fwd == 4 * 100 * 4 * 9


def test_relu6_and_hard_functions():
    g = Graph("g")
    x = g.input("x", (10,))
    r6 = g.op(g.elementwise("r6", "relu6", x))
    hs = g.op(g.elementwise("hs", "hardswish", x))
    assert r6.out_density == 0.5 and hs.out_density == 1.0
    assert hs.vector_ops == ELEMENTWISE_FNS["hardswish"] * 10


def test_pad_and_rmsnorm_ops():
    g = Graph("g")
    x = g.input("x", (3, 4, 4))
    p = g.op(pad(g, "p", x, (0, 1, 2, 3)))
    assert p.kind == "reshape" and p.out_shape == (3, 5, 9)
    assert p.out_density == pytest.approx(16 / 45)
    s = g.input("s", (8, 16))
    r = g.op(rmsnorm(g, "r", s))
    assert r.params == 16 and r.attrs["norm"] == "rms" and r.vector_ops == 4 * 8 * 16


def test_rmsnorm_cost_is_the_llama_builders():
    """An imported RMS norm and the zoo's LLaMA norm cost the same work and parameters."""
    from wse_sim.models.llama import _rmsnorm

    a, b = Graph("a"), Graph("b")
    ia, ib = (g.input("x", (8, 16)) for g in (a, b))
    ra, rb = a.op(rmsnorm(a, "n", ia)), b.op(_rmsnorm(b, "n", ib))
    assert (ra.vector_ops, ra.params) == (rb.vector_ops, rb.params) \
        == (RMSNORM_VECTOR_OPS * 8 * 16, 16)


def _mobile_block(groups: int) -> Graph:
    g = Graph("block")
    x = g.input("x", (32, 28, 28))
    x = g.elementwise("r1", "relu6", g.conv2d("dw", x, 32, 3, groups=groups, bias=False))
    y = g.conv2d("pw", x, 64, 1, bias=False)
    g.loss("loss", g.dense("fc", g.pool("gap", y, kind="global_avg"), 10))
    return g


def test_depthwise_block_places_and_needs_less_work_than_dense():
    """The same block with a dense 3x3 conv has 32 times the MACs of the depthwise one; both
    place and simulate on WSE-2, and the depthwise one is not slower."""
    dw, dense = _mobile_block(32), _mobile_block(1)
    assert dense.op("dw").macs_fwd == 32 * dw.op("dw").macs_fwd
    w = ws.wafer("wse2")
    r_dw = ws.simulate(ws.place(dw, w, batch=8), batch=8)
    r_dense = ws.simulate(ws.place(dense, w, batch=8), batch=8)
    assert np.isfinite(r_dw.samples_per_s) and r_dw.samples_per_s >= r_dense.samples_per_s
