"""Layer pipeline as a tandem queue with finite buffers: a max-plus recurrence.

Samples ``i = 0 .. n-1`` pass through stages ``s = 0 .. m-1`` in order; stage ``s`` takes
``t[i, s]`` cycles for sample ``i`` and serves one sample at a time. Between stage ``s`` and
``s + 1`` sits a FIFO of ``b_s >= 1`` samples. A finished sample that finds the FIFO full stays on
its stage, blocking it (blocking after service). Times, in cycles from 0::

    S[i, s] = max(D[i, s-1], D[i-1, s])            start: arrived, and the stage released i-1
    F[i, s] = S[i, s] + t[i, s]                    finish
    D[i, s] = max(F[i, s], S[i - b_s, s+1])        depart, s < m-1: the FIFO has room once the
                                                   sample b_s places ahead started on stage s+1
    D[i, m-1] = F[i, m-1]                          the last stage never blocks

with ``D[i, -1] = 0`` (unlimited input supply), ``D[-1, s] = 0`` and no FIFO term while
``i - b_s < 0``. Only ``max`` and ``+`` appear: this is the max-plus (tropical) linear system of
a tandem queue with blocking, computed exactly in one pass over samples then stages.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from numba import njit

from ._arrays import owned
from .masks import KernelArgumentError

__all__ = ["PipelineSummary", "pipeline_summary", "pipeline_times"]


@njit(cache=True)
def _pipeline_kernel(t, depth):
    n, m = t.shape
    start = np.empty((n, m), dtype=np.float64)
    finish = np.empty((n, m), dtype=np.float64)
    depart = np.empty((n, m), dtype=np.float64)
    for i in range(n):
        for s in range(m):
            a = depart[i, s - 1] if s > 0 else 0.0
            if i > 0 and depart[i - 1, s] > a:
                a = depart[i - 1, s]
            start[i, s] = a
            f = a + t[i, s]
            finish[i, s] = f
            if s < m - 1:
                j = i - depth[s]
                if j >= 0 and start[j, s + 1] > f:
                    f = start[j, s + 1]
            depart[i, s] = f
    return start, finish, depart


@njit(cache=True)
def _chunk_kernel(t, depth, chunks, lead):
    n, m = t.shape
    start = np.empty((n, m), dtype=np.float64)
    finish = np.empty((n, m), dtype=np.float64)
    depart = np.empty((n, m), dtype=np.float64)
    for i in range(n):
        for s in range(m):
            a = start[i, s - 1] + lead[s] * t[i, s - 1] if s > 0 else 0.0
            if i > 0 and depart[i - 1, s] > a:
                a = depart[i - 1, s]
            start[i, s] = a
            f = a + t[i, s]
            if s > 0:  # one chunk-time after the producer's last chunk
                f = max(f, finish[i, s - 1] + t[i, s] / chunks[s])
            finish[i, s] = f
            if s < m - 1:  # the FIFO takes the last chunk once the consumer has read chunk g
                c = chunks[s + 1]
                g = i * c + c - 1 - depth[s]
                if g >= 0:
                    j = g // c
                    r = g - j * c
                    if j < i:
                        nxt = start[j, s + 1]
                    else:  # a FIFO under one sample: the consumer's start of this sample
                        nxt = a + lead[s + 1] * t[i, s]
                        if i > 0 and depart[i - 1, s + 1] > nxt:
                            nxt = depart[i - 1, s + 1]
                    room = nxt + (r * t[j, s + 1] / c if r > 0 else 0.0)
                    if room > f:
                        f = room
            depart[i, s] = f
    return start, finish, depart


def _check_stage_times(stage_times) -> np.ndarray:
    t = np.asarray(stage_times)
    if t.dtype.kind not in "biuf" or t.ndim != 2 or t.shape[0] < 1 or t.shape[1] < 1:
        raise KernelArgumentError(
            "stage_times must be a real 2-D array (n_samples >= 1, n_stages >= 1) of cycles, got "
            f"dtype {t.dtype}, shape {t.shape}; for one sample pass shape (1, n_stages)"
        )
    t = owned(t, np.float64)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i, s = np.argwhere(bad)[0]
        raise KernelArgumentError(
            f"stage_times[{i}, {s}] = {float(t[i, s])!r}: "
            "stage times must be finite and >= 0 cycles"
        )
    return t


def _check_depth(buffer_depth, n_stages: int) -> np.ndarray:
    d = np.asarray(buffer_depth)
    if d.dtype.kind not in "iu" or d.ndim > 1 or (
        d.ndim == 1 and d.shape[0] not in (1, max(n_stages - 1, 1))
    ):
        raise KernelArgumentError(
            f"buffer_depth must be an int >= 1 or an int array of length n_stages - 1 = "
            f"{n_stages - 1} (one per FIFO), got {buffer_depth!r}"
        )
    d = owned(np.broadcast_to(d, (max(n_stages - 1, 1),)), np.int64)
    if (d < 1).any():
        raise KernelArgumentError(
            f"buffer_depth must be >= 1 sample (a FIFO holds at least one), got {buffer_depth!r}"
        )
    return d


def pipeline_times(stage_times, buffer_depth, chunks=None, lead=None):
    """Start, finish and departure cycles of every sample on every stage (module docstring).

    With ``chunks`` (int (n_stages,), >= 1) and ``lead`` (float (n_stages,) in (0, 1]) the
    stages stream: stage ``s`` starts sample ``i`` once the fraction ``lead[s]`` of stage
    ``s - 1``'s task is done (``S[i, s-1] + lead[s] t[i, s-1]``, else after it released
    ``i - 1``), finishes no earlier than ``t[i, s] / chunks[s]`` after stage ``s - 1``
    finished, and ``buffer_depth`` counts chunks of the consumer's input: a sample departs
    when its last chunk has room (the consumer has read chunk ``g = i c + c - 1 - b``).
    Without them (the default) every sample moves whole, as above.

    Parameters
    ----------
    stage_times : float64 array (n_samples, n_stages)
        Cycles stage ``s`` spends on sample ``i`` (>= 0); rows may differ (per-sample variation).
    buffer_depth : int >= 1, or int array (n_stages - 1,)
        Samples the FIFO between stage ``s`` and ``s + 1`` holds (one value for all FIFOs, or
        one per FIFO).

    Returns
    -------
    (start, finish, depart) : three float64 arrays (n_samples, n_stages), in cycles.

    Examples
    --------
    >>> s, f, d = pipeline_times([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0]], 1)
    >>> d[:, 1].tolist()
    [4.0, 7.0, 10.0]
    >>> d[:, 0].tolist()   # sample 2 waits on stage 0 until sample 1 starts stage 1
    [1.0, 2.0, 4.0]
    """
    t = _check_stage_times(stage_times)
    depth = _check_depth(buffer_depth, t.shape[1])
    if chunks is None and lead is None:
        return _pipeline_kernel(t, depth)
    m = t.shape[1]
    c = owned(np.broadcast_to(1 if chunks is None else chunks, (m,)), np.int64)
    f = owned(np.broadcast_to(1.0 if lead is None else lead, (m,)), np.float64)
    if (c < 1).any() or not np.isfinite(f).all() or (f <= 0).any() or (f > 1).any():
        raise KernelArgumentError(f"chunks must be ints >= 1 and lead fractions in (0, 1], "
                                  f"got chunks={chunks!r}, lead={lead!r}")
    return _chunk_kernel(t, depth, c, f)


class PipelineSummary(NamedTuple):
    """What :func:`pipeline_summary` returns (a tuple: unpack the first three as the brief)."""

    throughput_samples_per_cycle: float
    fill_latency_cycles: float
    bottleneck_stage: int
    utilisation: np.ndarray  # float64 (n_stages,): busy cycles / makespan


def pipeline_summary(depart, stage_times, warmup_fraction: float = 0.5) -> PipelineSummary:
    """Steady-state throughput, fill latency, bottleneck stage and per-stage utilisation.

    Parameters
    ----------
    depart : float64 (n_samples, n_stages)
        Departure cycles from :func:`pipeline_times`.
    stage_times : float64 (n_samples, n_stages)
        The stage times given to :func:`pipeline_times` (the busy cycles of each stage).
    warmup_fraction : float in [0, 1)
        Fraction of the samples treated as warm-up, ``k = min(floor(f * n), n - 2)``.

    Returns
    -------
    PipelineSummary
        ``throughput_samples_per_cycle`` = ``(n-1-k) / (D[n-1, last] - D[k, last])``, the slope
        of the last stage's departures after warm-up (``1 / D[0, last]`` when ``n == 1``; ``inf``
        when no time passes); ``fill_latency_cycles`` = ``D[0, last]``, one sample through an
        empty pipe; ``bottleneck_stage`` = the stage with the most busy cycles (the lowest index
        on ties); ``utilisation`` = busy cycles / makespan ``D[n-1, last]``, per stage.

    The slope is an estimate over a finite window: with per-sample variation it may exceed the
    bottleneck's long-run rate ``1 / max_s mean_i t[i, s]`` when the window is short. The whole
    run ``n / D[n-1, last]`` never does.
    """
    t = _check_stage_times(stage_times)
    d = np.asarray(depart, dtype=np.float64)
    if d.shape != t.shape:
        raise KernelArgumentError(
            f"depart has shape {d.shape} but stage_times has shape {t.shape}; pass the "
            "departures pipeline_times computed from these stage times"
        )
    if (
        isinstance(warmup_fraction, bool)
        or not isinstance(warmup_fraction, numbers.Real)
        or not 0.0 <= warmup_fraction < 1.0
    ):
        raise KernelArgumentError(
            f"warmup_fraction must be a number in [0, 1), got {warmup_fraction!r}"
        )
    n = d.shape[0]
    last = d[:, -1]
    if n == 1:
        span, count = last[0], 1
    else:
        k = min(int(np.floor(warmup_fraction * n)), n - 2)
        span, count = last[n - 1] - last[k], n - 1 - k
    throughput = count / span if span > 0 else float("inf")
    busy = t.sum(axis=0)
    makespan = last[n - 1]
    utilisation = busy / makespan if makespan > 0 else np.zeros_like(busy)
    return PipelineSummary(
        float(throughput), float(last[0]), int(np.argmax(busy)), utilisation
    )
