"""Array hygiene shared by the kernels' Python wrappers."""

from __future__ import annotations

import numpy as np


def owned(a, dtype) -> np.ndarray:
    """A C-contiguous, writeable array: one compiled signature per kernel (no read-only views)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()
