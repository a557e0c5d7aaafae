"""Results out to other tools: a Chrome trace of the pipeline, and per-stage tables.

:func:`export_trace` writes the pipeline timeline of the first samples of a
:class:`~wse_sim.engine.SimResult` in the Chrome Trace Event Format (JSON object form), which
Perfetto (ui.perfetto.dev) and chrome://tracing open:

* process 1, "<model> on <wafer>": one track (thread) per pipeline stage, named
  ``stage <i>: <heavy op>``, sorted in pipeline order. Each sample a stage works on is a
  *forward* slice, then in training a *backward* and an *update* slice (complete events,
  ``ph='X'``, times in microseconds). A training result carries the engine's schedule: each
  forward and backward task's own start and end, and each stage's update after the batch's last
  backward, so the slices are the schedule itself. An older result (one slot per sample,
  ``timeline_start`` to ``timeline_finish``) has its slot split in proportion to the per-phase
  work:
  one pass of the stage's MACs and the riding ops' vector arithmetic forward, the remaining
  passes backward (one for a stage that reads graph input, two otherwise), and the stage's
  optimizer arithmetic divided by the batch for the update share. Without a placement (a result
  loaded from disk) the slot is one ``forward+backward+update`` slice.
* process 2, "utilisation": a counter per stage (``ph='C'``): the mean fraction of the sample
  period its cores compute, from the stage table.
* metadata events (``ph='M'``) naming the processes and tracks, and ``otherData`` with the
  model, wafer, mode, batch, replicas, throughput, schedule settings and the wse-sim version.

The stage table as rows or a DataFrame is ``result.stage_table()`` / ``result.to_frame()``
(:mod:`wse_sim.engine.table`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..engine import OPTIMIZER_VECTOR_OPS, SimResult  # the optimizer's arithmetic per weight
from ..errors import SimulationError
from ..jsonable import jsonable
from ..validate import instance
from ..validate.files import check_output_file, file_errors
from ..version import __version__

TRACE_SAMPLES = 16
"""Samples shown (the engine keeps the timeline of at most its first 16)."""
PHASES = ("forward", "backward", "update")


def _phase_weights(result) -> np.ndarray | None:
    """(n_stages, 3) per-sample work of forward, backward and update, in lane operations."""
    placement = getattr(result, "placement", None)
    if placement is None:
        return None
    training = result.mode == "train"
    batch = int(result.settings.get("batch", 1) or 1)
    out = np.zeros((len(placement.stages), 3))
    for s, (st, sd) in enumerate(zip(placement.stages, placement.data, strict=True)):
        op = sd.op
        density = op.weight_density if sd.view.stored_weights else 1.0
        macs = float(op.macs_fwd) * density
        if sd.view.one_hot:
            macs = float(sd.view.rows * sd.view.n)
        fwd = macs + float(sd.extra_vector_ops)
        if not training:
            out[s] = (fwd, 0.0, 0.0)
            continue
        passes_back = 1.0 if st.first else 2.0
        bwd = passes_back * macs + 2.0 * float(sd.extra_vector_ops)
        upd = float(sd.nnz) * OPTIMIZER_VECTOR_OPS / batch if sd.view.stored_weights else 0.0
        out[s] = (fwd, bwd, upd)
    return out


def _meta(ph: str, name: str, pid: int, tid: int, args: dict) -> dict:
    return {"ph": ph, "name": name, "pid": pid, "tid": tid, "ts": 0, "args": args}


def _track_events(result) -> list[dict]:
    """Metadata: the two processes, and one named, sorted track per stage."""
    title = f"{result.model} on {result.wafer} ({result.mode}, {result.execution})"
    ev = [_meta("M", "process_name", 1, 0, {"name": title}),
          _meta("M", "process_name", 2, 0, {"name": "utilisation"})]
    for s, row in enumerate(result.stages):
        ev.append(_meta("M", "thread_name", 1, s, {"name": f"stage {s}: {row.heavy}"}))
        ev.append(_meta("M", "thread_sort_index", 1, s, {"sort_index": s}))
    return ev


def _phases(t0: float, t1: float, w: np.ndarray | None, training: bool) -> list[tuple]:
    """``(name, start, end)`` of the slices of one slot ``t0 -> t1`` (cycles), split in
    proportion to the per-phase work ``w`` (3,) when it is known."""
    if w is None or w.sum() <= 0:
        return [("forward+backward+update" if training else "forward", t0, t1)]
    dur = max(t1 - t0, 0.0)
    edges = t0 + dur * np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    edges[-1] = t0 + dur
    return [(PHASES[k], float(edges[k]), float(edges[k + 1])) for k in range(3) if w[k] > 0]


def _slice_events(result, start, finish, n: int, us: float, weights) -> list[dict]:
    """Complete events (``ph='X'``): each stage's slices for each of the first ``n`` samples;
    ``weights`` (n_stages, 3) from :func:`_phase_weights`, or None."""
    ev = []
    for s in range(start.shape[1]):
        w = None if weights is None else weights[s]
        for i in range(n):
            for name, a, b in _phases(float(start[i, s]), float(finish[i, s]), w,
                                      result.mode == "train"):
                ev.append({"ph": "X", "name": name, "cat": "stage", "pid": 1, "tid": s,
                           "ts": a * us, "dur": max(b - a, 0.0) * us,
                           "args": {"sample": i, "stage": s}})
    return ev


def _schedule_events(result, n: int, us: float) -> list[dict]:
    """Complete events from the engine's training schedule: each stage's forward and backward
    task of each of the first ``n`` samples, and its update after the batch's last backward
    when that falls among them."""
    fs, fe = (np.asarray(a, dtype=np.float64) for a in (result.timeline_start,
                                                        result.timeline_finish))
    bs, be = (np.asarray(a, dtype=np.float64) for a in (result.timeline_bwd_start,
                                                        result.timeline_bwd_finish))
    batch = int(result.settings.get("batch", 0) or 0)
    ev = []
    for s, row in enumerate(result.stages):
        for i in range(n):
            for name, a, b in (("forward", fs[i, s], fe[i, s]), ("backward", bs[i, s], be[i, s])):
                ev.append({"ph": "X", "name": name, "cat": "stage", "pid": 1, "tid": s,
                           "ts": float(a) * us, "dur": max(float(b - a), 0.0) * us,
                           "args": {"sample": i, "stage": s}})
            if batch and (i + 1) % batch == 0 and row.update_cycles > 0:
                ev.append({"ph": "X", "name": "update", "cat": "stage", "pid": 1, "tid": s,
                           "ts": float(be[i, s]) * us, "dur": row.update_cycles * us,
                           "args": {"after_sample": i, "stage": s}})
    return ev


def _counter_events(result, end_us: float) -> list[dict]:
    """Counters (``ph='C'``): each stage's busy fraction at the start and the end."""
    period = max((r.stage_cycles for r in result.stages), default=0.0)
    ev = []
    for s, row in enumerate(result.stages):
        busy = row.compute_cycles_mean / period if period > 0 else 0.0
        for ts in (0.0, end_us):
            ev.append({"ph": "C", "name": f"stage {s} utilisation", "pid": 2, "tid": 0,
                       "ts": ts, "args": {"busy_fraction": round(float(busy), 6)}})
    return ev


def _other_data(result, n: int, split: bool) -> dict:
    return {
        "model": result.model,
        "wafer": result.wafer,
        "mode": result.mode,
        "execution": result.execution,
        "samples_per_s": result.samples_per_s,
        "replicas": result.replicas,
        "bottleneck_op": result.bottleneck_op,
        "clock_hz": result.clock_hz,
        "samples_shown": n,
        "phase_split": "engine per-phase work" if split else "none",
        "settings": {k: v for k, v in dict(result.settings).items() if k != "wafer"},
        "wse_sim_version": __version__,
    }


def trace_events(result, samples: int = TRACE_SAMPLES) -> dict:
    """The trace of ``result`` as a dict in the Chrome Trace Event Format (see module doc);
    every value is plain JSON (:func:`wse_sim.jsonable.jsonable`)."""
    instance("export_trace: result", result, SimResult, error=SimulationError,
             fix="pass what ws.simulate(placement) or ws.load_result(path) returns")
    start = np.asarray(result.timeline_start, dtype=np.float64)
    finish = np.asarray(result.timeline_finish, dtype=np.float64)
    if start.ndim != 2 or start.shape != finish.shape:
        raise SimulationError(
            f"result has no pipeline timeline (timeline_start shape "
            f"{start.shape}); simulate again to get one"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise SimulationError(f"samples must be a positive int, got {samples!r}")
    n = min(samples, start.shape[0])
    if result.execution == "weight_streaming":
        n = min(n, 1)  # every sample shares the one per-layer schedule
    us = 1e6 / (result.clock_hz or 1.0)
    bwd = np.asarray(getattr(result, "timeline_bwd_finish", np.zeros((0, 0))))
    if bwd.shape == start.shape:  # the engine's own schedule: forward and backward tasks
        end_us = float(bwd[:n].max(initial=0.0)) * us
        ev = (_track_events(result) + _schedule_events(result, n, us)
              + _counter_events(result, end_us))
        other = _other_data(result, n, True)
        other["phase_split"] = "engine schedule"
        return jsonable({"traceEvents": ev, "displayTimeUnit": "ns", "otherData": other})
    end_us = float(finish[:n].max(initial=0.0)) * us
    weights = _phase_weights(result)
    ev = (_track_events(result) + _slice_events(result, start, finish, n, us, weights)
          + _counter_events(result, end_us))
    other = _other_data(result, n, weights is not None)
    return jsonable({"traceEvents": ev, "displayTimeUnit": "ns", "otherData": other})


def export_trace(result, path, samples: int = TRACE_SAMPLES) -> Path:
    """Write the Chrome trace of ``result`` (see the module docstring) to ``path``; returns it.

    >>> ws.export_trace(ws.simulate(ws.place(g, ws.wafer("wse2"))), "trace.json")  # doctest: +SKIP
    """
    path = check_output_file("export_trace: path", path, "trace.json")
    data = trace_events(result, samples)
    with file_errors("write the trace to", path, "give a file path in a folder you can write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, allow_nan=False))
    return path
