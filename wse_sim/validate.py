"""Validation as data: one checker per type, and the rules of every checked field in tables.

Every public entry point (the specs' ``__post_init__``, the model builders, ``sparsify``,
``place``, ``simulate``, ``gpu_baseline``, the sweep space and the command line) checks its
inputs here, so a rule is written once and every message has the same shape::

    WaferSpec.clock_hz must be a finite number in (0, 1e+11] Hz, got inf; set clock_hz to the
    core clock, e.g. 1.1e9

It names the field, the value, the allowed range and a fix. The rules:

* ``int``: an integer (``int`` or a numpy integer; **not** ``bool``), within ``[low, high]``;
* ``number``: a real number (not ``bool``, not a string), **finite** (NaN and +-inf are
  rejected), within the bounds (``low_open`` excludes ``low``);
* ``choice``: a string among ``choices``;
* ``bool``: ``True`` or ``False`` (numpy bools too);
* ``str``: a non-empty string.

The upper bounds are *physical* bounds: far above any wafer or GPU built, they only reject
values no hardware has (and that would overflow int64 arithmetic further down). Each says so.
This module imports nothing of wse-sim but :mod:`wse_sim.errors`, so every layer can use it.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from .errors import SpecError, WseSimError

# ---- physical bounds (assumed; each far above any machine built) ------------------------------
MAX_MESH_SIDE = 1_000_000  # cores per mesh side; WSE-3 is 762 x 1172 (docs/hardware.md), assumed
MAX_SRAM_BYTES_PER_CORE = 2**26  # 64 MiB, 1,365x WSE-2's 48 KB per core, assumed
MAX_CLOCK_HZ = 1e11  # 100 GHz: no CMOS logic clocks near it, assumed
MAX_LANES = 4096  # FMAC lanes, bits, ports, colors per core: 10x-1000x WSE-2's, assumed
MAX_CYCLES = 1e9  # a per-hop / per-task latency of a second at 1 GHz, assumed
MAX_ENERGY_PJ = 1e6  # pJ per operation: a microjoule per FMAC, 10^6x any chip, assumed
MAX_POWER_W = 1e7  # 10 MW for one system, assumed
MAX_BANDWIDTH_BYTES_PER_S = 1e16  # 10 PB/s off-chip, 1000x a CS-2's I/O, assumed
MAX_FLOPS = 1e18  # one exaFLOP/s per GPU, 500x an H100, assumed
MAX_MEMORY_BYTES = 1e14  # 100 TB on one GPU, 1000x an H100, assumed
MAX_COUNT = 2**31 - 1  # samples, batch, GPUs, replicas: int32 range, assumed
MAX_SEED = 2**32 - 1  # numpy's SeedSequence takes any size; masks add per-op offsets in int64
MAX_MODEL_DIM = 2**20  # a model size argument (seq_len, hidden, image side), assumed
MAX_TENSOR_ELEMS = 2**40  # elements of one per-sample tensor (2 TB in fp16), assumed
MAX_MACS = 2**62  # MACs of one op per sample: keeps every count inside int64, derived


@dataclass(frozen=True)
class Rule:
    """What one field may hold (see the module docstring for the kinds)."""

    kind: str  # 'int', 'number', 'choice', 'bool', 'str'
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is not allowed
    unit: str = ""
    fix: str = ""  # how to fix a bad value; default: 'use <describe()>'
    choices: tuple = ()
    none_ok: bool = False  # None is allowed (a default)

    def describe(self) -> str:
        """The allowed values in words, e.g. 'an integer in [1, 1,000,000]'."""
        if self.kind == "choice":
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "str":
            text = "a non-empty string"
        else:
            text = "an integer" if self.kind == "int" else "a finite number"
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else _fmt(self.low)
                hi = "inf" if self.high is None else _fmt(self.high)
                text += f" in {'(' if self.low_open or self.low is None else '['}{lo}, {hi}"
                text += ")" if self.high is None else "]"
            if self.unit:
                text += f" {self.unit}"
        return text + (" or None" if self.none_ok else "")


def _fmt(x) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e7):
        return f"{int(x):,}"
    return f"{x:g}"


def show(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a huge list stays one short line)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(field: str, value, rule: Rule, error: type[WseSimError], why: str = "") -> WseSimError:
    """The error for ``value`` breaking ``rule`` (raise it)."""
    got = show(value)
    if rule.kind in ("int", "number") and not _is_real(value):
        got += f" ({type(value).__name__})"
    fix = rule.fix or f"use {rule.describe()}"
    return error(f"{field} must be {rule.describe()}, got {got}{why}; {fix}")


def _is_real(value) -> bool:
    return isinstance(value, (Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def check(field: str, value, rule: Rule, error: type[WseSimError] = SpecError):
    """``value`` checked against ``rule`` and normalised (numpy scalars -> Python; a number
    -> float); raises ``error`` (a :class:`WseSimError` subclass) naming ``field``."""
    if value is None and rule.none_ok:
        return None
    if rule.kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise fail(field, value, rule, error)
    if rule.kind == "str":
        if isinstance(value, str) and value.strip():
            return value
        raise fail(field, value, rule, error)
    if rule.kind == "choice":
        if isinstance(value, str) and value in rule.choices:
            return value
        raise fail(field, value, rule, error)
    if rule.kind == "int":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, np.integer)):
            raise fail(field, value, rule, error)
        value = int(value)
    elif rule.kind == "number":
        if not _is_real(value):
            raise fail(field, value, rule, error)
        if not isinstance(value, Integral):
            try:
                value = float(value)
            except (OverflowError, ValueError):
                raise fail(field, value, rule, error) from None
            if not math.isfinite(value):
                raise fail(field, value, rule, error, " (not finite)")
    else:  # a rule table's typo: a bug, not a user's
        raise AssertionError(f"unknown rule kind {rule.kind!r}")
    if rule.low is not None and (value < rule.low or (rule.low_open and value == rule.low)):
        raise fail(field, value, rule, error)
    if rule.high is not None and value > rule.high:
        raise fail(field, value, rule, error)
    return float(value) if rule.kind == "number" else value


# ---- small typed checkers -----------------------------------------------------------------
def integer(field: str, value, low: int | None = 1, high: int | None = MAX_COUNT, *,
            error: type[WseSimError] = SpecError, fix: str = "", none_ok: bool = False):
    """An integer (not bool) in ``[low, high]``."""
    return check(field, value, Rule("int", low, high, fix=fix, none_ok=none_ok), error)


def number(field: str, value, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, error: type[WseSimError] = SpecError, fix: str = "",
           unit: str = "", none_ok: bool = False):
    """A finite real number (not bool) within the bounds; returned as float."""
    return check(field, value, Rule("number", low, high, low_open, unit, fix, none_ok=none_ok),
                 error)


def positive(field: str, value, high: float | None = None, **kw) -> float:
    """A finite number > 0."""
    return number(field, value, 0, high, low_open=True, **kw)


def fraction(field: str, value, *, error: type[WseSimError] = SpecError, fix: str = ""):
    """A finite number in [0, 1]."""
    return number(field, value, 0, 1, error=error, fix=fix)


def choice(field: str, value, choices, *, error: type[WseSimError] = SpecError, fix: str = ""):
    """A string among ``choices``."""
    return check(field, value, Rule("choice", choices=tuple(choices), fix=fix), error)


def flag(field: str, value, *, error: type[WseSimError] = SpecError) -> bool:
    """True or False."""
    return check(field, value, Rule("bool"), error)


def text(field: str, value, *, error: type[WseSimError] = SpecError, fix: str = "") -> str:
    """A non-empty string."""
    return check(field, value, Rule("str", fix=fix), error)


def seed(field: str, value, *, error: type[WseSimError] = SpecError) -> int:
    """A random seed: an integer in [0, 2^32 - 1]."""
    return integer(field, value, 0, MAX_SEED, error=error,
                   fix="use a non-negative integer such as 0")


def instance(field: str, value, cls, *, error: type[WseSimError] = SpecError,
             fix: str = "") -> object:
    """``value`` if it is a ``cls``; else ``error`` naming the type it got."""
    if isinstance(value, cls):
        return value
    names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
    raise error(f"{field} must be a {names}, got {show(value)} ({type(value).__name__})"
                + (f"; {fix}" if fix else ""))


def path(field: str, value, *, error: type[WseSimError] | None = None):
    """``value`` as a :class:`~pathlib.Path` (a str or path-like, not empty, no NUL byte)."""
    import os
    from pathlib import Path

    from .errors import WseSimFileError

    error = error or WseSimFileError
    if isinstance(value, (str, os.PathLike)):
        try:
            p = Path(value)
        except TypeError:
            p = None
        if p is not None and str(p) not in ("", ".") or value in (".", "./"):
            if "\0" not in str(p):
                return p
    raise error(f"{field} must be a file or folder path (str or pathlib.Path), got "
                f"{show(value)} ({type(value).__name__})")


def callable_or_none(field: str, value, *, error: type[WseSimError] = SpecError,
                     fix: str = ""):
    if value is None or callable(value):
        return value
    raise error(f"{field} must be a callable or None, got {show(value)} "
                f"({type(value).__name__})" + (f"; {fix}" if fix else ""))


def check_fields(obj, rules: Mapping[str, Rule], owner: str,
                 error: type[WseSimError] = SpecError) -> dict:
    """Check every field of dataclass ``obj`` named in ``rules``; return ``{field: Python
    value}`` for the fields given as numpy scalars (ints stay ints, so dicts are unchanged)."""
    changed = {}
    for name, rule in rules.items():
        value = getattr(obj, name)
        new = check(f"{owner}.{name}", value, rule, error)
        if isinstance(value, np.generic):
            changed[name] = new
    return changed


def checked_init(error: type[WseSimError] = SpecError, hint: str = ""):
    """Class decorator for a dataclass: a call with missing, unknown or duplicated arguments
    raises ``error`` (listing the fields) instead of a raw TypeError."""

    def wrap(cls):
        init = cls.__init__
        sig = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            try:
                sig.bind(self, *args, **kwargs)
            except TypeError as exc:
                fields = ", ".join(p for p in sig.parameters if p != "self")
                raise error(f"{cls.__name__}(): {exc}; its fields are {fields}"
                            + (f"; {hint}" if hint else "")) from None
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        return cls

    return wrap


# ---- rule tables ----------------------------------------------------------------------------
def _count(high, unit="", fix=""):
    return Rule("int", 1, high, unit=unit, fix=fix)


def _nonneg(high, unit="", kind="number"):
    return Rule(kind, 0, high, unit=unit)


def _pos(high, unit="", fix=""):
    return Rule("number", 0, high, low_open=True, unit=unit, fix=fix)


WAFER_RULES: dict[str, Rule] = {
    "name": Rule("str", fix="name the wafer, e.g. name='my-wafer'"),
    "rows": _count(MAX_MESH_SIDE, "cores", "set rows to the mesh height, e.g. rows=994"),
    "cols": _count(MAX_MESH_SIDE, "cores", "set cols to the mesh width, e.g. cols=750"),
    "sram_bytes_per_core": _count(MAX_SRAM_BYTES_PER_CORE, "bytes",
                                  "set sram_bytes_per_core in bytes, e.g. 49152 (48 KB)"),
    "clock_hz": _pos(MAX_CLOCK_HZ, "Hz", "set clock_hz to the core clock, e.g. 1.1e9"),
    "clock_max_hz": _pos(MAX_CLOCK_HZ, "Hz", "set clock_max_hz to the peak clock, e.g. 1.1e9"),
    "cores_marketed": Rule("int", 0, MAX_MESH_SIDE**2, unit="cores"),
    "fmac_per_cycle_fp16": _count(MAX_LANES),
    "fmac_per_cycle_fp32": _count(MAX_LANES),
    "sram_read_bytes_per_cycle": _pos(MAX_LANES, "bytes/cycle"),
    "sram_write_bytes_per_cycle": _pos(MAX_LANES, "bytes/cycle"),
    "wavelet_bits": _count(MAX_LANES, "bits"),
    "link_wavelets_per_cycle": _pos(MAX_LANES),
    "mesh_ports": _count(16),  # a 2-D mesh has 4; 16 allows any 3-D or express topology
    "hop_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "ramp_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "turn_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "colors": _count(MAX_LANES),
    "wavelet_overhead_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "task_overhead_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "code_reserve_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "io_buffer_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "stream_chunk_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "buffer_depth": _count(MAX_COUNT, "samples"),
    "offwafer_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s"),
    "energy_pj_per_fmac": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "energy_pj_per_wavelet_hop": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "energy_pj_per_sram_byte": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "static_power_w": _nonneg(MAX_POWER_W, "W"),
}
"""Every :class:`~wse_sim.spec.WaferSpec` field's rule."""

GPU_RULES: dict[str, Rule] = {
    "name": Rule("str", fix="name the GPU, e.g. name='my-gpu'"),
    "fp16_tensor_flops": _pos(MAX_FLOPS, "FLOP/s"),
    "fp16_tensor_sparse_flops": _pos(MAX_FLOPS, "FLOP/s"),
    "fp32_flops": _pos(MAX_FLOPS, "FLOP/s"),
    "hbm_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s"),
    "memory_bytes": _pos(MAX_MEMORY_BYTES, "bytes"),
    "nvlink_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s"),
    "tdp_w": _pos(MAX_POWER_W, "W"),
    "gpus_per_node": _count(1024, "GPUs"),
    "internode_bytes_per_s_per_node": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s"),
    "kernel_launch_s": _pos(1.0, "s"),
    "supports_2to4": Rule("bool"),
}
"""Every numeric or flag :class:`~wse_sim.spec.GpuSpec` field's rule."""


def check_wafer(spec) -> dict:
    """Check a WaferSpec's fields and the relations between them; return normalised fields."""
    changed = check_fields(spec, WAFER_RULES, "WaferSpec")
    get = lambda k: changed.get(k, getattr(spec, k))  # noqa: E731
    if get("clock_hz") > get("clock_max_hz"):
        raise SpecError(f"WaferSpec.clock_hz={get('clock_hz'):g} Hz is above clock_max_hz="
                        f"{get('clock_max_hz'):g} Hz (the peak clock); lower clock_hz or raise "
                        "clock_max_hz")
    if get("code_reserve_bytes") + get("io_buffer_bytes") >= get("sram_bytes_per_core"):
        raise SpecError(
            f"WaferSpec.code_reserve_bytes={get('code_reserve_bytes')} plus io_buffer_bytes="
            f"{get('io_buffer_bytes')} leaves no SRAM of sram_bytes_per_core="
            f"{get('sram_bytes_per_core')}; lower the reserve or raise SRAM")
    return changed


def check_gpu(spec) -> dict:
    """Check a GpuSpec's fields; return normalised fields."""
    changed = check_fields(spec, GPU_RULES, "GpuSpec")
    if not isinstance(spec.extra, dict):
        raise SpecError(f"GpuSpec.extra must be a dict, got {show(spec.extra)}")
    return changed


def normalise(obj, changed: Mapping) -> None:
    """Write normalised values back into a frozen dataclass (from ``__post_init__``)."""
    for k, v in changed.items():
        object.__setattr__(obj, k, v)


# ---- model builder arguments --------------------------------------------------------------
def model_arg_rule(name: str, annotation: str) -> Rule | None:
    """The rule of model-builder argument ``name`` annotated ``annotation`` ('int',
    'float | None', ...); None for arguments that are not numbers (names)."""
    kinds = {k.strip() for k in str(annotation).split("|")}
    none_ok = "None" in kinds
    if "int" in kinds:
        return Rule("int", 1, MAX_MODEL_DIM, none_ok=none_ok,
                    fix=f"{name} is a size: a positive integer such as 128")
    if "float" in kinds:
        high = 1 if name.endswith(("density", "sparsity")) else None
        if name in ("dropout", "p") or name.endswith("dropout"):
            return Rule("number", 0, 1, none_ok=none_ok, fix=f"{name} is a probability, e.g. 0.1")
        if high is not None:
            return Rule("number", 0, 1, none_ok=none_ok, fix=f"{name} is a fraction in [0, 1]")
        return Rule("number", none_ok=none_ok)
    if "bool" in kinds:
        return Rule("bool", none_ok=none_ok)
    if "str" in kinds:
        return Rule("str", none_ok=none_ok)
    return None


def check_model_args(model: str, builder: Callable, kwargs: Mapping,
                     error: type[WseSimError]) -> dict:
    """``kwargs`` of model ``model``'s ``builder`` checked against its annotations."""
    params = inspect.signature(builder).parameters
    out = {}
    for key, value in kwargs.items():
        if key not in params:
            raise error(f"model {model!r} has no argument {key!r}; it takes: "
                        f"{', '.join(params) or 'no arguments'}")
        rule = model_arg_rule(key, params[key].annotation)
        out[key] = value if rule is None else check(f"model {model!r} argument {key}", value,
                                                    rule, error)
    return out


# ---- place / simulate / sparsify arguments ------------------------------------------------
def check_place_args(graph, wafer, mode, training, replicas, batch, seed, *, modes,
                     graph_cls, wafer_cls):
    """The checked ``(training, replicas, batch, seed)`` of :func:`wse_sim.place`."""
    from .errors import SimulationError

    instance("place: graph", graph, graph_cls, error=SimulationError,
             fix="build one with wse_sim.models.get(name) or wse_sim.Graph")
    instance("place: wafer", wafer, wafer_cls, error=SimulationError,
             fix="pass a spec such as wse_sim.wafer('wse2')")
    choice("place: mode", mode, modes, error=SimulationError)
    training = flag("place: training", training, error=SimulationError)
    if not (isinstance(replicas, str) and replicas == "auto"):
        replicas = integer("place: replicas", replicas, 1, min(wafer.cores, MAX_COUNT),
                           error=SimulationError,
                           fix="use replicas='auto' or a count up to the wafer's cores")
    batch = integer("place: batch", batch, 1, MAX_COUNT, error=SimulationError, none_ok=True,
                    fix="use a batch >= 1, or None for the model's default")
    seed = seed_check("place: seed", seed)
    return training, replicas, batch, seed


def seed_check(field, value, error=None):
    from .errors import SimulationError

    return seed(field, value, error=error or SimulationError)


def check_densities(densities) -> dict:
    """``{op name: density}`` overrides of simulate(): str keys, values finite in [0, 1]."""
    from .errors import SimulationError

    if densities is None:
        return {}
    if not isinstance(densities, Mapping):
        raise SimulationError(f"densities must be a dict {{heavy op name: density}}, got "
                              f"{show(densities)} ({type(densities).__name__})")
    out = {}
    for k, v in densities.items():
        if not isinstance(k, str):
            raise SimulationError(f"densities keys must be op names (str), got {show(k)}")
        out[k] = fraction(f"densities[{k!r}]", v, error=SimulationError,
                          fix="a density is the fraction of non-zero inputs, in [0, 1]")
    return out


def check_simulate_args(placement, mode, batch, samples, activations, seed, drain_per_step,
                        densities, inputs, progress, *, placement_cls) -> None:
    """Types and ranges of :func:`wse_sim.simulate`'s arguments (the engine checks how they
    fit the placement)."""
    from .errors import SimulationError

    E = SimulationError
    instance("simulate: placement", placement, placement_cls, error=E,
             fix="pass what wse_sim.place(graph, wafer) returns")
    choice("simulate: mode", mode, ("train", "infer"), error=E,
           fix="use 'train' or 'infer', or None for the placement's") if mode is not None \
        else None
    integer("simulate: batch", batch, 1, MAX_COUNT, error=E, none_ok=True,
            fix="use a batch >= 1, or None for the placement's")
    integer("simulate: samples", samples, 1, MAX_COUNT, error=E,
            fix="simulate a few dozen samples, e.g. samples=64")
    choice("simulate: activations", activations, ("synthetic", "functional"), error=E)
    seed_check("simulate: seed", seed)
    flag("simulate: drain_per_step", drain_per_step, error=E)
    check_densities(densities)
    callable_or_none("simulate: inputs", inputs, error=E,
                     fix="use wse_sim.models.data.default_inputs or your own callable")
    callable_or_none("simulate: progress", progress, error=E, fix="a callable(done, total)")


def check_gpu_args(gpu, batch_per_gpu, n_gpus, gpus_per_node, *, gpu_cls) -> None:
    """Types and ranges of :func:`wse_sim.gpu_baseline`'s sizes (its own checks do the rest)."""
    from .errors import GpuError

    if not isinstance(gpu, (str, gpu_cls)):
        raise GpuError(f"gpu must be a preset name or a GpuSpec, got {show(gpu)} "
                       f"({type(gpu).__name__}); e.g. gpu='a100'")
    if not (isinstance(batch_per_gpu, str) and batch_per_gpu == "auto"):
        integer("gpu_baseline: batch_per_gpu", batch_per_gpu, 1, MAX_COUNT, error=GpuError,
                none_ok=True, fix="use an integer >= 1, 'auto' or None")
    integer("gpu_baseline: n_gpus", n_gpus, 1, MAX_COUNT, error=GpuError)
    integer("gpu_baseline: gpus_per_node", gpus_per_node, 1, 1024, error=GpuError,
            none_ok=True)
