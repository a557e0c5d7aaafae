"""Functional simulation of LLaMA-family graphs: RMSNorm, SiLU and rotary embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.functional import forward
from wse_sim.graph import Graph
from wse_sim.models import LlamaConfig, llama
from wse_sim.models.data import default_inputs


def _one_op(fn: str, shape: tuple, theta: float | None = None):
    g = Graph("t")
    x = g.input("x", shape)
    y = g.elementwise("y", fn, x)
    if theta is not None:
        g.replace_op(y, attrs={**g.op(y).attrs, "theta": theta})
    return g


@settings(max_examples=20, deadline=None)
@given(seq=st.integers(1, 9), half=st.integers(1, 8), theta=st.sampled_from([1e4, 5e5]),
       seed=st.integers(0, 2**16))
def test_rope_rotates_each_pair_keeping_norms_and_is_identity_at_position_0(seq, half, theta,
                                                                            seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, seq, 2 * half)).astype(np.float32)
    y = forward(_one_op("rope", (3, seq, 2 * half), theta), {"x": x})["y"]
    a, b = x[..., :half], x[..., half:]
    ya, yb = y[..., :half], y[..., half:]
    np.testing.assert_allclose(ya**2 + yb**2, a**2 + b**2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y[..., 0, :], x[..., 0, :], rtol=1e-6)
    if seq > 1:  # position 1, pair 0 turns by exactly 1 radian
        c, s = np.cos(1.0), np.sin(1.0)
        np.testing.assert_allclose(ya[..., 1, 0], a[..., 1, 0] * c - b[..., 1, 0] * s,
                                   rtol=1e-4, atol=1e-5)


def test_rope_rotation_is_relative():
    """q(m) . k(n) depends only on m - n: the property rotary embeddings exist for."""
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 8)).astype(np.float32)
    seq = 6
    g = _one_op("rope", (seq, 8))
    rq = forward(g, {"x": np.broadcast_to(q, (1, seq, 8)).copy()})["y"][0]
    rk = forward(g, {"x": np.broadcast_to(k, (1, seq, 8)).copy()})["y"][0]
    assert rq[3] @ rk[1] == pytest.approx(rq[4] @ rk[2], rel=1e-4)
    assert rq[3] @ rk[1] != pytest.approx(rq[3] @ rk[2], rel=1e-3)


def test_silu_is_x_times_sigmoid():
    x = np.linspace(-30, 30, 61, dtype=np.float32)[None]
    y = forward(_one_op("silu", (61,)), {"x": x})["y"]
    np.testing.assert_allclose(y, x / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(y))


def test_tiny_llama_runs_with_rms_norms_of_unit_rms():
    cfg = LlamaConfig(2, 16, 4, 2, 32, 50, 64)
    g = llama(cfg, seq_len=8)
    acts = forward(g, default_inputs(g, 2))
    assert acts["lm_head"].shape == (2, 8, 50) and np.all(np.isfinite(acts["lm_head"]))
    ln = acts["layer1.ln1"]
    np.testing.assert_allclose(np.sqrt(np.mean(ln**2, axis=-1)), 1.0, rtol=1e-3)
    assert np.abs(ln.mean(axis=-1)).max() > 1e-3  # RMS, not mean-centred LayerNorm
    assert g.op("layer0.q_rope").attrs["theta"] == cfg.rope_theta
