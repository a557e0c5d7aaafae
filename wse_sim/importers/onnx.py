"""Import an ONNX model into the graph IR (needs the optional ``onnx`` package: ``[onnx]``).

>>> g = from_onnx("model.onnx", batch=256)                        # doctest: +SKIP
>>> g = from_onnx(proto, input_shapes={"tokens": (1, 128)})       # doctest: +SKIP

ONNX shape inference (with data propagation) gives every tensor's shape; the leading dimension
of each graph input is the batch and every other dimension must be known (fixed in the file or
given in ``input_shapes``). Supported: Gemm, MatMul (constant or activation second operand),
Conv, ConvTranspose (square kernels, symmetric padding, one group, no dilation), Relu, Gelu
(and its Erf pattern ``x * 0.5 * (1 + erf(x / sqrt 2))``), Sigmoid, Tanh, Softmax (last axis),
LayerNormalization (last axis), BatchNormalization, Add/Sub/Mul/Div (a bias after a MatMul is
folded into the dense op), Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Split,
MaxPool/AveragePool/GlobalAveragePool, Gather (an embedding when its table is a constant),
Dropout, Cast and Identity. Nodes computing only on constants (shape arithmetic) are folded.

Weights whose values are in the file become real masks: the zero pattern of each Gemm, MatMul,
Conv, ConvTranspose and embedding weight is kept (non-zero = kept), in the op's
``weight_shape`` convention.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from wse_sim.errors import GraphError, WseSimFileError
from wse_sim.graph import Graph

from ._build import Act, Builder, Const, Unsupported

BATCH_PROBE = 1021
"""Size given to a symbolic batch dimension during shape inference: a prime no real layer width
is likely to equal, so the batch can be told apart from the other axes (assumed; a model whose
own dimensions contain 1021 should be imported with a fixed batch)."""

_UNARY = {"Relu": "relu", "Gelu": "gelu", "Sigmoid": "sigmoid", "Tanh": "tanh"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
_LAYOUT = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}
_ALIAS = {"Identity", "Cast"}
SUPPORTED = frozenset(
    {
        "Gemm",
        "MatMul",
        "Conv",
        "ConvTranspose",
        "Softmax",
        "LayerNormalization",
        "BatchNormalization",
        "Transpose",
        "Concat",
        "Split",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Gather",
        "Dropout",
        "Constant",
    }
    | set(_UNARY)
    | set(_BINARY)
    | _LAYOUT
    | _ALIAS
)
"""ONNX op types the importer translates (``Erf`` only inside the GELU pattern)."""
_META = {"Shape", "Size"}  # outputs describe a shape, not data


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise GraphError(
            "from_onnx needs the onnx package: pip install 'wse-sim[onnx]' (or pip install onnx)"
        ) from e
    return onnx


def _attrs(node) -> dict:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _skeleton(model, input_shapes: dict, batch_probe: int):
    """A copy of ``model`` without weight data, its inputs' shapes fixed, for shape inference.

    Returns ``(skeleton, batch)`` where batch is the size the batch axis has in it.
    """
    onnx = _onnx()
    g = model.graph
    inits = {t.name for t in g.initializer}
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
        if math.prod(t.dims) <= 64 and t.data_location != onnx.TensorProto.EXTERNAL:
            s.CopyFrom(t)  # small constants (reshape targets, axes) feed data propagation
    batches = set()
    unknown = set(input_shapes) - {i.name for i in g.input}
    if unknown:
        raise GraphError(
            f"input_shapes names {sorted(unknown)}, which are not inputs of the "
            f"model; its inputs: {[i.name for i in g.input if i.name not in inits]}"
        )
    for inp in g.input:
        new = sg.input.add()
        new.CopyFrom(inp)
        if inp.name in inits:
            continue
        dims = new.type.tensor_type.shape.dim
        symbolic_batch = bool(dims) and not dims[0].HasField("dim_value")
        if inp.name in input_shapes:
            want = [int(d) for d in input_shapes[inp.name]]
            if dims and len(want) != len(dims):
                raise GraphError(
                    f"input_shapes[{inp.name!r}] = {tuple(want)} has {len(want)} "
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
                f"input {inp.name!r} has no shape in the model; give it in "
                f"input_shapes, e.g. {{{inp.name!r}: (1, 3, 224, 224)}}"
            )
        if symbolic_batch or not dims[0].HasField("dim_value"):
            # the file leaves the batch open: probe it with a size no other axis has
            dims[0].ClearField("dim_param")
            dims[0].dim_value = batch_probe
        for k, d in enumerate(dims):
            if not d.HasField("dim_value") or d.dim_value < 1:
                raise GraphError(
                    f"input {inp.name!r}: dimension {k} is symbolic "
                    f"({d.dim_param or '?'}); give the full shape in input_shapes, "
                    f"e.g. {{{inp.name!r}: (1, ...)}} or --input-shape {inp.name}=1x..."
                )
        batches.add(dims[0].dim_value)
    if len(batches) > 1:
        raise GraphError(
            f"the model's inputs have different batch sizes {sorted(batches)}; "
            "give consistent shapes in input_shapes"
        )
    return sk, (batches.pop() if batches else 1)


def _tensor_value(t, base_dir: Path | None, read: bool) -> np.ndarray | None:
    onnx = _onnx()
    if not read:
        return None
    if t.data_location == onnx.TensorProto.EXTERNAL:
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
    return onnx.numpy_helper.to_array(t)


def _fold(node, vals: list, attrs: dict, out_shape) -> np.ndarray | None:
    """Evaluate a node whose inputs are all constants, when it is one of the simple ones."""
    t = node.op_type
    if t == "Constant":
        onnx = _onnx()
        if "value" in attrs:
            return onnx.numpy_helper.to_array(attrs["value"])
        for k in ("value_float", "value_int"):
            if k in attrs:
                return np.array(attrs[k])
        for k in ("value_floats", "value_ints"):
            if k in attrs:
                return np.array(attrs[k])
        return None
    if any(v is None for v in vals):
        return None
    if t in _ALIAS:
        return vals[0]
    if t == "Transpose":
        return np.transpose(vals[0], attrs.get("perm"))
    if t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze") and out_shape is not None:
        return np.reshape(vals[0], out_shape)
    if t == "Gather":
        return np.take(vals[0], vals[1].astype(np.int64), axis=attrs.get("axis", 0))
    if t in _BINARY:
        op = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[t]
        return op(vals[0], vals[1])
    return None


class _OnnxImport:
    def __init__(
        self,
        model,
        batch: int,
        input_shapes: dict,
        base_dir,
        read_weights: bool,
        name: str | None,
        dtype: str,
    ):
        onnx = _onnx()
        self.model = model
        g = model.graph
        sk, self.probe = _skeleton(model, input_shapes or {}, BATCH_PROBE)
        try:
            inferred = onnx.shape_inference.infer_shapes(
                sk, check_type=False, strict_mode=False, data_prop=True
            )
        except Exception as e:  # onnx raises its own error types
            raise GraphError(f"ONNX shape inference failed on the model: {e}") from e
        self.shapes: dict[str, tuple] = {}
        for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            tt = vi.type.tensor_type
            if tt.HasField("shape"):
                dims = tt.shape.dim
                if all(d.HasField("dim_value") for d in dims):
                    self.shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
        self.inits = {t.name: t for t in g.initializer}
        for t in g.initializer:
            self.shapes[t.name] = tuple(int(d) for d in t.dims)
        self.base_dir, self.read_weights = base_dir, read_weights
        self.nodes = list(g.node)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = defaultdict(list)
        for n in self.nodes:
            for i in n.input:
                if i:
                    self.consumers[i].append(n)
        graph_outputs = {o.name for o in g.output}
        for o in graph_outputs:
            self.consumers[o].append(None)
        self.name = name or g.name or "onnx_model"
        self.batch = batch
        self.dtype = dtype
        self.b = Builder(self.name, self.probe, dtype)
        self.env: dict[str, Act | Const | None] = {}
        self._values: dict[str, np.ndarray | None] = {}

    # ---- helpers ------------------------------------------------------------------------
    def shape(self, tensor: str, node) -> tuple:
        if tensor not in self.shapes:
            raise GraphError(
                f"node {self._nname(node)!r} ({node.op_type}): ONNX shape "
                f"inference could not give tensor {tensor!r} a fixed shape; give "
                "the model's input shapes (input_shapes=...)"
            )
        return self.shapes[tensor]

    @staticmethod
    def _nname(node) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    def const(self, tensor: str, node) -> Const:
        v = self.env.get(tensor)
        if isinstance(v, Const):
            return v
        raise GraphError(
            f"node {self._nname(node)!r} ({node.op_type}): input {tensor!r} "
            "must be a constant (an initializer)"
        )

    def value(self, c: Const) -> np.ndarray | None:
        return c.value

    def is_const(self, tensor: str) -> bool:
        return isinstance(self.env.get(tensor), Const)

    def _sole_consumer(self, tensor: str):
        cs = self.consumers.get(tensor, [])
        return cs[0] if len(cs) == 1 else None

    # ---- classification (all unsupported ops are reported together) ---------------------
    def _activation_tensors(self) -> set[str]:
        g = self.model.graph
        act = {i.name for i in g.input if i.name not in self.inits}
        for n in self.nodes:
            if n.op_type in _META:
                continue
            if any(i in act for i in n.input if i):
                act.update(o for o in n.output if o)
        return act

    def _gelu_patterns(self, act: set[str]) -> dict:
        """Erf-form GELUs: {output node name: (input tensor, fused node ids)}."""
        found = {}
        for e in self.nodes:
            if e.op_type != "Erf" or e.input[0] not in act:
                continue
            pre = self.producer.get(e.input[0])
            if pre is None or pre.op_type not in ("Div", "Mul"):
                continue
            xs = [i for i in pre.input if i in act]
            if len(xs) != 1:
                continue
            x = xs[0]
            add = self._sole_consumer(e.output[0])
            if add is None or add.op_type != "Add":
                continue
            m1 = self._sole_consumer(add.output[0])
            if m1 is None or m1.op_type != "Mul":
                continue
            other = [i for i in m1.input if i != add.output[0]]
            if len(other) != 1:
                continue
            fused = [pre, e, add, m1]
            if other[0] == x:
                m2 = self._sole_consumer(m1.output[0])
                if m2 is None or m2.op_type != "Mul" or not any(i not in act for i in m2.input):
                    continue
                fused.append(m2)
            else:
                h = self.producer.get(other[0])
                if (
                    h is None
                    or h.op_type != "Mul"
                    or x not in h.input
                    or self._sole_consumer(h.output[0]) is not m1
                ):
                    continue
                fused.append(h)
            last = fused[-1] if other[0] == x else m1
            found[id(last)] = (x, {id(n) for n in fused}, last.output[0])
        return found

    def _check(self, node, act: set[str]) -> str | None:
        """The name of the unsupported feature of activation node ``node``, or None."""
        t = node.op_type
        if t not in SUPPORTED:
            return t
        a = _attrs(node)
        if t in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            ks = a.get("kernel_shape") or list(self.shapes.get(node.input[1], (0, 0, 0, 0))[2:])
            if len(ks) != 2 or ks[0] != ks[1]:
                return f"{t}(kernel {tuple(ks)})"
            if a.get("group", 1) != 1:
                return f"{t}(group={a['group']})"
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                return f"{t}(dilations={tuple(a['dilations'])})"
            s = a.get("strides", [1, 1])
            if s[0] != s[1]:
                return f"{t}(strides {tuple(s)})"
            p = a.get("pads", [0, 0, 0, 0])
            if len(set(p)) > 1 and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
                return f"{t}(asymmetric pads {tuple(p)})"
            if a.get("ceil_mode", 0):
                return f"{t}(ceil_mode)"
            if t in ("Conv", "ConvTranspose") and node.input[1] in act:
                return f"{t}(weights computed from activations)"
        if t == "Gemm" and (a.get("transA", 0) or node.input[1] in act):
            return "Gemm(transA or activation B)"
        if t == "MatMul" and node.input[0] not in act:
            return "MatMul(constant first operand)"
        if t == "Gather" and node.input[0] in act:
            return "Gather(on an activation)"
        if t == "LayerNormalization" and a.get("axis", -1) not in (
            -1,
            len(self.shapes.get(node.input[0], ())) - 1,
        ):
            return f"LayerNormalization(axis={a.get('axis')})"
        return None

    # ---- translation --------------------------------------------------------------------
    def unsupported(self) -> tuple:
        """``(Unsupported, activation tensors, GELU patterns, fused node ids)``."""
        act = self._activation_tensors()
        gelus = self._gelu_patterns(act)
        fused = set().union(*(f for _, f, _ in gelus.values())) if gelus else set()
        bad = Unsupported()
        for n in self.nodes:
            if id(n) in fused or not any(o in act for o in n.output):
                continue
            why = self._check(n, act)
            if why:
                bad.add(why, self._nname(n))
        return bad, act, gelus, fused

    def run(self, loss: str | None) -> Graph:
        onnx = _onnx()
        bad, act, gelus, fused = self.unsupported()
        bad.raise_if_any("ONNX", self.name)

        g = self.model.graph
        for inp in g.input:
            if inp.name in self.inits:
                continue
            full = self.shape(inp.name, inp)
            shape = self.b.per_sample(Act("", full, math.prod(full[1:]), inp.name))
            op = self.b.g.input(self.b.unique(inp.name), shape)
            self.env[inp.name] = self.b.out(op, full)
        float_types = {
            onnx.TensorProto.FLOAT,
            onnx.TensorProto.FLOAT16,
            onnx.TensorProto.DOUBLE,
            onnx.TensorProto.BFLOAT16,
        }
        for name, t in self.inits.items():
            shape = tuple(int(d) for d in t.dims)
            self.env[name] = Const(
                name,
                shape,
                _tensor_value(t, self.base_dir, self.read_weights),
                ((name, math.prod(shape)),) if t.data_type in float_types else (),
            )
        for n in self.nodes:
            if id(n) in gelus:
                x, _, out = gelus[id(n)]
                self.env[out] = self.b.unary(
                    self._nname(n).rsplit("/", 1)[0] or "gelu", "gelu", self.env[x]
                )
                continue
            if id(n) in fused:
                continue
            if not any(o in act for o in n.output):
                self._constant_node(n)
                continue
            self._translate(n)
        outs = [self.env[o.name] for o in g.output if isinstance(self.env.get(o.name), Act)]
        if not outs:
            raise GraphError(f"ONNX model {self.name!r} has no output computed from its inputs")
        graph = self.b.finish(outs, loss, self.batch)
        graph.meta["source"] = "onnx"
        return graph

    def _constant_node(self, n) -> None:
        vals = [
            self.env[i].value if isinstance(self.env.get(i), Const) else None for i in n.input if i
        ]
        for o in n.output:
            if not o:
                continue
            shape = self.shapes.get(o)
            v = _fold(n, vals, _attrs(n), shape) if n.op_type not in _META else None
            if n.op_type == "Shape" and n.input[0] in self.shapes:
                v = np.array(self.shapes[n.input[0]], dtype=np.int64)
            if shape is None and v is not None:
                shape = tuple(v.shape)
            srcs = [self.env[i] for i in n.input if i and isinstance(self.env.get(i), Const)]
            sources = tuple(dict.fromkeys(s for c in srcs for s in c.sources))
            # a layout change of one stored tensor is still that tensor (tied weights)
            key = srcs[0].key if n.op_type in _ALIAS | _LAYOUT | {"Transpose"} and srcs else o
            self.env[o] = Const(key, tuple(shape or ()), v, sources)

    def _translate(self, n) -> None:
        t, a, b = n.op_type, _attrs(n), self.b
        name = self._nname(n)
        ins = [self.env.get(i) if i else None for i in n.input]
        x = ins[0] if ins else None
        out = n.output[0]
        full = self.shape(out, n) if t not in ("Split", "Dropout") else None

        if t in _ALIAS:
            self.env[out] = x
        elif t in _LAYOUT:
            self.env[out] = b.view(x, full, name)
        elif t == "Transpose":
            perm = a.get("perm") or list(range(len(x.full)))[::-1]
            self.env[out] = b.transpose(name, x, perm, full)
        elif t == "Dropout":
            p = a.get("ratio", 0.5)
            if len(n.input) > 1 and n.input[1]:
                c = self.const(n.input[1], n)
                p = float(c.value) if c.value is not None else 0.5
            self.env[out] = b.unary(name, "dropout", x, p=float(p))
        elif t in _UNARY:
            self.env[out] = b.unary(name, _UNARY[t], x)
        elif t == "Softmax":
            self.env[out] = b.softmax(name, x, a.get("axis", -1))
        elif t == "LayerNormalization":
            consts = [self.const(i, n) for i in n.input[1:3] if i]
            self.env[out] = b.norm(name, "layernorm", x, consts)
        elif t == "BatchNormalization":
            consts = [self.const(i, n) for i in n.input[1:3]]
            self.env[out] = b.norm(name, "batchnorm", x, consts)
        elif t in _BINARY:
            self._binary(n, name, t, ins, full)
        elif t == "MatMul":
            if self.is_const(n.input[1]):
                w = self.const(n.input[1], n)
                if len(w.shape) != 2:
                    raise GraphError(
                        f"node {name!r} (MatMul): constant operand of shape "
                        f"{w.shape} is not a matrix"
                    )
                bias, full_out = self._folded_bias(n, w.shape[1])
                self.env[full_out[0]] = b.dense(name, x, w, w.value, bias, full_out[1])
            else:
                self.env[out] = b.matmul(name, x, ins[1], full)
        elif t == "Gemm":
            w = self.const(n.input[1], n)
            trans = bool(a.get("transB", 0))
            n_out = w.shape[0] if trans else w.shape[1]
            wv = None if w.value is None else (w.value.T if trans else w.value)
            bias = self.const(n.input[2], n) if len(n.input) > 2 and n.input[2] else None
            if bias is None:
                bias, (out, full) = self._folded_bias(n, n_out)
            self.env[out] = b.dense(name, x, w, wv, bias, full)
        elif t in ("Conv", "ConvTranspose"):
            w = self.const(n.input[1], n)
            bias = self.const(n.input[2], n) if len(n.input) > 2 and n.input[2] else None
            k = w.shape[2]
            s = a.get("strides", [1, 1])[0]
            pad = self._pad(a, k, s, x.full[2], full[2], transposed=t == "ConvTranspose")
            if t == "Conv":
                self.env[out] = b.conv2d(name, x, w, bias, s, pad, full)
            else:
                h = x.full[2]
                op = full[2] - ((h - 1) * s - 2 * pad + k)
                self.env[out] = b.conv_transpose2d(name, x, w, bias, s, pad, op, full)
        elif t in ("MaxPool", "AveragePool"):
            k = a["kernel_shape"][0]
            s = a.get("strides", [1, 1])[0]
            pad = self._pad(a, k, s, x.full[2], full[2])
            self.env[out] = b.pool(
                name,
                x,
                "max" if t == "MaxPool" else "avg",
                kernel=k,
                stride=s,
                padding=pad,
                full=full,
            )
        elif t == "GlobalAveragePool":
            self.env[out] = b.pool(name, x, "global_avg", full=full)
        elif t == "Gather":
            table = self.const(n.input[0], n)
            if a.get("axis", 0) != 0 or len(table.shape) != 2:
                raise GraphError(
                    f"node {name!r} (Gather): only a lookup along axis 0 of a 2-D "
                    f"table is an embedding; got table {table.shape}"
                )
            self.env[out] = b.embedding(name, ins[1], table, full)
        elif t == "Concat":
            acts = [v for v in ins if isinstance(v, Act)]
            if len(acts) != len(ins):
                raise GraphError(
                    f"node {name!r} (Concat): concatenating constants with "
                    "activations is not supported"
                )
            self.env[out] = b.merge(name, acts, a.get("axis", 0), full)
        elif t == "Split":
            axis = a.get("axis", 0)
            start = 0
            for o in n.output:
                if not o:
                    continue
                piece = self.shape(o, n)
                self.env[o] = b.part(f"{name}.{o}", x, axis, start, piece)
                start += piece[axis if axis >= 0 else axis + len(piece)]
        else:  # pragma: no cover - _check lists SUPPORTED
            raise GraphError(f"unsupported ONNX op {t}")

    def _pad(self, a: dict, k: int, s: int, h_in: int, h_out: int, transposed: bool = False) -> int:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if transposed:
                total = max(k - s, 0)
            else:
                total = max((h_out - 1) * s + k - h_in, 0)
            return total // 2 + total % 2 if transposed else total // 2
        if auto == "VALID":
            return 0
        return int(a.get("pads", [0])[0])

    def _folded_bias(self, n, n_out: int):
        """A constant ``Add`` of shape (n_out,) right after ``n`` becomes its bias."""
        out = n.output[0]
        add = self._sole_consumer(out)
        if add is not None and add.op_type == "Add":
            other = [i for i in add.input if i != out]
            if len(other) == 1 and self.is_const(other[0]):
                c = self.env[other[0]]
                if c.shape in ((n_out,), (1, n_out)):
                    return c, (add.output[0], self.shape(add.output[0], add))
        return None, (out, self.shape(out, n))

    def _binary(self, n, name: str, t: str, ins: list, full) -> None:
        out = n.output[0]
        if out in self.env:  # already produced: a bias folded into its MatMul or Gemm
            return
        acts = [v for v in ins if isinstance(v, Act)]
        consts = [v for v in ins if isinstance(v, Const)]
        fn = _BINARY[t]
        if len(acts) == 2:
            self.env[out] = self.b.binary(name, fn, acts[0], acts[1], full)
        else:
            if fn in ("sub", "div") and isinstance(ins[0], Const):
                fn = "add" if fn == "sub" else "mul"  # c - x, c / x: still one op per element
            if math.prod(full) > math.prod(acts[0].full):
                raise GraphError(
                    f"node {name!r} ({t}): a constant of shape {consts[0].shape} "
                    f"broadcasts the activation {acts[0].full} to {full}"
                )
            self.env[out] = self.b.with_constant(name, fn, acts[0], consts[0])


def _load(model):
    """``(ModelProto, folder of the file or None)`` from a path or a ModelProto."""
    onnx = _onnx()
    base_dir = None
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
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


def unsupported_ops(model, input_shapes: dict | None = None) -> dict[str, tuple[int, str]]:
    """``{op type: (count, first node name)}`` of the nodes :func:`from_onnx` cannot translate
    (empty when the whole model is supported)."""
    model, base_dir = _load(model)
    imp = _OnnxImport(model, 1, input_shapes or {}, base_dir, False, None, "fp16")
    bad = imp.unsupported()[0]
    return {t: (n, bad.first[t]) for t, n in sorted(bad.counts.items())}


def from_onnx(
    model,
    batch: int = 1,
    input_shapes: dict | None = None,
    *,
    loss: str | None = "cross_entropy",
    read_weights: bool = True,
    name: str | None = None,
    dtype: str = "fp16",
) -> Graph:
    """Translate an ONNX model (a path or a ``onnx.ModelProto``) into a :class:`Graph`.

    Parameters
    ----------
    batch : samples per optimizer step, stored as ``graph.meta['batch_default']`` (what
        :func:`wse_sim.place` uses by default). The model's own batch axis (the leading
        dimension of each input) is divided out: the graph is per sample.
    input_shapes : ``{input name: full shape with the batch}`` for inputs whose dimensions are
        symbolic in the file (a symbolic leading dimension alone needs nothing).
    loss : the loss added over the model's outputs (as every zoo model has one, so training
        simulations compare), or None for none.
    read_weights : read the weight values to keep their zero patterns as masks; False reads
        shapes only (every weight dense), e.g. for a file whose external data is absent.
    name : graph name (default: the ONNX graph's name).
    dtype : the graph's arithmetic type (the zoo's models are fp16).

    Raises :class:`~wse_sim.errors.GraphError` listing every unsupported op type at once.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise GraphError(f"batch must be a positive integer, got {batch!r}")
    model, base_dir = _load(model)
    imp = _OnnxImport(model, batch, input_shapes or {}, base_dir, read_weights, name, dtype)
    return imp.run(loss)


def op_type_counts(model) -> Counter:
    """How many nodes of each op type an ONNX model (path or ModelProto) has."""
    model, _ = _load(model)
    return Counter(n.op_type for n in model.graph.node)
