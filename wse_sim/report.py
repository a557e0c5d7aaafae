"""Reports: PNG plots, ``report.md`` and the saved result in one folder.

:func:`report` writes ``result.json`` and ``arrays.npz`` first (see :mod:`wse_sim.results_io`),
so a computed result is never lost if drawing fails, then the images and ``report.md``:

=====================  ====================================================================
``placement.png``      stage regions, coloured and labelled with their heavy op
``utilization.png``    per-core busy fraction
``sram.png``           per-core SRAM occupancy, KB
``link_loads.png``     busiest of the four outgoing links per core, wavelets per sample
``stage_cycles.png``   compute, fabric and memory cycles per stage, bottleneck marked
``timeline.png``       Gantt chart of the first 16 samples through the stages
``gpu.png``            the wafer against one GPU and the equivalent GPU cluster
=====================  ====================================================================

Every image has a fixed pixel size (:data:`IMAGE_SIZES`). Maps of a whole wafer are block-reduced
(:func:`block_reduce`) to at most :data:`MAP_CELLS` cells a side: max for utilisation, SRAM and
link loads so hot spots stay visible, the first core of a block for stage ids.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .errors import WseSimFileError
from .results_io import Layout, SavedRun, layout_of, load_run, save_result

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


# ---- array helpers ---------------------------------------------------------------------------
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


# ---- figures ---------------------------------------------------------------------------------
def _figure(figsize):
    """A figure on the Agg canvas, outside pyplot: no global backend or figure state is
    touched, so reports can be drawn from notebooks, threads and worker processes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _map_figure():
    """A map figure with fixed axes (no layout engine: it re-measures every text, slowly)."""
    fig = _figure(MAP_FIGSIZE)
    ax = fig.add_axes((0.09, 0.13, 0.72, 0.79))
    cax = fig.add_axes((0.85, 0.18, 0.025, 0.69))
    return fig, ax, cax


def _wide_figure(figsize=WIDE_FIGSIZE, bottom: float = 0.12, left: float = 0.07):
    fig = _figure(figsize)
    ax = fig.add_axes((left, bottom, 0.985 - left, 0.91 - bottom))
    return fig, ax


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")  # no bbox_inches: the pixel size stays fixed
    return path


def _draw_map(values: np.ndarray, shape: tuple[int, int], title: str, cbar_label: str, path,
              cmap: str = "viridis", vmin=None, vmax=None, note: str = "") -> Path:
    """One heatmap of a (possibly block-reduced) per-core array over a rows x cols wafer."""
    fig, ax, cax = _map_figure()
    cm = _cmap(cmap).with_extremes(bad="#d9d9d9")  # cores with nothing placed
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
    return _save(fig, path)


def _reduction_note(shape, factor: int, how: str) -> str:
    if factor == 1:
        return "one cell per core; grey: unused cores"
    return (f"{shape[0]} x {shape[1]} cores shown in {factor} x {factor} blocks ({how} of each "
            "block); grey: unused cores")


def _layout(obj) -> tuple[Layout | None, np.ndarray, np.ndarray, str, str]:
    """(layout, stage_id, sram_bytes, model, wafer) of a Placement, SimResult or SavedRun."""
    if isinstance(obj, SavedRun):
        r = obj.result
        return obj.layout, r.stage_id, r.sram_bytes, r.model, r.wafer
    placement = getattr(obj, "placement", None)
    if hasattr(obj, "stages") and hasattr(obj, "replica_origins"):  # a Placement
        placement = obj
    if placement is not None:
        return (layout_of(placement), placement.stage_id, placement.sram_bytes,
                placement.graph.name, placement.wafer.name)
    return None, obj.stage_id, obj.sram_bytes, obj.model, obj.wafer


def plot_placement(placement, path) -> Path:
    """Stage regions of ``placement`` (a Placement, or a SimResult / saved run) as a PNG.

    Each stage's cores are coloured by stage index and its rectangle outlined; stages whose
    rectangle is large enough on screen are labelled with their index and heavy op. A plan
    with several replicas gets a second panel: replica 0 zoomed in, where the labels fit.
    """
    from matplotlib.colors import ListedColormap

    layout, stage_id, _, model, wafer = _layout(placement)
    shape = stage_id.shape
    f = map_factor(shape)
    ids = block_reduce(stage_id, f, "first").astype(np.float64)
    ids[ids < 0] = np.nan
    n_stages = len(layout.rects) if layout else int(np.nanmax(ids, initial=-1) + 1)
    streaming = layout is not None and layout.execution == "weight_streaming"
    reps = len(layout.replica_origins) if layout is not None else 1
    fig = _figure(MAP_FIGSIZE)
    if reps > 1:
        ax = fig.add_axes((0.07, 0.13, 0.40, 0.77))
        zax = fig.add_axes((0.53, 0.13, 0.29, 0.77))
    else:
        ax, zax = fig.add_axes((0.09, 0.13, 0.72, 0.79)), None
    cax = fig.add_axes((0.86, 0.18, 0.025, 0.69))
    # colour by stage index, cycling 20 colours; consecutive stages differ
    k = int(min(20, max(n_stages, 1)))
    cm = ListedColormap(_cmap("tab20").colors[:k]).with_extremes(bad="#d9d9d9")
    style = {"cmap": cm, "vmin": -0.5, "vmax": k - 0.5, "interpolation": "nearest",
             "aspect": "equal"}
    im = ax.imshow(np.ma.masked_invalid(np.mod(ids, k)), extent=(0, shape[1], shape[0], 0),
                   **style)
    title = f"Placement: {model} on {wafer}"
    if streaming:
        title += f" (weight streaming: {n_stages} layers take turns on the whole wafer)"
        ax.text(shape[1] / 2, shape[0] / 2, "all layers, one at a time\n(weight streaming)",
                ha="center", va="center", fontsize=12, color="white",
                bbox={"facecolor": "black", "alpha": 0.5, "edgecolor": "none"})
    elif layout is not None:
        title += f" ({n_stages} stages" + (f" x {reps} replicas)" if reps > 1 else ")")
        _outline(ax, layout, replicas=reps > 1)
        if zax is None:
            _label_stages(fig, ax, layout, shape)
        else:
            _zoom_replica(fig, zax, layout, stage_id, k, style)
    fig.suptitle(title, fontsize=10, y=0.97)
    ax.set_xlabel("core column")
    ax.set_ylabel("core row")
    cb = fig.colorbar(im, cax=cax, ticks=range(k))
    cb.set_label("stage index" if n_stages <= 20 else
                 "stage index mod 20 (colours repeat every 20 stages)")
    fig.text(0.07, 0.02, _reduction_note(shape, f, "first core"), fontsize=8, color="#444")
    return _save(fig, path)


def _zoom_replica(fig, zax, layout: Layout, stage_id: np.ndarray, k: int, style: dict) -> None:
    """Replica 0 at (near) full resolution, outlined and labelled."""
    oy, ox = layout.replica_origins[0]
    th, tw = layout.tile_shape
    tile = stage_id[oy:oy + th, ox:ox + tw]
    f = map_factor(tile.shape)
    z = block_reduce(tile, f, "first").astype(np.float64)
    z[z < 0] = np.nan
    zax.imshow(np.ma.masked_invalid(np.mod(z, k)), extent=(ox, ox + tw, oy + th, oy), **style)
    one = dataclasses.replace(layout, replica_origins=(layout.replica_origins[0],))
    _outline(zax, one, replicas=False)
    _label_stages(fig, zax, one, tile.shape)
    zax.set_title(f"replica 0 of {len(layout.replica_origins)} ({th} x {tw} cores)",
                  fontsize=9)
    zax.set_xlabel("core column")


def _outline(ax, layout: Layout, replicas: bool) -> None:
    """Outline every stage of replica 0 (of every replica while that stays legible) and, with
    ``replicas``, each replica's tile."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    origins = layout.replica_origins
    if len(layout.rects) * len(origins) > 2000:
        origins = origins[:1]  # thousands of outlines only blur the map
    boxes = [Rectangle((ox + c0, oy + r0), w, h) for (oy, ox) in origins
             for (r0, c0, h, w) in layout.rects]
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="black", lw=0.7,
                                      alpha=0.8))
    if replicas:
        th, tw = layout.tile_shape
        tiles = [Rectangle((ox, oy), tw, th) for oy, ox in layout.replica_origins]
        ax.add_collection(PatchCollection(tiles, facecolor="none", edgecolor="white", lw=1.2))


def _label_stages(fig, ax, layout: Layout, shape) -> None:
    """Label stages whose rectangle is big enough on screen: 'i: op', or just 'i'."""
    pos = ax.get_position()
    px_w, px_h = pos.width * fig.get_figwidth() * DPI, pos.height * fig.get_figheight() * DPI
    scale = min(px_w / shape[1], px_h / shape[0])  # pixels per core (aspect equal)
    oy, ox = layout.replica_origins[0]
    areas = [h * w for (_, _, h, w) in layout.rects]
    drawn = 0
    for i in np.argsort(areas, kind="stable")[::-1]:
        r0, c0, h, w = layout.rects[i]
        wpx, hpx = w * scale, h * scale
        full = f"{i}: {layout.heavy[i]}"
        if hpx < 9 or drawn >= MAX_LABELS:
            continue
        text = full if wpx >= 5.2 * len(full) + 6 else str(i) if wpx >= 5.2 * len(str(i)) + 4 \
            else None
        if text is None:
            continue
        ax.text(ox + c0 + w / 2, oy + r0 + h / 2, text, ha="center", va="center", fontsize=7,
                color="black", clip_on=True,
                bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 0.5})
        drawn += 1


def plot_sram(placement, path) -> Path:
    """Per-core SRAM occupancy of ``placement`` (Placement, SimResult or saved run), KB."""
    _, stage_id, sram, model, wafer = _layout(placement)
    f = map_factor(sram.shape)
    kb = np.where(sram >= 0, sram / 1024.0, np.nan)
    cap = _sram_capacity_kb(placement)
    title = f"SRAM occupancy: {model} on {wafer}"
    if cap:
        title += f" (capacity {cap:g} KB per core)"
    return _draw_map(block_reduce(kb, f, "max"), sram.shape, title,
                     "SRAM used per core (KB)", path, cmap="magma", vmin=0,
                     vmax=cap or None, note=_reduction_note(sram.shape, f, "max"))


def _sram_capacity_kb(obj) -> float:
    placement = getattr(obj, "placement", None)
    if hasattr(obj, "wafer") and hasattr(obj.wafer, "sram_bytes_per_core"):
        return obj.wafer.sram_bytes_per_core / 1024
    if placement is not None:
        return placement.wafer.sram_bytes_per_core / 1024
    result = obj.result if isinstance(obj, SavedRun) else obj
    w = (getattr(result, "settings", None) or {}).get("wafer") or {}
    return float(w.get("sram_bytes_per_core", 0)) / 1024


def plot_utilization(result, path) -> Path:
    """Per-core busy fraction (0-1) of a SimResult."""
    busy = np.where(result.stage_id >= 0, result.busy_fraction, np.nan)
    f = map_factor(busy.shape)
    return _draw_map(block_reduce(busy, f, "max"), busy.shape,
                     f"Per-core utilisation: {result.model} on {result.wafer} "
                     f"(mean {np.nanmean(busy) if np.isfinite(busy).any() else 0:.0%} of used)",
                     "busy fraction (compute cycles / sample period, 0-1)", path,
                     cmap="viridis", vmin=0, vmax=1,
                     note=_reduction_note(busy.shape, f, "max"))


def plot_link_loads(result, path) -> Path:
    """Busiest of the four outgoing links of each core, wavelets per sample."""
    loads = np.asarray(result.link_loads)
    busiest = loads.max(axis=2) if loads.ndim == 3 else loads
    shown = np.where(result.stage_id >= 0, busiest, np.nan)
    f = map_factor(shown.shape)
    note = _reduction_note(shown.shape, f, "max")
    if result.execution == "weight_streaming":
        note = "weight streaming: no inter-stage routes on the wafer; " + note
    return _draw_map(block_reduce(shown, f, "max"), shown.shape,
                     f"Link loads between stages: {result.model} on {result.wafer} "
                     f"(peak {np.nanmax(busiest, initial=0):,.0f})",
                     "wavelets per sample on the busiest link (E/W/S/N)", path,
                     cmap="inferno", vmin=0, note=note)


def plot_stage_cycles(result, path) -> Path:
    """Compute (slowest core), fabric (busiest link), memory and, in weight streaming,
    streaming cycles per sample of each stage, with the bottleneck stage marked."""
    rows = result.stages
    x = np.arange(len(rows))
    series = [("compute", [r.compute_cycles_max for r in rows], "#1f77b4"),
              ("fabric", [r.link_cycles_max for r in rows], "#ff7f0e"),
              ("memory", [r.memory_cycles for r in rows], "#2ca02c")]
    if any(r.stream_cycles > 0 for r in rows):
        series.append(("off-wafer stream", [r.stream_cycles for r in rows], "#9467bd"))
    few = len(rows) <= 16  # tick labels fit horizontally
    fig, ax = _wide_figure(bottom=0.16 if few else 0.24 if len(rows) <= 30 else 0.12)
    width = 0.8 / len(series)
    for k, (name, vals, colour) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=name, color=colour)
    b = result.bottleneck_stage
    ax.axvspan(b - 0.5, b + 0.5, color="red", alpha=0.15, lw=0)
    top = max((max(v) for _, v, _ in series if len(v)), default=1.0)
    ax.annotate(f"bottleneck: stage {b} {result.bottleneck_op} ({result.bottleneck_kind})",
                xy=(b, max(v[b] for _, v, _ in series)), xytext=(0.5, 0.97),
                textcoords="axes fraction", ha="center",
                va="top", fontsize=9, color="darkred",
                arrowprops={"arrowstyle": "->", "color": "darkred"})
    ax.set_xlabel("stage index (pipeline order)")
    ax.set_ylabel("cycles per sample")
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(series), fontsize=8,
              frameon=False)
    ax.set_title(f"Cycles per stage: {result.model} on {result.wafer} ({result.mode}, "
                 f"{result.execution.replace('_', ' ')})", fontsize=11, loc="left")
    if len(rows) <= 30:
        ax.set_xticks(x, [f"{i}\n{r.heavy}" for i, r in enumerate(rows)], fontsize=7,
                      rotation=0 if few else 90)
    return _save(fig, path)


def plot_timeline(result, path) -> Path:
    """Gantt chart: when each of the first 16 samples occupies each stage, microseconds."""
    start = np.asarray(result.timeline_start, dtype=np.float64)
    finish = np.asarray(result.timeline_finish, dtype=np.float64)
    n, s = start.shape if start.ndim == 2 else (0, 0)
    n = min(n, TIMELINE_SAMPLES)
    to_us = 1e6 / (result.clock_hz or 1.0)
    fig, ax = _wide_figure()
    cm = _cmap("tab20")
    streaming = result.execution == "weight_streaming"
    for i in range(1 if streaming else n):  # streaming: every sample shares one schedule
        _bars(ax, start[i] * to_us, finish[i] * to_us, cm(i % 20),
              "whole batch" if streaming else f"sample {i}")
    ax.set_ylim(s - 0.5, -0.5)
    ax.set_xlim(0, max(float(finish[:n].max(initial=0.0)) * to_us, 1e-9) * 1.01)
    ax.set_xlabel("time (µs)")
    ax.set_ylabel("stage index (pipeline order)")
    what = (f"one optimizer step, {s} layers in turn" if streaming
            else f"first {n} samples through {s} stages")
    ax.set_title(f"Pipeline timeline: {result.model} on {result.wafer} ({what})", fontsize=11)
    if n:
        ax.legend(loc="upper right", fontsize=6, ncol=4 if n > 4 else 1)
    return _save(fig, path)


def _bars(ax, x0: np.ndarray, x1: np.ndarray, colour, label: str, height: float = 0.8) -> None:
    """One sample's bars: stage k spans [x0[k], x1[k]] on row k, as one collection."""
    from matplotlib.collections import PolyCollection

    y0 = np.arange(len(x0)) - height / 2
    y1 = y0 + height
    verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1),
                      np.stack([x1, y0], 1)], axis=1)
    ax.add_collection(PolyCollection(verts, facecolors=colour, edgecolors="none",
                                     label=label))


def plot_gpu(result, gpu: dict | None, path) -> Path:
    """Samples/s of the wafer, one GPU and the equivalent GPU cluster (log scale)."""
    fig, ax = _wide_figure(GPU_FIGSIZE, bottom=0.14, left=0.12)
    labels, vals, colours = [f"{result.wafer}\n(wafer)"], [result.samples_per_s], ["#d62728"]
    if gpu and gpu.get("samples_per_s_per_gpu"):
        name = str(gpu.get("name", "gpu")).upper()
        labels.append(f"1 x {name}")
        vals.append(float(gpu["samples_per_s_per_gpu"]))
        colours.append("#7f7f7f")
        n = gpu.get("equivalent_gpus")
        if n and gpu.get("cluster_samples_per_s"):
            labels.append(f"{n:,} x {name}\n(equivalent cluster)")
            vals.append(float(gpu["cluster_samples_per_s"]))
            colours.append("#1f77b4")
        elif n is None:
            if gpu.get("cluster_ceiling_samples_per_s"):
                labels.append(f"any {name} cluster\n(saturation ceiling)")
                vals.append(float(gpu["cluster_ceiling_samples_per_s"]))
                colours.append("#9ecae1")
            ax.text(0.98, 0.95, f"no {name} cluster reaches the wafer\n(equivalent GPUs: inf)",
                    transform=ax.transAxes, ha="right", va="top", fontsize=9)
    else:
        ax.text(0.98, 0.95, "no GPU baseline in this result", transform=ax.transAxes,
                ha="right", va="top", fontsize=9)
    pos = [max(v, 1e-12) for v in vals]
    bars = ax.bar(range(len(vals)), pos, color=colours, width=0.6)
    ax.set_yscale("log")
    ax.set_xticks(range(len(vals)), labels)
    ax.set_ylabel("throughput (samples/s, log scale)")
    ax.set_ylim(min(pos) / 3, max(pos) * 8)
    ax.set_xlim(-0.7, max(len(vals), 3) - 0.3)
    for b, v in zip(bars, vals, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() * 1.15, f"{_fmt(v)} samples/s",
                ha="center", va="bottom", fontsize=9)
    ax.set_title(f"GPU comparison: {result.model} ({result.mode}) on {result.wafer}",
                 fontsize=11)
    return _save(fig, path)


# ---- report.md -------------------------------------------------------------------------------
def _fmt(v, digits: int = 4) -> str:
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


def _energy(joules: float) -> str:
    if math.isfinite(joules) and 0 < joules < 1:
        return f"{_fmt(joules * 1e3)} mJ/sample"
    return f"{_fmt(joules)} J/sample"


def summary_rows(result, gpu: dict | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs of the headline figures, shared by report.md and the CLI."""
    rows = [
        ("model", result.model), ("wafer", result.wafer),
        ("mode / execution", f"{result.mode} / {result.execution.replace('_', ' ')}"),
        ("throughput", f"{_fmt(result.samples_per_s)} samples/s"),
        ("step time", f"{_fmt(result.step_time_s * 1e3)} ms"),
        ("latency", f"{_fmt(result.latency_s * 1e6)} µs"),
        ("bottleneck", f"stage {result.bottleneck_stage} {result.bottleneck_op} "
                       f"({result.bottleneck_kind}-bound)"),
        ("cores used", f"{result.cores_used:,} (utilization {result.utilization:.1%}), "
                       f"{result.replicas} replica{'s' if result.replicas != 1 else ''}"),
        ("SRAM peak", f"{result.sram_peak_fraction:.1%} of a core"),
        ("energy / power", f"{_energy(result.energy_j_per_sample)}, "
                           f"{_fmt(result.power_w / 1e3)} kW"),
    ]
    if gpu and not gpu.get("samples_per_s_per_gpu"):
        rows.append(("GPU baseline", gpu.get("note") or "n/a"))
    elif gpu:
        name = str(gpu.get("name", "gpu")).upper()
        rows.append(("GPU baseline", f"{name}: {_fmt(gpu.get('samples_per_s_per_gpu'))} "
                                     f"samples/s per GPU (batch {gpu.get('batch_per_gpu')}, "
                                     f"{gpu.get('precision')})"))
        n = gpu.get("equivalent_gpus")
        ceiling = gpu.get("cluster_ceiling_samples_per_s")
        rows.append(("equivalent GPUs",
                     f"{n:,} x {name} ({gpu.get('gpus_per_node')} per node)" if n
                     else f"inf (no {name} cluster reaches the wafer" + (
                         f"; clusters saturate near {_fmt(ceiling)} samples/s)" if ceiling
                         else ")")))
    return rows


def _stage_table(result) -> list[str]:
    lines = ["| stage | heavy op | ops | cores | compute max | compute mean | fabric | memory "
             "| stream | stage | bound |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    rows = list(result.stages)
    keep = range(len(rows))
    if len(rows) > MAX_TABLE_STAGES:
        half = MAX_TABLE_STAGES // 2
        keep = [*range(half), -1, *range(len(rows) - half, len(rows))]
    for i in keep:
        if i < 0:
            lines.append(f"| ... | {len(rows) - MAX_TABLE_STAGES} stages left out | | | | | | "
                         "| | | |")
            continue
        r = rows[i]
        mark = " **(bottleneck)**" if i == result.bottleneck_stage else ""
        lines.append(f"| {r.stage} | `{r.heavy}`{mark} | {len(r.ops)} | {r.cores:,} | "
                     f"{r.compute_cycles_max:,.0f} | {r.compute_cycles_mean:,.0f} | "
                     f"{r.link_cycles_max:,.0f} | {r.memory_cycles:,.0f} | "
                     f"{r.stream_cycles:,.0f} | {r.stage_cycles:,.0f} | {r.bound} |")
    return lines


def report_markdown(result, gpu: dict | None = None, images: dict | None = None) -> str:
    """The text of report.md: headline table, images and the per-stage table."""
    images = images or {}
    lines = [f"# wse-sim report: {result.model} on {result.wafer}", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary_rows(result, gpu)]
    lines += ["", f"Simulated in {result.sim_wall_s:.2f} s. Settings, the per-stage table and "
              "the GPU block are in `result.json`; per-core arrays in `arrays.npz`.", ""]
    for key, (fname, _, title) in IMAGES.items():
        if key in images:
            lines += [f"## {title}", "", f"![{title}]({fname})", ""]
    lines += ["## Per-stage table", "",
              "Cycles per sample, mean over the simulated samples. *compute max*: the slowest "
              "core; *fabric*: the busiest link; *memory*: SRAM port cycles; *stream*: "
              "off-wafer weight streaming; *stage*: what the stage takes per sample.", ""]
    lines += _stage_table(result)
    return "\n".join(lines) + "\n"


# ---- the report ------------------------------------------------------------------------------
def report(result, out_dir, gpu=None) -> Path:
    """Write a report of ``result`` into ``out_dir``; return the path of report.md.

    ``result`` is a SimResult (with or without its placement), a :class:`SavedRun` or the
    path of a saved ``result.json`` (or its folder). ``gpu`` is a GPU block (see
    :func:`wse_sim.results_io.gpu_summary`), a GpuResult, a GPU name (needs the placement's
    graph) or None (a saved run keeps its own; a fresh result is compared with a V100).
    ``result.json`` and ``arrays.npz`` are written
    before any image is drawn.
    """
    layout = None
    if isinstance(result, (str, Path)):
        result = load_run(result)
    if isinstance(result, SavedRun):
        gpu = result.gpu if gpu is None else gpu
        layout, result = result.layout, result.result
    if gpu is None and result.placement is not None:
        gpu = DEFAULT_GPU
    if gpu is not None and not isinstance(gpu, dict):
        from .errors import WseSimError
        from .results_io import gpu_summary

        try:
            gpu = gpu_summary(result, gpu)
        except (ImportError, WseSimError) as exc:
            gpu = {"name": str(gpu), "samples_per_s_per_gpu": None, "equivalent_gpus": None,
                   "note": f"no GPU baseline: {exc}"}
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise WseSimFileError(f"report folder {str(out)!r} is a file; choose a folder")
    save_result(result, out, gpu=gpu, layout=layout)
    where = SavedRun(result, gpu, layout) if result.placement is None else result
    images = {}
    for key, draw in (("placement", lambda p: plot_placement(where, p)),
                      ("utilization", lambda p: plot_utilization(result, p)),
                      ("sram", lambda p: plot_sram(where, p)),
                      ("link_loads", lambda p: plot_link_loads(result, p)),
                      ("stage_cycles", lambda p: plot_stage_cycles(result, p)),
                      ("timeline", lambda p: plot_timeline(result, p)),
                      ("gpu", lambda p: plot_gpu(result, gpu, p))):
        images[key] = draw(out / IMAGES[key][0])
    md = out / "report.md"
    md.write_text(report_markdown(result, gpu, images), encoding="utf-8")
    return md
