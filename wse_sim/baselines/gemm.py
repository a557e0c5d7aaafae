"""Shape-aware time of a matrix product on a GPU: tile and wave quantization, split-K.

A GEMM ``C[L, M, N] = A[L, M, K] @ B[L, K, N]`` (``L`` independent products of one shape, e.g.
batch x heads of an attention product) runs as CTAs, each computing one ``tm x tn`` tile of C
over the whole K (or ``K / s`` of it with split-K ``s``, the ``s`` partial tiles summed
afterwards). An SM holds one such CTA at a time, so the CTAs run in ``waves`` of ``SMs``::

    tiles  = L x ceil(M / tm) x ceil(N / tn) x s
    waves  = ceil(tiles / SMs)
    t_tile = 2 tm tn ceil(K / (s tk)) tk / (peak / SMs x rate(tm, tn) x efficiency)
    time   = waves x t_tile

So a 129-row product costs two tile rows, and a grid one CTA past a multiple of the SM count
costs a whole extra wave. The library picks the tile and split that minimise the time, as
cuBLAS's heuristics do, among :data:`TILES`; a smaller tile fills SMs better but moves more
operand bytes per FLOP, so it runs below the SM's peak on tensor cores (``rate``). The memory
side of the product (reading A and B, writing C, plus the split-K partials) is the caller's
roofline term, passed in, so that the tile and split are chosen on ``max(compute, memory)``.

Every constant here is a named assumption (see ``docs/gpu_baselines.md``); the fitted
efficiency of the math pipe in use (``TENSOR_CORE_EFFICIENCY`` or ``CUDA_CORE_EFFICIENCY``,
:mod:`.roofline`) multiplies the SM rate.
"""

from __future__ import annotations

import numpy as np

TILES = ((256, 128), (128, 256), (128, 128), (128, 64), (64, 128), (64, 64))
"""CTA tile shapes ``(tm, tn)`` the library chooses among: the tensor-core tile family of
cuBLAS/CUTLASS on Volta to Hopper, assumed (NVIDIA, "Matrix Multiplication Background User's
Guide", Deep Learning Performance documentation, 2023; docs/gpu_baselines.md)."""

FULL_RATE_TILE = (128, 128)
"""Assumed: on tensor cores a CTA tile reaches the SM's peak from a 128 x 128 tile up; a
smaller tile is limited by the rate it can stage operands (its FLOPs per operand byte,
``tm tn / (tm + tn)``, relative to this tile's). Derived for the V100 (125 TFLOP/s over
~2.2 TB/s of L2 needs ~58 FLOP/B, a 128 x 128 fp16 tile gives 64) and assumed for the newer
GPUs, whose L2 and shared-memory paths grew with their tensor cores."""

TILE_K = 32
"""Elements of K a CTA consumes per main-loop step (the k-tile); K is rounded up to it,
assumed (the common CUTLASS/cuBLAS k-tile for 16-bit tensor-core kernels)."""

SPLITS = (1, 2, 4, 8, 16)
"""Split-K factors the library may use when the output tiles alone cannot fill the SMs,
assumed (cuBLAS's split-K / stream-K kernels)."""

PARTIAL_BYTES = 4  # split-K partial tiles are fp32, written once and read once, assumed


def _intensity(tm: int, tn: int) -> float:
    return tm * tn / (tm + tn)


_TM = np.array([t[0] for t in TILES], dtype=np.float64)
_TN = np.array([t[1] for t in TILES], dtype=np.float64)
_TENSOR_RATE = np.minimum(1.0, np.array([_intensity(*t) for t in TILES])
                          / _intensity(*FULL_RATE_TILE))
_SPLIT = np.array(SPLITS, dtype=np.float64)


def gemm_times(count, m, n, k, nbytes, peak_flops, sms: int, efficiency: float,
               tensor_cores: bool, hbm_bytes_per_s: float,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute and memory time of each product, vectorized over products.

    Parameters
    ----------
    count, m, n, k : arrays (P,) of products per kernel and their shape (K may be fractional
        where a convolution's MACs are not an integer product of the GEMM view; it is rounded up
        to the k-tile).
    nbytes : array (P,), compulsory HBM bytes of the product (A and B read, C written).
    peak_flops : array (P,) or float, FLOP/s of the whole GPU on the unit used.
    sms : streaming multiprocessors.
    efficiency : fraction of an SM's peak a full-rate tile reaches (the pipe's fitted one).
    tensor_cores : False on CUDA cores (fp32 on V100), where every tile runs at full rate (the
        SM's SIMT peak is 8x lower, so staging operands never limits it).
    hbm_bytes_per_s : the bandwidth the memory term uses (datasheet x HBM efficiency).

    Returns ``(compute_s, memory_s, tile_index)``, each (P,): of the tile and split that
    minimise ``max(compute, memory)`` (split-K partials add to memory), and which of
    :data:`TILES` it used.
    """
    count, m, n, k, nb = (np.asarray(x, dtype=np.float64)[:, None, None]
                          for x in (count, m, n, k, nbytes))
    peak = np.asarray(peak_flops, dtype=np.float64)
    peak = peak[:, None, None] if peak.ndim else peak
    tm, tn = _TM[None, :, None], _TN[None, :, None]
    s = _SPLIT[None, None, :]
    rate = (_TENSOR_RATE if tensor_cores else np.ones(len(TILES)))[None, :, None]
    tiles = count * np.ceil(m / tm) * np.ceil(n / tn) * s
    waves = np.ceil(tiles / sms)
    k_pad = np.ceil(k / (s * TILE_K)) * TILE_K
    compute = waves * 2.0 * tm * tn * k_pad / (peak / sms * rate * efficiency)
    memory = (nb + np.where(s > 1, 2.0 * s * count * m * n * PARTIAL_BYTES, 0.0)) \
        / hbm_bytes_per_s
    compute, memory = np.broadcast_arrays(compute, memory)
    cost = np.maximum(compute, memory)
    # a split whose K slice is below one k-tile is no option; split 1 always is
    cost = np.where((s > 1) & (k < s * TILE_K), np.inf, cost)
    p = cost.shape[0]
    best = np.argmin(cost.reshape(p, -1), axis=1)
    rows = np.arange(p)
    return (compute.reshape(p, -1)[rows, best], memory.reshape(p, -1)[rows, best],
            best // len(SPLITS))
