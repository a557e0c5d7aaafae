"""Sweep spaces: check a space, expand it into points, and key each point (see :mod:`.sweep`).

A *space* is a dict of non-empty lists; the sweep runs their cartesian product. A key is one of

* a sweep setting (:data:`SETTINGS`): ``model``, ``wafer``, ``mode``, ``batch``,
  ``weight_sparsity``, ``pattern``, ``gpu``, ``seed``, ``placement``, ``samples``;
* a :class:`~wse_sim.spec.WaferSpec` field (``rows``, ``cols``, ``sram_bytes_per_core``, ...),
  applied on top of the ``wafer`` preset;
* an argument of every model in ``model`` (``seq_len``, ``map_size``, ...).

A *point* is a flat dict of one value per key, with every setting present (defaults filled in),
so two spellings of the same settings give the same point and the same key.

>>> pts = expand_space({"model": ["cvae"], "wafer": ["tiny"], "weight_sparsity": [0, 0.5]})
>>> [p["weight_sparsity"] for p in pts], pts[0]["mode"]
([0.0, 0.5], 'train')
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
from collections.abc import Mapping

from .. import models
from ..errors import SpecError
from ..graph import PATTERNS
from ..spec import GPU_PRESETS, WAFER_PRESETS, WaferSpec
from ..version import __version__

SETTINGS: dict[str, object] = {
    "model": "bert-base",  # a name of wse_sim.models.available()
    "wafer": "wse2",  # a preset of WAFER_PRESETS; WaferSpec fields in the space override it
    "mode": "train",  # 'train' or 'infer'
    "batch": None,  # samples per step per replica; None = the model's batch_default
    "weight_sparsity": 0.0,  # fraction of weights pruned, [0, 1]
    "pattern": "unstructured",  # sparsity pattern: 'unstructured', 'n:m' or 'block'
    "gpu": "v100",  # GPU preset for equivalent_gpus, or 'none' to skip the GPU baseline
    "seed": 0,  # masks, placement ties and activation draws
    "placement": "auto",  # place() mode: 'auto', 'pipelined' or 'weight_streaming'
    "samples": 64,  # samples pushed through the pipeline recurrence
}
"""Sweep settings and their defaults (a point always carries all of them)."""

OUTPUTS = ("key", "status", "error", "samples_per_s", "bottleneck_kind", "bottleneck_op",
           "utilization", "equivalent_gpus", "energy_j_per_sample", "power_w", "latency_s",
           "execution", "replicas")
"""Output columns of a row, after the point's inputs."""

TIMING_FIELDS = ("sim_wall_s", "place_wall_s", "point_wall_s", "point_cpu_s")
"""Timing columns, seconds: wall time of simulate(), of place() and of the whole point, and the
CPU time of the whole point (below its wall time when the machine is oversubscribed). Last in a
row, and left out of row equality: they are the only fields that vary between runs."""

_MODES = ("train", "infer")
_PLACEMENTS = ("auto", "pipelined", "weight_streaming")
_WAFER_FIELDS = {f.name: f.type for f in dataclasses.fields(WaferSpec) if f.name != "name"}


def _type_name(value) -> str:
    return type(value).__name__


def _check_int(key: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"sweep space: {key} values must be integers >= {low}, got {value!r} "
                        f"({_type_name(value)})")
    return value


def _check_choice(key: str, value, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise SpecError(f"sweep space: unknown {key} {value!r}; use one of "
                        f"{', '.join(sorted(choices))}")
    return value.lower()


def _check_setting(key: str, value):
    """Check and normalise one value of sweep setting ``key``."""
    if key == "model":
        name = value.strip().lower().replace("_", "-") if isinstance(value, str) else value
        return _check_choice(key, name, models.available())
    if key == "wafer":
        name = value.lower().replace("-", "") if isinstance(value, str) else value
        return _check_choice(key, name, WAFER_PRESETS)
    if key == "mode":
        return _check_choice(key, value, _MODES)
    if key == "placement":
        return _check_choice(key, value, _PLACEMENTS)
    if key == "pattern":
        return _check_choice(key, value, PATTERNS[1:])
    if key == "gpu":
        return _check_choice(key, value, [*GPU_PRESETS, "none"])
    if key == "batch":
        return None if value is None else _check_int(key, value, 1)
    if key in ("seed", "samples"):
        return _check_int(key, value, 0 if key == "seed" else 1)
    if key == "weight_sparsity":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise SpecError(f"sweep space: weight_sparsity values must be numbers in [0, 1], "
                            f"got {value!r}")
        return float(value)
    raise AssertionError(key)


def _check_wafer_field(key: str, value):
    """Check the type of a WaferSpec field value; ranges are checked per point by WaferSpec."""
    kind = _WAFER_FIELDS[key]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"sweep space: WaferSpec.{key} values must be integers, got "
                            f"{value!r} ({_type_name(value)})")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"sweep space: WaferSpec.{key} values must be numbers, got {value!r} "
                        f"({_type_name(value)})")
    return float(value)


def model_parameters(model: str) -> dict[str, str]:
    """``{argument: annotation}`` of the builder of ``model`` (a canonical model name)."""
    sig = inspect.signature(models.builder(model))
    return {name: str(p.annotation) for name, p in sig.parameters.items()}


def _check_model_arg(key: str, value, annotation: str):
    """Check a model argument value against its builder annotation ('int', 'float | None')."""
    kinds = {k.strip() for k in annotation.split("|")}
    if value is None and "None" in kinds:
        return value
    if "int" in kinds and not isinstance(value, bool) and isinstance(value, int):
        return value
    if "float" in kinds and not isinstance(value, bool) and isinstance(value, (int, float)):
        return float(value)
    if kinds & {"int", "float"}:
        raise SpecError(f"sweep space: model argument {key} wants {annotation}, got {value!r} "
                        f"({_type_name(value)})")
    if not isinstance(value, (str, int, float, bool)):
        raise SpecError(f"sweep space: model argument {key} values must be numbers, strings or "
                        f"booleans, got {value!r} ({_type_name(value)})")
    return value


def _known_keys(models: list[str]) -> list[str]:
    common = set.intersection(*(set(model_parameters(m)) for m in models))
    return [*SETTINGS, *sorted(_WAFER_FIELDS), *sorted(common)]


def check_space(space: Mapping) -> dict[str, list]:
    """Return ``space`` checked and normalised (settings first, then wafer fields, then model
    arguments, each list's values normalised); raise :class:`SpecError` naming the first
    problem: not a dict, an unknown key, a value that is not a non-empty list, a wrong type,
    an unknown name, or an argument not every model takes."""
    if not isinstance(space, Mapping):
        raise SpecError(f"sweep space must be a dict of lists, got {_type_name(space)}")
    for key, values in space.items():
        if not isinstance(key, str):
            raise SpecError(f"sweep space keys must be strings, got {key!r}")
        if not isinstance(values, (list, tuple)):
            raise SpecError(f"sweep space: {key} must be a list of values, got {values!r}; "
                            f"write {key} = [{json.dumps(values)}]")
        if len(values) == 0:
            raise SpecError(f"sweep space: {key} is an empty list; give at least one value")
    models = [_check_setting("model", m) for m in space.get("model", [SETTINGS["model"]])]
    params = {m: model_parameters(m) for m in models}
    out: dict[str, list] = {}
    for key in SETTINGS:
        values = space.get(key, [SETTINGS[key]])
        out[key] = [_check_setting(key, v) for v in values]
    for key, values in space.items():
        if key in SETTINGS:
            continue
        if key == "name":
            raise SpecError("sweep space: choose wafer presets with 'wafer', not 'name'")
        if key in _WAFER_FIELDS:
            out[key] = [_check_wafer_field(key, v) for v in values]
        elif all(key in p for p in params.values()):
            out[key] = [_check_model_arg(key, v, params[models[0]][key]) for v in values]
        else:
            known = ", ".join(_known_keys(models))
            raise SpecError(f"sweep space: unknown field {key!r} (not a sweep setting, a "
                            f"WaferSpec field, or an argument of every model in "
                            f"{models}); known fields: {known}")
    for key, values in out.items():
        if len(set(map(json.dumps, values))) != len(values):
            raise SpecError(f"sweep space: {key} lists a value twice: {values!r}")
    return out


def expand_space(space: Mapping) -> list[dict]:
    """The points of ``space`` (checked with :func:`check_space`) in a fixed order: the
    cartesian product with the last key varying fastest."""
    checked = check_space(space)
    keys = list(checked)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(checked[k] for k in keys))]


def split_point(point: Mapping) -> tuple[dict, dict, dict]:
    """``(settings, wafer_overrides, model_args)`` of a point."""
    settings = {k: point[k] for k in SETTINGS}
    wafer = {k: v for k, v in point.items() if k in _WAFER_FIELDS}
    model_args = {k: v for k, v in point.items() if k not in SETTINGS and k not in _WAFER_FIELDS}
    return settings, wafer, model_args


def point_key(point: Mapping, version: str | None = None) -> str:
    """A 20-hex-digit key: the SHA-256 of the point's full settings and the package version."""
    if version is None:
        version = __version__
    blob = json.dumps({"point": dict(point), "version": version}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
