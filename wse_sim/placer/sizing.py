"""Stage sizing: how many cores each pipeline stage needs, for time and for SRAM.

Each stage's time on n cores is modelled as ``A/n + B/sqrt(n) + C`` cycles per sample (spread
work, wavelets crossing a side of the rectangle, fixed overheads) and its SRAM as fixed bytes
(weights, optimizer state) plus a stash per sample in flight. :func:`allocate_cores` finds the
shortest period whose core counts fit the wafer. The placer corrects these models with what
it measures on the real rectangles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..graph import DTYPE_BYTES
from ..kernels.tiles import INDEX_BYTES
from ..mapping import OPTIMIZER_BYTES_PER_WEIGHT, passes
from ..mapping.sram import stored_weight_bytes
from ..spec import WaferSpec

# Size stages against 88% of each core: the sizing model uses a stage's mean bytes per core,
# and tile rounding and uneven stash bands put its fullest core up to ~10% above the mean.
# Aiming there saves repair rounds (BERT-Large on WSE-2: 11 -> 5 rounds, 3.8 -> 1.9 s).
SRAM_TARGET = 0.88


@dataclass(frozen=True)
class StageModel:
    """Per-stage coefficients of t(n) = A/n + B/sqrt(n) + C cycles on n cores, SRAM bytes."""

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    fixed_bytes: np.ndarray  # weights and optimizer state, all cores of the stage together
    stash_bytes: np.ndarray  # per sample in flight
    per_core_bytes: float


def stage_model(data: list, in_density: np.ndarray, first: np.ndarray,
                 spec: WaferSpec, training: bool, flow_wavelets: np.ndarray | None = None
                 ) -> StageModel:
    """Coefficients of each stage's time on n cores and its SRAM needs.

    ``data`` holds the placer's per-stage records (op, view, nnz, extra_vector_ops).

    ``A/n``: MACs and cheap-op arithmetic spread over the cores. ``B/sqrt(n)``: wavelets a
    core receives along its row and column, and the stage's traffic to and from other stages
    (``flow_wavelets`` per sample), which crosses a rectangle's side of ~sqrt(n) cores.
    ``C``: fixed task overheads.
    """
    n = len(data)
    A, B, C = np.zeros(n), np.zeros(n), np.zeros(n)
    fixed, stash = np.zeros(n), np.zeros(n)
    for i, sd in enumerate(data):
        v, op = sd.view, sd.op
        lanes = spec.fmac_per_cycle(op.dtype)
        vb = DTYPE_BYTES[op.dtype]
        n_pass = passes(training, bool(first[i]))
        macs = v.rows * v.n if v.one_hot else v.dense_macs * (
            op.weight_density if v.stored_weights else 1.0) * (
            in_density[i] if not v.one_hot else 1.0)
        A[i] = n_pass * macs / lanes + sd.extra_vector_ops * (3 if training else 1) / lanes
        x_in = v.rows if v.one_hot else v.rows * v.k * in_density[i] / v.reuse
        wave = x_in + v.rows * v.n
        B[i] = spec.wavelet_overhead_cycles * wave * (2 if training else 1)
        if flow_wavelets is not None:
            B[i] += flow_wavelets[i] * (2 if training else 1) / spec.link_wavelets_per_cycle
        C[i] = spec.task_overhead_cycles * (3 if training else 1)
        if v.stored_weights:
            fixed[i] = stored_weight_bytes(sd.nnz, op.dtype, op.weight_density)
            if training:
                fixed[i] += sd.nnz * OPTIMIZER_BYTES_PER_WEIGHT
        else:  # every head's second operand, double-buffered
            fixed[i] = 2 * vb * v.heads * v.k * v.n
        if training:
            # the heavy op's input only (riders are recomputed); sparse inputs keep indices
            stash[i] = x_in * (vb + (INDEX_BYTES if in_density[i] < 0.5 else 0))
            if not v.stored_weights:
                stash[i] += v.heads * v.k * v.n * vb
    return StageModel(A, B, C, fixed, stash, spec.sram_bytes_per_core * SRAM_TARGET
                  - spec.code_reserve_bytes - spec.io_buffer_bytes)


def min_cores_for_sram(model: StageModel, in_flight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    need = model.fixed_bytes + model.stash_bytes * in_flight
    return np.maximum(1, np.ceil(scale * need / max(model.per_core_bytes, 1.0)))


def cores_for_time(model: StageModel, T: float) -> np.ndarray:
    """Smallest n with A/n + B/sqrt(n) + C <= T (solve the quadratic in u = 1/sqrt(n))."""
    slack = np.maximum(T - model.C, 1e-9)
    A = np.maximum(model.A, 1e-12)
    u = (-model.B + np.sqrt(model.B ** 2 + 4 * A * slack)) / (2 * A)
    return np.ceil(1.0 / np.maximum(u, 1e-12) ** 2)


def allocate_cores(model: StageModel, min_cores: np.ndarray, total: int
                   ) -> tuple[np.ndarray, float]:
    """Cores per stage (floats summing to ``total``) balancing t(n), at least ``min_cores``."""
    if min_cores.sum() > total:
        return min_cores, math.inf
    lo, hi = 0.0, float((model.A + model.B + model.C).max()) + 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.maximum(cores_for_time(model, mid), min_cores).sum() <= total:
            hi = mid
        else:
            lo = mid
    n = np.maximum(cores_for_time(model, hi), min_cores).astype(np.float64)
    spare = total - n.sum()
    # spare cores go to stages in proportion to their time-balanced share
    return n + spare * n / n.sum(), hi
