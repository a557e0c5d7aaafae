"""The cluster chart of a weight-streaming result: samples/s against 1..64 systems."""

from __future__ import annotations

from pathlib import Path

from ..engine.streaming import systems_curve
from .style import WIDE_FIGSIZE, save, wide_figure

SYSTEMS_IMAGE = ("systems.png", WIDE_FIGSIZE, "Samples/s against systems in data parallel")


def plot_systems(result, path) -> Path:
    """Samples/s of the result's model on 1, 2, 4, ..., 64 systems at its global batch
    (log-log, with linear scaling from one system dashed) and each point's efficiency."""
    c = systems_curve(result)
    fig, ax = wide_figure()
    n, sps = c["systems"], c["samples_per_s"]
    ax.plot(n, sps, "o-", color="#1f77b4", label="predicted")
    ax.plot(n, [sps[0] * k for k in n], "--", color="grey", lw=1, label="linear from 1")
    for k, s, e in zip(n, sps, c["scaling_efficiency"], strict=True):
        ax.annotate(f"{e:.3f}", (k, s), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("systems (data parallel; labels: scaling efficiency)")
    ax.set_ylabel("samples/s")
    ax.set_title(f"{result.model}: global batch {result.settings['batch']}, "
                 f"{result.settings.get('system', {}).get('name', '')} systems")
    ax.legend(loc="upper left")
    return save(fig, path)


def systems_section() -> list[str]:
    """The lines report.md gets for the chart."""
    fname, _, title = SYSTEMS_IMAGE
    return [f"## {title}", "", f"![{title}]({fname})", "",
            "Each point re-runs the step on N systems at the same global batch with the "
            "layers' unit costs and tiles as simulated; efficiency = samples/s over N times "
            "one system alone on its share of the batch.", ""]
