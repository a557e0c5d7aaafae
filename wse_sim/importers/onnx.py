"""Import an ONNX model into the graph IR (needs the optional ``onnx`` package: ``[onnx]``).

>>> g = from_onnx("model.onnx", batch=256)                        # doctest: +SKIP
>>> g = from_onnx(proto, input_shapes={"tokens": (1, 128)})       # doctest: +SKIP

ONNX shape inference (with data propagation) gives every tensor's shape; the leading dimension
of each graph input is the batch and every other dimension must be known (fixed in the file or
given in ``input_shapes``; shape arithmetic that ONNX's inference cannot follow is folded and
inference rerun). Supported: Gemm, MatMul (constant or activation second operand), Conv
(square kernels; grouped, depthwise, dilated; asymmetric pads become a pad op), ConvTranspose
(symmetric padding, one group), Relu, Gelu (and any elementwise chain that computes a function
the IR knows, identified by value: :mod:`._onnx_fuse`), Sigmoid, Tanh, HardSwish, HardSigmoid,
Clip to [0, 6], Neg, Softmax (last axis), LayerNormalization (last axis), the RMS-norm and
rotary patterns, BatchNormalization, Add/Sub/Mul/Div (a bias after a MatMul is folded into the
dense op; a scalar scale beside an attention product and a constant mask before a softmax fold
into the softmax, as the zoo does), Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Expand,
Concat (with constants too), Split, Slice, Pad (of an image), MaxPool/AveragePool/
GlobalAveragePool, ReduceMean over height and width, Gather (an embedding when its table is a
constant; positions of an activation when its indices are), Dropout, Cast, CastLike and
Identity. Nodes computing only on constants (shape and mask arithmetic) are folded.

Weights whose values are in the file become real masks: the zero pattern of each Gemm, MatMul,
Conv, ConvTranspose and embedding weight is given to the graph through
``sparsify(graph, masks=...)`` (non-zero = kept), so the mapping counts it per core.

The work is split: :mod:`._onnx_proto` (files, tensors, the shape-inference skeleton),
:mod:`._onnx_check` (what is supported, the GELU pattern, constant folding) and
:mod:`._onnx_ops` (one translation handler per op family).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph
from wse_sim.validate.importing import check_import_args, check_input_shapes

from ._acts import Act, Const
from ._build import Builder
from ._onnx_check import ALIAS, LAYOUT, META, activation_tensors, fold, gelu_patterns
from ._onnx_check import unsupported as find_unsupported
from ._onnx_fuse import (
    elementwise_fusions,
    layernorm_fusions,
    rms_fusions,
    rope_fusions,
    small_constants,
)
from ._onnx_ops import HANDLERS, NO_SHAPE, Ctx
from ._onnx_proto import BATCH_PROBE, attrs, load, node_name, onnx_module, skeleton, tensor_value

__all__ = ["BATCH_PROBE", "from_onnx", "op_type_counts", "unsupported_ops"]


SHAPE_FOLD_ROUNDS = 4
"""Rounds of shape inference, each after folding the shape arithmetic the last one made
computable (assumed: exporters' shape chains are a few steps deep; each round only adds)."""


INTEGER_TYPES = frozenset({6, 7, 9, 2, 3, 4, 5, 12, 13})
"""ONNX element types of integer and boolean tensors (INT32, INT64, BOOL, UINT8, INT8,
UINT16, INT16, UINT32, UINT64: ``onnx.TensorProto``'s numbering, stated by the ONNX spec)."""


def _elem_types(sk) -> dict[str, int]:
    onnx = onnx_module()
    try:
        inferred = onnx.shape_inference.infer_shapes(sk, check_type=False, strict_mode=False)
    except Exception:  # types are a refinement: without them no index arithmetic is found
        return {}
    return {vi.name: vi.type.tensor_type.elem_type
            for vi in [*inferred.graph.input, *inferred.graph.value_info,
                       *inferred.graph.output]}


def _infer(sk) -> dict[str, tuple]:
    onnx = onnx_module()
    try:
        inferred = onnx.shape_inference.infer_shapes(
            sk, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception as e:  # onnx raises its own error types
        raise GraphError(f"ONNX shape inference failed on the model: {e}") from e
    shapes: dict[str, tuple] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
    return shapes


def _fold_shape_arithmetic(sk, shapes: dict) -> int:
    """Replace the small integer tensors computable from constants and known shapes (``Shape``,
    ``Gather``, ``Concat``, ``Where``, ``Expand``... of shape vectors) by initializers, so the
    next shape inference sees their values (ONNX's data propagation stops at some of these
    ops). Returns how many tensors were folded."""
    onnx = onnx_module()
    g = sk.graph
    vals = {}
    for t in g.initializer:
        if t.raw_data or t.int64_data or t.int32_data or t.float_data:
            vals[t.name] = onnx.numpy_helper.to_array(t)
    folded, keep = {}, []
    for n in g.node:
        out = None
        if n.op_type == "Shape" and n.input[0] in shapes:
            a = attrs(n)
            out = np.array(shapes[n.input[0]][a.get("start", 0):a.get("end")], dtype=np.int64)
        elif all(not i or i in vals for i in n.input):
            try:
                out = fold(n, [vals.get(i) for i in n.input if i], attrs(n),
                           shapes.get(n.output[0]))
            except Exception:  # an op fold cannot evaluate: its value stays unknown
                out = None
        if out is not None and len(n.output) == 1 and np.size(out) <= 64 \
                and np.asarray(out).dtype.kind in "iub":
            vals[n.output[0]] = np.asarray(out)
            folded[n.output[0]] = np.asarray(out)
        else:
            keep.append(n)
    if folded:
        del g.node[:]
        g.node.extend(keep)
        for name, v in folded.items():
            g.initializer.append(onnx.numpy_helper.from_array(
                v.astype(np.int64) if v.dtype.kind in "iu" else v, name))
    return len(folded)


def _inferred_shapes(model, input_shapes: dict) -> tuple[dict[str, tuple], int, dict]:
    """Every tensor's fixed shape after ONNX shape inference, the batch it ran with, and the
    element types inference gave."""
    sk, probe = skeleton(model, input_shapes, BATCH_PROBE)
    shapes = _infer(sk)
    for _ in range(SHAPE_FOLD_ROUNDS):
        missing = any(o not in shapes for n in sk.graph.node for o in n.output if o)
        if not missing or not _fold_shape_arithmetic(sk, shapes):
            break
        shapes = {**shapes, **_infer(sk)}
    for t in sk.graph.initializer:
        shapes.setdefault(t.name, tuple(int(d) for d in t.dims))
    for t in model.graph.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
    return shapes, probe, _elem_types(sk)


class _OnnxImport:
    """One import: the model's tensors (``env``), its shapes and the builder."""

    def __init__(self, model, batch: int, input_shapes: dict, base_dir, read_weights: bool,
                 name: str | None, dtype: str):
        self.model = model
        g = model.graph
        self.shapes, self.probe, self.types = _inferred_shapes(model, input_shapes or {})
        self.inits = {t.name: t for t in g.initializer}
        self.base_dir, self.read_weights = base_dir, read_weights
        self.nodes = list(g.node)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = defaultdict(list)
        for n in self.nodes:
            for i in n.input:
                if i:
                    self.consumers[i].append(n)
        for o in g.output:
            self.consumers[o.name].append(None)
        self.name = name or g.name or "onnx_model"
        self.batch = batch
        self.b = Builder(self.name, self.probe, dtype)
        self.env: dict[str, Act | Const | None] = {}
        self.lookups: dict = {}  # folded Gather of a table by constant ids -> (table, ids)
        self.causal: set[str] = set()  # softmax outputs whose folded mask was causal

    # ---- lookups used by the handlers ---------------------------------------------------
    def shape(self, tensor: str, node) -> tuple:
        if tensor not in self.shapes:
            raise GraphError(
                f"node {node_name(node)!r} ({node.op_type}): ONNX shape "
                f"inference could not give tensor {tensor!r} a fixed shape; give "
                "the model's input shapes (input_shapes=...)"
            )
        return self.shapes[tensor]

    def const(self, tensor: str, node) -> Const:
        v = self.env.get(tensor)
        if isinstance(v, Const):
            return v
        raise GraphError(
            f"node {node_name(node)!r} ({node.op_type}): input {tensor!r} "
            "must be a constant (an initializer)"
        )

    def sequence_input(self, shape: tuple) -> Act | None:
        """The first graph input whose per-sample shape is ``shape`` (token ids), or None."""
        for inp in self.model.graph.input:
            v = self.env.get(inp.name)
            if isinstance(v, Act) and self.b.per_sample(v) == tuple(int(d) for d in shape):
                return v
        return None

    def is_const(self, tensor: str) -> bool:
        return isinstance(self.env.get(tensor), Const)

    def sole_consumer(self, tensor: str):
        cs = self.consumers.get(tensor, [])
        return cs[0] if len(cs) == 1 else None

    # ---- the import ---------------------------------------------------------------------
    def unsupported(self) -> tuple:
        """``(Unsupported, activation tensors, fusions, fused node ids)``; a fusion is
        ``{id(last node): (kind, x, ids of its nodes, output, extra...)}`` (see
        :mod:`._onnx_fuse`)."""
        act = activation_tensors(self.model.graph, self.inits, self.nodes)
        consts = small_constants(self.model, self.nodes, act)
        fusions = {k: ("gelu", x, f, out) for k, (x, f, out) in gelu_patterns(
            self.nodes, self.producer, self.sole_consumer, act).items()}
        for found in (layernorm_fusions(self.nodes, self.consumers, self.producer, act, consts),
                      rms_fusions(self.nodes, self.consumers, self.producer, act, consts,
                                  self.shapes),
                      rope_fusions(self.nodes, self.consumers, self.producer, act)):
            taken = set().union(*(f[2] for f in fusions.values())) if fusions else set()
            fusions.update({k: v for k, v in found.items() if not v[2] & taken})
        taken = set().union(*(f[2] for f in fusions.values())) if fusions else set()
        fusions.update(self._index_arithmetic(act, taken))
        taken = set().union(*(f[2] for f in fusions.values())) if fusions else set()
        fusions.update(elementwise_fusions(self.nodes, self.consumers, act, consts, taken))
        fused = set().union(*(f[2] for f in fusions.values())) if fusions else set()
        return find_unsupported(self.nodes, act, fused, self.shapes), act, fusions, fused

    def _index_arithmetic(self, act: set[str], taken: set[int]) -> dict:
        """Integer or boolean arithmetic on token ids that keeps their shape (RoBERTa's
        position ids from ``CumSum(ids != pad)``): it indexes a table as the ids do, so it
        stands for them (``identity`` fusions onto the ids; integer work is not modelled)."""
        found, ids = {}, {}
        for n in self.nodes:
            out = n.output[0] if n.output else None
            if id(n) in taken or out not in act or self.types.get(out) not in INTEGER_TYPES:
                continue
            srcs = [i for i in n.input if i in act and self.shapes.get(i) == self.shapes.get(out)
                    and self.types.get(i) in INTEGER_TYPES]  # computed from ids, not floats
            if srcs and len(n.output) == 1:
                root = ids.get(srcs[0], srcs[0])
                ids[out] = root
                found[id(n)] = ("identity", root, {id(n)}, out)
        return found

    def _emit(self, n, fusion) -> None:
        kind, x, _, out = fusion[:4]
        name = node_name(n).rsplit("/", 1)[0] or kind
        if kind == "identity":
            self.env[out] = self.env[x]
        elif kind == "layernorm":
            consts = [self.env.get(t) if t else None for t in fusion[4:6]]
            self.env[out] = self.b.norm(name, "layernorm", self.env[x],
                                        [c if isinstance(c, Const) else None for c in consts])
        elif kind == "rmsnorm":
            w = self.env.get(fusion[4]) if fusion[4] else None
            self.env[out] = self.b.rmsnorm(name, self.env[x], w if isinstance(w, Const) else None)
        else:
            self.env[out] = self.b.unary(name, kind, self.env[x])

    def _declare(self) -> None:
        """Graph inputs become input ops; initializers constants (floats count as params)."""
        onnx = onnx_module()
        for inp in self.model.graph.input:
            if inp.name in self.inits:
                continue
            full = self.shape(inp.name, inp)
            shape = self.b.per_sample(Act("", full, math.prod(full[1:]), inp.name))
            op = self.b.g.input(self.b.unique(inp.name), shape)
            self.env[inp.name] = self.b.out(op, full)
        floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                  onnx.TensorProto.BFLOAT16}
        for name, t in self.inits.items():
            shape = tuple(int(d) for d in t.dims)
            self.env[name] = Const(
                name,
                shape,
                tensor_value(t, self.base_dir, self.read_weights),
                ((name, math.prod(shape)),) if t.data_type in floats else (),
            )

    def run(self, loss: str | None) -> Graph:
        bad, act, gelus, fused = self.unsupported()
        bad.raise_if_any("ONNX", self.name)
        self._declare()
        for n in self.nodes:
            if id(n) in gelus:
                self._emit(n, gelus[id(n)])
            elif id(n) in fused:
                continue
            elif not any(o in act for o in n.output):
                self._constant_node(n)
            else:
                self._translate(n)
        g = self.model.graph
        outs = [self.env[o.name] for o in g.output if isinstance(self.env.get(o.name), Act)]
        if not outs:
            raise GraphError(f"ONNX model {self.name!r} has no output computed from its inputs")
        graph = self.b.finish(outs, loss, self.batch)
        graph.meta["source"] = "onnx"
        return graph

    def _translate(self, n) -> None:
        t = n.op_type
        ins = [self.env.get(i) if i else None for i in n.input]
        full = self.shape(n.output[0], n) if t not in NO_SHAPE else None
        HANDLERS[t](self, n, Ctx(attrs(n), node_name(n), ins, full))

    def _constant_node(self, n) -> None:
        vals = [
            self.env[i].value if isinstance(self.env.get(i), Const) else None for i in n.input if i
        ]
        for o in n.output:
            if not o:
                continue
            shape = self.shapes.get(o)
            v = fold(n, vals, attrs(n), shape) if n.op_type not in META else None
            if n.op_type == "Shape" and n.input[0] in self.shapes:
                a = attrs(n)  # opset 15 on: a slice of the shape
                v = np.array(self.shapes[n.input[0]][a.get("start", 0):a.get("end")],
                             dtype=np.int64)
            if shape is None and v is not None:
                shape = tuple(v.shape)
            srcs = [self.env[i] for i in n.input if i and isinstance(self.env.get(i), Const)]
            # a shape describes a tensor, it holds none of its values
            sources = () if n.op_type in META else tuple(
                dict.fromkeys(s for c in srcs for s in c.sources))
            if n.op_type == "Gather" and len(srcs) == 2 and srcs[0].sources and \
                    srcs[1].value is not None and len(srcs[0].shape) == 2:
                self.lookups[o] = (srcs[0], np.asarray(srcs[1].value))
            elif n.op_type in ALIAS | LAYOUT and n.input and n.input[0] in self.lookups:
                self.lookups[o] = self.lookups[n.input[0]]
            # a layout change of one stored tensor is still that tensor (tied weights)
            key = srcs[0].key if n.op_type in ALIAS | LAYOUT | {"Transpose"} and srcs else o
            self.env[o] = Const(key, tuple(shape or ()), v, sources)


def unsupported_ops(model, input_shapes: dict | None = None) -> dict[str, tuple[int, str]]:
    """``{op type: (count, first node name)}`` of the nodes :func:`from_onnx` cannot translate
    (empty when the whole model is supported)."""
    model, base_dir = load(model)
    imp = _OnnxImport(model, 1, input_shapes or {}, base_dir, False, None, "fp16")
    bad = imp.unsupported()[0]
    return {t: (n, bad.first[t]) for t, n in sorted(bad.counts.items())}


def from_onnx(
    model,
    batch: int | None = None,
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
        :func:`wse_sim.place` uses by default; without it ``place`` trains at 256 and infers
        at 64, and says so). The model's own batch axis (the leading dimension of each input)
        is divided out: the graph is per sample.
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
    check_import_args("from_onnx", batch, loss, name, batch_none_ok=True)
    check_input_shapes("from_onnx", input_shapes)
    model, base_dir = load(model)
    imp = _OnnxImport(model, 1 if batch is None else batch, input_shapes or {}, base_dir,
                      read_weights, name, dtype)
    graph = imp.run(loss)
    graph.meta["batch_given"] = batch is not None  # place() uses it only when it was given
    return graph


def op_type_counts(model) -> Counter:
    """How many nodes of each op type an ONNX model (path or ModelProto) has."""
    model, _ = load(model)
    return Counter(n.op_type for n in model.graph.node)
