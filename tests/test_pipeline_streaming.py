"""Chunked streaming in the pipeline schedule (issue 22): hand-computed toys, fill per chunk,
bubble against batch and chunk size, the streaming units of real ops, and the whole-sample
model kept bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.graph import Graph
from wse_sim.kernels.pipeline import pipeline_times
from wse_sim.kernels.schedule import train_schedule
from wse_sim.models import get
from wse_sim.placer.placement import Flow
from wse_sim.placer.stages import (
    StreamUnits,
    chunk_in_flight,
    op_input_need,
    op_stream_unit,
    stage_set,
)
from wse_sim.spec import Physics


def test_three_stage_toy_matches_the_hand_schedule():
    # stage 0 -> 1 streams (lead one chunk of 8), 1 -> 2 is a barrier (lead the whole task);
    # every task 8 cycles of 8 chunks, no latency, one sample
    fs, fe, bs, be = train_schedule([[8.0, 8.0, 8.0]], [[8.0, 8.0, 8.0]], 1, [0, 1], [1, 2],
                                    chunks=8, lead=[1 / 8, 1.0], back_lead=[1 / 8, 1.0])
    # forward: stage 1 starts one chunk-time after stage 0 starts and ends one chunk-time
    # after stage 0's last chunk; stage 2 waits for stage 1's last chunk
    assert fs[0].tolist() == [0.0, 1.0, 9.0]
    assert fe[0].tolist() == [8.0, 9.0, 17.0]
    # backward: 2 -> 1 is a barrier back too (1 waits for all of 2's gradient); 1 -> 0 streams
    assert bs[0].tolist() == [26.0, 25.0, 17.0]
    assert be[0].tolist() == [34.0, 33.0, 25.0]


def test_inference_chain_toy_matches_the_hand_schedule():
    # three stages of 4 chunks, 4 cycles each; stage 1 streams from 0, stage 2 is a barrier
    s, f, d = pipeline_times([[4.0, 4.0, 4.0]], 64, chunks=[4, 4, 4], lead=[1.0, 0.25, 1.0])
    assert s[0].tolist() == [0.0, 1.0, 5.0]
    assert f[0].tolist() == [4.0, 5.0, 9.0]


@pytest.mark.parametrize("chunks", [1, 4, 32])
def test_fill_grows_by_one_chunk_time_per_stage(chunks):
    # n streaming stages of T cycles each: the last one starts (n - 1) chunk-times in,
    # not (n - 1) sample-times
    T = 64.0
    for n in (2, 5, 9):
        src = np.arange(n - 1)
        fs, fe, _, _ = train_schedule(np.full((1, n), T), np.full((1, n), T), 1, src, src + 1,
                                      chunks=chunks, lead=1.0 / chunks, back_lead=1.0 / chunks)
        assert fs[0, -1] == pytest.approx((n - 1) * T / chunks)
        assert fe[0, -1] == pytest.approx(T + (n - 1) * T / chunks)


def _chain_step(n_stages: int, chunks: int, batch: int) -> tuple[float, float]:
    """Sync step and its bubble of a balanced streaming chain, stash from the planner."""
    src = np.arange(n_stages - 1)
    flows = [Flow(int(a), int(a) + 1, 1.0) for a in src]
    lead = np.full(n_stages - 1, 1.0 / chunks)
    units = StreamUnits(("token",) * n_stages, np.full(n_stages, chunks), lead, lead)
    warm = chunk_in_flight(n_stages, flows, units)
    tf, tb = np.full((batch, n_stages), 1.0), np.full((batch, n_stages), 2.0)
    _, _, _, be = train_schedule(tf, tb, warm, src, src + 1, chunks=chunks, lead=lead,
                                 back_lead=lead)
    step = float(be[-1].max())
    return step, 1.0 - batch * 3.0 / step


def test_bubble_falls_with_batch_and_with_finer_chunks():
    by_batch = [_chain_step(12, 16, b)[1] for b in (8, 32, 128)]
    assert by_batch[0] > by_batch[1] > by_batch[2] > 0
    by_chunks = [_chain_step(12, c, 32)[1] for c in (1, 4, 16, 64)]
    assert by_chunks[0] > by_chunks[1] > by_chunks[2] > by_chunks[3]
    # the step never beats the bottleneck's own work
    assert all(_chain_step(12, c, 32)[0] >= 32 * 3.0 for c in (1, 4, 16, 64))


def test_whole_sample_arguments_give_the_whole_sample_schedule():
    rng = np.random.default_rng(3)
    tf, tb = rng.uniform(1, 5, (20, 6)), rng.uniform(1, 9, (20, 6))
    src, dst = np.array([0, 1, 2, 3, 4, 1]), np.array([1, 2, 3, 4, 5, 4])
    warm = [11, 9, 7, 5, 3, 1]
    plain = train_schedule(tf, tb, warm, src, dst, fifo=3)
    # chunks of one: the streaming kernel keeps the same dependencies; it never finishes the
    # last backward later than the fixed 1F1B list does
    streamed = train_schedule(tf, tb, warm, src, dst, fifo=3, chunks=1, lead=1.0,
                              back_lead=1.0)
    assert streamed[3][-1].max() <= plain[3][-1].max() + 1e-9
    np.testing.assert_array_equal(streamed[0][0], plain[0][0])  # the first sample alike


def test_streaming_units_of_real_ops():
    g = Graph("toy")
    x = g.input("x", (16, 32))
    q = g.dense("q", x, 32)
    k = g.dense("k", x, 32)
    s = g.matmul("scores", q, k, transpose_b=True)
    p = g.softmax("probs", s)
    img = g.input("img", (3, 20, 20))
    c = g.conv2d("conv", img, 8, 3)
    flat = g.reshape("flat", c, (8 * 20 * 20,))
    d = g.dense("fc", flat, 10)
    assert op_stream_unit(g.op(q)) == ("token", 16)
    assert op_stream_unit(g.op(s)) == ("token", 16)
    assert op_stream_unit(g.op(c)) == ("row", 20)
    assert op_stream_unit(g.op(d)) == ("sample", 1)
    assert op_input_need(g.op(s), 0) == 1 / 16  # one query row
    assert op_input_need(g.op(s), 1) == 1.0  # every key: a barrier
    assert op_input_need(g.op(p), 0) == 1 / 16  # softmax is per row, not a barrier
    assert op_input_need(g.op(c), 0) == 2 / 20  # 3x3 'same': its first two input rows
    assert op_input_need(g.op(flat), 0) == 1.0  # a flatten is a barrier
    assert op_input_need(g.op(d), 0) == 1.0


def test_bert_stashes_far_fewer_samples_when_it_streams():
    g = get("bert-large", seq_len=128)
    whole = stage_set(g, True, "sample")
    chunk = stage_set(g, True, "chunk")
    assert whole.in_flight.max() == 297
    # per layer the keys and the values are barriers: ~2 periods each way; the rest streams
    assert chunk.in_flight.max() < whole.in_flight.max() / 4
    assert set(chunk.units.unit) == {"token"}
    assert (chunk.units.chunks == 128).all()


# samples_per_s, step, latency and bubble of today's (whole-sample) model, recorded before
# the chunked schedule existed; granularity='sample' must give them bit for bit. The bubble
# (0.10012450318727661 then) is now measured against the busiest region's own work including
# its own update, not its work plus the largest update of any region: same step, 0.1034
WHOLE_SAMPLE = {
    "train": (10146754.897345487, 0.001147953224241896, 0.00019733767408695242,
              0.10335787584143474, 182),
    "infer": (52243142.366006896, 0.0006272210766043276, 7.448269194529316e-05, 0.0, 512),
}


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_sample_granularity_reproduces_the_whole_sample_model(mode):
    g = get("cvae", map_size=28)
    plan = ws.place(g, ws.wafer("wse2"), training=mode == "train", replicas="auto", batch=64,
                    seed=0, physics=Physics(granularity="sample"))
    r = ws.simulate(plan, mode=mode, samples=32, seed=0)
    assert (r.samples_per_s, r.step_time_s, r.latency_s, r.bubble_fraction,
            plan.replicas) == WHOLE_SAMPLE[mode]


def test_streaming_never_predicts_slower_than_whole_samples():
    g = get("cvae", map_size=28)
    rates = {}
    for gr in ("sample", "chunk"):
        plan = ws.place(g, ws.wafer("wse2"), replicas=1, batch=64, seed=0,
                        physics=Physics(granularity=gr))
        r = ws.simulate(plan, samples=16, seed=0)
        rates[gr] = r.samples_per_s
        assert r.settings["granularity"] == gr
    assert rates["chunk"] >= rates["sample"]


def test_a_one_chunk_fifo_never_beats_a_deep_one():
    rng = np.random.default_rng(7)
    tf = rng.uniform(1, 8, (24, 4))
    tb = 2 * tf
    src, dst = np.arange(3), np.arange(1, 4)
    kw = {"chunks": 4, "lead": 0.25, "back_lead": 0.25}
    deep = train_schedule(tf, tb, [4, 3, 2, 2], src, dst, fifo=64, **kw)
    shallow = train_schedule(tf, tb, [4, 3, 2, 2], src, dst, fifo=1, **kw)
    assert (shallow[0] >= deep[0] - 1e-9).all()  # max-plus: less room never starts earlier
    assert (shallow[3] >= deep[3] - 1e-9).all()
    assert (shallow[0] > deep[0] + 1e-9).any()  # and one chunk of room does hold a stage back


def test_auto_replicas_are_never_slower_than_one():
    g = get("cvae", map_size=28)
    one = ws.simulate(ws.place(g, ws.wafer("wse2")), samples=8)
    auto = ws.simulate(ws.place(g, ws.wafer("wse2"), replicas="auto"), samples=8)
    assert one.replicas == 1 and auto.replicas > 1
    assert auto.samples_per_s >= one.samples_per_s
    assert one.settings["replicas_auto"]["replicas"] == auto.replicas or \
        one.settings["replicas_auto"]["replicas"] >= auto.replicas


def _small_bert():
    from wse_sim.models.bert import bert

    return bert(2, 128, 2, 512, seq_len=32, vocab=2000, max_positions=64, name="bert-small")


def test_more_weight_sparsity_never_predicts_slower():
    g = _small_bert()
    wafer = ws.wafer("tiny", rows=48, cols=48)
    rates = []
    for s in (0.0, 0.25, 0.5, 0.75, 0.9):
        graph = ws.sparsify(g, s, seed=0) if s else g
        rates.append(ws.simulate(ws.place(graph, wafer, batch=32), samples=8).samples_per_s)
    assert all(b >= a for a, b in zip(rates, rates[1:], strict=False)), rates


def test_auto_mode_keeps_the_faster_of_pipelined_and_weight_streaming():
    g = _small_bert()
    for wafer in (ws.wafer("tiny", rows=48, cols=48), ws.wafer("tiny")):
        chosen = ws.place(g, wafer, batch=32)
        rates = {}
        for mode in ("pipelined", "weight_streaming"):
            try:
                rates[mode] = ws.simulate(ws.place(g, wafer, mode=mode, batch=32),
                                          samples=8).samples_per_s
            except ws.PlacementError:
                continue
        got = ws.simulate(chosen, samples=8).samples_per_s
        assert got >= max(rates.values()) * (1 - 1e-12), (wafer.rows, chosen.mode, rates)
        assert any(n.startswith(chosen.mode.replace("_", " ")) for n in chosen.notes)


def test_inference_chain_with_fifos_under_one_sample_is_deterministic():
    # a FIFO of fewer chunks than a sample: the last chunk waits for the consumer's start of
    # the same sample, computed in place (never read before it is written)
    rng = np.random.default_rng(5)
    t = rng.uniform(1, 9, (40, 5))
    runs = [pipeline_times(t, 2, chunks=16, lead=1 / 16) for _ in range(3)]
    for r in runs[1:]:
        for a, b in zip(runs[0], r, strict=True):
            np.testing.assert_array_equal(a, b)
    s, f, d = runs[0]
    assert np.isfinite(d).all() and (d >= f).all() and (f >= s).all()
    deep = pipeline_times(t, 64, chunks=16, lead=1 / 16)
    assert (d >= deep[2] - 1e-9).all()  # less room never departs earlier


def test_an_imported_graph_trains_at_256_and_infers_at_64_and_says_so():
    g = Graph("imported")
    g.dense("fc", g.input("x", (4, 16)), 16)
    g.meta.update({"imported": True, "batch_default": 1})  # what an ONNX import stores
    train = ws.place(g, ws.wafer("tiny"), mode="pipelined")
    infer = ws.place(g, ws.wafer("tiny"), mode="pipelined", training=False)
    assert (train.batch, infer.batch) == (256, 64)
    assert any("batch 256" in n for n in train.notes)
    r = ws.simulate(train, samples=8)
    assert r.settings["batch"] == 256
    assert any("batch 256" in n for n in r.settings["placement_notes"])
    assert ws.place(g, ws.wafer("tiny"), mode="pipelined", batch=8).batch == 8
    g.meta["batch_given"] = True  # an importer told a batch keeps it
    assert ws.place(g, ws.wafer("tiny"), mode="pipelined").batch == 1


def test_an_importer_keeps_a_batch_only_when_told_one():
    """from_torch / from_onnx without ``batch=`` leave place() its product defaults (256 to
    train, 64 to infer); with ``batch=`` the import keeps it."""
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    x = torch.randn(2, 16)
    plain = ws.from_torch(m, (x,))
    told = ws.from_torch(m, (x,), batch=12)
    assert ws.place(plain, ws.wafer("tiny"), mode="pipelined").batch == 256
    assert ws.place(plain, ws.wafer("tiny"), mode="pipelined", training=False).batch == 64
    assert ws.place(told, ws.wafer("tiny"), mode="pipelined").batch == 12
