"""Import models from ONNX and PyTorch into the graph IR.

``from_onnx`` needs the optional ``onnx`` package (``pip install 'wse-sim[onnx]'``) and
``from_torch`` needs ``torch`` (``pip install 'wse-sim[torch]'``); both are imported only when
called. Each keeps the zero pattern of the model's weights as real masks (non-zero = kept).
"""

from __future__ import annotations

from ._build import weight_masks


def from_onnx(model, batch: int = 1, input_shapes: dict | None = None, **kwargs):
    """See :func:`wse_sim.importers.onnx.from_onnx`."""
    from .onnx import from_onnx as _from_onnx

    return _from_onnx(model, batch=batch, input_shapes=input_shapes, **kwargs)


def from_torch(module, example_inputs, **kwargs):
    """See :func:`wse_sim.importers.torch.from_torch`."""
    from .torch import from_torch as _from_torch

    return _from_torch(module, example_inputs, **kwargs)


__all__ = ["from_onnx", "from_torch", "weight_masks"]
