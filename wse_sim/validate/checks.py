"""The typed checkers of :mod:`wse_sim.validate` and the physical bounds they use."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ..errors import SpecError, WseSimError

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
# ---- physical floors of rates (assumed; each far below any machine built). A positive rate
# must not be so small that a time derived from it (work / rate) overflows float64 to inf:
# 1e-300 bytes/s would turn any transfer into an infinite time and a zero throughput.
MIN_CLOCK_HZ = 1e3  # 1 kHz: a million times slower than any wafer or GPU clock, assumed
MIN_PER_CYCLE = 1e-3  # bytes or wavelets per cycle: one per thousand cycles, assumed
MIN_BANDWIDTH_BYTES_PER_S = 1e3  # 1 kB/s: slower than a dial-up modem, assumed
MIN_FLOPS = 1e6  # 1 MFLOP/s: a 1980s workstation, assumed
MAX_COUNT = 2**31 - 1  # samples, batch, GPUs, replicas: int32 range, assumed
MAX_SEED = 2**32 - 1  # numpy's SeedSequence takes any size; masks add per-op offsets in int64
MAX_MODEL_DIM = 2**20  # a model size argument (seq_len, hidden, image side), assumed
MAX_TENSOR_ELEMS = 2**40  # elements of one per-sample tensor (2 TB in fp16), assumed
MAX_NAME_BYTES = 255  # one file or folder name: NAME_MAX of Linux, macOS and Windows, stated
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

    from ..errors import WseSimFileError

    error = error or WseSimFileError
    if isinstance(value, (str, os.PathLike)):
        try:
            p = Path(value)
        except TypeError:
            p = None
        if p is not None and str(p) not in ("", ".") or value in (".", "./"):
            long = [part for part in p.parts if len(os.fsencode(part)) > MAX_NAME_BYTES]
            if long:
                raise error(f"{field}: the name {show(long[0], 40)} is {len(long[0]):,} "
                            f"characters; file systems allow {MAX_NAME_BYTES} bytes per name, "
                            "so choose a shorter one")
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
