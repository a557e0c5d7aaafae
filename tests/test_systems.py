"""Weight streaming on systems (issue 23): micro-batches, streams, the memory service and N
systems in data parallel. Small graphs on the 16 x 16 ``tiny`` wafer; each test breaks if the
mechanism it names is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.graph import Graph
from wse_sim.models.gpt import gpt
from wse_sim.spec import Physics
from wse_sim.spec.system import system_for

TINY = ws.wafer("tiny")


def cs2_tiny(**kw) -> ws.SystemSpec:
    return ws.system("cs2", **kw).replace(wafer=TINY)


def mlp(width=256, rows=32, layers=3) -> Graph:
    g = Graph("mlp")
    x = g.input("x", (rows, width))
    for i in range(layers):
        x = g.dense(f"fc{i}", x, width)
    g.meta["batch_default"] = 8
    return g


def small_gpt(seq=64):
    return gpt(2, 64, 2, seq, vocab=512, max_positions=seq, name="gpt-small-test")


def run(graph, system, batch, **kw):
    plan = ws.place(graph, system, training=True, batch=batch, **kw)
    return plan, ws.simulate(plan, mode="train", batch=batch)


def test_presets_and_tree():
    s = ws.system("cs2", n=4)
    assert s.wafer.name == "wse2" and s.n_systems == 4 and s.tree_levels == 1
    assert ws.system("cs3", n=16).tree_levels == 2 and ws.system("cs3", n=17).tree_levels == 3
    assert ws.system("cs1").tree_levels == 0
    assert set(ws.SYSTEM_PRESETS) == {"cs1", "cs2", "cs3"}
    # the stream runs at the least of the service, the wafer's I/O and (N > 1) the tree
    slow_tree = ws.system("cs2", n=2, interconnect_bytes_per_s=1e9)
    assert slow_tree.stream_bytes_per_s == 1e9
    assert slow_tree.replace(n_systems=1).stream_bytes_per_s == 150e9


def test_one_system_is_the_one_wafer_result():
    g = small_gpt()
    plain = ws.simulate(ws.place(g, TINY, mode="weight_streaming", batch=8), batch=8)
    one = ws.simulate(ws.place(g, system_for(TINY), batch=8), batch=8)
    short = ws.simulate(ws.place(g, TINY, systems=1, batch=8), batch=8)
    assert plain.samples_per_s == one.samples_per_s == short.samples_per_s
    assert one.systems == 1 and one.scaling_efficiency == 1.0


def test_one_micro_batch_streams_weights_twice_and_gradients_once():
    g = mlp()
    plan, r = run(g, cs2_tiny(), batch=4)
    assert r.micro_batch == 4 and r.settings["micro_batches"] == [4]
    weights = sum(op.weight_count for op in g.ops() if op.weight_count) * 2  # fp16
    assert r.memory_service["weight_bytes_per_step"] == pytest.approx(2 * weights)
    assert r.memory_service["gradient_bytes_per_step"] == pytest.approx(weights)
    assert r.memory_service["spill_bytes_per_step"] == 0


def test_larger_micro_batch_never_streams_more_weight_bytes_per_sample():
    g = mlp()
    per_sample = []
    for m in (1, 2, 3, 4, 8):
        _, r = run(g, cs2_tiny(), batch=8, micro_batch=m)
        assert r.micro_batch == m
        per_sample.append(r.memory_service["weight_bytes_per_step"] / 8)
    assert all(b <= a for a, b in zip(per_sample, per_sample[1:], strict=False))
    assert per_sample[-1] < per_sample[0]


def test_no_spill_unless_forced_beyond_fit_then_named():
    g = small_gpt(seq=128)
    plan, r = run(g, cs2_tiny(), batch=64)
    fit = plan.streaming.micro_fit
    assert 1 <= fit < 64  # the test needs a micro-batch smaller than the batch
    assert r.memory_service["spill_bytes_per_step"] == 0 and not r.settings["spilled"]
    micro = plan.streaming.micro_batch  # the fastest that fits: at most micro_fit
    assert 1 <= micro <= fit and max(r.settings["micro_batches"]) == micro == r.micro_batch
    assert len(r.settings["micro_batches"]) == -(-64 // micro)
    plan2, forced = run(g, cs2_tiny(), batch=64, micro_batch=fit + 4)
    assert forced.memory_service["spill_bytes_per_step"] > 0 and forced.settings["spilled"]
    assert any("spill" in n for n in forced.settings["notes"])
    assert any(row.spill_cycles > 0 for row in forced.stages)


def test_flash_attention_keeps_less_than_stored_scores():
    g = small_gpt(seq=128)
    flash, _ = run(g, cs2_tiny(), batch=64, physics=Physics(checkpoint="none"))
    stored, _ = run(g, cs2_tiny(), batch=64,
                    physics=Physics(attention="stored", checkpoint="none"))
    att = flash.streaming.attention_stash_bytes
    assert att["stored"] > att["flash"] > 0
    assert stored.streaming.micro_fit <= flash.streaming.micro_fit
    assert stored.streaming.stash_bytes.sum() > flash.streaming.stash_bytes.sum()
    # flash reruns the scores product in backward
    assert flash.streaming.recompute.sum() == 2 and stored.streaming.recompute.sum() == 0


def test_embedding_streams_only_the_rows_used():
    g = gpt(1, 64, 2, 16, vocab=20000, max_positions=16, name="big-vocab")
    plan, r = run(g, cs2_tiny(), batch=2)
    emb = plan.stages[0]
    assert emb.heavy == "emb.token"
    # 32 lookups read at most 32 rows of the 20,000-row table, forward and backward (the
    # tied LM head still streams the whole table)
    per_step = r.stages[0].stream_in_cycles * 2 / TINY.clock_hz \
        * r.memory_service["stream_bytes_per_s"]
    assert 2 * 31 * 64 * 2 < per_step <= 2 * 32 * 64 * 2 * 1.0001
    head = r.stages[-1]
    assert head.heavy == "lm_head"
    assert head.stream_in_cycles * 2 / TINY.clock_hz * r.memory_service["stream_bytes_per_s"] \
        == pytest.approx(2 * 20000 * 64 * 2)


@pytest.mark.parametrize("field,lo,hi", [("memory_bytes_per_s", 1e8, 1e10),
                                         ("interconnect_bytes_per_s", 1e8, 1e10)])
def test_more_bandwidth_never_slower(field, lo, hi):
    g = mlp(width=512)
    wafer = TINY.replace(offwafer_bytes_per_s=1e12)
    rates = []
    for bw in np.geomspace(lo, hi, 4):
        s = ws.system("cs2", n=4, **{field: float(bw)}).replace(wafer=wafer)
        rates.append(run(g, s, batch=32)[1].samples_per_s)
    assert all(b >= a for a, b in zip(rates, rates[1:], strict=False))
    assert rates[-1] > rates[0]  # at 100 MB/s the stream binds


def test_more_sram_never_slower():
    g = small_gpt(seq=128)
    rates, micro = [], []
    for kb in (48, 64, 96):
        s = cs2_tiny().replace(wafer=TINY.replace(sram_bytes_per_core=kb * 1024))
        plan, r = run(g, s, batch=64)
        rates.append(r.samples_per_s)
        micro.append(plan.streaming.micro_fit)
    assert all(b >= a for a, b in zip(micro, micro[1:], strict=False)) and micro[-1] > micro[0]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(rates, rates[1:], strict=False))


def test_scaling_efficiency_at_most_one_and_falls_once_the_reduce_binds():
    g = mlp()
    effs, slow = [], []
    for n in (1, 2, 4, 16, 64):
        _, r = run(g, cs2_tiny(n=n), batch=128)
        effs.append(r.scaling_efficiency)
        _, rs = run(g, cs2_tiny(n=n, interconnect_latency_s=1e-3), batch=128)
        slow.append(rs.scaling_efficiency)
        assert r.systems == n
    assert effs[0] == 1.0 and all(e <= 1.0 for e in effs)
    assert slow[0] == 1.0 and all(b <= a for a, b in zip(slow, slow[1:], strict=False))
    assert slow[-1] < 0.9  # a slow tree binds: each level's latency is exposed twice a step


def test_cluster_samples_per_s_grows_with_systems():
    g = mlp()
    rates = [run(g, cs2_tiny(n=n), batch=128)[1].samples_per_s for n in (1, 2, 4)]
    assert rates[0] < rates[1] < rates[2]


def test_update_runs_in_the_service_and_only_its_tail_is_exposed():
    g = mlp(layers=6)
    _, r = run(g, cs2_tiny(), batch=8)
    ms = r.memory_service
    assert 0 < ms["update_exposed_s"] <= ms["update_s_per_step"] + 1e-15
    _, slow = run(g, cs2_tiny(optimizer_memory_bytes_per_s=1e9), batch=8)
    assert slow.samples_per_s < r.samples_per_s
    assert slow.memory_service["update_exposed_s"] > ms["update_exposed_s"]


def test_streamed_placement_counts_hops_and_colors():
    plan, r = run(small_gpt(), cs2_tiny(), batch=8)
    assert plan.wavelet_hops_per_sample > 0 and r.wavelet_hops_per_sample > 0
    assert 3 <= plan.max_colors_per_router <= TINY.colors


def test_result_fields_and_dict():
    _, r = run(small_gpt(), cs2_tiny(n=2), batch=16)
    d = r.to_dict()
    for k in ("micro_batch", "systems", "scaling_efficiency", "memory_service"):
        assert k in d
    row = d["stages"][2]
    for k in ("stream_in_cycles", "stream_out_cycles", "reduce_cycles", "spill_cycles"):
        assert k in row
    assert r.execution == "weight_streaming" and r.systems == 2


def test_checkpointing_keeps_less_and_recomputes_every_stage():
    g = small_gpt(seq=128)
    none, r_none = run(g, cs2_tiny(), batch=64, physics=Physics(checkpoint="none"))
    seg, r_seg = run(g, cs2_tiny(), batch=64, physics=Physics(checkpoint="segments"))
    assert seg.streaming.checkpoint == "segments" and none.streaming.checkpoint == "none"
    ck = seg.streaming.checkpoint_bytes
    assert 0 < ck["segments"] < ck["none"] and ck["segment_bounds"]
    assert seg.streaming.micro_fit > none.streaming.micro_fit
    assert (seg.streaming.recompute >= 1).all() and (none.streaming.recompute <= 1).all()
    # at one micro-batch size, the recomputed forwards make a compute-bound step longer
    fast_io = ws.system("cs2", memory_bytes_per_s=1e15).replace(
        wafer=TINY.replace(offwafer_bytes_per_s=1e15))
    one = {"batch": 4, "micro_batch": 4}
    t_none = run(g, fast_io, physics=Physics(checkpoint="none"), **one)[1].step_time_s
    t_seg = run(g, fast_io, physics=Physics(checkpoint="segments"), **one)[1].step_time_s
    assert t_seg > t_none * 1.1
    auto, r_auto = run(g, cs2_tiny(), batch=64)
    pick = r_seg if auto.streaming.checkpoint == "segments" else r_none
    assert r_auto.samples_per_s == pytest.approx(pick.samples_per_s)


def test_report_draws_the_systems_chart(tmp_path):
    from wse_sim.engine.streaming import systems_curve

    _, r = run(mlp(), cs2_tiny(), batch=64)
    c = systems_curve(r)
    assert c["systems"][0] == 1 and c["samples_per_s"][0] == pytest.approx(r.samples_per_s)
    assert all(e <= 1.0 + 1e-12 for e in c["scaling_efficiency"])
    md = ws.report(r, tmp_path / "rep")
    assert (tmp_path / "rep" / "systems.png").exists() and "systems.png" in md.read_text()


def test_saved_result_keeps_the_system_fields(tmp_path):
    _, r = run(small_gpt(), cs2_tiny(n=2), batch=16)
    ws.save_result(r, tmp_path / "saved")
    back = ws.load_result(tmp_path / "saved")
    assert (back.micro_batch, back.systems) == (r.micro_batch, 2)
    assert back.scaling_efficiency == r.scaling_efficiency
    assert back.memory_service == r.memory_service
    assert [s.stream_in_cycles for s in back.stages] == [s.stream_in_cycles for s in r.stages]


@pytest.mark.parametrize("dtype,sparsity", [("fp32", 0.4), ("fp32", 0.8), ("fp16", 0.4),
                                            ("fp16", 0.8)])
def test_one_index_bytes_rule_for_held_and_streamed_weights(dtype, sparsity):
    """Streamed weights carry the same index bytes as the placer's SRAM sizing: a 16-bit
    index per non-zero only below vb / (vb + 2) density (fp32: 2/3, fp16: 1/2)."""
    from wse_sim.placer.sizing import stage_model
    from wse_sim.placer.stages import stage_set

    g = Graph("mlp", dtype)
    x = g.input("x", (32, 256))
    for i in range(2):
        x = g.dense(f"fc{i}", x, 256)
    g = ws.sparsify(g, sparsity, seed=1)
    plan, r = run(g, cs2_tiny(), batch=4, micro_batch=4)
    ss = stage_set(g, False)
    held = stage_model(list(ss.data), ss.in_density, ss.first, TINY, False).fixed_bytes
    assert plan.streaming.weight_bytes == pytest.approx(held)
    vb = 4 if dtype == "fp32" else 2
    per_weight = held.sum() / sum(sd.nnz for sd in ss.data)
    assert per_weight == (vb + 2 if 1 - sparsity < vb / (vb + 2) else vb)


def test_n_systems_never_beat_n_times_one_system_at_the_same_global_batch():
    # 28 samples fit, but 64 in micro-batches of 22 and 21 leave the last wave of tiles
    # part-empty; 16 (the 4-system share) fill them: the placer must choose by speed, not
    # take the largest that fits, or 4 systems run 1.24x four times one (superlinear)
    g = small_gpt(seq=128)
    s = cs2_tiny().replace(wafer=TINY.replace(sram_bytes_per_core=48 * 1024))
    p1, one = run(g, s, batch=64)
    for n in (2, 4):
        _, r = run(g, s.replace(n_systems=n), batch=64)
        assert r.samples_per_s <= n * one.samples_per_s
        assert r.scaling_efficiency <= 1.0 and r.settings["scaling_efficiency_per_share"] <= 1.0
        assert r.scaling_efficiency == pytest.approx(
            r.samples_per_s / (n * r.settings["one_system_samples_per_s"]))
    assert p1.streaming.micro_fit > p1.streaming.micro_batch == one.micro_batch


def test_chosen_micro_batch_no_slower_than_any_forced_one_that_fits():
    g = small_gpt(seq=128)
    s = cs2_tiny().replace(wafer=TINY.replace(sram_bytes_per_core=48 * 1024))
    plan, auto = run(g, s, batch=64)
    for m in (4, 8, 13, plan.streaming.micro_fit):
        _, forced = run(g, s, batch=64, micro_batch=m)
        assert forced.samples_per_s <= auto.samples_per_s * (1 + 1e-9)


@pytest.mark.parametrize("n,fan_in,levels", [(4, 4, 1), (16, 4, 2), (16, 2, 4), (64, 4, 3)])
def test_tree_latency_is_charged_per_level_twice_a_step(n, fan_in, levels):
    # once the tree binds, a step waits for the last gradients to climb it and the updated
    # weights to come down: 2 x levels x the per-level latency
    steps = []
    for lat in (1e-3, 2e-3):
        plan, r = run(mlp(), cs2_tiny(n=n, interconnect_latency_s=lat,
                                      interconnect_fan_in=fan_in), batch=128, micro_batch=4)
        steps.append(r.step_time_s)
    assert plan.streaming.system.tree_levels == levels
    assert steps[1] - steps[0] == pytest.approx(2 * levels * 1e-3, rel=1e-9)


def test_tree_edge_bandwidth_carries_every_stream_of_n_systems():
    # a tree edge below the service's rate streams weights and gradients proportionally
    # slower on N > 1 systems; one system talks to the service directly and does not see it
    g = mlp(width=512)
    wafer = TINY.replace(offwafer_bytes_per_s=1e12)
    cyc = {}
    for n in (1, 4):
        for bw in (4e9, 1e9):
            s = cs2_tiny(n=n, interconnect_bytes_per_s=bw).replace(wafer=wafer)
            _, r = run(g, s, batch=32, micro_batch=4)
            cyc[n, bw] = (sum(x.stream_in_cycles for x in r.stages),
                          sum(x.stream_out_cycles for x in r.stages), r.samples_per_s)
    assert cyc[1, 1e9] == cyc[1, 4e9]
    assert cyc[4, 1e9][0] == pytest.approx(4 * cyc[4, 4e9][0])
    assert cyc[4, 1e9][1] == pytest.approx(4 * cyc[4, 4e9][1])
    assert cyc[4, 1e9][2] < cyc[4, 4e9][2]  # the reduce binds: fewer samples/s


def _mlp_graph():
    g = Graph("mlp")
    g.dense("fc", g.input("x", (256, 4096)), 8)
    g.meta["batch_default"] = 8
    return g


def test_a_system_without_weight_streaming_never_picks_it():
    """The CS-1 had no memory service: on a wafer that is a what-if of WSE-1, 'auto' keeps the
    pipeline even where a CS-2-like service would stream faster, and says why; a streaming run
    that is forced (or the only one that fits) is named a what-if."""
    g = _mlp_graph()
    w2 = ws.wafer("tiny", wavelet_overhead_cycles=0.0)
    assert ws.place(g, w2, training=False).mode == "weight_streaming"  # the premise
    w1 = w2.replace(name="wse1")
    plan = ws.place(g, w1, training=False)
    assert plan.mode == "pipelined" and any("no weight streaming" in n for n in plan.notes)
    forced = ws.place(g, w1, training=False, mode="weight_streaming")
    assert any("what-if" in n for n in forced.notes)
    assert not ws.system("cs1").weight_streaming and ws.system("cs2").weight_streaming


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_weight_streaming_flag_is_a_bool(bad):
    with pytest.raises(ws.SpecError, match="weight_streaming"):
        ws.system("cs2", weight_streaming=bad)
