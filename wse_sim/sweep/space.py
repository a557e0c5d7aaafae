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
import math
from collections.abc import Mapping

from .. import models
from ..errors import ResourceError, SpecError
from ..fingerprint import fingerprint as code_fingerprint
from ..graph import PATTERNS
from ..spec import GPU_PRESETS, WAFER_PRESETS, WaferSpec
from ..validate import (
    MAX_COUNT,
    MAX_SEED,
    WAFER_RULES,
    check,
    fraction,
    integer,
    model_arg_rule,
    show,
)
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

PROVENANCE = ("schema", "fingerprint", "stale")
"""Columns saying which code made a row: the row ``schema`` (:data:`ROW_SCHEMA`), the
simulator's ``fingerprint`` (:mod:`wse_sim.fingerprint`) and ``stale`` (True only for a row
computed by other code and kept on purpose, ``reuse_stale=True``). After the outputs."""

ROW_SCHEMA = 2
"""Version of a sweep row's layout. 1: rows without ``schema`` (keyed by package version
only); 2: rows with :data:`PROVENANCE`, keyed by settings and code fingerprint."""

MAX_POINTS = 100_000
"""A sweep refuses a space of more points unless told otherwise (``max_points``)."""

_MODES = ("train", "infer")
_PLACEMENTS = ("auto", "pipelined", "weight_streaming")
_WAFER_FIELDS = {f.name: f.type for f in dataclasses.fields(WaferSpec) if f.name != "name"}


def _type_name(value) -> str:
    return type(value).__name__


def _check_int(key: str, value, low: int) -> int:
    high = MAX_SEED if key == "seed" else MAX_COUNT
    return integer(f"sweep space: {key}", value, low, high, error=SpecError,
                   fix=f"use integers in [{low}, {high:,}]")


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
        return fraction("sweep space: weight_sparsity", value, error=SpecError,
                        fix="use fractions of weights pruned, e.g. [0, 0.5, 0.9]")
    raise AssertionError(key)


def _check_wafer_field(key: str, value):
    """Check a WaferSpec field value against its rule (:data:`wse_sim.validate.WAFER_RULES`:
    type, finite, range) before anything runs; relations between fields (clock below its
    peak, SRAM left after the reserves) are checked per point by WaferSpec."""
    kind = _WAFER_FIELDS[key]
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise SpecError(f"sweep space: WaferSpec.{key} values must be integers, got "
                        f"{value!r} ({_type_name(value)})")
    rule = WAFER_RULES.get(key)
    if rule is None:  # a field without a rule: its type only
        return value
    out = check(f"sweep space: WaferSpec.{key}", value, rule, SpecError)
    if _WAFER_FIELDS[key] == "float":
        return float(out)
    return int(value) if isinstance(value, int) else out  # an int stays one (same point key)


def model_parameters(model: str) -> dict[str, str]:
    """``{argument: annotation}`` of the builder of ``model`` (a canonical model name)."""
    sig = inspect.signature(models.builder(model))
    return {name: str(p.annotation) for name, p in sig.parameters.items()}


def _check_model_arg(key: str, value, annotation: str):
    """Check a model argument value against its builder annotation ('int', 'float | None')."""
    kinds = {k.strip() for k in annotation.split("|")}
    if value is None and "None" in kinds:
        return value
    rule = model_arg_rule(key, annotation)
    if rule is not None and rule.kind in ("int", "number"):  # the rule models.get applies
        out = check(f"sweep space: model argument {key}", value, rule, SpecError)
        return out if rule.kind == "int" or out is None else float(out)
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
            raise SpecError(f"sweep space: {key} must be a list of values, got {show(values)}; "
                            f"write {key} = [{show(values)}]")
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


def count_points(checked: Mapping) -> int:
    """Points of a checked space (the product of its list lengths), without expanding it."""
    return math.prod(len(v) for v in checked.values())


def check_size(checked: Mapping, max_points: int | None = MAX_POINTS) -> int:
    """The point count of a checked space; :class:`ResourceError` above ``max_points``
    (None: no limit)."""
    n = count_points(checked)
    if max_points is not None:
        max_points = check_int_arg("max_points", max_points)
        if n > max_points:
            sizes = " x ".join(f"{len(v)} {k}" for k, v in checked.items() if len(v) > 1)
            raise ResourceError(f"sweep space has {n:,} points ({sizes}), above max_points="
                                f"{max_points:,}; shrink the space, split it into several "
                                "sweeps, or raise max_points (--max-points N) on purpose")
    return n


def check_int_arg(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{name} must be an integer >= 1 or None, got {value!r}")
    return value


def expand_space(space: Mapping, max_points: int | None = MAX_POINTS) -> list[dict]:
    """The points of ``space`` (checked with :func:`check_space`) in a fixed order: the
    cartesian product with the last key varying fastest. A space of more than ``max_points``
    points raises :class:`~wse_sim.errors.ResourceError` before anything is expanded."""
    checked = check_space(space)
    check_size(checked, max_points)
    keys = list(checked)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(checked[k] for k in keys))]


def split_point(point: Mapping) -> tuple[dict, dict, dict]:
    """``(settings, wafer_overrides, model_args)`` of a point."""
    settings = {k: point[k] for k in SETTINGS}
    wafer = {k: v for k, v in point.items() if k in _WAFER_FIELDS}
    model_args = {k: v for k, v in point.items() if k not in SETTINGS and k not in _WAFER_FIELDS}
    return settings, wafer, model_args


def point_key(point: Mapping, version: str | None = None,
              fingerprint: str | None = None) -> str:
    """A 20-hex-digit key: the SHA-256 of the point's full settings, the row schema, the
    package version and the simulator's source fingerprint (:mod:`wse_sim.fingerprint`), so
    any change to the code gives every point a new key."""
    blob = json.dumps({"point": dict(point), "version": version or __version__,
                       "schema": ROW_SCHEMA, "fingerprint": fingerprint or code_fingerprint()},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def settings_key(point: Mapping) -> str:
    """A 20-hex-digit key of the point's settings alone (no code): finds the rows other code
    computed for the same settings (stale rows)."""
    blob = json.dumps({"point": dict(point)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
