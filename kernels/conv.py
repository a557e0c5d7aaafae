"""2-D convolution and transposed convolution on a pr x pc region, skipping zeros.

Mapping: output channels are split over the ``pc`` core columns and input channels over the ``pr``
core rows (``numpy.array_split`` rule). Core (i, j) holds the weights ``w[co, ci, :, :]`` for its
input channels i and output channels j. It multiplies only its non-zero weights, and only by the
non-zero input pixels that reach it (padding is never sent), so its MAC count is the number of
non-zero products it forms. Arithmetic in float32, like :func:`~wse_sim.kernels.spmm.spmm`.

Both convolutions are a sparse matmul over the im2col rows ``r = (ci * kh + dh) * kw + dw``;
the counts reuse :mod:`~wse_sim.kernels.counts` with those rows grouped by input channel.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit, prange

from .counts import _row_tile_nnz, band_weighted_sums
from .masks import KernelArgumentError
from .tiles import as_real_array, check_grid, splits

__all__ = ["conv2d", "conv_transpose2d"]


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each >= minimum) as a (height, width) pair."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        a, b = pair
    except (TypeError, ValueError):
        a = b = None
    ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
             for v in (a, b))
    if not ok:
        raise KernelArgumentError(
            f"{name} must be an int >= {minimum} or a pair (h, w) of them, got {value!r}"
        )
    return int(a), int(b)


def _csr_by_out_channel(w_rows):
    """Non-zeros of ``w_rows`` (C_out, K) row by row: indptr int64 (C_out+1,), cols int64, values.

    Column indices ascend within a row, so each output sums its taps in im2col order.
    """
    mask = w_rows != 0
    indptr = np.zeros(w_rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
    rows, cols = np.nonzero(mask)
    return indptr, cols.astype(np.int64), w_rows[rows, cols].astype(np.float32)


def _conv_macs(w_rows, c_in, x_count, pr, pc):
    """Per-core MACs, int64 (pr, pc), of weights ``w_rows`` (C_out, K) and ``x_count`` (K,).

    The K = C_in * kh * kw tap rows are grouped by input channel, so a core row's band of taps
    is its input channels' ``kh * kw`` taps each.
    """
    mask = np.ascontiguousarray((w_rows != 0).T)  # (K, C_out): inputs by outputs, like spmm
    rtn = _row_tile_nnz(mask.view(np.uint8), splits(w_rows.shape[0], pc))
    taps_per_channel = w_rows.shape[1] // c_in if c_in else 0
    return band_weighted_sums(rtn, x_count, splits(c_in, pr) * taps_per_channel)


@njit(cache=True)
def _valid_range(n_out, n_in, stride, offset):
    """Outputs o in [lo, hi) with 0 <= o * stride + offset < n_in."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if n_in - offset <= 0 else min(n_out, (n_in - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True, parallel=True)
def _conv2d_kernel(x, indptr, taps, values, kh, kw, sh, sw, ph, pw, ho, wo):
    """y float32 (B, C_out, ho, wo) of a correlation with CSR weights per output channel.

    ``taps[p]`` is the im2col row ``(ci * kh + dh) * kw + dw`` of non-zero ``values[p]``.
    One thread per (output channel, image): no write races, fixed summation order.
    """
    batch, _, h, w = x.shape
    c_out = indptr.shape[0] - 1
    y = np.zeros((batch, c_out, ho, wo), dtype=np.float32)
    for t in prange(c_out * batch):
        co = t // batch
        b = t - co * batch
        for p in range(indptr[co], indptr[co + 1]):
            tap = taps[p]
            ci = tap // (kh * kw)
            dh = (tap // kw) % kh
            dw = tap % kw
            v = values[p]
            oh0, oh1 = _valid_range(ho, h, sh, dh - ph)
            ow0, ow1 = _valid_range(wo, w, sw, dw - pw)
            shift = dw - pw
            for oh in range(oh0, oh1):
                xrow = x[b, ci, oh * sh + dh - ph]
                yrow = y[b, co, oh]
                if sw == 1:  # unit stride: contiguous, so the loop vectorizes
                    for ow in range(ow0, ow1):
                        xv = xrow[ow + shift]
                        yrow[ow] += v * xv if xv != 0 else np.float32(0.0)
                else:
                    for ow in range(ow0, ow1):
                        xv = xrow[ow * sw + shift]
                        yrow[ow] += v * xv if xv != 0 else np.float32(0.0)
    return y


@njit(cache=True)
def _conv2d_counts(x, kh, kw, sh, sw, ph, pw, ho, wo):
    """int64 (C_in * kh * kw,): non-zero input pixels each tap (ci, dh, dw) meets, over the batch.

    Padding pixels are zero by definition, so only pixels inside the image are counted. Serial:
    it costs what one output channel of the convolution costs, and compiles faster.
    """
    batch, c_in, h, w = x.shape
    out = np.zeros(c_in * kh * kw, dtype=np.int64)
    for ci in range(c_in):
        for dh in range(kh):
            oh0, oh1 = _valid_range(ho, h, sh, dh - ph)
            for dw in range(kw):
                ow0, ow1 = _valid_range(wo, w, sw, dw - pw)
                s = 0
                for b in range(batch):
                    for oh in range(oh0, oh1):
                        for ow in range(ow0, ow1):
                            s += x[b, ci, oh * sh + dh - ph, ow * sw + dw - pw] != 0
                out[(ci * kh + dh) * kw + dw] = s
    return out


@njit(cache=True)
def _scatter_range(n_in, n_out, stride, offset):
    """Inputs i in [lo, hi) with 0 <= i * stride + offset < n_out."""
    return _valid_range(n_in, n_out, stride, offset)


@njit(cache=True, parallel=True)
def _conv_transpose2d_kernel(x, indptr, taps, values, kh, kw, sh, sw, ph, pw, ho, wo):
    """y float32 (B, C_out, ho, wo): every input pixel scattered through the non-zero taps.

    ``y[b, co, ih*sh - ph + dh, iw*sw - pw + dw] += x[b, ci, ih, iw] * w[ci, co, dh, dw]``;
    products that land in the cropped border are never formed. One thread per
    (output channel, image), so the scatter has no races.
    """
    batch, _, h, w = x.shape
    c_out = indptr.shape[0] - 1
    y = np.zeros((batch, c_out, ho, wo), dtype=np.float32)
    for t in prange(c_out * batch):
        co = t // batch
        b = t - co * batch
        for p in range(indptr[co], indptr[co + 1]):
            tap = taps[p]
            ci = tap // (kh * kw)
            dh = (tap // kw) % kh
            dw = tap % kw
            v = values[p]
            ih0, ih1 = _scatter_range(h, ho, sh, dh - ph)
            iw0, iw1 = _scatter_range(w, wo, sw, dw - pw)
            shift = dw - pw
            for ih in range(ih0, ih1):
                xrow = x[b, ci, ih]
                yrow = y[b, co, ih * sh + dh - ph]
                # Branch-free select: zero pixels add nothing, without mispredicted branches.
                if sw == 1:
                    for iw in range(iw0, iw1):
                        xv = xrow[iw]
                        yrow[iw + shift] += v * xv if xv != 0 else np.float32(0.0)
                else:
                    for iw in range(iw0, iw1):
                        xv = xrow[iw]
                        yrow[iw * sw + shift] += v * xv if xv != 0 else np.float32(0.0)
    return y


@njit(cache=True)
def _conv_transpose2d_counts(x, kh, kw, sh, sw, ph, pw, ho, wo):
    """int64 (C_in * kh * kw,): non-zero input pixels each tap scatters inside the output."""
    batch, c_in, h, w = x.shape
    out = np.zeros(c_in * kh * kw, dtype=np.int64)
    for ci in range(c_in):
        for dh in range(kh):
            ih0, ih1 = _scatter_range(h, ho, sh, dh - ph)
            for dw in range(kw):
                iw0, iw1 = _scatter_range(w, wo, sw, dw - pw)
                s = 0
                for b in range(batch):
                    for ih in range(ih0, ih1):
                        for iw in range(iw0, iw1):
                            s += x[b, ci, ih, iw] != 0
                out[(ci * kh + dh) * kw + dw] = s
    return out


def _check_conv_args(x, w, stride, padding, pr, pc, in_axis):
    """Validated (x float32, w, (sh, sw), (ph, pw), pr, pc); ``w.shape[in_axis]`` is C_in."""
    x = as_real_array("x", x, 4)
    w = as_real_array("w", w, 4)
    if w.shape[in_axis] != x.shape[1]:
        raise KernelArgumentError(
            f"x has {x.shape[1]} input channels (shape {x.shape}) but w has "
            f"{w.shape[in_axis]} on axis {in_axis} (shape {w.shape}); they must match"
        )
    if w.shape[2] < 1 or w.shape[3] < 1:
        raise KernelArgumentError(
            f"w has an empty kernel (shape {w.shape}); kh and kw (axes 2, 3) must be >= 1"
        )
    pr, pc = check_grid(pr, pc)
    return (np.ascontiguousarray(x, dtype=np.float32), w, _pair("stride", stride, 1),
            _pair("padding", padding, 0), pr, pc)


def conv2d(x, w, stride=1, padding=0, pr: int = 1, pc: int = 1):
    """2-D convolution (PyTorch's ``conv2d``, a cross-correlation), skipping zeros.

    Parameters
    ----------
    x : array (B, C_in, H, W), float16/float32 (any real dtype, computed in float32)
    w : array (C_out, C_in, kh, kw), PyTorch layout
    stride, padding : int or (h, w) pair; zero padding, stride >= 1
    pr, pc : int >= 1, core grid: input channels over pr, output channels over pc

    Returns
    -------
    y : float32 (B, C_out, Ho, Wo), ``Ho = (H + 2 * ph - kh) // sh + 1`` (Wo alike)
    macs : int64 (pr, pc), non-zero products each core formed, summed over the batch

    >>> y, macs = conv2d(np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2)), pc=2)
    >>> y.shape, macs.tolist()
    ((1, 2, 2, 2), [[16, 16]])
    """
    x, w, (sh, sw), (ph, pw), pr, pc = _check_conv_args(x, w, stride, padding, pr, pc, 1)
    c_out, c_in, kh, kw = w.shape
    _, _, h, wd = x.shape
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (wd + 2 * pw - kw) // sw + 1
    if kh > h + 2 * ph or kw > wd + 2 * pw:
        raise KernelArgumentError(
            f"kernel {kh}x{kw} is larger than the padded input {h + 2 * ph}x{wd + 2 * pw} "
            f"(x {h}x{wd}, padding={(ph, pw)}); use a smaller kernel or more padding"
        )
    w_rows = np.ascontiguousarray(w.reshape(c_out, c_in * kh * kw))
    indptr, taps, values = _csr_by_out_channel(w_rows)
    y = _conv2d_kernel(x, indptr, taps, values, kh, kw, sh, sw, ph, pw, ho, wo)
    x_count = _conv2d_counts(x, kh, kw, sh, sw, ph, pw, ho, wo)
    return y, _conv_macs(w_rows, c_in, x_count, pr, pc)


def conv_transpose2d(x, w, stride=1, padding=0, pr: int = 1, pc: int = 1, output_padding=0):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``), skipping zeros.

    The adjoint of :func:`conv2d`: ``conv_transpose2d(g, w)`` with the same ``w``, stride and
    padding is the gradient of ``conv2d(x, w)`` with respect to ``x``.

    Parameters
    ----------
    x : array (B, C_in, H, W), float16/float32 (any real dtype, computed in float32)
    w : array (C_in, C_out, kh, kw), PyTorch layout
    stride, padding : int or (h, w) pair; padding crops the full output
    pr, pc : int >= 1, core grid: input channels over pr, output channels over pc
    output_padding : int or pair, extra rows/columns at the bottom/right, < stride

    Returns
    -------
    y : float32 (B, C_out, Ho, Wo), ``Ho = (H - 1) * sh - 2 * ph + kh + oph`` (Wo alike)
    macs : int64 (pr, pc), non-zero products each core formed that land inside the output

    >>> y, macs = conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> y.shape, macs.tolist()
    ((1, 1, 4, 4), [[16]])
    """
    x, w, (sh, sw), (ph, pw), pr, pc = _check_conv_args(x, w, stride, padding, pr, pc, 0)
    oph, opw = _pair("output_padding", output_padding, 0)
    if oph >= sh or opw >= sw:
        raise KernelArgumentError(
            f"output_padding={output_padding!r} must be smaller than stride={stride!r} "
            "in each axis (larger values would add rows no input reaches)"
        )
    c_in, c_out, kh, kw = w.shape
    _, _, h, wd = x.shape
    ho = (h - 1) * sh - 2 * ph + kh + oph
    wo = (wd - 1) * sw - 2 * pw + kw + opw
    if ho < 1 or wo < 1:
        raise KernelArgumentError(
            f"padding={padding!r} crops the whole output ({ho}x{wo}) of input {h}x{wd} with "
            f"kernel {kh}x{kw}, stride {(sh, sw)}; use less padding"
        )
    # (C_in, C_out, kh, kw) -> (C_out, C_in * kh * kw): same tap rows as conv2d.
    w_rows = np.ascontiguousarray(np.moveaxis(w, 1, 0).reshape(c_out, c_in * kh * kw))
    indptr, taps, values = _csr_by_out_channel(w_rows)
    y = _conv_transpose2d_kernel(x, indptr, taps, values, kh, kw, sh, sw, ph, pw, ho, wo)
    x_count = _conv_transpose2d_counts(x, kh, kw, sh, sw, ph, pw, ho, wo)
    return y, _conv_macs(w_rows, c_in, x_count, pr, pc)
