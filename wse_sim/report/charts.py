"""Charts of a result: cycles per stage, the pipeline timeline, the wafer against GPUs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine import SimResult
from ..errors import SimulationError
from ..validate import show
from .args import check_plot
from .style import (
    GPU_FIGSIZE,
    TIMELINE_SAMPLES,
    colormap,
    fmt,
    save,
    wide_figure,
)


def plot_stage_cycles(result, path) -> Path:
    """Compute (slowest core), fabric (busiest link), memory and, in weight streaming,
    streaming cycles per sample of each stage, with the bottleneck stage marked."""
    path = check_plot("plot_stage_cycles", result, path, (SimResult,))
    rows = result.stages
    x = np.arange(len(rows))
    series = [("compute", [r.compute_cycles_max for r in rows], "#1f77b4"),
              ("fabric", [r.link_cycles_max for r in rows], "#ff7f0e"),
              ("memory", [r.memory_cycles for r in rows], "#2ca02c")]
    if any(r.stream_cycles > 0 for r in rows):
        series.append(("off-wafer stream", [r.stream_cycles for r in rows], "#9467bd"))
    few = len(rows) <= 16  # tick labels fit horizontally
    fig, ax = wide_figure(bottom=0.16 if few else 0.24 if len(rows) <= 30 else 0.12)
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
    return save(fig, path)


def plot_timeline(result, path) -> Path:
    """Gantt chart: when each of the first 16 samples occupies each stage, microseconds. A
    training schedule's backward tasks are drawn hatched, in their sample's colour."""
    path = check_plot("plot_timeline", result, path, (SimResult,))
    start = np.asarray(result.timeline_start, dtype=np.float64)
    finish = np.asarray(result.timeline_finish, dtype=np.float64)
    n, s = start.shape if start.ndim == 2 else (0, 0)
    n = min(n, TIMELINE_SAMPLES)
    to_us = 1e6 / (result.clock_hz or 1.0)
    b0 = np.asarray(getattr(result, "timeline_bwd_start", np.zeros((0, 0))), dtype=np.float64)
    b1 = np.asarray(getattr(result, "timeline_bwd_finish", np.zeros((0, 0))), dtype=np.float64)
    backward = b0.shape == start.shape and b1.shape == start.shape and b0.size > 0
    fig, ax = wide_figure()
    cm = colormap("tab20")
    streaming = result.execution == "weight_streaming"
    for i in range(1 if streaming else n):  # streaming: every sample shares one schedule
        _bars(ax, start[i] * to_us, finish[i] * to_us, cm(i % 20),
              "whole batch" if streaming else f"sample {i}")
        if backward and not streaming:
            _bars(ax, b0[i] * to_us, b1[i] * to_us, cm(i % 20), None, hatch="///")
    end = float((b1 if backward else finish)[:n].max(initial=0.0))
    ax.set_ylim(s - 0.5, -0.5)
    ax.set_xlim(0, max(end * to_us, 1e-9) * 1.01)
    ax.set_xlabel("time (µs)")
    ax.set_ylabel("stage index (pipeline order)")
    what = (f"one optimizer step, {s} layers in turn" if streaming
            else f"first {n} samples through {s} stages"
            + ("; hatched: backward" if backward else ""))
    ax.set_title(f"Pipeline timeline: {result.model} on {result.wafer} ({what})", fontsize=11)
    if n:
        ax.legend(loc="upper right", fontsize=6, ncol=4 if n > 4 else 1)
    return save(fig, path)


def _bars(ax, x0: np.ndarray, x1: np.ndarray, colour, label: str | None,
          height: float = 0.8, hatch: str | None = None) -> None:
    """One sample's bars: stage k spans [x0[k], x1[k]] on row k, as one collection."""
    from matplotlib.collections import PolyCollection

    y0 = np.arange(len(x0)) - height / 2
    y1 = y0 + height
    verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1),
                      np.stack([x1, y0], 1)], axis=1)
    if hatch:  # outlined and hatched in the colour, so the forward bars stay distinct
        ax.add_collection(PolyCollection(verts, facecolors="none", edgecolors=colour,
                                         hatch=hatch, linewidths=0.6))
        return
    ax.add_collection(PolyCollection(verts, facecolors=colour, edgecolors="none",
                                     label=label))


def plot_gpu(result, gpu: dict | None, path) -> Path:
    """Samples/s of the wafer, one GPU and the equivalent GPU cluster (log scale)."""
    path = check_plot("plot_gpu", result, path, (SimResult,))
    if gpu is not None and not isinstance(gpu, dict):
        raise SimulationError(f"plot_gpu: gpu must be a dict from wse_sim.baselines.gpu_summary "
                              f"or None, got {show(gpu)} ({type(gpu).__name__})")
    fig, ax = wide_figure(GPU_FIGSIZE, bottom=0.14, left=0.12)
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
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() * 1.15, f"{fmt(v)} samples/s",
                ha="center", va="bottom", fontsize=9)
    ax.set_title(f"GPU comparison: {result.model} ({result.mode}) on {result.wafer}",
                 fontsize=11)
    return save(fig, path)
