"""Command-line plumbing shared by the subcommands: one-line argparse errors, KEY=VALUE
parsing, tables, JSON output and the progress bar."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from contextlib import contextmanager

from tqdm import tqdm

from ..errors import WseSimError
from ..jsonable import jsonable
from ..spec import WaferSpec

PROG = "wse-sim"


class UsageError(WseSimError, ValueError):
    """A malformed command-line value (a key=value pair, a type, a range)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors in the one form every wse-sim error has (the README's):
    ``wse-sim: error: ... (see 'wse-sim run --help')``, for the subcommands' usage errors too
    (their own ``prog`` is named only in the help hint)."""

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {' '.join(message.split())} "
                     f"(see '{self.prog} --help')\n")


def subcommand(parser: argparse.ArgumentParser, name: str | None):
    """The sub-parser of command ``name`` (None when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def check_parsed(args, sub) -> None:
    """Rules every parsed option obeys, whatever the subcommand (so flags added later obey
    them too): an ``int`` option within +-MAX_COUNT (a 30-digit count would overflow the
    int64 kernels), a ``float`` option finite. Also records in ``args.given`` the options
    whose value differs from their default (see :func:`refuse_unused`)."""
    from ..validate import MAX_COUNT

    args.given = set()
    if sub is None:
        return
    for action in sub._actions:
        if not action.option_strings or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value != action.default:
            args.given.add(action.dest)
        flag = action.option_strings[-1]
        if action.type is int and isinstance(value, int) and abs(value) > MAX_COUNT:
            raise UsageError(f"{flag} {value} is out of range; use an integer of at most "
                             f"{MAX_COUNT:,}")
        if action.type is float and isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, got {value}")


def check_plot_path(flag: str, value) -> None:
    """An image path matplotlib can write: a writable file path whose suffix is a format it
    knows (no suffix: PNG)."""
    from matplotlib.backend_bases import FigureCanvasBase

    from ..validate.files import check_output_file

    p = check_output_file(flag, value)
    formats = FigureCanvasBase.get_supported_filetypes()
    if p.suffix and p.suffix[1:].lower() not in formats:
        raise UsageError(f"{flag} {str(p)!r}: matplotlib cannot write {p.suffix!r} images; use "
                         f"one of {', '.join('.' + f for f in sorted(formats))}, e.g. .png")


def refuse_unused(args, dests, needs: str) -> None:
    """Refuse options given (not at their default) where they have no effect, instead of
    ignoring them without a word: ``dests`` apply only with ``needs``."""
    given = sorted(d for d in dests if d in getattr(args, "given", ()))
    if given:
        flags = ", ".join("--" + d.replace("_", "-") for d in given)
        verb = "only apply" if len(given) > 1 else "only applies"
        raise UsageError(f"{flags} {verb} with {needs}; drop it or add what it needs")


# ---- value parsing ---------------------------------------------------------------------------
def parse_pair(text: str, option: str) -> tuple[str, str]:
    """Split ``key=value``; a missing '=' or empty key raises :class:`UsageError`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} expects key=value, got {text!r}")
    return key.strip(), value.strip()


def guess_value(text: str):
    """A model argument's value: int, float, bool or None when it reads as one, else the text."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def coerce(text: str, kind: str, what: str):
    """``text`` as a WaferSpec field of type ``kind`` ('int', 'float', 'str', 'bool')."""
    try:
        if kind == "int":
            value = float(text.replace("_", "")) if any(c in text for c in ".eE") else \
                int(text.replace("_", ""), 0)
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
            return value
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        return text
    except ValueError:
        raise UsageError(f"{what} must be {'an' if kind == 'int' else 'a'} {kind}, "
                         f"got {text!r}") from None


def wafer_overrides(pairs: list[str]) -> dict:
    """``--set field=value`` pairs as typed WaferSpec overrides."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(WaferSpec)}
    out = {}
    for text in pairs:
        key, value = parse_pair(text, "--set")
        if key not in fields or key == "name":
            raise UsageError(f"unknown wafer field {key!r} in --set; fields: "
                             f"{', '.join(k for k in fields if k != 'name')}")
        out[key] = coerce(value, fields[key], f"--set {key}")
    return out


def model_arguments(pairs: list[str]) -> dict:
    """``--model-arg key=value`` pairs with values read as int/float/bool where they parse."""
    out = {}
    for text in pairs:
        key, value = parse_pair(text, "--model-arg")
        out[key] = guess_value(value)
    return out


# ---- output helpers --------------------------------------------------------------------------
def table(rows: list[list[str]], header: list[str], right: set[int] = frozenset()) -> str:
    """An aligned text table (columns in ``right`` are right-aligned)."""
    cells = [header, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(str(v).rjust(w) if i in right else str(v).ljust(w)
                         for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _si(value: float, unit: str = "") -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def print_json(obj) -> None:
    print(json.dumps(jsonable(obj), indent=2, allow_nan=False))


@contextmanager
def progress_bar(enabled: bool):
    """A tqdm bar on stderr over the phases of a run (model, place, simulate, GPU); it appears
    only once a run has taken 2 s. Yields ``advance(phase, fraction)``."""
    if not enabled:
        yield lambda phase, frac=0.0: None
        return
    bar = tqdm(total=100, file=sys.stderr, delay=2.0, leave=False, unit="%",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
    weights = {"model": (0, 5), "place": (5, 45), "simulate": (50, 45), "gpu": (95, 5)}

    def advance(phase: str, frac: float = 0.0) -> None:
        base, span = weights[phase]
        bar.set_description_str(phase, refresh=False)
        bar.update(max(0.0, min(100.0, base + span * frac) - bar.n))  # honours the delay

    try:
        yield advance
    finally:
        bar.close()
