"""Weight-streaming placement: one layer at a time on the whole wafer.

Weights live off-wafer and stream in layer by layer (gradients stream out); the activations
of a micro-batch stay in SRAM between the forward and backward passes. When not even one
sample's activations fit, they spill off-wafer too and the engine charges that traffic.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..spec import WaferSpec
from .evaluate import evaluate_stages
from .placement import Placement, Stage
from .sizing import StageModel
from .stages import StageSet


def place_streaming(sset: StageSet, model: StageModel, wafer: WaferSpec, training: bool,
                    batch: int, seed: int) -> Placement:
    """Every stage on the whole mesh; SRAM = the largest layer's working set + stashed
    activations of the micro-batch held on the wafer."""
    S = len(sset)
    rect = (0, 0, wafer.rows, wafer.cols)
    rects = [rect] * S
    # a layer holds a streamed weight chunk and its working tiles; stashes are counted below
    ev = evaluate_stages(sset, rects, np.zeros(S), wafer, training, batch, model,
                         resident=False)
    layer_peak = max(float(e.sram.max()) for e in ev)
    stash_per_sample = float(model.stash_bytes.sum()) / wafer.cores if training else 0.0
    free = wafer.sram_bytes_per_core - layer_peak
    if stash_per_sample > 0:
        micro = int(max(0, min(batch, free // stash_per_sample)))
    else:
        micro = batch
    held = micro * stash_per_sample
    sram_core = np.full((wafer.rows, wafer.cols), int(np.ceil(layer_peak + held)),
                        dtype=np.int64)
    t = np.array([e.cycles for e in ev])
    out_stages, out_data = [], []
    for i, (names, e) in enumerate(zip(sset.names, ev, strict=True)):
        out_stages.append(Stage(i, names[0], names, rect, e.split, float(sset.in_density[i]),
                                bool(sset.first[i]), 1, float(e.cycles), float(e.sram.max())))
        out_data.append(dataclasses.replace(sset.data[i], rtn=e.rtn))
    return Placement(
        graph=sset.graph, wafer=wafer, mode="weight_streaming", training=training, batch=batch,
        seed=seed, replicas=1, replica_origins=((0, 0),), tile_shape=(wafer.rows, wafer.cols),
        stages=tuple(out_stages), flows=sset.flows,
        stage_id=np.zeros((wafer.rows, wafer.cols), dtype=np.int32), sram_bytes=sram_core,
        balance=float(t.max() / t.mean()), balance_all=float(t.max() / t.mean()),
        utilization=1.0, wavelet_hops_per_sample=0.0,
        max_colors_per_router=4 if training else 2, routers_over_color_budget=0,
        sram_peak_fraction=float(sram_core.max() / wafer.sram_bytes_per_core),
        data=tuple(out_data), micro_batch=micro)
