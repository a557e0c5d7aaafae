"""Plots of sweep tables (report-type code: nothing in the core imports this module)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import SpecError, WseSimFileError
from ..validate import flag, show
from ..validate.files import check_output_file as check_path

UNITS = {
    "samples_per_s": "samples/s", "energy_j_per_sample": "J/sample", "power_w": "W",
    "latency_s": "s", "utilization": "fraction of cores", "equivalent_gpus": "GPUs",
    "weight_sparsity": "fraction pruned", "sram_bytes_per_core": "bytes", "batch": "samples",
    "seq_len": "tokens", "map_size": "residues", "rows": "cores", "cols": "cores",
    "replicas": "pipelines", "clock_hz": "Hz", "samples": "samples",
}
"""Units of known columns; other names get one from their suffix (_bytes, _hz, _s, _w, _j)."""

_SUFFIX_UNITS = (("_bytes", "bytes"), ("_hz", "Hz"), ("_s", "s"), ("_w", "W"), ("_j", "J"),
                 ("_cycles", "cycles"))


def axis_label(column: str) -> str:
    """``column`` with its unit, e.g. 'samples_per_s [samples/s]'."""
    unit = UNITS.get(column) or next((u for s, u in _SUFFIX_UNITS if column.endswith(s)), None)
    return f"{column} [{unit}]" if unit else column


def _input_columns(rows: Sequence[Mapping]) -> list[str]:
    """The input columns of sweep rows: those before 'key'."""
    columns = list(rows[0])
    return columns[:columns.index("key")] if "key" in columns else columns


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _series(rows, x: str, y: str, groups: list[str]) -> dict[tuple, list[tuple]]:
    """``{group values: [(x, y), ...]}`` of the rows with a finite numeric ``y``."""
    out: dict[tuple, list[tuple]] = {}
    for row in rows:
        yv = _number(row.get(y))
        xv = row.get(x)
        if yv is not None and (isinstance(xv, str) or _number(xv) is not None):
            out.setdefault(tuple(row.get(g) for g in groups), []).append((row.get(x), yv))
    return out


def plot_sweep(table: Sequence[Mapping], x: str, y: str, hue: str | None = None,
               path=None, *, title: str | None = None, logx: bool = False,
               logy: bool = False):
    """Line plot of output ``y`` against input ``x``, one line per value of input ``hue``.

    Inputs other than ``x`` and ``hue`` that vary in the table split the lines further (and
    appear in the legend), so no point is averaged away. Failed points, and values of ``y``
    that are missing or infinite (e.g. ``equivalent_gpus`` when no GPU cluster catches up),
    are left out and counted in the title. String values of ``x`` are placed in order of first
    appearance. Returns the matplotlib Figure (Agg canvas); saves it as PNG to ``path`` when
    given. Raises :class:`~wse_sim.errors.SpecError` for a column the table does not have.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _check_plot_args(table, x, y, hue, path, title, logx, logy)
    if not rows:
        raise SpecError("plot_sweep: the table is empty")
    inputs = _input_columns(rows)
    for role, column in (("x", x), ("y", y), ("hue", hue)):
        if column is not None and column not in rows[0]:
            raise SpecError(f"plot_sweep: {role}={column!r} is not a column; columns: "
                            f"{', '.join(rows[0])}")
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    varying = [c for c in inputs if c not in (x, hue)
               and len({repr(r.get(c)) for r in rows}) > 1]
    groups = ([hue] if hue else []) + varying
    series = _series(ok, x, y, groups)
    categories = list(dict.fromkeys(r.get(x) for r in rows if isinstance(r.get(x), str)))
    if categories:  # a column of names: numbers mixed in have no place on that axis
        series = {k: [p for p in v if isinstance(p[0], str)] for k, v in series.items()}

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for values, points in series.items():
        points.sort(key=lambda p: categories.index(p[0]) if categories else p[0])
        xs = [categories.index(p[0]) if categories else p[0] for p in points]
        label = ", ".join(f"{g}={v}" for g, v in zip(groups, values, strict=True)) or None
        ax.plot(xs, [p[1] for p in points], marker="o", label=label)
    if categories:
        ax.set_xticks(range(len(categories)), categories)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.grid(True, alpha=0.3)
    if groups and series:
        ax.legend(fontsize="small")
    shown = sum(len(p) for p in series.values())
    fixed = [f"{c}={rows[0][c]}" for c in ("model", "wafer", "mode") if c in inputs
             and c not in groups and c != x]
    heading = title or f"{y} vs {x}" + (f" by {hue}" if hue else "")
    sub = ", ".join(fixed)
    if shown < len(rows):
        sub += f"{'; ' if sub else ''}{len(rows) - shown} of {len(rows)} points not shown"
    ax.set_title(heading + (f"\n{sub}" if sub else ""), fontsize="medium")
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            fig.savefig(buf, dpi=120, format="png")
            atomic_write_bytes(path, buf.getvalue())
        except OSError as e:
            raise WseSimFileError(f"plot_sweep: cannot write {str(path)!r}: {e.strerror or e}"
                                  ) from None
    return fig


def _check_plot_args(table, x, y, hue, path, title, logx, logy) -> list:
    """The rows of ``table`` (a list of dicts), with every argument's type checked."""
    if isinstance(table, (str, bytes, Mapping)) or not isinstance(table, Iterable):
        raise SpecError(f"plot_sweep: table must be a list of rows (dicts), e.g. what sweep() "
                        f"or read_table() returns, got {show(table)} ({type(table).__name__})")
    rows = list(table)
    if not all(isinstance(r, Mapping) for r in rows):
        raise SpecError("plot_sweep: every row of the table must be a dict")
    for role, value, none_ok in (("x", x, False), ("y", y, False), ("hue", hue, True),
                                 ("title", title, True)):
        if not (isinstance(value, str) or (none_ok and value is None)):
            raise SpecError(f"plot_sweep: {role} must be a column name (str), got {show(value)}")
    flag("plot_sweep: logx", logx)
    flag("plot_sweep: logy", logy)
    if path is not None:
        check_path("plot_sweep: path", path)
    return rows
