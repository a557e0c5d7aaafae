"""The one-pass stage costing (kernels/stage_costs, kernels/region_links) of the engine and the
placer gives the same bits as the array cost model it replaces: ``region_costs`` per draw,
their mean, the placer's bounds, and ``fabric.link_loads`` over the regions' internal
traffic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import wse_sim as ws
from wse_sim.engine.sampling import sample_stages
from wse_sim.fabric import link_loads
from wse_sim.kernels.routes import DIR_E, DIR_N, DIR_S, DIR_W, add_link_rects
from wse_sim.kernels.stream import add_scaled
from wse_sim.kernels.tiles import splits
from wse_sim.mapping import Split, View, internal_bounds, region_costs, sample_x_counts
from wse_sim.mapping.bounds import stage_bounds
from wse_sim.models.bert import bert
from wse_sim.spec import Physics


def _graph(sparsity: float):
    g = bert(2, hidden=128, heads=2, ffn=512, seq_len=32, name="bert-mini")
    return ws.sparsify(g, sparsity, seed=0) if sparsity else g


def _reference(plan, training: bool, samples: int, seed: int):
    """The per-draw array form: region_costs for each draw, its bounds, and the mean arrays
    (draws added in order, then times 1 / n), drawing activations as the engine does."""
    rng = np.random.default_rng(seed)
    draws = 8 if plan.mode == "pipelined" else 2
    out = []
    for st, sd in zip(plan.stages, plan.data, strict=True):
        n = min(samples, draws) if (st.in_density < 1.0 or sd.view.one_hot) else 1
        xcs = [sample_x_counts(sd.view, st.in_density, st.split.groups, 1, rng)[0]
               for _ in range(n)]
        costs = {}
        for t in ((True, False) if training else (False,)):
            cs = [region_costs(sd.view, sd.rtn, xc, st.split, plan.wafer, dtype=sd.op.dtype,
                               training=t, first=st.first,
                               extra_vector_ops=sd.extra_vector_ops, batch=plan.batch,
                               nnz_total=sd.nnz, optimizer=False, ramp=plan.physics.ramp)
                  for xc in xcs]
            mean = {k: _mean([getattr(c, k) for c in cs]) for k in cs[0].__dataclass_fields__}
            costs[t] = ([internal_bounds(c, plan.wafer) for c in cs], mean)
        out.append(costs)
    return out


def _mean(arrs):
    acc = arrs[0]
    for x in arrs[1:]:
        acc = acc + x
    return acc * (1.0 / len(arrs)) if len(arrs) > 1 else acc


def _dens(plan):
    return [np.atleast_1d(st.in_density) for st in plan.stages]


@pytest.mark.parametrize("mode", ["pipelined", "weight_streaming"])
@pytest.mark.parametrize(("training", "sparsity", "ramp"),
                         [(True, 0.0, True), (False, 0.5, True), (True, 0.5, False)])
def test_sample_stages_match_region_costs(mode, training, sparsity, ramp):
    plan = ws.place(_graph(sparsity), ws.wafer("wse2", rows=60, cols=80), mode=mode,
                    training=training, physics=Physics(ramp=ramp))
    samples = 5
    ss = sample_stages(plan, _dens(plan), samples, training, plan.batch,
                       np.random.default_rng(3))
    ref = _reference(plan, training, samples, 3)
    macs = 0.0
    for s, costs in enumerate(ref):
        for t, pc in ((True, ss.total), (False, ss.forward)) if training else ((False,
                                                                               ss.total),):
            bounds, mean = costs[t]
            n = len(bounds)
            for i in range(samples):
                got = (pc.compute[i, s], pc.ramp[i, s], pc.link[i, s], pc.memory[i, s])
                assert got == bounds[i % n]
            links = pc.mean_costs[s]
            for k in ("row_wavelets", "col_wavelets", "bwd_row_wavelets", "bwd_col_wavelets"):
                assert np.array_equal(getattr(links, k), mean[k]), k
        mean_t = costs[training][1]
        assert np.array_equal(ss.core_cycles[s], plan.stages[s].split.to_physical(
            mean_t["compute_cycles"]))
        macs += float(mean_t["macs"].sum())
    assert ss.macs_per_sample == macs
    assert any(len(c[training][0]) > 1 for c in ref)  # some stage averages several draws


def _reference_rects(stage, cost, training, mult):
    """A region's link rectangles written out one by one (the geometry of fabric/flow.py's
    docstring): logical row i multicasts along b, column j reduces within its row group."""
    r0, c0 = stage.rect[:2]
    sp = stage.split
    along = (DIR_E, DIR_W) if sp.k_on_rows else (DIR_S, DIR_N)
    down = (DIR_S, DIR_N) if sp.k_on_rows else (DIR_E, DIR_W)
    bounds = splits(sp.a, sp.groups)
    out = []

    def add(d, lo_r, hi_r, lo_c, hi_c, w):  # (logical row span) x (logical column span)
        if sp.k_on_rows:
            out.append((d, r0 + lo_r, r0 + hi_r, c0 + lo_c, c0 + hi_c, w * mult))
        else:
            out.append((d, r0 + lo_c, r0 + hi_c, c0 + lo_r, c0 + hi_r, w * mult))

    for t in range(1 + training):
        if sp.b > 1:
            row_w = cost.row_wavelets if t == 0 else cost.bwd_row_wavelets
            for i in range(sp.a):
                add(along[t], i, i + 1, t, sp.b - 1 + t, row_w[i])
    for t in range(1 + training):
        if sp.a > 1:
            col_w = cost.col_wavelets if t == 0 else cost.bwd_col_wavelets
            for g in range(sp.groups):
                for j in range(sp.b):
                    add(down[t], bounds[g] + t, bounds[g + 1] - 1 + t, j, j + 1, col_w[g, j])
    return [r for r in out if r[2] > r[1] and r[4] > r[3]]


@pytest.mark.parametrize("mode", ["pipelined", "weight_streaming"])
@pytest.mark.parametrize("training", [True, False])
def test_link_loads_match_rectangles_written_out(mode, training):
    plan = ws.place(_graph(0.0), ws.wafer("wse2", rows=60, cols=80), mode=mode,
                    training=training)
    ss = sample_stages(plan, _dens(plan), 4, training, plan.batch, np.random.default_rng(0))
    got, hops = link_loads(plan.stages, ss.total.mean_costs, (), plan.tile_shape, training)
    groups = {}
    for st, c in zip(plan.stages, ss.total.mean_costs, strict=True):
        groups.setdefault((id(c), st.rect, st.split), [st, c, 0])[2] += 1
    rects = [r for st, c, m in groups.values() for r in _reference_rects(st, c, training, m)]
    want = np.zeros_like(got)
    cols = [np.array([r[k] for r in rects]) for k in range(6)]
    want_hops = add_link_rects(want, *[c.astype(np.int64) for c in cols[:5]], cols[5])
    assert want.any()  # the case carries traffic
    # stages sharing a rectangle are summed before listing: the same loads up to round-off
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert hops == pytest.approx(want_hops, rel=1e-12)


def test_add_scaled_is_numpys_sum_of_products():
    rng = np.random.default_rng(1)
    xs = [rng.random((7, 5)), rng.random((5, 7)).T, rng.random((7, 5))]
    acc = np.zeros((7, 5))
    for x in xs:
        add_scaled(acc, x, 3.0)
    assert np.array_equal(acc, sum(x * 3 for x in xs))
    with pytest.raises(ValueError):
        add_scaled(acc, rng.random((5, 7)), 1.0)


@settings(max_examples=150, deadline=None)
@given(hs.integers(0, 2**31), hs.sampled_from(["wse1", "wse2", "wse3"]),
       hs.integers(1, 60), hs.integers(1, 80), hs.integers(1, 50),
       hs.sampled_from([1, 2, 7, 100]), hs.booleans(), hs.sampled_from([1.0, 2.25, 0.37]),
       hs.integers(1, 11), hs.integers(1, 11), hs.booleans(), hs.sampled_from(["fp16", "fp32"]),
       hs.booleans(), hs.booleans(), hs.booleans())
def test_placer_bounds_match_the_array_cost_model(seed, wafer, k, n, rows, coarse, stored,
                                                  reuse, h, w, k_on_rows, dtype, training,
                                                  first, ramp):
    """stage_bounds == internal_bounds(region_costs(...)), bit for bit, optimizer share
    included: every view kind, orientation, group count, ramp and pass flags."""
    rng = np.random.default_rng(seed)
    spec = ws.wafer(wafer)
    view = View(rows, k, n, reuse=reuse, stored_weights=stored, heads=2 if not stored else 1,
                coarse=coarse)
    a = h if k_on_rows else w
    split = Split(h, w, k_on_rows, int(rng.integers(1, a + 1)))
    sizes = view.row_sizes()
    rtn = rng.binomial(sizes[:, None] * np.diff(splits(n, split.b))[None, :],
                       rng.choice([0.0, 0.3, 1.0])).astype(np.int64)
    r_g = np.diff(splits(rows, split.groups))
    xc = rng.binomial(r_g[:, None] * sizes[None, :], rng.choice([0.0, 0.5, 1.0])).astype(np.int64)
    kw = {"dtype": dtype, "training": training, "first": first, "ramp": ramp,
          "extra_vector_ops": float(rng.choice([0.0, 12345.678])),
          "batch": int(rng.choice([1, 3, 256])),
          "nnz_total": int(rng.choice([0, int(rtn.sum()), 12345]))}
    ref = region_costs(view, rtn, xc, split, spec, **kw)
    got, links = stage_bounds(view, rtn, xc, split, spec, **kw)
    assert got == internal_bounds(ref, spec)
    for f in ("row_wavelets", "col_wavelets", "bwd_row_wavelets", "bwd_col_wavelets"):
        assert np.array_equal(getattr(links, f), getattr(ref, f)), f
