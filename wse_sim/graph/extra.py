"""Builders of the ops importers meet beyond the zoo's: zero padding of an image, RMS norm.

Functions of a :class:`~wse_sim.graph.Graph` (``pad(g, name, x, pads)``), kept beside the
class so ``graph.py`` stays one screenful of the zoo's op kinds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import GraphError
from .checks import _dims
from .graph import Graph
from .op import RMSNORM_VECTOR_OPS


def pad(g: Graph, name: str, x: str, pads: Sequence[int]) -> str:
    """Zero padding of a (c, h, w) input (no compute): ``pads = (top, bottom, left, right)``.

    A data-movement op (kind ``reshape``, ``attrs['source_op'] == 'pad'``); the zeros it adds
    lower the output density.
    """
    shape = g._shape(x)
    pads = _dims(name, "pads", pads)
    if len(shape) != 3 or len(pads) != 4 or any(p < 0 for p in pads):
        raise GraphError(f"op {name!r}: pad needs a (channels, height, width) input and "
                         f"four pads >= 0 (top, bottom, left, right), got shape {shape} "
                         f"and pads {tuple(pads)}")
    c, h, w = shape
    out = (c, h + pads[0] + pads[1], w + pads[2] + pads[3])
    density = g._density_of(x) * (h * w) / (out[1] * out[2])
    return g._op(name, "reshape", [x], out, out_density=density,
                 attrs={"source_op": "pad", "pads": tuple(pads)})


def rmsnorm(g: Graph, name: str, x: str) -> str:
    """RMS normalisation over the last dimension (a gain, no bias): a ``layernorm`` op with
    ``attrs['norm'] == 'rms'``, as the LLaMA builder makes it."""
    shape = g._shape(x)
    return g._op(name, "layernorm", [x], shape, weight_shape=(shape[-1],), params=shape[-1],
                 vector_ops=RMSNORM_VECTOR_OPS * math.prod(shape), attrs={"norm": "rms"})
