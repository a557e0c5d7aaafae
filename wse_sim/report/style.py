"""Figure sizes, colours and the drawing helpers every plot shares (matplotlib's Agg
canvas: no display needed)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..validate import path as as_path
from ..validate.files import file_errors

DPI = 100
MAP_FIGSIZE = (8.0, 6.4)  # inches -> 800 x 640 px
WIDE_FIGSIZE = (12.0, 5.0)  # -> 1200 x 500 px
GPU_FIGSIZE = (8.0, 5.0)  # -> 800 x 500 px
MAP_CELLS = 400  # a map is drawn with at most this many cells a side
TIMELINE_SAMPLES = 16
MAX_LABELS = 40  # stage labels drawn on the placement map (largest regions first)
MAX_TABLE_STAGES = 400  # per-stage rows in report.md before eliding the middle
DEFAULT_GPU = "v100"  # compared with when report() is given a simulated result and no GPU

IMAGES = {
    "placement": ("placement.png", MAP_FIGSIZE, "Placement of the stages"),
    "utilization": ("utilization.png", MAP_FIGSIZE, "Per-core utilisation"),
    "sram": ("sram.png", MAP_FIGSIZE, "SRAM occupancy"),
    "link_loads": ("link_loads.png", MAP_FIGSIZE, "Fabric link loads"),
    "stage_cycles": ("stage_cycles.png", WIDE_FIGSIZE, "Cycles per stage"),
    "timeline": ("timeline.png", WIDE_FIGSIZE, "Pipeline timeline"),
    "gpu": ("gpu.png", GPU_FIGSIZE, "GPU comparison"),
}
IMAGE_SIZES = {name: (int(round(fs[0] * DPI)), int(round(fs[1] * DPI)))
               for name, (_, fs, _) in IMAGES.items()}
"""Pixel size (width, height) of each image."""


def block_reduce(a: np.ndarray, factor: int | tuple[int, int], how: str = "max") -> np.ndarray:
    """Reduce the first two axes of ``a`` over ``factor`` x ``factor`` blocks (vectorised).

    ``how`` is 'max', 'mean' or 'first' (the top-left element of each block, for labels such as
    stage ids). The array is padded to a multiple of the factor; padding never wins a max and
    never counts in a mean. Extra trailing axes are kept.

    >>> block_reduce(np.arange(12.).reshape(3, 4), 2, "max")
    array([[ 5.,  7.],
           [ 9., 11.]])
    """
    fy, fx = (factor, factor) if np.isscalar(factor) else factor
    fy, fx = max(1, int(fy)), max(1, int(fx))
    if how == "first":
        return a[::fy, ::fx]
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max', 'mean' or 'first', got {how!r}")
    if fy == 1 and fx == 1:
        return a
    h, w = a.shape[:2]
    ph, pw = (-h) % fy, (-w) % fx
    x = a.astype(np.float64, copy=False)
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (a.ndim - 2)
    x = np.pad(x, pad, constant_values=np.nan)
    x = x.reshape((h + ph) // fy, fy, (w + pw) // fx, fx, *a.shape[2:])
    if how == "max":
        return np.fmax.reduce(np.fmax.reduce(x, axis=3), axis=1)  # fmax skips NaN padding
    valid = ~np.isnan(x)
    total = np.where(valid, x, 0.0).sum(axis=(1, 3))
    return total / np.maximum(valid.sum(axis=(1, 3)), 1)


def map_factor(shape: tuple[int, ...], cells: int = MAP_CELLS) -> int:
    """The block size that brings the larger side of a (rows, cols) map to <= ``cells``."""
    return max(1, math.ceil(max(shape[0], shape[1]) / cells))


def figure(figsize):
    """A figure on the Agg canvas, outside pyplot: no global backend or figure state is
    touched, so reports can be drawn from notebooks, threads and worker processes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def map_figure():
    """A map figure with fixed axes (no layout engine: it re-measures every text, slowly)."""
    fig = figure(MAP_FIGSIZE)
    ax = fig.add_axes((0.09, 0.13, 0.72, 0.79))
    cax = fig.add_axes((0.85, 0.18, 0.025, 0.69))
    return fig, ax, cax


def wide_figure(figsize=WIDE_FIGSIZE, bottom: float = 0.12, left: float = 0.07):
    fig = figure(figsize)
    ax = fig.add_axes((left, bottom, 0.985 - left, 0.91 - bottom))
    return fig, ax


def save(fig, path) -> Path:
    path = as_path("plot path", path)
    with file_errors("create the folder of", path, "give a PNG path in a folder you can write"):
        path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")  # no bbox_inches: the pixel size stays fixed
    return atomic_write_bytes(path, buf.getvalue())  # old or new image, never a torn one


def draw_map(values: np.ndarray, shape: tuple[int, int], title: str, cbar_label: str, path,
              cmap: str = "viridis", vmin=None, vmax=None, note: str = "") -> Path:
    """One heatmap of a (possibly block-reduced) per-core array over a rows x cols wafer."""
    fig, ax, cax = map_figure()
    cm = colormap(cmap).with_extremes(bad="#d9d9d9")  # cores with nothing placed
    rows, cols = shape
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cm, vmin=vmin, vmax=vmax,
                   interpolation="nearest", extent=(0, cols, rows, 0), aspect="equal")
    ax.set_xlabel("core column")
    ax.set_ylabel("core row")
    ax.set_title(title, fontsize=11)
    cb = fig.colorbar(im, cax=cax)
    cb.set_label(cbar_label)
    if note:
        ax.text(0.0, -0.12, note, transform=ax.transAxes, fontsize=8, va="top", color="#444")
    return save(fig, path)


def reduction_note(shape, factor: int, how: str) -> str:
    if factor == 1:
        return "one cell per core; grey: unused cores"
    return (f"{shape[0]} x {shape[1]} cores shown in {factor} x {factor} blocks ({how} of each "
            "block); grey: unused cores")


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "inf"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}" if abs(v) >= 0.01 or v == 0 else f"{v:.{digits - 1}e}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
