"""Rules for results read back from disk (``result.json`` of :func:`wse_sim.io.save_result`)
and for result objects handed to writers: a saved run is checked value by value before it
is drawn, so an impossible figure (a negative or non-finite throughput, an unknown mode, no
stages) is refused with its key named instead of being redrawn as if valid.

JSON ``null`` stands for a non-finite float the engine wrote on purpose (an infinite latency
of a result that cannot run); where the engine never writes one, ``null`` is refused too.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from ..errors import WseSimFileError
from .checks import MAX_COUNT, show

SAVED_MODES = ("train", "infer")
"""Modes a saved result may have (what :func:`wse_sim.simulate` runs)."""

# key -> (null allowed, lower bound, upper bound); every value must be a finite real number
SAVED_NUMBERS: dict[str, tuple[bool, float, float | None]] = {
    "samples_per_s": (False, 0.0, None),
    "step_time_s": (True, 0.0, None),
    "latency_s": (True, 0.0, None),
    "utilization": (False, 0.0, 1.0 + 1e-9),  # busy cores / cores; 1e-9: float round-off
    "sram_peak_fraction": (False, 0.0, None),
    "energy_j_per_sample": (True, 0.0, None),
    "power_w": (False, 0.0, None),
    "wavelet_hops_per_sample": (False, 0.0, None),
    "macs_per_sample": (False, 0.0, None),
    "sim_wall_s": (False, 0.0, None),
    "clock_hz": (False, 0.0, None),
    "bubble_fraction": (True, 0.0, 1.0),
    "weight_staleness_steps": (True, 0.0, None),
}
SAVED_COUNTS = {"cores_used": 0, "replicas": 1}  # key -> lowest value
STAGE_NUMBERS = ("compute_cycles_max", "compute_cycles_mean", "link_cycles_max",
                 "memory_cycles", "stream_cycles", "stage_cycles", "ramp_cycles",
                 "update_cycles")


def _bad(where: str, key: str, value, want: str) -> WseSimFileError:
    return WseSimFileError(f"{where}: {key} must be {want}, got {show(value)}; the file was "
                           "edited or damaged: re-create it with 'wse-sim run --report DIR'")


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def check_number(where: str, key: str, value, null_ok: bool, low: float,
                 high: float | None = None):
    """A saved float: finite, in ``[low, high]`` (``None`` only where ``null_ok``)."""
    if value is None and null_ok:
        return
    rng = f"[{low:g}, {'inf' if high is None else f'{high:g}'}]"
    if not _is_num(value) or value < low or (high is not None and value > high):
        raise _bad(where, key, value, f"a finite number in {rng}"
                   + (" or null" if null_ok else ""))


def check_saved_record(d: dict, where: str) -> None:
    """Every value of a loaded ``result.json`` that the report, the charts and the maps
    read: known mode, non-empty names, finite non-negative figures, at least one stage, each
    stage with its numbers, and a bottleneck that names one of the stages."""
    for key in ("model", "wafer", "execution"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise _bad(where, key, d.get(key), "a non-empty string")
    if d.get("mode") not in SAVED_MODES:
        raise _bad(where, "mode", d.get("mode"), f"one of {', '.join(map(repr, SAVED_MODES))}")
    for key, (null_ok, low, high) in SAVED_NUMBERS.items():
        if key in d or not null_ok:
            check_number(where, key, d.get(key), null_ok, low, high)
    for key, low in SAVED_COUNTS.items():
        v = d.get(key)
        if not _is_int(v) or not low <= v <= MAX_COUNT:
            raise _bad(where, key, v, f"an integer in [{low}, {MAX_COUNT:,}]")
    stages = d.get("stages")
    if not isinstance(stages, list) or not stages:
        raise _bad(where, "stages", stages, "a non-empty list of stage rows (the charts draw "
                   "one bar per stage)")
    ids = set()
    for i, s in enumerate(stages):
        at = f"stages[{i}]"
        if not isinstance(s, dict):
            raise _bad(where, at, s, "an object")
        if not _is_int(s.get("stage")) or s["stage"] < 0:
            raise _bad(where, f"{at}.stage", s.get("stage"), "an integer >= 0")
        ids.add(s["stage"])
        if not _is_int(s.get("cores")) or s["cores"] < 0:
            raise _bad(where, f"{at}.cores", s.get("cores"), "an integer >= 0")
        for key in ("heavy", "bound"):
            if not isinstance(s.get(key), str):
                raise _bad(where, f"{at}.{key}", s.get(key), "a string")
        if not isinstance(s.get("ops"), list) or not all(isinstance(o, str) for o in s["ops"]):
            raise _bad(where, f"{at}.ops", s.get("ops"), "a list of op names")
        for key in STAGE_NUMBERS:
            if key in s or key not in ("ramp_cycles", "update_cycles"):
                check_number(where, f"{at}.{key}", s.get(key), True, 0.0)
    b = d.get("bottleneck")
    if not isinstance(b, dict) or not _is_int(b.get("stage")) or b["stage"] not in ids \
            or not isinstance(b.get("op"), str) or not isinstance(b.get("kind"), str):
        raise _bad(where, "bottleneck", b, f"{{stage: one of {sorted(ids)[:8]}, op: str, "
                   "kind: str}")
    if d.get("settings") is not None and not isinstance(d["settings"], dict):
        raise _bad(where, "settings", d["settings"], "an object")


def check_saved_layout(layout, grid: tuple[int, int], where: str) -> None:
    """The ``layout`` block of a saved result against the wafer grid of its arrays: stage
    rectangles inside the replica tile, one heavy op per rectangle, replica origins that keep
    the tile on the wafer (the placement map draws exactly these)."""
    if layout is None:
        return
    rows, cols = grid

    def ints(v, n):
        return isinstance(v, list) and len(v) == n and all(_is_int(x) for x in v)

    if not isinstance(layout, dict):
        raise _bad(where, "layout", layout, "an object")
    if not isinstance(layout.get("execution"), str):
        raise _bad(where, "layout.execution", layout.get("execution"), "a string")
    tile = layout.get("tile_shape")
    if not ints(tile, 2) or not (1 <= tile[0] <= rows and 1 <= tile[1] <= cols):
        raise _bad(where, "layout.tile_shape", tile, f"[rows, cols] within the wafer's "
                   f"{rows} x {cols} cores")
    rects, heavy = layout.get("rects"), layout.get("heavy")
    if not isinstance(rects, list) or not rects:
        raise _bad(where, "layout.rects", rects, "a non-empty list of [row0, col0, height, "
                   "width]")
    for i, r in enumerate(rects):
        if not ints(r, 4) or r[0] < 0 or r[1] < 0 or r[2] < 1 or r[3] < 1 \
                or r[0] + r[2] > tile[0] or r[1] + r[3] > tile[1]:
            raise _bad(where, f"layout.rects[{i}]", r, f"[row0, col0, height, width] inside "
                       f"the {tile[0]} x {tile[1]} replica tile")
    if not isinstance(heavy, list) or len(heavy) != len(rects) \
            or not all(isinstance(h, str) for h in heavy):
        raise _bad(where, "layout.heavy", heavy, f"a list of {len(rects)} op names, one per "
                   "rectangle")
    origins = layout.get("replica_origins")
    if not isinstance(origins, list) or not 1 <= len(origins) <= rows * cols:
        raise _bad(where, "layout.replica_origins", show(origins, 40),
                   f"a list of 1 to {rows * cols:,} [row, col] origins")
    for i, o in enumerate(origins):
        if not ints(o, 2) or o[0] < 0 or o[1] < 0 or o[0] + tile[0] > rows \
                or o[1] + tile[1] > cols:
            raise _bad(where, f"layout.replica_origins[{i}]", o, "[row, col] that keeps the "
                       f"replica tile on the {rows} x {cols} wafer")


SWEEP_STATUSES = ("ok", "failed")
SWEEP_NUMBERS = ("samples_per_s", "utilization", "energy_j_per_sample", "power_w", "latency_s",
                 "equivalent_gpus", "replicas", "sim_wall_s", "place_wall_s", "point_wall_s",
                 "point_cpu_s")
"""Outputs of a sweep row that are counts, rates or times: null or finite and >= 0."""


def check_sweep_row(row: dict, where: str) -> dict:
    """A row of a sweep table read back from disk: a key, a known status, and non-negative
    finite outputs (``null`` where a point failed or a figure is unbounded); a hand-edited
    impossible row is refused with its key named instead of being plotted."""
    key = row.get("key")
    if not isinstance(key, str) or not key:
        raise _bad(where, "key", key, "the point's key (a string)")
    at = f"row {key}"
    status = row.get("status", "ok")
    if status not in SWEEP_STATUSES:
        raise _bad(where, f"{at}: status", status, f"one of {', '.join(SWEEP_STATUSES)}")
    for k in SWEEP_NUMBERS:
        if k in row:
            check_number(where, f"{at}: {k}", row[k], True, 0.0)
    if status == "ok" and not _is_num(row.get("samples_per_s")):
        raise _bad(where, f"{at}: samples_per_s", row.get("samples_per_s"),
                   "a finite number in [0, inf] for a point whose status is 'ok'")
    return row
