"""Host I/O over the fabric: samples enter through the wafer's west edge and outputs leave
through its east edge (the host I/O columns sit beside the mesh; ``docs/hardware.md``).

Each input flow enters on the rows of the region that consumes it and runs east along them to
the region's west side, spread evenly over those rows; each output flow runs east from the
region's east side to the edge. Replicas side by side in a row band therefore share the links
west of them: feeding many replicas loads the links next to the I/O edge.
"""

from __future__ import annotations

import numpy as np

from ..kernels.routes import DIR_E, add_link_rects


def add_host_io(loads: np.ndarray, rects: np.ndarray, in_wavelets: np.ndarray,
                out_wavelets: np.ndarray) -> float:
    """Add host traffic to wafer link loads in place; return its wavelet-hops per sample.

    Parameters
    ----------
    loads : float64 (rows, cols, 4), wavelets per sample
    rects : int (k, 4), the (row0, col0, height, width) of every region on the wafer that
        reads graph input or writes a graph output (one per replica and stage)
    in_wavelets, out_wavelets : float (k,), wavelets per sample entering / leaving each region
    """
    rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    if len(rects) == 0:
        return 0.0
    r0, c0, h, w = rects.T
    cols = loads.shape[1]
    d = np.full(2 * len(rects), DIR_E, dtype=np.int64)
    r_lo = np.concatenate([r0, r0])
    r_hi = np.concatenate([r0 + h, r0 + h])
    # inputs: the links leaving columns [0, c0) east, into the region's west side; outputs:
    # from its east column to the last one (which hands them to the host, off the mesh)
    c_lo = np.concatenate([np.zeros_like(c0), c0 + w - 1])
    c_hi = np.concatenate([c0, np.full_like(c0, cols - 1)])
    wts = np.concatenate([np.asarray(in_wavelets, float), np.asarray(out_wavelets, float)])
    wts = wts / np.concatenate([h, h])
    keep = (c_hi > c_lo) & (wts > 0)
    if not keep.any():
        return 0.0
    return add_link_rects(loads, d[keep], r_lo[keep], r_hi[keep], c_lo[keep], c_hi[keep],
                          wts[keep])
