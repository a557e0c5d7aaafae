"""Save a :class:`~wse_sim.engine.SimResult` to a folder and load it back.

A saved result is two files side by side:

- ``result.json``: ``SimResult.to_dict()`` (scalars, per-stage table, settings), plus an
  optional ``gpu`` block (the GPU comparison, see :func:`wse_sim.baselines.gpu_summary`) and a
  ``layout`` block (stage rectangles and replica origins, so a placement map can be redrawn
  without the placement);
- ``arrays.npz``: the per-core arrays ``busy_fraction``, ``sram_bytes``, ``stage_id`` (rows, cols),
  ``link_loads`` (rows, cols, 4) and the pipeline timeline ``timeline_start`` /
  ``timeline_finish`` (samples shown, stages), in cycles.

``result.json`` carries ``schema`` (:data:`RESULT_SCHEMA`), the simulator's ``fingerprint``
(:mod:`wse_sim.fingerprint`) and ``arrays_sha256``, the hash of the ``arrays.npz`` written with
it. :func:`load_run` reads every schema in :data:`READABLE_SCHEMAS` (1 is the earlier layout,
marked ``format_version: 1``), rejects any other with a clear error, and rejects an arrays file
that is not the one its ``result.json`` was written with. Both files are written atomically
(:mod:`wse_sim.atomic`), arrays first.

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

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_text
from ..engine import SimResult, StageRow
from ..errors import WseSimFileError
from ..fingerprint import fingerprint
from ..jsonable import jsonable
from ..validate import instance, show
from ..validate import path as as_path
from ..validate.files import check_output_folder
from ..validate.results import check_saved_layout, check_saved_record
from .layout import Layout, layout_of

RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
ARRAY_KEYS = ("busy_fraction", "sram_bytes", "stage_id", "link_loads", "timeline_start",
              "timeline_finish")
OPTIONAL_ARRAYS = ("timeline_bwd_start", "timeline_bwd_finish")  # training schedules only
FORMAT_VERSION = 1  # schema 1 marked itself with this key; kept to read old files
RESULT_SCHEMA = 2
"""Layout version of ``result.json``: 2 adds ``schema``, ``fingerprint`` and ``arrays_sha256``
to schema 1 (``format_version: 1``)."""
READABLE_SCHEMAS = (1, 2)
MAX_RESULT_BYTES = 256 * 2**20  # a result.json is ~1 MB for the largest model; assumed
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
    d["schema"] = RESULT_SCHEMA
    d["fingerprint"] = fingerprint()
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
    JSON path. ``gpu`` is a :func:`wse_sim.baselines.gpu_summary` block to store with the result.

    Each file is replaced atomically, arrays first: a process killed at any moment leaves
    the old pair, the new pair, or new arrays beside the old JSON, which :func:`load_run`
    detects (``arrays_sha256``) and reports instead of mixing them."""
    instance("save_result: result", result, SimResult, error=WseSimFileError,
             fix="pass what ws.simulate(placement) returns")
    if gpu is not None and not isinstance(gpu, dict):
        raise WseSimFileError(f"save_result: gpu must be a dict from "
                              f"wse_sim.baselines.gpu_summary or None, got {show(gpu)} "
                              f"({type(gpu).__name__})")
    if layout is not None:
        instance("save_result: layout", layout, Layout, error=WseSimFileError,
                 fix="use wse_sim.io.layout_of(placement) or None")
    out = check_output_folder("save_result: directory", directory)
    if out.exists() and not out.is_dir():
        raise WseSimFileError(f"result folder {str(out)!r} is a file; choose a folder")
    arrays = {k: np.asarray(getattr(result, k)) for k in (*ARRAY_KEYS, *OPTIONAL_ARRAYS)}
    # float32 halves the file; the maps are for drawing, the scalars stay in the JSON
    for k in ("busy_fraction", "link_loads"):
        arrays[k] = arrays[k].astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    record = result_record(result, gpu, layout)
    record["arrays_sha256"] = hashlib.sha256(blob).hexdigest()
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / RESULT_FILE
        atomic_write_bytes(out / ARRAYS_FILE, blob)
        atomic_write_text(path, json.dumps(record, indent=1, allow_nan=False) + "\n")
    except OSError as e:
        raise WseSimFileError(f"cannot write the result into {str(out)!r}: {e.strerror or e}; "
                              "choose a writable folder") from e
    return path


def _paths(path) -> tuple[Path, Path]:
    p = as_path("result path", path)
    try:
        if p.is_dir():
            p = p / RESULT_FILE
        found = p.is_file()
    except OSError as e:  # a name too long, a permission
        raise WseSimFileError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if not found:
        raise WseSimFileError(f"no saved result at {str(path)!r}; give a result.json written "
                              "by 'wse-sim run --report DIR' (or its folder)")
    return p, p.with_name(ARRAYS_FILE)


def result_schema(d: dict, where: str) -> int:
    """The schema of a loaded ``result.json``; :class:`WseSimFileError` for an unknown one."""
    schema = d.get("schema")
    if schema is None and d.get("format_version") == FORMAT_VERSION:
        schema = 1
    if isinstance(schema, bool) or schema not in READABLE_SCHEMAS:
        got = "no schema" if schema is None and "format_version" not in d else \
            f"schema {schema if schema is not None else d.get('format_version')!r}"
        raise WseSimFileError(
            f"{where} has {got}; this wse-sim reads result schemas "
            f"{', '.join(map(str, READABLE_SCHEMAS))} (1 = format_version 1). Re-create it "
            "with 'wse-sim run --report DIR', or read it with the wse-sim that wrote it")
    return schema


def _read_json(jpath: Path) -> dict:
    try:
        if jpath.stat().st_size > MAX_RESULT_BYTES:
            raise WseSimFileError(f"{str(jpath)!r} is {jpath.stat().st_size:,} bytes, more than "
                                  f"any result ({MAX_RESULT_BYTES:,}); is it a result.json?")
        d = json.loads(jpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        if isinstance(e, WseSimFileError):
            raise
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise WseSimFileError(f"{str(jpath)!r} is not a readable result JSON ({why}); "
                              "re-create it with 'wse-sim run --report DIR'") from None
    return d


def _read_arrays(apath: Path, d: dict) -> dict:
    if not apath.is_file():
        raise WseSimFileError(f"{str(apath)!r} is missing; a saved result needs its arrays "
                              "file next to result.json")
    blob = apath.read_bytes()
    want = d.get("arrays_sha256")
    if want is not None and hashlib.sha256(blob).hexdigest() != want:
        raise WseSimFileError(f"{str(apath)!r} is not the arrays file written with "
                              f"{RESULT_FILE} beside it (its hash differs: an interrupted or "
                              "mixed copy); re-create the report")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in ARRAY_KEYS}
            arrays.update({k: np.asarray(z[k]) for k in OPTIONAL_ARRAYS if k in z.files})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, RecursionError,
            NotImplementedError) as e:
        raise WseSimFileError(f"{str(apath)!r} is not a readable arrays file "
                              f"({type(e).__name__}: {e}); it needs "
                              f"{', '.join(ARRAY_KEYS)}") from None
    _check_arrays(arrays, apath)
    return arrays


def _check_arrays(a: dict, where: Path) -> None:
    """Shapes and dtypes the report and maps rely on."""
    def bad(msg):
        return WseSimFileError(f"{str(where)!r}: {msg}; re-create it with 'wse-sim run "
                               "--report DIR'")

    for k, v in a.items():
        if v.dtype.kind not in "iuf" or v.dtype.hasobject:
            raise bad(f"array {k} has dtype {v.dtype}, not a number")
    grid = a["stage_id"].shape
    if len(grid) != 2 or 0 in grid:
        raise bad(f"stage_id has shape {grid}, not (rows, cols)")
    for k in ("busy_fraction", "sram_bytes"):
        if a[k].shape != grid:
            raise bad(f"{k} has shape {a[k].shape}, stage_id {grid}")
    if a["link_loads"].shape != (*grid, 4):
        raise bad(f"link_loads has shape {a['link_loads'].shape}, not {(*grid, 4)}")
    t0, t1 = a["timeline_start"].shape, a["timeline_finish"].shape
    if len(t0) != 2 or t0 != t1:
        raise bad(f"timeline_start {t0} and timeline_finish {t1} must be equal 2-D shapes")


def load_run(path) -> SavedRun:
    """Read ``result.json`` (a file or its folder) and the ``arrays.npz`` beside it."""
    jpath, apath = _paths(path)
    d = _read_json(jpath)
    need = (*_SCALARS, "stages", "bottleneck")
    if not isinstance(d, dict) or any(k not in d for k in need):
        missing = [k for k in need if not isinstance(d, dict) or k not in d]
        raise WseSimFileError(f"{str(jpath)!r} is not a wse-sim result: missing keys "
                              f"{', '.join(missing)}")
    result_schema(d, repr(str(jpath)))
    check_saved_record(d, repr(str(jpath)))
    arrays = _read_arrays(apath, d)
    check_saved_layout(d.get("layout"), arrays["stage_id"].shape, repr(str(jpath)))
    try:
        result = _result_from(d, arrays)
        layout = Layout.from_dict(d["layout"]) if d.get("layout") else None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
            RecursionError) as e:
        raise WseSimFileError(f"{str(jpath)!r} is malformed: {type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]}") from None
    gpu = d.get("gpu")
    if gpu is not None and not isinstance(gpu, dict):
        raise WseSimFileError(f"{str(jpath)!r} is malformed: 'gpu' must be an object")
    return SavedRun(result, gpu, layout)


def load_result(path) -> SimResult:
    """A :class:`SimResult` (``placement=None``) from a saved ``result.json`` or its folder."""
    return load_run(path).result


# weight streaming's per-stage times (absent from older files: 0)
_STREAM_ROW_KEYS = ("stream_in_cycles", "stream_out_cycles", "reduce_cycles", "spill_cycles")


def _num(v, default=math.inf) -> float:
    return default if v is None else float(v)


def _result_from(d: dict, arrays: dict) -> SimResult:
    stages = tuple(StageRow(int(s["stage"]), str(s["heavy"]), tuple(s["ops"]), int(s["cores"]),
                            _num(s["compute_cycles_max"]), _num(s["compute_cycles_mean"]),
                            _num(s["link_cycles_max"]), _num(s["memory_cycles"]),
                            _num(s["stream_cycles"]), _num(s["stage_cycles"]), str(s["bound"]),
                            _num(s.get("ramp_cycles"), 0.0), _num(s.get("update_cycles"), 0.0),
                            **{k: _num(s.get(k), 0.0) for k in _STREAM_ROW_KEYS})
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
        clock_hz=_num(d["clock_hz"], 0.0), placement=None,
        schedule=str(d.get("schedule", "inference")),
        bubble_fraction=_num(d.get("bubble_fraction"), 0.0),
        weight_staleness_steps=_num(d.get("weight_staleness_steps"), 0.0),
        timeline_bwd_start=arrays.get("timeline_bwd_start", np.zeros((0, 0))),
        timeline_bwd_finish=arrays.get("timeline_bwd_finish", np.zeros((0, 0))),
        micro_batch=int(d.get("micro_batch") or 0), systems=int(d.get("systems") or 1),
        scaling_efficiency=_num(d.get("scaling_efficiency"), 1.0),
        memory_service=dict(d.get("memory_service") or {}))
