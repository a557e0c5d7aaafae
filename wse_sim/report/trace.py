"""Results out to other tools: a Chrome trace of the pipeline, and per-stage tables.

:func:`export_trace` writes the pipeline timeline of the first samples of a
:class:`~wse_sim.engine.SimResult` in the Chrome Trace Event Format (JSON object form), which
Perfetto (ui.perfetto.dev) and chrome://tracing open:

* process 1, "<model> on <wafer>": one track (thread) per pipeline stage, named
  ``stage <i>: <heavy op>``, sorted in pipeline order. Each sample a stage works on is a
  *forward* slice, then in training a *backward* and an *update* slice (complete events,
  ``ph='X'``, times in microseconds). The engine charges the three phases inside one slot per
  sample (``timeline_start`` to ``timeline_finish``) and amortises the once-per-step optimizer
  over the batch; the trace splits each slot in proportion to the engine's own per-phase work:
  one pass of the stage's MACs and the riding ops' vector arithmetic forward, the remaining
  passes backward (one for a stage that reads graph input, two otherwise), and the stage's
  optimizer arithmetic divided by the batch for the update share. Without a placement (a result
  loaded from disk) the slot is one ``forward+backward+update`` slice.
* process 2, "utilisation": a counter per stage (``ph='C'``): the mean fraction of the sample
  period its cores compute, from the stage table.
* metadata events (``ph='M'``) naming the processes and tracks, and ``otherData`` with the
  model, wafer, mode, batch, replicas, throughput, schedule settings and the wse-sim version.

:func:`stage_table` gives the stage table as a list of dicts whose keys carry units;
:func:`to_frame` the same as a pandas DataFrame.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import SimulationError, WseSimError, WseSimFileError
from ..version import __version__


class MissingDependencyError(WseSimError, ImportError):
    """An optional package a feature needs is not installed (the message names the install)."""


TRACE_SAMPLES = 16
"""Samples shown (the engine keeps the timeline of at most its first 16)."""
OPTIMIZER_VECTOR_OPS = 10  # Adam arithmetic per weight per step, as wse_sim.mapping charges


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


def trace_events(result, samples: int = TRACE_SAMPLES) -> dict:
    """The trace of ``result`` as a dict in the Chrome Trace Event Format (see module doc)."""
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
    weights = _phase_weights(result)
    names = ("forward", "backward", "update")
    ev: list[dict] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": 1,
            "tid": 0,
            "ts": 0,
            "args": {
                "name": f"{result.model} on {result.wafer} ({result.mode}, {result.execution})"
            },
        },
        {
            "ph": "M",
            "name": "process_name",
            "pid": 2,
            "tid": 0,
            "ts": 0,
            "args": {"name": "utilisation"},
        },
    ]
    for s, row in enumerate(result.stages):
        ev.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": 1,
                "tid": s,
                "ts": 0,
                "args": {"name": f"stage {s}: {row.heavy}"},
            }
        )
        ev.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": 1,
                "tid": s,
                "ts": 0,
                "args": {"sort_index": s},
            }
        )
    for s in range(start.shape[1]):
        w = None if weights is None else weights[s]
        for i in range(n):
            t0, t1 = float(start[i, s]), float(finish[i, s])
            dur = max(t1 - t0, 0.0)
            if w is None or w.sum() <= 0:
                parts = [
                    ("forward" if result.mode != "train" else "forward+backward+update", t0, t1)
                ]
            else:
                edges = t0 + dur * np.concatenate([[0.0], np.cumsum(w) / w.sum()])
                edges[-1] = t0 + dur
                parts = [
                    (names[k], float(edges[k]), float(edges[k + 1])) for k in range(3) if w[k] > 0
                ]
            for name, a, b in parts:
                ev.append(
                    {
                        "ph": "X",
                        "name": name,
                        "cat": "stage",
                        "pid": 1,
                        "tid": s,
                        "ts": a * us,
                        "dur": max(b - a, 0.0) * us,
                        "args": {"sample": i, "stage": s},
                    }
                )
    end = float(finish[:n].max(initial=0.0)) * us
    period = max((r.stage_cycles for r in result.stages), default=0.0)
    for s, row in enumerate(result.stages):
        busy = row.compute_cycles_mean / period if period > 0 else 0.0
        for ts in (0.0, end):
            ev.append(
                {
                    "ph": "C",
                    "name": f"stage {s} utilisation",
                    "pid": 2,
                    "tid": 0,
                    "ts": ts,
                    "args": {"busy_fraction": round(float(busy), 6)},
                }
            )
    settings = dict(result.settings)
    other = {
        "model": result.model,
        "wafer": result.wafer,
        "mode": result.mode,
        "execution": result.execution,
        "samples_per_s": result.samples_per_s,
        "replicas": result.replicas,
        "bottleneck_op": result.bottleneck_op,
        "clock_hz": result.clock_hz,
        "samples_shown": n,
        "phase_split": "engine per-phase work" if weights is not None else "none",
        "settings": {k: v for k, v in settings.items() if k != "wafer"},
    }
    other["wse_sim_version"] = __version__
    return {"traceEvents": ev, "displayTimeUnit": "ns", "otherData": _jsonable(other)}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def export_trace(result, path, samples: int = TRACE_SAMPLES) -> Path:
    """Write the Chrome trace of ``result`` (see the module docstring) to ``path``; returns it.

    >>> ws.export_trace(ws.simulate(ws.place(g, ws.wafer("wse2"))), "trace.json")  # doctest: +SKIP
    """
    path = Path(path)
    data = trace_events(result, samples)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    except OSError as e:
        raise WseSimFileError(f"cannot write the trace to {str(path)!r}: {e}") from e
    return path


STAGE_COLUMNS = (
    ("stage", "stage"),
    ("heavy_op", "heavy"),
    ("ops", "ops"),
    ("cores", "cores"),
    ("compute_cycles_max", "compute_cycles_max"),
    ("compute_cycles_mean", "compute_cycles_mean"),
    ("link_cycles_max", "link_cycles_max"),
    ("memory_cycles", "memory_cycles"),
    ("stream_cycles", "stream_cycles"),
    ("stage_cycles", "stage_cycles"),
    ("bound", "bound"),
)


def stage_table(result) -> list[dict]:
    """One dict per stage, units in the keys: cycles per sample, plus ``stage_time_s`` and
    ``busy_fraction`` (compute cycles over the slowest stage's cycles)."""
    clock = result.clock_hz or 1.0
    period = max((r.stage_cycles for r in result.stages), default=0.0)
    rows = []
    for r in result.stages:
        d = {key: getattr(r, attr) for key, attr in STAGE_COLUMNS}
        d["ops"] = ",".join(d["ops"])
        d["stage_time_s"] = r.stage_cycles / clock
        d["busy_fraction"] = r.compute_cycles_mean / period if period > 0 else 0.0
        d["model"], d["wafer"], d["mode"] = result.model, result.wafer, result.mode
        rows.append(d)
    return rows


def to_frame(rows_or_result):
    """A pandas DataFrame of :func:`stage_table` (given a result) or of a list of row dicts."""
    try:
        import pandas as pd
    except ImportError as e:
        raise MissingDependencyError(
            "to_frame needs pandas, which is not installed: pip install pandas"
        ) from e
    rows = rows_or_result if isinstance(rows_or_result, list) else stage_table(rows_or_result)
    return pd.DataFrame(rows)
