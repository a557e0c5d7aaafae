"""Chrome trace export and stage tables."""

import json
import sys

import pytest

import wse_sim as ws
from wse_sim.errors import WseSimError
from wse_sim.graph import Graph
from wse_sim.report.trace import export_trace


def _mlp() -> Graph:
    g = Graph("mlp")
    x = g.input("x", (64,))
    x = g.relu("r1", g.dense("fc1", x, 128))
    x = g.relu("r2", g.dense("fc2", x, 128))
    g.loss("loss", g.dense("fc3", x, 10))
    g.meta["batch_default"] = 32
    return g


@pytest.fixture(scope="module")
def results():
    w = ws.wafer("wse2")
    g = _mlp()
    return {
        # a pipeline: place() may pick weight streaming for so small a model on one replica
        "train": ws.simulate(ws.place(g, w, mode="pipelined")),
        "infer": ws.simulate(ws.place(g, w, training=False, mode="pipelined")),
    }


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_trace_is_valid_trace_event_format(results, tmp_path, mode):
    r = results[mode]
    path = export_trace(r, tmp_path / "t" / "trace.json")
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    assert events and data["otherData"]["model"] == "mlp"
    for e in events:
        assert {"ph", "ts", "pid", "tid"} <= e.keys()
    slices = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 for e in slices)
    tracks = {}
    for e in slices:
        tracks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    assert len(tracks) == len(r.stages)
    for spans in tracks.values():
        spans.sort()
        for (_, end), (begin, _) in zip(spans, spans[1:], strict=False):
            assert begin >= end - 1e-9 * max(1.0, abs(end))  # never overlap on a track
    names = {e["name"] for e in slices}
    if mode == "train":  # an update shows when a batch's last sample is among those shown
        assert {"forward", "backward"} <= names <= {"forward", "backward", "update"}
    else:
        assert names == {"forward"}
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == 2 * len(r.stages)
    assert all(0 <= e["args"]["busy_fraction"] <= 1 for e in counters)


def test_slices_are_the_engines_schedule(results):
    r = results["train"]
    from wse_sim.report.trace import trace_events

    us = 1e6 / r.clock_hz
    ev = [e for e in trace_events(r)["traceEvents"] if e["ph"] == "X"]
    for s in range(len(r.stages)):
        for i in range(r.timeline_start.shape[0]):
            mine = {e["name"]: e for e in ev if e["tid"] == s and e["args"].get("sample") == i}
            f, b = mine["forward"], mine["backward"]
            assert f["ts"] == pytest.approx(r.timeline_start[i, s] * us)
            span = r.timeline_finish[i, s] - r.timeline_start[i, s]
            assert f["dur"] == pytest.approx(span * us)
            assert b["ts"] == pytest.approx(r.timeline_bwd_start[i, s] * us)
            assert b["ts"] >= f["ts"] + f["dur"] - 1e-9  # a sample's backward follows its forward


def test_stage_table_units_and_frame(results, monkeypatch):
    r = results["train"]
    rows = r.stage_table()
    assert len(rows) == len(r.stages)
    assert {"stage_cycles", "stage_time_s", "busy_fraction", "cores"} <= rows[0].keys()
    assert max(x["busy_fraction"] for x in rows) == pytest.approx(
        max(s.compute_cycles_mean for s in r.stages) / max(s.stage_cycles for s in r.stages))
    assert rows[r.bottleneck_stage]["stage_time_s"] == pytest.approx(
        r.stages[r.bottleneck_stage].stage_cycles / r.clock_hz)
    pd = pytest.importorskip("pandas")
    df = r.to_frame()
    assert isinstance(df, pd.DataFrame) and list(df["stage"]) == list(range(len(r.stages)))
    assert df["stage_cycles"].max() == max(s.stage_cycles for s in r.stages)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(WseSimError, match="pip install pandas"):
        r.to_frame()


def test_facade_exports_the_trace(results, tmp_path):
    path = ws.export_trace(results["infer"], tmp_path / "t.json", samples=2)
    data = json.loads(path.read_text())
    samples = {e["args"]["sample"] for e in data["traceEvents"] if e["ph"] == "X"}
    assert samples == {0, 1} and data["otherData"]["samples_shown"] == 2
