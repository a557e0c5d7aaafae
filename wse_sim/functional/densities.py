"""Measured activation densities: the fraction of non-zero activations each heavy op
receives, per sample, on real-looking inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import SimulationError
from ..graph import Graph
from .forward import forward

InputsFn = Callable[[Graph, int, int], dict]
"""``inputs(graph, n_samples, seed) -> {input op name: array (n_samples, *shape)}``; the model
zoo's generator is :func:`wse_sim.models.data.default_inputs` (contact maps, token ids)."""


def measured_densities(graph: Graph, inputs: InputsFn, n_samples: int = 8,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Per-sample density of the activations each heavy op receives, measured on real inputs.

    Runs :func:`forward` (kernels) on ``inputs(graph, n_samples, seed)`` and returns
    ``{heavy op name: float64 (n_samples,)}``: the fraction of non-zero elements of the op's
    first input, per sample. Embeddings get 1.0: every id is one lookup (one non-zero of a
    one-hot row), id 0 included.
    """
    if not callable(inputs):
        raise SimulationError(
            f"inputs must be a callable (graph, n_samples, seed) -> {{input name: array}}, got "
            f"{type(inputs).__name__}; use wse_sim.models.data.default_inputs or your own")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise SimulationError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    acts = forward(graph, inputs(graph, n_samples, seed), seed=seed)
    out = {}
    for op in graph.heavy_ops():
        if op.kind == "embedding":
            out[op.name] = np.ones(n_samples)
            continue
        x = acts[op.inputs[0]].reshape(n_samples, -1)
        out[op.name] = np.count_nonzero(x, axis=1) / max(x.shape[1], 1)
    return out


def mean_densities(graph: Graph, inputs: InputsFn, n_samples: int = 8,
                   seed: int = 0) -> dict[str, float]:
    """:func:`measured_densities` averaged over the samples: ``{heavy op name: density}``."""
    return {k: float(v.mean())
            for k, v in measured_densities(graph, inputs, n_samples, seed).items()}
