"""Rules for the importers' arguments (:func:`wse_sim.from_onnx`, :func:`wse_sim.from_torch`):
checked where they enter, before any file is parsed or any module exported."""

from __future__ import annotations

from ..errors import GraphError
from .checks import MAX_COUNT, integer, show


def check_import_args(who: str, batch, loss, name, *, batch_none_ok: bool = False) -> None:
    """``batch`` an integer in [1, MAX_COUNT] (or None where allowed), ``loss`` a loss name
    or None (:meth:`Graph.loss` checks which), ``name`` a non-empty string or None."""
    integer(f"{who}: batch", batch, 1, MAX_COUNT, error=GraphError, none_ok=batch_none_ok,
            fix="batch is the samples per optimizer step, e.g. batch=32")
    if loss is not None and not isinstance(loss, str):
        raise GraphError(f"{who}: loss must be a loss name such as 'cross_entropy' or None, got "
                         f"{show(loss)} ({type(loss).__name__})")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise GraphError(f"{who}: name must be a non-empty string or None, got {show(name)}")


def check_input_shapes(who: str, value) -> dict:
    """``{input name: full shape with the batch}``: str keys, each a list or tuple of
    integers >= 1 (None: no shapes to fix)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GraphError(f"{who}: input_shapes must be a dict {{input name: shape}}, got "
                         f"{show(value)} ({type(value).__name__}); e.g. {{'x': [8, 784]}}")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, (list, tuple)) or not v \
                or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_COUNT
                           for d in v):
            raise GraphError(f"{who}: input_shapes[{show(k)}] must be a list of integers >= 1 "
                             f"(the full shape, batch first), got {show(v)}")
    return value


def check_example_inputs(who: str, value, tensor_cls) -> tuple:
    """``value`` as a non-empty tuple of tensors (one tensor is wrapped)."""
    if isinstance(value, tensor_cls):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, tensor_cls)
                                                          for v in value):
        return tuple(value)
    raise GraphError(f"{who}: example_inputs must be a tensor or a non-empty tuple of tensors "
                     f"(batch first), got {show(value)} ({type(value).__name__}); e.g. "
                     "(torch.randn(2, 784),)")
