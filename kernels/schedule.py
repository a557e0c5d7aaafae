"""Training schedule of a layer pipeline: forward and backward passes sharing each stage's
region, one-forward-one-backward (1F1B) order, a max-plus computation of every task's time.

Stages ``s = 0 .. m-1`` form a DAG (edges ``src -> dst`` with ``src < dst``). Sample ``i`` runs
its forward task ``F(i, s)`` after ``F(i, p)`` of every predecessor ``p`` (plus the edge's
latency), and its backward task ``B(i, s)`` after its own forward there and ``B(i, q)`` of every
successor ``q`` (plus the latency back). A region serves one task at a time in a fixed order:
``w_s`` forwards first (its warm-up: the samples it stashes), then alternately one backward and
one forward, then the remaining backwards::

    F0 .. F(w-1), B0, Fw, B1, F(w+1), ..., B(n-w-1), F(n-1), B(n-w), ..., B(n-1)

A forward also waits for room in each consumer's input FIFO: ``F(i, p)`` starts no earlier than
``F(i - c_q, q)`` started, for every successor ``q`` with a FIFO of ``c_q`` samples. An optional
update task of ``upd[s]`` cycles follows every ``batch``-th backward on region ``s``. Every start
is the max of the times it waits for, every finish a start plus a duration: the schedule is a
max-plus system, solved exactly by running each region's list as far as its dependencies allow,
round after round.
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


def _csr(m: int, src: np.ndarray, dst: np.ndarray, delay: np.ndarray, by: np.ndarray,
         other: np.ndarray):
    order = np.argsort(by, kind="stable")
    ptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(ptr, by + 1, 1)
    return np.cumsum(ptr), owned(other[order], np.int64), owned(delay[order], np.float64)


def train_schedule(tf, tb, warm, src, dst, delay=None, fifo=None, upd=None, batch: int = 0):
    """Start and end of every forward and backward task of a 1F1B training pipeline.

    Parameters
    ----------
    tf, tb : float (n, m): forward and backward cycles of sample i on stage s (>= 0).
    warm : int (m,): forwards a region runs before its first backward (>= 1).
    src, dst : int (e,): the DAG's edges, ``src < dst``.
    delay : float (e,): cycles a wavelet takes along each edge (default 0).
    fifo : int (m,): samples each stage's input FIFO holds (default: unbounded).
    upd, batch : update cycles per region (m,) after every ``batch``-th backward (0: none).

    Returns ``(f_start, f_end, b_start, b_end)``, each float64 (n, m), in cycles from 0.
    Raises ``KernelArgumentError`` for bad shapes or an edge that is not ``src < dst``.
    """
    tf = owned(tf, np.float64)
    tb = owned(tb, np.float64)
    if tf.ndim != 2 or tf.shape != tb.shape or tf.shape[0] < 1 or tf.shape[1] < 1:
        raise KernelArgumentError(f"tf and tb must be equal (n >= 1, m >= 1) arrays, got "
                                  f"{tf.shape} and {tb.shape}")
    if not (np.isfinite(tf).all() and np.isfinite(tb).all()) or (tf < 0).any() or (tb < 0).any():
        raise KernelArgumentError("tf and tb must be finite cycles >= 0")
    n, m = tf.shape
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
    fifo = np.full(m, n + 1, dtype=np.int64) if fifo is None else \
        owned(np.broadcast_to(fifo, (m,)), np.int64)
    if (fifo < 1).any():
        raise KernelArgumentError(f"fifo depths must be >= 1, got {fifo.min()}")
    upd = np.zeros(m) if upd is None else owned(np.broadcast_to(upd, (m,)), np.float64)
    pred_ptr, pred_idx, pred_delay = _csr(m, src, dst, delay, dst, src)
    succ_ptr, succ_idx, succ_delay = _csr(m, src, dst, delay, src, dst)
    out = _schedule_kernel(tf, tb, upd, warm, fifo, pred_ptr, pred_idx, pred_delay, succ_ptr,
                           succ_idx, succ_delay, int(batch))
    if not out[4]:
        raise KernelArgumentError("the 1F1B order deadlocked: warm-up counts must shrink by "
                                  "at least 2 from a stage to each successor")
    return out[:4]
