"""Save a :class:`~wse_sim.engine.SimResult` to a folder and load it back.

A saved result is two files side by side:

- ``result.json``: ``SimResult.to_dict()`` (scalars, per-stage table, settings), plus an
  optional ``gpu`` block (the GPU comparison, see :func:`wse_sim.baselines.gpu_summary`) and a
  ``layout`` block (stage rectangles and replica origins, so a placement map can be redrawn
  without the placement);
- ``arrays.npz``: the per-core arrays ``busy_fraction``, ``sram_bytes``, ``stage_id`` (rows, cols),
  ``link_loads`` (rows, cols, 4) and the pipeline timeline ``timeline_start`` /
  ``timeline_finish`` (samples shown, stages), in cycles.

Non-finite floats are written as JSON ``null`` (strict JSON has no infinity); an infinite
``equivalent_gpus`` is therefore ``null``, with a note in the ``gpu`` block.

>>> import wse_sim as ws, tempfile
>>> from wse_sim.models import get
>>> r = ws.simulate(ws.place(get("cvae"), ws.wafer("tiny")), samples=4)
>>> d = tempfile.mkdtemp()
>>> _ = save_result(r, d)
>>> load_result(d).samples_per_s == r.samples_per_s
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import SimResult, StageRow
from ..errors import WseSimFileError
from ..jsonable import jsonable
from .layout import Layout, layout_of

RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
ARRAY_KEYS = ("busy_fraction", "sram_bytes", "stage_id", "link_loads", "timeline_start",
              "timeline_finish")
FORMAT_VERSION = 1
_SCALARS = ("model", "wafer", "mode", "execution", "samples_per_s", "step_time_s", "latency_s",
            "cores_used", "utilization", "replicas", "sram_peak_fraction",
            "energy_j_per_sample", "power_w", "wavelet_hops_per_sample", "macs_per_sample",
            "sim_wall_s", "clock_hz")


@dataclass(frozen=True)
class SavedRun:
    """What :func:`load_run` reads: the result, its GPU block (or None) and its layout."""

    result: SimResult
    gpu: dict | None
    layout: Layout | None


def result_record(result: SimResult, gpu: dict | None = None, layout: Layout | None = None
                  ) -> dict:
    """The JSON object :func:`save_result` writes."""
    d = result.to_dict()
    d["format_version"] = FORMAT_VERSION
    if gpu is not None:
        d["gpu"] = dict(gpu)
    if layout is None and result.placement is not None:
        layout = layout_of(result.placement)
    if layout is not None:
        d["layout"] = layout.to_dict()
    return jsonable(d)


def save_result(result: SimResult, directory, gpu: dict | None = None,
                layout: Layout | None = None) -> Path:
    """Write ``result.json`` and ``arrays.npz`` into ``directory`` (created); return the
    JSON path. ``gpu`` is a :func:`wse_sim.baselines.gpu_summary` block to store with the result."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / RESULT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result_record(result, gpu, layout), indent=1) + "\n",
                       encoding="utf-8")
        tmp.replace(path)
        arrays = {k: np.asarray(getattr(result, k)) for k in ARRAY_KEYS}
        # float32 halves the file; the maps are for drawing, the scalars stay in the JSON
        for k in ("busy_fraction", "link_loads"):
            arrays[k] = arrays[k].astype(np.float32)
        np.savez_compressed(out / ARRAYS_FILE, **arrays)
    except OSError as e:
        raise WseSimFileError(f"cannot write the result into {str(out)!r}: {e.strerror or e}; "
                              "choose a writable folder") from e
    return path


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        p = p / RESULT_FILE
    if not p.is_file():
        raise WseSimFileError(f"no saved result at {str(path)!r}; give a result.json written "
                              "by 'wse-sim run --report DIR' (or its folder)")
    return p, p.with_name(ARRAYS_FILE)


def load_run(path) -> SavedRun:
    """Read ``result.json`` (a file or its folder) and the ``arrays.npz`` beside it."""
    jpath, apath = _paths(path)
    try:
        d = json.loads(jpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WseSimFileError(f"{str(jpath)!r} is not a readable result JSON ({e})") from e
    if not isinstance(d, dict) or any(k not in d for k in (*_SCALARS, "stages", "bottleneck")):
        missing = [k for k in (*_SCALARS, "stages", "bottleneck")
                   if not isinstance(d, dict) or k not in d]
        raise WseSimFileError(f"{str(jpath)!r} is not a wse-sim result: missing keys "
                              f"{', '.join(missing)}")
    if not apath.is_file():
        raise WseSimFileError(f"{str(apath)!r} is missing; a saved result needs its arrays "
                              "file next to result.json")
    try:
        with np.load(apath, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAY_KEYS}
    except (OSError, ValueError, KeyError) as e:
        raise WseSimFileError(f"{str(apath)!r} is not a readable arrays file ({e}); it needs "
                              f"{', '.join(ARRAY_KEYS)}") from e
    try:
        result = _result_from(d, arrays)
        layout = Layout.from_dict(d["layout"]) if d.get("layout") else None
    except (KeyError, TypeError, ValueError) as e:
        raise WseSimFileError(f"{str(jpath)!r} is malformed: {e!r}") from e
    return SavedRun(result, d.get("gpu"), layout)


def load_result(path) -> SimResult:
    """A :class:`SimResult` (``placement=None``) from a saved ``result.json`` or its folder."""
    return load_run(path).result


def _num(v, default=math.inf) -> float:
    return default if v is None else float(v)


def _result_from(d: dict, arrays: dict) -> SimResult:
    stages = tuple(StageRow(int(s["stage"]), str(s["heavy"]), tuple(s["ops"]), int(s["cores"]),
                            _num(s["compute_cycles_max"]), _num(s["compute_cycles_mean"]),
                            _num(s["link_cycles_max"]), _num(s["memory_cycles"]),
                            _num(s["stream_cycles"]), _num(s["stage_cycles"]), str(s["bound"]))
                   for s in d["stages"])
    b = d["bottleneck"]
    return SimResult(
        model=d["model"], wafer=d["wafer"], mode=d["mode"], execution=d["execution"],
        samples_per_s=_num(d["samples_per_s"], 0.0), step_time_s=_num(d["step_time_s"]),
        latency_s=_num(d["latency_s"]), bottleneck_stage=int(b["stage"]),
        bottleneck_op=str(b["op"]), bottleneck_kind=str(b["kind"]), stages=stages,
        cores_used=int(d["cores_used"]), utilization=_num(d["utilization"], 0.0),
        replicas=int(d["replicas"]), sram_peak_fraction=_num(d["sram_peak_fraction"], 0.0),
        energy_j_per_sample=_num(d["energy_j_per_sample"]), power_w=_num(d["power_w"], 0.0),
        wavelet_hops_per_sample=_num(d["wavelet_hops_per_sample"], 0.0),
        macs_per_sample=_num(d["macs_per_sample"], 0.0), sim_wall_s=_num(d["sim_wall_s"], 0.0),
        settings=dict(d.get("settings") or {}),
        busy_fraction=arrays["busy_fraction"].astype(np.float64),
        sram_bytes=arrays["sram_bytes"], stage_id=arrays["stage_id"],
        link_loads=arrays["link_loads"].astype(np.float64),
        timeline_start=arrays["timeline_start"], timeline_finish=arrays["timeline_finish"],
        clock_hz=_num(d["clock_hz"], 0.0), placement=None)
