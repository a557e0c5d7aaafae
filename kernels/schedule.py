"""Training schedule of a layer pipeline: forward and backward passes sharing each stage's
region, one-forward-one-backward (1F1B) order, a max-plus computation of every task's time.

Stages ``s = 0 .. m-1`` form a DAG (edges ``src -> dst`` with ``src < dst``). Sample ``i`` runs
its forward task ``F(i, s)`` after ``F(i, p)`` of every predecessor ``p`` (plus the edge's
latency), and its backward task ``B(i, s)`` after its own forward there and ``B(i, q)`` of every
successor ``q`` (plus the latency back). A region serves one task at a time in a fixed order:
``w_s`` forwards first (its warm-up: the samples it stashes), then alternately one backward and
one forward, then the remaining backwards::

    F0 .. F(w-1), B0, Fw, B1, F(w+1), ..., B(n-w-1), F(n-1), B(n-w), ..., B(n-1)

Granularity (``train_schedule(..., chunks=, lead=, back_lead=)``): stage ``s`` moves a sample
as ``c_s`` chunks (tokens, feature-map rows, or one chunk: the whole sample). Along edge
``p -> s`` the consumer may start once the fraction ``lead`` of the producer's task is done
(the chunks it needs: one chunk-time of the producer for a streaming consumer, the whole task
for a barrier), and it ends no earlier than one of its own chunk-times after the producer's
last chunk arrived::

    F_start(i, s) >= F_start(i, p) + lead_e tf[i, p] + delay_e
    F_end(i, s)    = max(F_start(i, s) + tf[i, s],  F_end(i, p) + delay_e + tf[i, s] / c_s)

and the same backwards along each edge with ``back_lead`` and ``tb``. A dataflow core runs a
task when its wavelets arrive, so a streaming region interleaves its forward and backward
streams instead of holding a fixed list: each stream takes its samples in order, and between
two of its tasks leaves the region for the task 1F1B puts between them (the backward of
sample ``i + 1 - w_s`` between forwards ``i`` and ``i + 1``; the forward ``j + w_s`` after
backward ``j``; the update after a batch's last backward), and the backward stream begins no
earlier than the warm-up forwards' time after the first forward started. The stash holds
``w_s`` samples, freed chunk by chunk as the backward reads it:
``F_start(i, s) >= B_start(i - w_s, s) + tb / c_s``. A forward also waits for room in each
consumer's input FIFO of ``K_q`` chunks: chunk ``g = i c_q - K_q`` of the consumer's input
must have been taken, i.e. ``F_start(i, p) >= F_start(j, q) + r tf[j, q] / c_q`` with
``j, r = divmod(g, c_q)``. Every start is a max of times plus durations: a max-plus system,
solved exactly in one pass (sample by sample: forwards in topological order, then backwards
in reverse). The two streams of a region may overlap while one waits for data; callers bound
the step below by each region's own work (``wse_sim.engine.pipelined``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._arrays import owned
from .masks import KernelArgumentError

__all__ = ["train_schedule"]


@njit(cache=True)
def _task(k, n, w):
    """(is_backward, sample) of the k-th task of a region with warm-up w over n samples."""
    if k < w:
        return False, k
    if k < 2 * n - w:
        j = (k - w) // 2
        if (k - w) % 2 == 0:
            return True, j
        return False, w + j
    return True, k - n


@njit(cache=True)
def _schedule_kernel(tf, tb, upd, warm, fifo, pred_ptr, pred_idx, pred_delay, succ_ptr,
                     succ_idx, succ_delay, batch):
    n, m = tf.shape
    f_start = np.full((n, m), -1.0)
    f_end = np.full((n, m), -1.0)
    b_start = np.full((n, m), -1.0)
    b_end = np.full((n, m), -1.0)
    free = np.zeros(m)  # when each region is next idle
    pos = np.zeros(m, dtype=np.int64)
    w = np.minimum(warm, n)
    total = 2 * n
    done = 0
    progress = True
    while progress:
        progress = False
        for s in range(m):
            while pos[s] < total:
                back, i = _task(pos[s], n, w[s])
                t0 = free[s]
                ready = True
                if not back:
                    for e in range(pred_ptr[s], pred_ptr[s + 1]):
                        p = pred_idx[e]
                        if f_end[i, p] < 0.0:
                            ready = False
                            break
                        t0 = max(t0, f_end[i, p] + pred_delay[e])
                    if ready:
                        for e in range(succ_ptr[s], succ_ptr[s + 1]):
                            q = succ_idx[e]
                            j = i - fifo[q]
                            if j >= 0:
                                if f_start[j, q] < 0.0:
                                    ready = False
                                    break
                                t0 = max(t0, f_start[j, q])
                    if not ready:
                        break
                    f_start[i, s] = t0
                    f_end[i, s] = t0 + tf[i, s]
                    free[s] = f_end[i, s]
                else:
                    if f_end[i, s] < 0.0:
                        break
                    t0 = max(t0, f_end[i, s])
                    for e in range(succ_ptr[s], succ_ptr[s + 1]):
                        q = succ_idx[e]
                        if b_end[i, q] < 0.0:
                            ready = False
                            break
                        t0 = max(t0, b_end[i, q] + succ_delay[e])
                    if not ready:
                        break
                    b_start[i, s] = t0
                    b_end[i, s] = t0 + tb[i, s]
                    free[s] = b_end[i, s]
                    if batch > 0 and (i + 1) % batch == 0:
                        free[s] += upd[s]
                pos[s] += 1
                done += 1
                progress = True
    return f_start, f_end, b_start, b_end, done == total * m


@njit(cache=True)
def _forward_ready(i, s, f_end, f_start, tf, fifo, chunks, pred_ptr, pred_idx, pred_delay,
                   pred_lead, succ_ptr, succ_idx):
    """(ready, earliest start, tail) of forward F(i, s) from its data and FIFO room alone."""
    t0 = 0.0
    tail = 0.0  # the last input chunk arrives, then one chunk-time of work
    for e in range(pred_ptr[s], pred_ptr[s + 1]):
        p = pred_idx[e]
        if f_end[i, p] < 0.0:
            return False, 0.0, 0.0
        t0 = max(t0, f_start[i, p] + pred_lead[e] * tf[i, p] + pred_delay[e])
        tail = max(tail, f_end[i, p] + pred_delay[e] + tf[i, s] / chunks[s])
    for e in range(succ_ptr[s], succ_ptr[s + 1]):
        q = succ_idx[e]
        g = i * chunks[q] - fifo[q]  # room for the first chunk: q has taken chunk g
        if g >= 0:
            j = g // chunks[q]
            if f_start[j, q] < 0.0:
                return False, 0.0, 0.0
            r = g - j * chunks[q]
            room = f_start[j, q]
            if r > 0:
                room += r * tf[j, q] / chunks[q]
            t0 = max(t0, room)
    return True, t0, tail


@njit(cache=True)
def _backward_ready(i, s, f_end, b_end, b_start, tb, chunks, succ_ptr, succ_idx, succ_delay,
                    succ_lead):
    """(ready, earliest start, tail) of backward B(i, s) from its data alone."""
    if f_end[i, s] < 0.0:
        return False, 0.0, 0.0
    t0 = f_end[i, s]
    tail = 0.0
    for e in range(succ_ptr[s], succ_ptr[s + 1]):
        q = succ_idx[e]
        if b_end[i, q] < 0.0:
            return False, 0.0, 0.0
        t0 = max(t0, b_start[i, q] + succ_lead[e] * tb[i, q] + succ_delay[e])
        tail = max(tail, b_end[i, q] + succ_delay[e] + tb[i, s] / chunks[s])
    return True, t0, tail


@njit(cache=True)
def _stream_kernel(tf, tb, upd, warm, fifo, chunks, pred_ptr, pred_idx, pred_delay, pred_lead,
                   succ_ptr, succ_idx, succ_delay, succ_lead, batch):
    n, m = tf.shape
    f_start = np.full((n, m), -1.0)
    f_end = np.full((n, m), -1.0)
    b_start = np.full((n, m), -1.0)
    b_end = np.full((n, m), -1.0)
    f_free = np.zeros(m)  # when each region's forward stream may start its next task
    b_free = np.zeros(m)  # and its backward stream
    w = np.minimum(warm, n)
    for i in range(n):
        for s in range(m):  # producers first: stages are in topological order
            ok, t0, tail = _forward_ready(i, s, f_end, f_start, tf, fifo, chunks, pred_ptr,
                                          pred_idx, pred_delay, pred_lead, succ_ptr, succ_idx)
            t0 = max(t0, f_free[s])
            k = i - w[s]
            if k >= 0:  # the stash frees chunk by chunk as B(k) reads it
                t0 = max(t0, b_start[k, s] + tb[k, s] / chunks[s])
            f_start[i, s] = t0
            f_end[i, s] = max(t0 + tf[i, s], tail)
            if i == 0:  # 1F1B runs the warm-up forwards before the first backward
                for k in range(w[s]):
                    b_free[s] += tf[k, s]
                b_free[s] += t0
            # past the warm-up 1F1B puts one backward (and after a batch's last backward, the
            # update) between two forwards: the forward stream leaves the region that time
            f_free[s] = t0 + tf[i, s]
            k = i + 1 - w[s]
            if 0 <= k < n:
                f_free[s] += tb[k, s]
                if batch > 0 and (k + 1) % batch == 0:
                    f_free[s] += upd[s]
        for s in range(m - 1, -1, -1):  # consumers first on the way back
            ok, t0, tail = _backward_ready(i, s, f_end, b_end, b_start, tb, chunks, succ_ptr,
                                           succ_idx, succ_delay, succ_lead)
            t0 = max(t0, b_free[s])
            b_start[i, s] = t0
            b_end[i, s] = max(t0 + tb[i, s], tail)
            # 1F1B puts a forward after each backward while one is left, and the update after
            # a batch's last: the backward stream leaves the region that time
            b_free[s] = t0 + tb[i, s]
            if batch > 0 and (i + 1) % batch == 0:
                b_free[s] += upd[s]
            k = i + w[s]
            if k < n:
                b_free[s] += tf[k, s]
    return f_start, f_end, b_start, b_end, True


def _csr(m: int, by: np.ndarray, other: np.ndarray, *per_edge: np.ndarray):
    order = np.argsort(by, kind="stable")
    ptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(ptr, by + 1, 1)
    return (np.cumsum(ptr), owned(other[order], np.int64),
            *(owned(a[order], np.float64) for a in per_edge))


def _fraction(x, e: int, name: str) -> np.ndarray:
    """A per-edge fraction in (0, 1] (default 1: the whole task)."""
    if x is None:
        return np.ones(e)
    a = owned(np.broadcast_to(x, (e,)), np.float64)
    if not np.isfinite(a).all() or (a <= 0).any() or (a > 1).any():
        raise KernelArgumentError(f"{name} must be fractions in (0, 1] of a task, got {x!r}")
    return a


def train_schedule(tf, tb, warm, src, dst, delay=None, fifo=None, upd=None, batch: int = 0,
                   chunks=None, lead=None, back_lead=None):
    """Start and end of every forward and backward task of a 1F1B training pipeline.

    Parameters
    ----------
    tf, tb : float (n, m): forward and backward cycles of sample i on stage s (>= 0).
    warm : int (m,): forwards a region runs before its first backward (>= 1).
    src, dst : int (e,): the DAG's edges, ``src < dst``.
    delay : float (e,): cycles a wavelet takes along each edge (default 0).
    fifo : int (m,): each stage's input FIFO, in its chunks (default: unbounded).
    upd, batch : update cycles per region (m,) after every ``batch``-th backward (0: none).
    chunks : int (m,): the chunks a stage streams a sample in (default 1: whole samples).
    lead : float (e,) in (0, 1]: the fraction of the producer's forward task after which the
        consumer has the chunks it needs to start (default 1: the whole sample, a barrier).
    back_lead : float (e,): the same for the backward pass, of the consumer's backward task.

    With chunks a task starts when the chunks it needs have arrived and ends no earlier than
    one of its chunk-times after its producers' last chunk (module docstring). With every
    ``chunks``, ``lead`` and ``back_lead`` at 1 the schedule is the whole-sample one, bit for
    bit.

    Returns ``(f_start, f_end, b_start, b_end)``, each float64 (n, m), in cycles from 0.
    Raises ``KernelArgumentError`` for bad shapes or an edge that is not ``src < dst``.

    Examples
    --------
    Three streaming stages of 8 chunks each, one cycle per chunk: each starts one chunk-time
    after its producer and ends one chunk-time after it.

    >>> fs, fe, _, _ = train_schedule([[8.0, 8.0, 8.0]], [[8.0, 8.0, 8.0]], 1, [0, 1], [1, 2],
    ...                               chunks=8, lead=1 / 8, back_lead=1 / 8)
    >>> fs[0].tolist(), fe[0].tolist()
    ([0.0, 1.0, 2.0], [8.0, 9.0, 10.0])
    """
    tf = owned(tf, np.float64)
    tb = owned(tb, np.float64)
    if tf.ndim != 2 or tf.shape != tb.shape or tf.shape[0] < 1 or tf.shape[1] < 1:
        raise KernelArgumentError(f"tf and tb must be equal (n >= 1, m >= 1) arrays, got "
                                  f"{tf.shape} and {tb.shape}")
    if not (np.isfinite(tf).all() and np.isfinite(tb).all()) or (tf < 0).any() or (tb < 0).any():
        raise KernelArgumentError("tf and tb must be finite cycles >= 0")
    n, m = tf.shape
    streaming = chunks is not None or lead is not None or back_lead is not None
    warm = owned(np.broadcast_to(warm, (m,)), np.int64)
    if (warm < 1).any():
        raise KernelArgumentError(f"warm must be >= 1, got {warm.min()}")
    src = owned(np.atleast_1d(src), np.int64)
    dst = owned(np.atleast_1d(dst), np.int64)
    if src.shape != dst.shape or (src.size and ((src >= dst).any() or src.min() < 0
                                                or dst.max() >= m)):
        raise KernelArgumentError("edges must satisfy 0 <= src < dst < m")
    delay = np.zeros(src.size) if delay is None else owned(np.broadcast_to(delay, src.shape),
                                                           np.float64)
    chunks = np.ones(m, dtype=np.int64) if chunks is None else \
        owned(np.broadcast_to(chunks, (m,)), np.int64)
    if (chunks < 1).any():
        raise KernelArgumentError(f"chunks must be >= 1 per stage, got {chunks.min()}")
    fifo = (n + 1) * chunks if fifo is None else owned(np.broadcast_to(fifo, (m,)), np.int64)
    if (fifo < 1).any():
        raise KernelArgumentError(f"fifo depths must be >= 1, got {fifo.min()}")
    lead = _fraction(lead, src.size, "lead")
    back_lead = _fraction(back_lead, src.size, "back_lead")
    upd = np.zeros(m) if upd is None else owned(np.broadcast_to(upd, (m,)), np.float64)
    pred_ptr, pred_idx, pred_delay, pred_lead = _csr(m, dst, src, delay, lead)
    succ_ptr, succ_idx, succ_delay, succ_lead = _csr(m, src, dst, delay, back_lead)
    if streaming:
        out = _stream_kernel(tf, tb, upd, warm, fifo, chunks, pred_ptr, pred_idx, pred_delay,
                             pred_lead, succ_ptr, succ_idx, succ_delay, succ_lead, int(batch))
    else:
        out = _schedule_kernel(tf, tb, upd, warm, fifo, pred_ptr, pred_idx, pred_delay,
                               succ_ptr, succ_idx, succ_delay, int(batch))
    if not out[4]:
        raise KernelArgumentError("the 1F1B order deadlocked: warm-up counts must not grow "
                                  "from a stage to its successors")
    return out[:4]
