"""What every golden case must satisfy, whatever its numbers.

The golden files (``tests/golden/``) pin the model bit for bit, but they are regenerated on
purpose (``WSE_SIM_REGEN_GOLDEN=1``), so on their own they guard against change, not against
error. These tests read the same files and check properties a wrong model breaks: MACs
conserved and bounded by the graph, pruned weights removing their MACs, throughput under the
wafer's peak compute, a bubble in [0, 1), stage times consistent with the bottleneck and the
step, energy at least its static and MAC parts, a placement that fits, and a GPU baseline above
its roofline bound. ``tests/test_golden.py`` proves the fresh model equals the files, so the
properties hold for the fresh model too, and a regeneration that breaks one fails here.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from test_golden import CASES, GOLDEN, MODES  # tests/ is on sys.path (no __init__)

import wse_sim as ws
from wse_sim.models import get
from wse_sim.spec.presets import GPU_PRESETS

WAFER = ws.wafer("wse2")  # the wafer every golden case runs on (tests/test_golden.py)
REL = 1e-9


@functools.cache
def golden(case: str, mode: str) -> dict:
    return json.loads((GOLDEN / f"{case}.{mode}.json").read_text())


@functools.cache
def graph(case: str):
    name, kwargs, sparsity, _ = CASES[case]
    g = get(name, **kwargs)
    return ws.sparsify(g, weight_sparsity=sparsity, seed=0) if sparsity > 0 else g


def graph_macs(case: str, mode: str, pruned: bool = False) -> float:
    """The graph's dense MACs per sample for ``mode`` (or, with ``pruned``, the share its
    weight masks remove: op MACs x (1 - weight density))."""
    ops = graph(case).ops()
    per = (lambda o: o.training_macs) if mode == "train" else (lambda o: o.macs_fwd)
    return float(sum(per(o) * ((1.0 - o.weight_density) if pruned else 1.0) for o in ops))


ALL = [(c, m) for c in sorted(CASES) for m in MODES]
ids = [f"{c}.{m}" for c, m in ALL]


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_macs_are_positive_and_never_above_the_dense_graph(case, mode):
    d = golden(case, mode)
    assert 0 < d["macs_per_sample"] <= graph_macs(case, mode) * (1 + REL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_runs_two_to_three_passes_of_the_forward_macs(case):
    """Forward, weight gradient and input gradient (none for the op reading graph input)."""
    ratio = golden(case, "train")["macs_per_sample"] / golden(case, "infer")["macs_per_sample"]
    # 5%: activation zeros are drawn per region, and the train and infer placements differ
    # (cvae-28 with one replica draws its ReLU zeros over few row groups: 3.09)
    assert 2.0 <= ratio <= 3.0 * 1.05


@pytest.mark.parametrize("mode", MODES)
def test_pruned_weights_remove_exactly_their_macs(mode):
    """BERT-Large at weight sparsity 0.5 against dense: the MACs removed are the pruned
    weights' share of the graph (harvested from the masks, not discounted)."""
    sparse = [c for c, (_, _, s, _) in CASES.items() if s > 0]
    assert sparse
    for case in sparse:
        dense = next(c for c, v in CASES.items() if v[:2] == CASES[case][:2] and v[2] == 0)
        got = golden(case, mode)["macs_per_sample"] / golden(dense, mode)["macs_per_sample"]
        want = 1.0 - graph_macs(case, mode, pruned=True) / graph_macs(case, mode)
        assert got == pytest.approx(want, rel=5e-3)


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_throughput_never_beats_peak_compute_of_the_cores_used(case, mode):
    d = golden(case, mode)
    lanes = WAFER.fmac_per_cycle(graph(case).dtype)
    assert d["cores_used"] <= WAFER.cores
    assert d["samples_per_s"] * d["macs_per_sample"] <= d["cores_used"] * lanes * d["clock_hz"]


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_bubble_is_a_fraction_and_only_sync_training_has_one(case, mode):
    d = golden(case, mode)
    assert 0.0 <= d["bubble_fraction"] < 1.0
    if mode == "infer" or d["execution"] != "pipelined" or d["schedule"] != "sync":
        assert d["bubble_fraction"] == 0.0
    elif len(d["stages"]) > 1:
        assert d["bubble_fraction"] > 0.0  # a pipeline of several stages must fill and drain


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_stage_times_are_consistent_with_the_bottleneck_and_the_step(case, mode):
    """Physical bounds, not bookkeeping: each replica's slowest stage handles every sample, so
    it bounds the period from below; a pipeline is never slower than running its stages one
    after another; the sync bubble is the step's idle share at the bottleneck."""
    d = golden(case, mode)
    rows, s = d["stages"], d["settings"]
    t = np.array([r["stage_cycles"] for r in rows])
    for r in rows:  # a stage's time is the largest of its bounds
        assert r["stage_cycles"] >= max(r["compute_cycles_max"], r["link_cycles_max"],
                                        r["memory_cycles"]) * (1 - REL)
    b = d["bottleneck"]
    assert b["stage"] == int(np.argmax(t)) and rows[b["stage"]]["bound"] == b["kind"]
    batch, period = s["batch"], s["period_cycles"]
    assert period >= 0.99 * t.max()  # 1%: per-sample draws scatter around the stage means
    if d["execution"] == "pipelined":
        assert d["samples_per_s"] <= d["replicas"] * d["clock_hz"] / (0.99 * t.max())
    if mode == "infer" and d["execution"] == "pipelined":
        assert period <= t.sum() * (1 + REL)
    if mode == "train" and d["execution"] == "pipelined" and d["schedule"] == "sync":
        sched = batch * period - s["allreduce_cycles_per_step"]  # the schedule's own step
        assert sched >= batch * t.max() * (1 - REL)
        # the bubble is the share of the step that is not the bottleneck region's own work
        # (docs/modeling.md rule 8): between its forward/backward share and that plus the update
        update = max(r["update_cycles"] for r in rows)
        assert (1 - (batch * t.max() + update) / sched - 1e-6 <= d["bubble_fraction"]
                <= 1 - batch * t.max() / sched + REL)


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_energy_covers_static_power_and_the_macs_and_hops(case, mode):
    d = golden(case, mode)
    floor = (WAFER.static_power_w / d["samples_per_s"]
             + (d["macs_per_sample"] * WAFER.energy_pj_per_fmac
                + d["wavelet_hops_per_sample"] * WAFER.energy_pj_per_wavelet_hop) * 1e-12)
    assert d["energy_j_per_sample"] >= floor * (1 - REL)
    assert d["power_w"] == pytest.approx(d["energy_j_per_sample"] * d["samples_per_s"], rel=REL)


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_placement_fits_the_wafer_its_sram_and_its_colors(case, mode):
    p = golden(case, mode)["placement"]
    h, w = p["tile_shape"]
    assert p["replicas"] * h * w <= WAFER.cores and p["cores_used"] <= WAFER.cores
    assert p["sram_peak_fraction"] <= 1.0 and 0 < p["utilization"] <= 1.0
    assert p["routers_over_color_budget"] == 0 and p["max_colors_per_router"] <= WAFER.colors
    if p["mode"] == "pipelined":  # stage rectangles inside the tile, none overlapping
        owner = np.zeros((h, w), dtype=np.int64)
        for st in p["stages"]:
            r0, c0, rh, cw = st["rect"]
            assert r0 >= 0 and c0 >= 0 and r0 + rh <= h and c0 + cw <= w
            owner[r0:r0 + rh, c0:c0 + cw] += 1
        assert owner.max() == 1


@pytest.mark.parametrize("case, mode", ALL, ids=ids)
def test_gpu_baseline_sits_above_its_roofline_and_adds_up(case, mode):
    g = golden(case, mode)["gpu_baseline"]
    spec = GPU_PRESETS[g["gpu"]]
    peak = spec.fp16_tensor_flops if g["precision"] == "mixed" else spec.fp32_flops
    phases: dict[str, float] = {}
    for op in g["ops"]:
        bound = max(op["flops"] / peak, op["bytes"] / spec.hbm_bytes_per_s)
        assert op["time_s"] >= bound * (1 - REL), op["op"]
        phases[op["phase"]] = phases.get(op["phase"], 0.0) + op["time_s"]
    assert phases["fwd"] == pytest.approx(g["forward_time_s"], rel=1e-6)
    assert sum(phases.values()) == pytest.approx(g["compute_time_s"], rel=1e-6)
    assert g["step_time_s"] >= g["compute_time_s"] * (1 - REL)
    assert g["samples_per_s"] == pytest.approx(g["global_batch"] / g["step_time_s"], rel=REL)
    assert g["memory_bytes_per_gpu"] <= g["memory_capacity_bytes"]


@pytest.mark.parametrize("mode", MODES)
def test_unstructured_sparsity_does_not_speed_up_a_gpu_without_it(mode):
    """The V100 has no sparse tensor cores: BERT-Large at weight sparsity 0.5 takes the dense
    time there (the wafer harvests it: see the MAC test above)."""
    gs, gd = (golden(c, mode) for c in ("bert-large-s50", "bert-large"))
    assert gs["gpu_baseline"]["gpu"] == "v100"
    assert gs["gpu_baseline"]["step_time_s"] == gd["gpu_baseline"]["step_time_s"]
