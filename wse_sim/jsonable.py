"""The one rule for writing results as JSON: non-finite numbers become null.

Every ``to_dict()`` that can hold an infinite or undefined figure (an equivalent GPU count no
cluster reaches, a ratio over zero) and every file writer passes its data through
:func:`jsonable`, so ``json.dumps(..., allow_nan=False)`` always succeeds and readers in other
languages see ``null``, never ``Infinity`` or ``NaN``.
"""

from __future__ import annotations

import math

import numpy as np


def jsonable(value):
    """``value`` as plain JSON types: dicts, lists, str, bool, int, finite float or None.

    numpy scalars and arrays become Python numbers and lists; NaN and +-inf become None;
    tuples become lists; any other object its ``str()``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
