"""What the ONNX importer can translate: the op tables, the Erf-GELU pattern, the check that
lists every unsupported node before anything is built, and folding of constant nodes."""

from __future__ import annotations

import numpy as np

from ._acts import Unsupported
from ._onnx_proto import attrs, node_name, onnx_module

UNARY = {"Relu": "relu", "Gelu": "gelu", "Sigmoid": "sigmoid", "Tanh": "tanh",
         "HardSwish": "hardswish", "HardSigmoid": "hardsigmoid"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
LAYOUT = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
ALIAS = frozenset({"Identity", "Cast", "CastLike"})
META = frozenset({"Shape", "Size"})  # outputs describe a shape, not data
SUPPORTED = frozenset(
    {"Gemm", "MatMul", "Conv", "ConvTranspose", "Softmax", "LayerNormalization",
     "BatchNormalization", "Transpose", "Concat", "Split", "MaxPool", "AveragePool",
     "GlobalAveragePool", "Gather", "Dropout", "Constant", "Clip", "Slice", "Expand", "Neg",
     "Pad", "ReduceMean", "SplitToSequence", "SequenceAt"}
    | set(UNARY) | set(BINARY) | LAYOUT | ALIAS
)
"""ONNX op types the importer translates (``Erf`` only inside the GELU pattern)."""
_NP_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def activation_tensors(graph, inits, nodes) -> set[str]:
    """Tensors computed from the graph's inputs (the rest are constants)."""
    act = {i.name for i in graph.input if i.name not in inits}
    for n in nodes:
        if n.op_type in META:
            continue
        data = n.input[:1] if n.op_type == "CastLike" else n.input  # CastLike reads a type
        if any(i in act for i in data if i):
            act.update(o for o in n.output if o)
    return act


def gelu_patterns(nodes, producer: dict, sole_consumer, act: set[str]) -> dict:
    """Erf-form GELUs ``x * 0.5 * (1 + erf(x / sqrt 2))`` in either multiply order:
    ``{id(last node): (input tensor, ids of the fused nodes, output tensor)}``."""
    found = {}
    for e in nodes:
        if e.op_type != "Erf" or e.input[0] not in act:
            continue
        pre = producer.get(e.input[0])
        if pre is None or pre.op_type not in ("Div", "Mul"):
            continue
        xs = [i for i in pre.input if i in act]
        add = sole_consumer(e.output[0])
        if len(xs) != 1 or add is None or add.op_type != "Add":
            continue
        m1 = sole_consumer(add.output[0])
        if m1 is None or m1.op_type != "Mul":
            continue
        other = [i for i in m1.input if i != add.output[0]]
        if len(other) != 1:
            continue
        x, fused = xs[0], [pre, e, add, m1]
        if other[0] == x:  # (x * (1 + erf)) * 0.5
            m2 = sole_consumer(m1.output[0])
            if m2 is None or m2.op_type != "Mul" or not any(i not in act for i in m2.input):
                continue
            fused.append(m2)
            last = m2
        else:  # (x * 0.5) * (1 + erf)
            h = producer.get(other[0])
            if h is None or h.op_type != "Mul" or x not in h.input \
                    or sole_consumer(h.output[0]) is not m1:
                continue
            fused.append(h)
            last = m1
        found[id(last)] = (x, {id(n) for n in fused}, last.output[0])
    return found


def _check_window(t: str, a: dict, node, act: set[str], shapes: dict) -> str | None:
    """The unsupported variant of a Conv, ConvTranspose or pooling node, or None."""
    ks = a.get("kernel_shape") or list(shapes.get(node.input[1], (0, 0, 0, 0))[2:])
    if len(ks) != 2 or ks[0] != ks[1]:
        return f"{t}(kernel {tuple(ks)})"
    dil = a.get("dilations", [1, 1])
    if (t != "Conv" and a.get("group", 1) != 1) or len(set(dil)) > 1 \
            or (t != "Conv" and dil[0] != 1):
        return f"{t}(group={a.get('group', 1)}, dilations={tuple(dil)})"
    s = a.get("strides", [1, 1])
    if s[0] != s[1]:
        return f"{t}(strides {tuple(s)})"
    p = a.get("pads", [0, 0, 0, 0])
    if t != "Conv" and len(set(p)) > 1 and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
        return f"{t}(asymmetric pads {tuple(p)})"
    if a.get("ceil_mode", 0) and not _whole_image(t, node, shapes, ks):
        return f"{t}(ceil_mode)"
    if t in ("Conv", "ConvTranspose") and node.input[1] in act:
        return f"{t}(weights computed from activations)"
    return None


def check(node, act: set[str], shapes: dict) -> str | None:
    """The name of the unsupported feature of activation node ``node``, or None."""
    t = node.op_type
    if t not in SUPPORTED:
        return t
    a = attrs(node)
    if t in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
        return _check_window(t, a, node, act, shapes)
    if t == "Gemm" and (a.get("transA", 0) or node.input[1] in act):
        return "Gemm(transA or activation B)"
    if t == "MatMul" and node.input[0] not in act:
        return "MatMul(constant first operand)"
    if t == "HardSigmoid" and (abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6
                               or abs(a.get("beta", 0.5) - 0.5) > 1e-6):
        return "HardSigmoid(alpha, beta other than 1/6, 1/2)"
    if t == "Clip" and not _is_relu6(node, shapes):
        return "Clip(bounds other than 0 and 6)"
    if t == "Gather" and node.input[0] in act and node.input[1] in act:
        return "Gather(activation rows chosen by activation indices)"
    if t in ("Slice", "Pad", "Expand") and any(i in act for i in node.input[1:] if i):
        return f"{t}(sizes computed from activations)"
    if t == "Pad" and (a.get("mode", b"constant") not in (b"constant", "constant")
                       or len(shapes.get(node.input[0], ())) != 4):
        return f"Pad(mode={a.get('mode', b'constant')!r} or not of an image)"
    if t == "ReduceMean" and len(shapes.get(node.input[0], ())) != 4:
        return "ReduceMean(not a global average pool over height and width)"
    if t == "LayerNormalization" and a.get("axis", -1) not in (
        -1,
        len(shapes.get(node.input[0], ())) - 1,
    ):
        return f"LayerNormalization(axis={a.get('axis')})"
    return None


def _whole_image(t: str, node, shapes: dict, ks) -> bool:
    """An average pool whose one output position covers the whole input (any ceil mode)."""
    x, y = shapes.get(node.input[0]), shapes.get(node.output[0])
    return t == "AveragePool" and x is not None and y is not None and len(x) == 4 \
        and tuple(y[-2:]) == (1, 1) and ks[0] >= x[-2] and ks[1] >= x[-1]


def _is_relu6(node, shapes) -> bool:
    """A Clip whose attribute bounds (opset < 11) are 0 and 6; bounds given as inputs (opset
    11 on) are checked when the node is translated."""
    a = attrs(node)
    if "min" in a or "max" in a:
        return a.get("min") == 0 and a.get("max") == 6
    return True


def unsupported(nodes, act: set[str], fused: set[int], shapes: dict) -> Unsupported:
    """Every unsupported activation node, by type (count and first node name)."""
    bad = Unsupported()
    for n in nodes:
        if id(n) in fused or not any(o in act for o in n.output):
            continue
        why = check(n, act, shapes)
        if why:
            bad.add(why, node_name(n))
    return bad


def _constant_value(a: dict) -> np.ndarray | None:
    if "value" in a:
        return onnx_module().numpy_helper.to_array(a["value"])
    for k in ("value_float", "value_int", "value_floats", "value_ints"):
        if k in a:
            return np.array(a[k])
    return None


def fold(node, vals: list, a: dict, out_shape) -> np.ndarray | None:
    """Evaluate a node whose inputs are all constants, when it is one of the simple ones."""
    t = node.op_type
    if t == "Constant":
        return _constant_value(a)
    if t == "CastLike" and vals and vals[0] is not None:
        return vals[0]  # its second input only names the type
    if any(v is None for v in vals):
        return None
    if t in ALIAS:
        return vals[0]
    if t == "Transpose":
        return np.transpose(vals[0], a.get("perm"))
    if t in LAYOUT and out_shape is not None:
        return np.reshape(vals[0], out_shape)
    if t in LAYOUT:  # a shape inference could not give: from the axes or the target
        return _layout_value(t, vals, a)
    if t == "Gather":
        return np.take(vals[0], vals[1].astype(np.int64), axis=a.get("axis", 0))
    if t in BINARY:
        return _NP_BINARY[t](vals[0], vals[1])
    return _fold_more(t, vals, a, out_shape)


def _layout_value(t: str, vals: list, a: dict) -> np.ndarray | None:
    v = np.asarray(vals[0])
    axes = [int(x) for x in np.ravel(vals[1])] if len(vals) > 1 else list(a.get("axes", []))
    if t == "Unsqueeze":
        for ax in sorted(x % (v.ndim + len(axes)) for x in axes):
            v = np.expand_dims(v, ax)
        return v
    if t == "Squeeze":
        return np.squeeze(v, axis=tuple(axes)) if axes else np.squeeze(v)
    if t == "Reshape" and len(vals) > 1:
        target = [v.shape[i] if d == 0 else d for i, d in enumerate(int(x) for x in
                                                                      np.ravel(vals[1]))]
        return v.reshape(target)
    if t == "Flatten":
        ax = a.get("axis", 1) % max(v.ndim, 1)
        return v.reshape(int(np.prod(v.shape[:ax])), -1)
    return None


_NP_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "And": np.logical_and,
               "Or": np.logical_or, "LessOrEqual": np.less_equal,
               "GreaterOrEqual": np.greater_equal}


def _fold_more(t: str, vals: list, a: dict, out_shape) -> np.ndarray | None:
    """Mask and index arithmetic on constants (Expand, Where, Equal, Range, Slice...)."""
    if t == "Expand":  # bidirectional broadcast of the input and the target shape
        shape = np.broadcast_shapes(np.shape(vals[0]), tuple(int(d) for d in vals[1]))
        return np.broadcast_to(vals[0], shape).copy()
    if t in _NP_COMPARE:
        return _NP_COMPARE[t](vals[0], vals[1])
    if t == "Not":
        return np.logical_not(vals[0])
    if t == "GatherElements":
        return np.take_along_axis(vals[0], vals[1].astype(np.int64), axis=a.get("axis", 0))
    if t == "Where":
        return np.where(vals[0].astype(bool), vals[1], vals[2])
    if t == "Range":
        return np.arange(vals[0].item(), vals[1].item(), vals[2].item())
    if t == "ConstantOfShape":
        fill = a.get("value")
        fill = onnx_module().numpy_helper.to_array(fill).reshape(-1)[0] if fill is not None else 0
        return np.full(tuple(int(d) for d in vals[0]), fill)
    if t == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in vals], axis=a.get("axis", 0))
    if t == "Slice" and len(vals) >= 3:
        axes = vals[3] if len(vals) > 3 else range(len(vals[1]))
        steps = vals[4] if len(vals) > 4 else [1] * len(vals[1])
        index = [slice(None)] * vals[0].ndim
        for st, en, ax, sp in zip(vals[1], vals[2], axes, steps, strict=True):
            index[int(ax)] = slice(int(st), int(en), int(sp))
        return vals[0][tuple(index)]
    if t == "Trilu":
        k = int(vals[1]) if len(vals) > 1 else 0
        return np.triu(vals[0], k) if a.get("upper", 1) else np.tril(vals[0], k)
    return None
