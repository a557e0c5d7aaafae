"""ONNX protobufs for the importer: loading a model, reading tensors (external data included)
and the weight-free skeleton that shape inference runs on."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from wse_sim.errors import GraphError, WseSimFileError
from wse_sim.validate import path as as_path

BATCH_PROBE = 1021
"""Size given to a symbolic batch dimension during shape inference: a prime no real layer width
is likely to equal, so the batch can be told apart from the other axes (assumed; a model whose
own dimensions contain 1021 should be imported with a fixed batch)."""
SMALL_CONSTANT = 64
"""Initializers of at most this many elements keep their data in the skeleton: reshape targets
and axes that data propagation needs (derived: a shape tensor has one entry per axis)."""


def onnx_module():
    """The ``onnx`` package, or a GraphError naming the install."""
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise GraphError(
            "from_onnx needs the onnx package: pip install 'wse-sim[onnx]' (or pip install onnx)"
        ) from e
    return onnx


def attrs(node) -> dict:
    """A node's attributes as Python values."""
    onnx = onnx_module()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def node_name(node) -> str:
    """The node's name, or its first output when it has none."""
    return node.name or (node.output[0] if node.output else node.op_type)


def load(model):
    """``(ModelProto, folder of the file or None)`` from a path or a ModelProto."""
    onnx = onnx_module()
    base_dir = None
    if isinstance(model, (str, os.PathLike)):
        path = as_path("from_onnx: model", model)
        if not path.is_file():
            raise WseSimFileError(f"ONNX file {str(path)!r} does not exist")
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as e:
            raise WseSimFileError(f"cannot read {str(path)!r} as an ONNX model: {e}") from e
        base_dir = path.parent
    elif not isinstance(model, onnx.ModelProto):
        raise GraphError(
            f"from_onnx takes a path or an onnx.ModelProto, got {type(model).__name__}"
        )
    return model, base_dir


def tensor_value(t, base_dir: Path | None, read: bool) -> np.ndarray | None:
    """The values of initializer ``t`` (external data through a memmap), or None unread."""
    onnx = onnx_module()
    if not read:
        return None
    if t.data_location != onnx.TensorProto.EXTERNAL:
        return onnx.numpy_helper.to_array(t)
    info = {e.key: e.value for e in t.external_data}
    loc = (base_dir or Path(".")) / info.get("location", "")
    if not loc.is_file():
        raise WseSimFileError(
            f"initializer {t.name!r} keeps its data in {str(loc)!r}, "
            "which does not exist; put the file beside the model or "
            "import with read_weights=False (shapes only, no masks)"
        )
    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
    offset = int(info.get("offset", 0))
    count = math.prod(t.dims)
    arr = np.memmap(loc, dtype=dtype, mode="r", offset=offset, shape=(count,))
    return np.asarray(arr).reshape(tuple(t.dims))


def skeleton(model, input_shapes: dict, batch_probe: int = BATCH_PROBE):
    """A copy of ``model`` without weight data, its inputs' shapes fixed, for shape inference.

    Returns ``(skeleton, batch)`` where batch is the size the batch axis has in it.
    """
    onnx = onnx_module()
    g = model.graph
    inits = {t.name for t in g.initializer}
    unknown = set(input_shapes) - {i.name for i in g.input}
    if unknown:
        raise GraphError(
            f"input_shapes names {sorted(unknown)}, which are not inputs of the "
            f"model; its inputs: {[i.name for i in g.input if i.name not in inits]}"
        )
    sk = onnx.ModelProto()
    sk.ir_version = model.ir_version
    sk.opset_import.extend(model.opset_import)
    sg = sk.graph
    sg.name = g.name
    sg.node.extend(g.node)
    sg.output.extend(g.output)
    for t in g.initializer:
        s = sg.initializer.add()
        s.name, s.data_type = t.name, t.data_type
        s.dims.extend(t.dims)
        if math.prod(t.dims) <= SMALL_CONSTANT and t.data_location != onnx.TensorProto.EXTERNAL:
            s.CopyFrom(t)  # small constants (reshape targets, axes) feed data propagation
    batches = set()
    for inp in g.input:
        new = sg.input.add()
        new.CopyFrom(inp)
        if inp.name not in inits:
            batches.add(_fix_input(new, input_shapes.get(inp.name), batch_probe))
    if len(batches) > 1:
        raise GraphError(
            f"the model's inputs have different batch sizes {sorted(batches)}; "
            "give consistent shapes in input_shapes"
        )
    return sk, (batches.pop() if batches else 1)


def _fix_input(new, want, batch_probe: int) -> int:
    """Fix the shape of graph input ``new`` in place (``want``, or the batch probed); returns
    its batch size."""
    name = new.name
    dims = new.type.tensor_type.shape.dim
    symbolic_batch = bool(dims) and not dims[0].HasField("dim_value")
    if want is not None:
        want = [int(d) for d in want]
        if dims and len(want) != len(dims):
            raise GraphError(
                f"input_shapes[{name!r}] = {tuple(want)} has {len(want)} "
                f"dimensions, the model's input has {len(dims)}"
            )
        if not dims:
            for _ in want:
                new.type.tensor_type.shape.dim.add()
            dims = new.type.tensor_type.shape.dim
        for d, v in zip(dims, want, strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
    if not dims:
        raise GraphError(
            f"input {name!r} has no shape in the model; give it in "
            f"input_shapes, e.g. {{{name!r}: (1, 3, 224, 224)}}"
        )
    if symbolic_batch or not dims[0].HasField("dim_value"):
        # the file leaves the batch open: probe it with a size no other axis has
        dims[0].ClearField("dim_param")
        dims[0].dim_value = batch_probe
    for k, d in enumerate(dims):
        if not d.HasField("dim_value") or d.dim_value < 1:
            raise GraphError(
                f"input {name!r}: dimension {k} is symbolic "
                f"({d.dim_param or '?'}); give the full shape in input_shapes, "
                f"e.g. {{{name!r}: (1, ...)}} or --input-shape {name}=1x..."
            )
    return dims[0].dim_value
