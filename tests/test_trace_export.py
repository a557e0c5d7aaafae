"""Chrome trace export and stage tables."""

import json
import sys

import pytest

import wse_sim as ws
from wse_sim.errors import WseSimError
from wse_sim.graph import Graph
from wse_sim.report.trace import export_trace, stage_table, to_frame


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
        "train": ws.simulate(ws.place(g, w)),
        "infer": ws.simulate(ws.place(g, w, training=False)),
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
    expect = {"forward", "backward", "update"} if mode == "train" else {"forward"}
    assert names == expect
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == 2 * len(r.stages)
    assert all(0 <= e["args"]["busy_fraction"] <= 1 for e in counters)


def test_phases_fill_each_slot(results):
    r = results["train"]
    from wse_sim.report.trace import trace_events

    us = 1e6 / r.clock_hz
    ev = [e for e in trace_events(r)["traceEvents"] if e["ph"] == "X"]
    for s in range(len(r.stages)):
        for i in range(r.timeline_start.shape[0]):
            mine = [e for e in ev if e["tid"] == s and e["args"]["sample"] == i]
            total = sum(e["dur"] for e in mine)
            slot = (r.timeline_finish[i, s] - r.timeline_start[i, s]) * us
            assert total == pytest.approx(slot, rel=1e-9, abs=1e-12)
            # backward holds more work than forward (two passes against one)
            f = next(e for e in mine if e["name"] == "forward")
            b = next(e for e in mine if e["name"] == "backward")
            assert b["dur"] > f["dur"]


def test_stage_table_units_and_frame(results, monkeypatch):
    rows = stage_table(results["train"])
    assert len(rows) == len(results["train"].stages)
    assert {"stage_cycles", "stage_time_s", "busy_fraction", "cores"} <= rows[0].keys()
    assert max(r["busy_fraction"] for r in rows) <= 1.0
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(WseSimError, match="pip install pandas"):
        to_frame(results["train"])
