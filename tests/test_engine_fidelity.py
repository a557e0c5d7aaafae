"""The mechanisms of the engine-fidelity issue: the training schedule, host ingress, the ramp
and SRAM port, the color budget, FIFOs from SRAM and a monotone placer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.errors import PlacementError
from wse_sim.graph import Graph
from wse_sim.kernels.routes import DIR_E
from wse_sim.kernels.schedule import train_schedule
from wse_sim.models import get
from wse_sim.spec import Physics


# ---- the schedule kernel against a hand computation ----------------------------------------
def test_sync_step_is_the_max_plus_makespan_of_a_three_stage_toy():
    # a chain of 3 stages, forward 1 cycle, backward 2, two samples; warm-ups 5, 3, 1 (the
    # samples each stashes). By hand, region by region in 1F1B order:
    #   stage 2 (F0 B0 F1 B1): F0 2-3, B0 3-5, F1 5-6 (its input was ready at 3), B1 6-8
    #   stage 1 (F0 F1 B0 B1): F0 1-2, F1 2-3, B0 5-7 (after stage 2's B0), B1 8-10
    #   stage 0 (F0 F1 B0 B1): F0 0-1, F1 1-2, B0 7-9, B1 10-12
    tf, tb = np.ones((2, 3)), 2 * np.ones((2, 3))
    fs, fe, bs, be = train_schedule(tf, tb, [5, 3, 1], [0, 1], [1, 2])
    assert fs.tolist() == [[0, 1, 2], [1, 2, 5]]
    assert be.tolist() == [[9, 7, 5], [12, 10, 8]]
    assert float(be.max()) == 12.0
    # an edge latency of 3 cycles each way delays every dependency by exactly that
    _, _, _, be3 = train_schedule(tf, tb, [5, 3, 1], [0, 1], [1, 2], delay=3.0)
    assert be3[0, 0] == 9 + 4 * 3  # four edge crossings on sample 0's path


def test_fifo_of_one_sample_holds_the_producer_back():
    rng = np.random.default_rng(0)
    tf = rng.uniform(1, 10, (40, 4))  # per-sample work that really varies
    tb = 2 * tf
    warm, src, dst = [7, 5, 3, 1], [0, 1, 2], [1, 2, 3]
    deep = train_schedule(tf, tb, warm, src, dst, fifo=16)[3].max()
    shallow = train_schedule(tf, tb, warm, src, dst, fifo=1)[3].max()
    assert shallow > deep


# ---- the schedule in simulate() -------------------------------------------------------------
SMALL = ws.wafer("tiny", rows=64, cols=64)  # holds the 28 x 28 CVAE as one pipeline


def place_pipe(graph, **kw):
    """One pipeline on SMALL (in 'auto' weight streaming is predicted faster there)."""
    return ws.place(graph, SMALL, mode="pipelined", replicas=1, **kw)


@pytest.fixture(scope="module")
def cvae_plan():
    return place_pipe(get("cvae"))


def test_async_is_never_slower_than_sync_and_reports_staleness(cvae_plan):
    # whole samples: the CVAE's first stage is its bottleneck, so when stages stream the
    # sync bubble all but vanishes (tests/test_pipeline_streaming.py covers that schedule)
    whole = place_pipe(get("cvae"), physics=Physics(granularity="sample"))
    sync = ws.simulate(whole, schedule="sync", samples=16)
    asyn = ws.simulate(whole, schedule="async", samples=16)
    assert asyn.samples_per_s >= sync.samples_per_s
    assert sync.schedule == "sync" and sync.weight_staleness_steps == 0
    assert asyn.schedule == "async" and asyn.weight_staleness_steps > 0
    assert asyn.bubble_fraction == 0 and 0 < sync.bubble_fraction < 1


def test_a_larger_batch_amortises_the_bubble():
    g = get("cvae")
    bubbles = []
    for batch in (8, 32, 128):  # whole samples (see above)
        plan = place_pipe(g, batch=batch, physics=Physics(granularity="sample"))
        bubbles.append(ws.simulate(plan, schedule="sync", samples=16).bubble_fraction)
    assert bubbles[0] > bubbles[1] > bubbles[2]


def test_sync_is_the_default_and_inference_has_no_bubble(cvae_plan):
    assert ws.simulate(cvae_plan, samples=8).schedule == "sync"
    plan = place_pipe(get("cvae"), training=False)
    r = ws.simulate(plan, samples=8)
    assert r.schedule == "inference" and r.bubble_fraction == 0


def test_unknown_schedule_names_the_choices(cvae_plan):
    with pytest.raises(ws.SimulationError, match="sync"):
        ws.simulate(cvae_plan, schedule="lockstep")


# ---- ingress --------------------------------------------------------------------------------
def _mlp(n_in: int = 4096) -> Graph:
    g = Graph("mlp")
    x = g.input("x", (n_in,))
    g.loss("loss", g.dense("fc2", g.relu("r", g.dense("fc1", x, 64)), 8))
    return g


def test_more_replicas_pay_more_traffic_at_the_io_edge():
    spec = ws.wafer("tiny", rows=16, cols=64)
    edge = []
    for r in (2, 4):
        plan = ws.place(_mlp(), spec, replicas=r)
        res = ws.simulate(plan, samples=8)
        edge.append(float(res.link_loads[:, 0, DIR_E].sum()))  # links leaving the west column
    assert edge[1] > edge[0] > 0
    off = ws.simulate(ws.place(_mlp(), spec, replicas=4, physics=Physics(ingress=False)),
                      samples=8)
    assert float(off.link_loads[:, 0, DIR_E].sum()) < edge[1]


def test_a_slow_host_link_bounds_the_wafer():
    # pipelined: the host feed of a pipeline (weight streaming's inputs are its own case)
    fast = ws.simulate(ws.place(_mlp(), ws.wafer("tiny"), mode="pipelined"), samples=8)
    slow_spec = ws.wafer("tiny", offwafer_bytes_per_s=1e6)
    slow = ws.simulate(ws.place(_mlp(), slow_spec, mode="pipelined"), samples=8)
    assert slow.samples_per_s < fast.samples_per_s / 10
    assert any(s.bound == "ingress" for s in slow.stages)


# ---- ramp, colors, FIFOs --------------------------------------------------------------------
def test_a_narrow_ramp_slows_a_stage_and_is_named():
    g = _mlp(512)
    wide = ws.simulate(ws.place(g, ws.wafer("tiny", wavelet_overhead_cycles=0.0)), samples=8)
    narrow = ws.simulate(ws.place(g, ws.wafer("tiny", wavelet_overhead_cycles=0.0,
                                              ramp_wavelets_per_cycle=0.01)), samples=8)
    assert narrow.samples_per_s < wide.samples_per_s
    assert any(s.bound == "ramp" for s in narrow.stages)


def test_a_placement_over_the_color_budget_is_refused_with_the_router_named():
    g = get("cvae")
    few = SMALL.replace(colors=3)
    with pytest.raises(PlacementError, match=r"router \(\d+, \d+\).*colors=3"):
        ws.place(g, few, replicas=1, mode="pipelined")
    plan = ws.place(g, few, replicas=1, mode="pipelined", physics=Physics(colors=False))
    assert plan.routers_over_color_budget > 0


def test_fifo_depth_changes_throughput_where_per_sample_work_varies(cvae_plan):
    """Contact-map inputs make the CVAE's per-sample work vary; a stage that can buffer one
    sample only stalls its producer more often than one that buffers eight."""
    from wse_sim.models.data import default_inputs

    rates = []
    whole = place_pipe(get("cvae"), physics=Physics(granularity="sample"))
    for depth in (1, 8):  # whole samples: a streaming stage buffers chunks (see above)
        stages = tuple(dataclasses.replace(st, fifo_samples=depth) for st in whole.stages)
        plan = dataclasses.replace(whole, stages=stages)
        r = ws.simulate(plan, samples=32, activations="functional", inputs=default_inputs)
        rates.append(r.samples_per_s)
    assert rates[1] > rates[0]


def test_fifo_depths_follow_the_sram_left(cvae_plan):
    """Every stage buffers at least one sample; a stage whose cores have more SRAM left holds
    more samples per byte of input it receives."""
    depths = np.array([st.fifo_samples for st in cvae_plan.stages])
    assert (depths >= 1).all() and depths.max() > depths.min()
    fixed = place_pipe(get("cvae"), physics=Physics(fifo=False))
    assert {st.fifo_samples for st in fixed.stages} == {SMALL.buffer_depth}


# ---- a monotone placer ----------------------------------------------------------------------
RESOURCES = [("link_wavelets_per_cycle", 2.0), ("sram_bytes_per_core", 2), ("clock_hz", 2.0),
             ("sram_read_bytes_per_cycle", 2), ("rows", 2)]  # clock: 0.85 -> 1.7 GHz


@pytest.mark.parametrize("model", ["cvae", "resnet50"])
@pytest.mark.parametrize(("field", "factor"), RESOURCES)
def test_more_of_a_resource_never_predicts_slower(model, field, factor):
    base = ws.wafer("wse2")
    g = get(model)
    value = getattr(base, field) * factor
    change = {field: type(getattr(base, field))(value)}
    if field == "clock_hz":  # a faster part is rated for it
        change["clock_max_hz"] = value
    # a hand-built wafer (not named after a preset): the placer still re-evaluates the
    # placement of the largest preset whose mesh it holds, and keeps the engine's faster
    more = base.replace(name="hand-built", **change)
    r0 = ws.simulate(ws.place(g, base), samples=16)
    r1 = ws.simulate(ws.place(g, more), samples=16)
    assert r1.samples_per_s >= r0.samples_per_s, (field, r0.samples_per_s,
                                                          r1.samples_per_s)


@pytest.mark.parametrize("model", ["cvae", "resnet50"])
def test_the_clock_scales_throughput_exactly_unless_the_host_link_binds(model):
    # pipelined: weight streaming's memory service does not speed up with the clock either
    g, off = get(model), Physics(ingress=False)
    slow, fast = ws.wafer("wse2"), ws.wafer("wse2", clock_hz=1.7e9, clock_max_hz=1.7e9)
    r0 = ws.simulate(ws.place(g, slow, physics=off, mode="pipelined"), samples=16)
    r1 = ws.simulate(ws.place(g, fast, physics=off, mode="pipelined"), samples=16)
    assert r1.samples_per_s == pytest.approx(2.0 * r0.samples_per_s, rel=1e-9)
    # the host link does not speed up with the wafer's clock: with ingress the gain is at
    # most 2x, and less only where a stage is then bound by the host feed
    h0 = ws.simulate(ws.place(g, slow, mode="pipelined"), samples=16)
    h1 = ws.simulate(ws.place(g, fast, mode="pipelined"), samples=16)
    assert h1.samples_per_s <= 2.0 * h0.samples_per_s * (1 + 1e-9)
    if h1.samples_per_s < 1.999 * h0.samples_per_s:
        assert any(s.bound == "ingress" for s in h1.stages)


# ---- measured densities set the traffic too -------------------------------------------------
def test_overridden_densities_scale_the_flows_into_a_stage(cvae_plan):
    base = ws.simulate(cvae_plan, samples=8)
    r = ws.simulate(cvae_plan, samples=8, densities={"enc.conv2": 0.1})
    s = next(i for i, st in enumerate(cvae_plan.stages) if st.heavy == "enc.conv2")
    ratio = 0.1 / cvae_plan.stages[s].in_density
    for f0, f1 in zip(cvae_plan.flows, r.placement.flows, strict=True):
        assert f1.wavelets == pytest.approx(f0.wavelets * (ratio if f0.dst == s else 1.0))
    assert r.wavelet_hops_per_sample < base.wavelet_hops_per_sample
