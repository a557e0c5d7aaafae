"""Per-core maps of the wafer: placement, SRAM, utilisation and link loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..engine import SimResult
from ..io import Layout, SavedRun, layout_of
from .args import check_plot
from .style import (
    DPI,
    MAP_FIGSIZE,
    MAX_LABELS,
    block_reduce,
    colormap,
    draw_map,
    figure,
    map_factor,
    reduction_note,
    save,
)


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
    path = check_plot("plot_placement", placement, path)
    from matplotlib.colors import ListedColormap

    layout, stage_id, _, model, wafer = _layout(placement)
    shape = stage_id.shape
    f = map_factor(shape)
    ids = block_reduce(stage_id, f, "first").astype(np.float64)
    ids[ids < 0] = np.nan
    n_stages = len(layout.rects) if layout else int(np.nanmax(ids, initial=-1) + 1)
    streaming = layout is not None and layout.execution == "weight_streaming"
    reps = len(layout.replica_origins) if layout is not None else 1
    fig = figure(MAP_FIGSIZE)
    if reps > 1:
        ax = fig.add_axes((0.07, 0.13, 0.40, 0.77))
        zax = fig.add_axes((0.53, 0.13, 0.29, 0.77))
    else:
        ax, zax = fig.add_axes((0.09, 0.13, 0.72, 0.79)), None
    cax = fig.add_axes((0.86, 0.18, 0.025, 0.69))
    # colour by stage index, cycling 20 colours; consecutive stages differ
    k = int(min(20, max(n_stages, 1)))
    cm = ListedColormap(colormap("tab20").colors[:k]).with_extremes(bad="#d9d9d9")
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
    fig.text(0.07, 0.02, reduction_note(shape, f, "first core"), fontsize=8, color="#444")
    return save(fig, path)


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
    path = check_plot("plot_sram", placement, path)
    _, stage_id, sram, model, wafer = _layout(placement)
    f = map_factor(sram.shape)
    kb = np.where(sram >= 0, sram / 1024.0, np.nan)
    cap = _sram_capacity_kb(placement)
    title = f"SRAM occupancy: {model} on {wafer}"
    if cap:
        title += f" (capacity {cap:g} KB per core)"
    return draw_map(block_reduce(kb, f, "max"), sram.shape, title,
                     "SRAM used per core (KB)", path, cmap="magma", vmin=0,
                     vmax=cap or None, note=reduction_note(sram.shape, f, "max"))


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
    path = check_plot("plot_utilization", result, path, (SimResult,))
    busy = np.where(result.stage_id >= 0, result.busy_fraction, np.nan)
    f = map_factor(busy.shape)
    return draw_map(block_reduce(busy, f, "max"), busy.shape,
                     f"Per-core utilisation: {result.model} on {result.wafer} "
                     f"(mean {np.nanmean(busy) if np.isfinite(busy).any() else 0:.0%} of used)",
                     "busy fraction (compute cycles / sample period, 0-1)", path,
                     cmap="viridis", vmin=0, vmax=1,
                     note=reduction_note(busy.shape, f, "max"))


def plot_link_loads(result, path) -> Path:
    """Busiest of the four outgoing links of each core, wavelets per sample."""
    path = check_plot("plot_link_loads", result, path, (SimResult,))
    loads = np.asarray(result.link_loads)
    busiest = loads.max(axis=2) if loads.ndim == 3 else loads
    shown = np.where(result.stage_id >= 0, busiest, np.nan)
    f = map_factor(shown.shape)
    note = reduction_note(shown.shape, f, "max")
    if result.execution == "weight_streaming":
        note = "weight streaming: no inter-stage routes on the wafer; " + note
    return draw_map(block_reduce(shown, f, "max"), shown.shape,
                     f"Link loads between stages: {result.model} on {result.wafer} "
                     f"(peak {np.nanmax(busiest, initial=0):,.0f})",
                     "wavelets per sample on the busiest link (E/W/S/N)", path,
                     cmap="inferno", vmin=0, note=note)
