"""simulate(): properties a wrong engine would break (issue: the cycle-approximate engine)."""

import json

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.errors import SimulationError
from wse_sim.graph import Graph


def mlp(n_in=1024, n_out=1024, rows=64, density=1.0, layers=1):
    """``layers`` dense layers on ``rows`` activation rows per sample."""
    g = Graph("mlp")
    x = g.input("x", (rows, n_in), density=density)
    for i in range(layers):
        x = g.dense(f"fc{i}", x, n_out if i == layers - 1 else n_in)
    g.meta["batch_default"] = 8
    return g


def run(graph, wafer=None, mode="infer", **kw):
    # as many replicas as predict fastest: what these cases were written for (place() itself
    # makes one replica)
    wafer = wafer or ws.wafer("tiny")
    place_kw = {"replicas": kw.pop("replicas", "auto"), "mode": kw.pop("placement", "auto")}
    plan = ws.place(graph, wafer, training=(mode == "train"), **place_kw)
    return ws.simulate(plan, mode=mode, **kw)


def test_halving_the_clock_halves_a_compute_bound_model():
    g = mlp()
    w = ws.wafer("tiny")
    fast = run(g, w)
    slow = run(g, w.replace(clock_hz=w.clock_hz / 2))
    assert fast.bottleneck_kind == "compute"
    assert slow.samples_per_s == pytest.approx(fast.samples_per_s / 2, rel=1e-12)


def fabric_bound():
    """Few outputs per core: each received activation feeds ~1 MAC, so the links (one
    wavelet per cycle) saturate long before the SIMD lanes; no per-wavelet task cost. Place it
    with ``placement="pipelined"``: in 'auto' weight streaming (each tile a whole sample, far
    less fabric per MAC) is predicted faster and chosen."""
    return mlp(n_in=4096, n_out=8, rows=256), ws.wafer("tiny", wavelet_overhead_cycles=0.0)


def test_fabric_and_compute_bound_graphs_say_so():
    g, w = fabric_bound()
    assert run(g, w, placement="pipelined").bottleneck_kind == "fabric"
    assert run(mlp(), ws.wafer("tiny")).bottleneck_kind == "compute"


def test_wider_links_never_slow_down_and_speed_up_a_fabric_bound_stage():
    g, w = fabric_bound()
    narrow = run(g, w, placement="pipelined")
    wide = run(g, w.replace(link_wavelets_per_cycle=2.0), placement="pipelined")
    assert wide.samples_per_s > narrow.samples_per_s * 1.2
    g2 = mlp()
    w2 = ws.wafer("tiny")
    assert run(g2, w2.replace(link_wavelets_per_cycle=2.0)).samples_per_s >= \
        run(g2, w2).samples_per_s


@pytest.mark.parametrize("s", [0.5, 0.75, 0.9])
def test_weight_sparsity_speedup_is_real_but_below_ideal(s):
    g = mlp(2048, 2048, 128)
    w = ws.wafer("tiny")
    dense = run(g, w, replicas=1)
    sparse = run(ws.sparsify(g, s, seed=1), w, replicas=1)
    speedup = sparse.samples_per_s / dense.samples_per_s
    assert 1.0 < speedup < 1.0 / (1.0 - s)
    row = sparse.stages[0]
    assert row.compute_cycles_max / row.compute_cycles_mean > 1.0  # tile imbalance is real


def test_activation_zeros_cut_wavelets_and_cycles():
    w = ws.wafer("tiny")
    dense = run(mlp(256, 256, density=1.0, layers=2), w, mode="train", replicas=1,
                placement="pipelined")
    sparse = run(mlp(256, 256, density=0.2, layers=2), w, mode="train", replicas=1,
                 placement="pipelined")
    assert dense.execution == sparse.execution == "pipelined"
    assert sparse.wavelet_hops_per_sample < dense.wavelet_hops_per_sample
    assert sparse.stages[0].compute_cycles_mean < dense.stages[0].compute_cycles_mean
    assert sparse.macs_per_sample < dense.macs_per_sample


def test_shallow_buffers_never_beat_deep_ones():
    g = mlp(512, 512, 64, density=0.3, layers=4)
    w = ws.wafer("tiny")
    shallow = run(g, w.replace(buffer_depth=1), samples=48, replicas=1)
    deep = run(g, w.replace(buffer_depth=8), samples=48, replicas=1)
    assert shallow.samples_per_s <= deep.samples_per_s


def test_same_seed_bit_identical_and_one_core_works():
    g = mlp(256, 256, 16, density=0.5, layers=3)
    a = run(g, mode="train", seed=4, samples=16)
    b = run(g, mode="train", seed=4, samples=16)
    da, db = a.to_dict(), b.to_dict()
    da.pop("sim_wall_s"), db.pop("sim_wall_s")
    assert da == db
    assert np.array_equal(a.link_loads, b.link_loads)
    assert np.array_equal(a.busy_fraction, b.busy_fraction)
    one = Graph("one")
    one.dense("fc", one.input("x", (2, 8)), 8)
    r = run(one, ws.wafer("tiny", rows=1, cols=1), samples=4)
    assert r.samples_per_s > 0 and r.cores_used == 1


def test_result_shapes_json_and_energy():
    r = run(mlp(256, 256, layers=2), mode="train", samples=8, placement="pipelined")
    spec = ws.wafer("tiny")
    assert r.busy_fraction.shape == (spec.rows, spec.cols)
    assert r.link_loads.shape == (spec.rows, spec.cols, 4)
    assert r.stage_id.shape == r.sram_bytes.shape == (spec.rows, spec.cols)
    assert 0 <= r.busy_fraction.min() and r.busy_fraction.max() <= 1.0
    d = json.loads(json.dumps(r.to_dict()))
    assert d["bottleneck"]["kind"] in ("compute", "fabric", "memory")
    assert d["settings"]["mode"] == "train" and d["execution"] == "pipelined"
    # energy: at least the static power's share, and power = energy x rate
    assert r.energy_j_per_sample > spec.static_power_w / r.samples_per_s
    assert r.power_w == pytest.approx(r.energy_j_per_sample * r.samples_per_s)


def test_training_costs_more_than_inference():
    g = mlp(layers=3)
    assert run(g, mode="train").samples_per_s < run(g, mode="infer").samples_per_s


def test_weight_streaming_runs_layer_by_layer():
    g = mlp(1024, 1024, 64, layers=3)
    plan = ws.place(g, ws.wafer("tiny"), mode="weight_streaming")
    r = ws.simulate(plan, mode="train")
    assert r.execution == "weight_streaming"
    slow_io = ws.simulate(ws.place(g, ws.wafer("tiny", offwafer_bytes_per_s=1e6),
                                   mode="weight_streaming"), mode="train")
    assert slow_io.bottleneck_kind in ("weight_stream", "gradient_stream")
    assert slow_io.samples_per_s < r.samples_per_s


def test_bad_settings_are_clear_errors():
    plan = ws.place(mlp(), ws.wafer("tiny"), training=False)
    with pytest.raises(SimulationError, match="train"):
        ws.simulate(plan, mode="train")
    with pytest.raises(SimulationError, match="sideways"):
        ws.simulate(plan, mode="sideways")
    with pytest.raises(SimulationError, match="0"):
        ws.simulate(plan, samples=0)
    with pytest.raises(SimulationError, match="magic"):
        ws.simulate(plan, activations="magic")


def test_functional_and_synthetic_agree_at_the_measured_densities():
    from wse_sim.functional import mean_densities
    from wse_sim.models import get
    from wse_sim.models.data import default_inputs

    g = get("cvae", map_size=28)
    plan = ws.place(g, ws.wafer("tiny", rows=48, cols=48), training=True)
    functional = ws.simulate(plan, activations="functional", samples=16, inputs=default_inputs)
    measured = mean_densities(g, default_inputs, n_samples=8, seed=0)
    synthetic = ws.simulate(plan, samples=16,
                            densities={s.heavy: measured[s.heavy] for s in plan.stages})
    assert synthetic.samples_per_s == pytest.approx(functional.samples_per_s, rel=0.10)
    with pytest.raises(SimulationError, match="nosuchop"):
        ws.simulate(plan, densities={"nosuchop": 0.5})
