"""Import a PyTorch module into the graph IR through ``torch.export`` (optional extra ``[torch]``).

>>> g = from_torch(model, (torch.randn(8, 3, 224, 224),))            # doctest: +SKIP

The module is exported with the example inputs (their leading dimension is the batch, divided
out of the graph: the IR is per sample; a batch of 2 or more lets the importer follow the batch
through every reshape unambiguously). The exported ATen ops are translated with the same
coverage as :func:`wse_sim.importers.onnx.from_onnx`: linear/addmm/mm/matmul/bmm, conv2d,
conv_transpose2d, relu, gelu, sigmoid, tanh, softmax, layer_norm, batch_norm, add/sub/mul/div,
view/reshape/flatten/permute/transpose/squeeze/unsqueeze, cat, split/chunk/unbind/select/slice,
max/avg/adaptive-avg pooling, embedding, dropout, type casts and copies, and
scaled_dot_product_attention (as two matmuls around a softmax). Ops on parameters and buffers
alone are evaluated, so a model pruned with ``torch.nn.utils.prune`` (weight = weight_orig *
weight_mask) arrives with its real zero pattern as the op's mask.

Parameters are counted from the module's parameters (not its buffers), each once: the graph's
``total_params`` equals ``sum(p.numel() for p in module.parameters())`` for the covered layers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph

from ._build import Act, Builder, Const, Unsupported

_UNARY = {"relu": "relu", "relu_": "relu", "gelu": "gelu", "sigmoid": "sigmoid", "tanh": "tanh"}
_BINARY = {"add": "add", "add_": "add", "sub": "sub", "mul": "mul", "div": "div", "rsub": "sub"}
_VIEWS = {
    "view",
    "reshape",
    "_unsafe_view",
    "flatten",
    "unflatten",
    "squeeze",
    "unsqueeze",
    "expand",
    "view_as",
    "reshape_as",
}
_ALIASES = {
    "contiguous",
    "clone",
    "alias",
    "detach",
    "_to_copy",
    "to",
    "type_as",
    "lift_fresh_copy",
}
_IGNORED = {
    "_assert_tensor_metadata",
    "sym_size",
    "sym_numel",
    "sym_stride",
    "_assert_scalar",
    "sym_constrain_range_for_size",
}
SUPPORTED = frozenset(
    {
        "linear",
        "addmm",
        "mm",
        "matmul",
        "bmm",
        "conv2d",
        "convolution",
        "conv_transpose2d",
        "softmax",
        "_softmax",
        "layer_norm",
        "native_layer_norm",
        "batch_norm",
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_functional",
        "native_batch_norm",
        "max_pool2d",
        "max_pool2d_with_indices",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "mean",
        "embedding",
        "dropout",
        "native_dropout",
        "permute",
        "transpose",
        "t",
        "cat",
        "split",
        "split_with_sizes",
        "chunk",
        "unbind",
        "select",
        "slice",
        "scaled_dot_product_attention",
        "getitem",
    }
    | set(_UNARY)
    | set(_BINARY)
    | _VIEWS
    | _ALIASES
)
"""ATen op names (overload packets) the importer translates."""


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise GraphError(
            "from_torch needs PyTorch: pip install 'wse-sim[torch]' (torch==2.13.0, the CPU build)"
        ) from e
    return torch


def _packet(node) -> str:
    t = node.target
    if t is operator.getitem:
        return "getitem"
    packet = getattr(t, "_overloadpacket", None)
    if packet is not None:
        return packet.__name__
    return getattr(t, "__name__", str(t))


def _shape(val) -> tuple[int, ...]:
    return tuple(int(d) for d in val.shape)


def _numpy(t):
    torch = _torch()
    t = t.detach()
    if t.dtype in (torch.bfloat16,) or not t.dtype.is_floating_point and t.dtype == torch.bool:
        t = t.float()
    return t.cpu().numpy()


class _TorchImport:
    def __init__(self, ep, name: str, batch: int, dtype: str, module=None):
        self.ep = ep
        self.leaves = (
            set()
            if module is None
            else {p for p, m in module.named_modules() if p and not any(True for _ in m.children())}
        )
        self.name = name
        self.batch = batch
        self.nodes = list(ep.graph.nodes)
        sig = ep.graph_signature
        self.kind = {}  # placeholder name -> (kind, target)
        for spec in sig.input_specs:
            self.kind[spec.arg.name] = (spec.kind.name, spec.target)
        user = [
            n
            for n in self.nodes
            if n.op == "placeholder" and self.kind.get(n.name, ("USER_INPUT",))[0] == "USER_INPUT"
        ]
        shapes = [_shape(n.meta["val"]) for n in user if hasattr(n.meta.get("val"), "shape")]
        batches = {s[0] for s in shapes if s}
        if len(batches) != 1:
            raise GraphError(
                f"from_torch: the example inputs must share one leading (batch) "
                f"dimension, got shapes {shapes}"
            )
        self.example_batch = batches.pop()
        self.b = Builder(name, self.example_batch, dtype)
        self.env: dict = {}
        self.tvals: dict = {}  # constant node -> torch tensor (for folding)
        self.module_names: dict = {}

    # ---- helpers ------------------------------------------------------------------------
    def _name(self, node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            path = list(stack.values())[-1][0]
            path = path.replace("L['self'].", "").replace("L__self___", "") or node.name
            # a leaf layer (Linear, Conv2d, ReLU...) names its op; a container's own ops
            # (a residual add inside a block) get the node's name under its path
            leaf = path in self.leaves
            if leaf and path not in self.module_names:
                self.module_names[path] = node
                return path
            return f"{path}.{node.name}"
        return node.name

    def _is_act(self, arg, acts: set) -> bool:
        torch_fx = _torch().fx
        if isinstance(arg, torch_fx.Node):
            return arg.name in acts
        if isinstance(arg, (list, tuple)):
            return any(self._is_act(a, acts) for a in arg)
        return False

    def _val(self, arg):
        """Resolve an argument: Act, Const, lists of them, or a plain Python value."""
        torch = _torch()
        if isinstance(arg, torch.fx.Node):
            return self.env.get(arg.name)
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._val(a) for a in arg)
        return arg

    def _const_of(self, v, what: str, node) -> Const:
        if isinstance(v, Const):
            return v
        if isinstance(v, (int, float, bool)):
            return Const("scalar", (), np.array(v))
        raise GraphError(
            f"node {node.name!r} ({_packet(node)}): {what} must be a parameter, "
            f"buffer or constant, got {type(v).__name__}"
        )

    def _full(self, node):
        return _shape(node.meta["val"])

    # ---- classification -----------------------------------------------------------------
    def _check(self, node) -> str | None:
        p = _packet(node)
        if p in _IGNORED:
            return None
        if p not in SUPPORTED:
            return f"aten.{p}" if node.op == "call_function" else p
        args = node.args
        if p in ("conv2d", "convolution", "conv_transpose2d"):
            w = node.args[1].meta.get("val")
            k = tuple(w.shape[2:]) if w is not None else ()
            if len(k) != 2 or k[0] != k[1]:
                return f"aten.{p}(kernel {k})"
            if p == "conv2d":
                stride, pad, dil, groups = (
                    (list(args[3:4]) or [[1]])[0],
                    (list(args[4:5]) or [[0]])[0],
                    (list(args[5:6]) or [[1]])[0],
                    (list(args[6:7]) or [1])[0],
                )
            elif p == "convolution":
                stride, pad, dil, groups = args[3], args[4], args[5], args[8]
            else:
                stride, pad = (list(args[3:4]) or [[1]])[0], (list(args[4:5]) or [[0]])[0]
                groups = (list(args[6:7]) or [1])[0]
                dil = (list(args[7:8]) or [[1]])[0]
            if isinstance(pad, str):
                return f"aten.{p}(padding={pad!r})" if pad != "same" else None
            for what, v in (("stride", stride), ("padding", pad)):
                if isinstance(v, (list, tuple)) and len(set(v)) > 1:
                    return f"aten.{p}({what} {tuple(v)})"
            if groups != 1:
                return f"aten.{p}(groups={groups})"
            if any(d != 1 for d in (dil if isinstance(dil, (list, tuple)) else [dil])):
                return f"aten.{p}(dilation)"
        if p in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            if len(args) > 5 and args[5] or node.kwargs.get("ceil_mode"):
                return f"aten.{p}(ceil_mode)"
        if p == "adaptive_avg_pool2d" and tuple(args[1]) != (1, 1):
            return f"aten.{p}(output {tuple(args[1])})"
        if p == "slice" and len(args) > 4 and args[4] != 1:
            return "aten.slice(step)"
        return None

    # ---- translation --------------------------------------------------------------------
    def run(self, loss: str | None) -> Graph:
        torch = _torch()
        acts: set[str] = set()
        for n in self.nodes:
            if n.op == "placeholder":
                if self.kind.get(n.name, ("USER_INPUT",))[0] == "USER_INPUT":
                    acts.add(n.name)
            elif n.op == "call_function" and self._is_act(
                list(n.args) + list(n.kwargs.values()), acts
            ):
                acts.add(n.name)
        bad = Unsupported()
        for n in self.nodes:
            if n.op == "call_function" and n.name in acts:
                why = self._check(n)
                if why:
                    bad.add(why, n.name)
            elif n.op in ("call_module", "call_method", "get_attr") and n.name in acts:
                bad.add(n.op, n.name)
        bad.raise_if_any("PyTorch", self.name)

        state = self.ep.state_dict
        consts = getattr(self.ep, "constants", {})
        out_acts = []
        for n in self.nodes:
            if n.op == "placeholder":
                kind, target = self.kind.get(n.name, ("USER_INPUT", None))
                if kind == "USER_INPUT":
                    val = n.meta.get("val")
                    if not hasattr(val, "shape"):
                        continue
                    full = _shape(val)
                    shape = self.b.per_sample(Act("", full, math.prod(full[1:]), n.name))
                    op = self.b.g.input(self.b.unique(n.name), shape)
                    self.env[n.name] = self.b.out(op, full)
                else:
                    t = state[target] if target in state else consts.get(target)
                    if t is None or not hasattr(t, "shape"):
                        self.env[n.name] = None
                        continue
                    trainable = kind == "PARAMETER"
                    self.tvals[n.name] = t
                    self.env[n.name] = Const(
                        target, _shape(t), _numpy(t), ((target, t.numel()),) if trainable else ()
                    )
            elif n.op == "call_function":
                if n.name in acts:
                    self._translate(n)
                else:
                    self._fold(n, torch)
            elif n.op == "output":
                flat = []

                def walk(a, flat=flat):
                    if isinstance(a, (list, tuple)):
                        for x in a:
                            walk(x)
                    elif isinstance(a, torch.fx.Node):
                        flat.append(a)

                walk(n.args)
                out_acts = [self.env[a.name] for a in flat if isinstance(self.env.get(a.name), Act)]
        if not out_acts:
            raise GraphError(f"PyTorch model {self.name!r} has no output computed from its inputs")
        graph = self.b.finish(out_acts, loss, self.batch)
        graph.meta["source"] = "torch"
        return graph

    def _fold(self, n, torch) -> None:
        """Evaluate an op on constants only (a pruned weight, a transposed table)."""
        p = _packet(n)
        srcs = [self.env.get(a.name) for a in n.all_input_nodes]
        srcs = [c for c in srcs if isinstance(c, Const)]
        sources = tuple(dict.fromkeys(s for c in srcs for s in c.sources))
        key = (
            srcs[0].key
            if srcs and p in _VIEWS | _ALIASES | {"t", "permute", "transpose"}
            else n.name
        )
        value = None
        if p not in _IGNORED and not p.endswith("_"):  # never run in-place ops on the model

            def resolve(a):
                if isinstance(a, torch.fx.Node):
                    if a.name not in self.tvals:
                        raise KeyError(a.name)
                    return self.tvals[a.name]
                if isinstance(a, (list, tuple)):
                    return type(a)(resolve(x) for x in a)
                return a

            try:
                with torch.no_grad():
                    value = n.target(*resolve(list(n.args)), **resolve(dict(n.kwargs)))
            except Exception:  # an op we cannot run eagerly: its value stays unknown
                value = None
        val = n.meta.get("val")
        if isinstance(value, torch.Tensor):
            self.tvals[n.name] = value
            self.env[n.name] = Const(key, _shape(value), _numpy(value), sources)
        elif hasattr(val, "shape"):
            self.env[n.name] = Const(key, _shape(val), None, sources)
        else:
            self.env[n.name] = None

    def _translate(self, n) -> None:
        p, b = _packet(n), self.b
        if p in _IGNORED:
            return
        args = [self._val(a) for a in n.args]
        kw = {k: self._val(v) for k, v in n.kwargs.items()}
        name = self._name(n)
        val = n.meta.get("val")
        full = _shape(val) if hasattr(val, "shape") else None
        x = args[0] if args else None
        env = self.env

        if p == "getitem":
            env[n.name] = x[args[1]] if isinstance(x, (list, tuple)) else None
        elif p in _ALIASES:
            env[n.name] = x
        elif p in _VIEWS:
            env[n.name] = b.view(x, full, name)
        elif p in ("permute", "transpose", "t"):
            rank = len(x.full)
            if p == "permute":
                perm = list(args[1])
            elif p == "t":
                perm = list(range(rank))[::-1]
            else:
                d0, d1 = (a % rank for a in args[1:3])
                perm = list(range(rank))
                perm[d0], perm[d1] = perm[d1], perm[d0]
            env[n.name] = b.transpose(name, x, perm, full)
        elif p in _UNARY:
            env[n.name] = b.unary(name, _UNARY[p], x)
        elif p in ("dropout", "native_dropout"):
            prob = float(args[1] if len(args) > 1 else kw.get("p", 0.5))
            train = args[2] if len(args) > 2 else kw.get("train", True)
            out = b.unary(name, "dropout", x, p=prob) if train and prob > 0 else x
            env[n.name] = out if p == "dropout" else [out, None]
        elif p in ("softmax", "_softmax"):
            env[n.name] = b.softmax(name, x, args[1])
        elif p in ("layer_norm", "native_layer_norm"):
            norm_shape = tuple(args[1])
            if len(norm_shape) != 1:
                raise GraphError(
                    f"node {n.name!r}: layer_norm over {norm_shape} is not over the last axis alone"
                )
            consts = [self._const_of(a, "weight", n) for a in args[2:4] if a is not None]
            out = b.norm(name, "layernorm", x, consts)
            env[n.name] = out if p == "layer_norm" else [out, None, None]
        elif "batch_norm" in p:
            consts = [self._const_of(a, "weight", n) for a in args[1:3] if a is not None]
            out = b.norm(name, "batchnorm", x, consts)
            env[n.name] = out if p == "batch_norm" else [out, None, None, None, None]
        elif p in _BINARY:
            self._binary(n, name, p, args, full)
        elif p in ("linear", "addmm", "mm", "matmul", "bmm"):
            self._linear(n, name, p, args, full)
        elif p in ("conv2d", "convolution", "conv_transpose2d"):
            self._conv(n, name, p, args, full)
        elif p in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            k = args[1]
            k = k[0] if isinstance(k, (list, tuple)) else k
            s = args[2] if len(args) > 2 and args[2] else k
            s = s[0] if isinstance(s, (list, tuple)) else s
            pad = args[3] if len(args) > 3 else 0
            pad = pad[0] if isinstance(pad, (list, tuple)) else pad
            out = b.pool(
                name,
                x,
                "avg" if p == "avg_pool2d" else "max",
                kernel=int(k),
                stride=int(s),
                padding=int(pad),
                full=full,
            )
            env[n.name] = [out, None] if p == "max_pool2d_with_indices" else out
        elif p == "adaptive_avg_pool2d":
            env[n.name] = b.pool(name, x, "global_avg", full=full)
        elif p == "mean":
            dims = sorted(d % len(x.full) for d in args[1])
            if len(x.full) != 4 or dims != [2, 3]:
                raise GraphError(
                    f"node {n.name!r}: mean over dims {args[1]} of shape {x.full} "
                    "is not a global average pool over height and width"
                )
            env[n.name] = b.pool(name, x, "global_avg", full=full)
        elif p == "embedding":
            table = self._const_of(args[0], "the embedding table", n)
            env[n.name] = b.embedding(name, args[1], table, full)
        elif p == "cat":
            tensors = [a for a in args[0]]
            if not all(isinstance(a, Act) for a in tensors):
                raise GraphError(
                    f"node {n.name!r}: cat of constants with activations is not supported"
                )
            env[n.name] = b.merge(
                name, tensors, args[1] if len(args) > 1 else kw.get("dim", 0), full
            )
        elif p in ("split", "split_with_sizes", "chunk", "unbind"):
            dim = args[2] if len(args) > 2 else kw.get("dim", 0)
            if p == "unbind":
                dim = args[1] if len(args) > 1 else kw.get("dim", 0)
            dim = dim % len(x.full)
            pieces, start = [], 0
            for i, v in enumerate(val):
                piece_full = _shape(v)
                if p == "unbind":
                    one = list(x.full)
                    one[dim] = 1
                    part = b.part(f"{name}.{i}", x, dim, start, one)
                    pieces.append(b.view(part, piece_full, f"{name}.{i}"))
                    start += 1
                else:
                    pieces.append(b.part(f"{name}.{i}", x, dim, start, piece_full))
                    start += piece_full[dim]
            env[n.name] = pieces
        elif p == "select":
            dim, index = args[1] % len(x.full), args[2]
            one = list(x.full)
            one[dim] = 1
            part = b.part(name, x, dim, index, one)
            env[n.name] = b.view(part, full, name)
        elif p == "slice":
            dim = (args[1] if len(args) > 1 else 0) % len(x.full)
            if full == x.full:
                env[n.name] = x
            else:
                start = args[2] if len(args) > 2 and args[2] is not None else 0
                env[n.name] = b.part(name, x, dim, start, full)
        elif p == "scaled_dot_product_attention":
            self._attention(n, name, args, kw, full)
        else:  # pragma: no cover - _check lists SUPPORTED
            raise GraphError(f"unsupported op aten.{p}")

    def _binary(self, n, name, p, args, full) -> None:
        a, c = args[0], args[1] if len(args) > 1 else None
        fn = _BINARY[p]
        if isinstance(a, Act) and isinstance(c, Act):
            self.env[n.name] = self.b.binary(name, fn, a, c, full)
            return
        act, const = (a, c) if isinstance(a, Act) else (c, a)
        const = self._const_of(const, "the other operand", n)
        if fn in ("sub", "div") and not isinstance(a, Act):
            fn = "add" if fn == "sub" else "mul"
        if math.prod(full) > math.prod(act.full):
            raise GraphError(
                f"node {n.name!r} ({p}): a constant of shape {const.shape} "
                f"broadcasts the activation {act.full} to {full}"
            )
        self.env[n.name] = self.b.with_constant(name, fn, act, const)

    def _linear(self, n, name, p, args, full) -> None:
        b = self.b
        if p == "linear":
            x, w = args[0], self._const_of(args[1], "the linear weight", n)
            bias = args[2] if len(args) > 2 else None
            wv = None if w.value is None else w.value.T
        elif p == "addmm":
            bias, x, w = args[0], args[1], args[2]
            if not isinstance(w, Const):
                raise GraphError(f"node {n.name!r}: addmm of two activations is not supported")
            wv = w.value
        else:
            x, w = args[0], args[1]
            bias = None
            if isinstance(w, Act):
                if not isinstance(x, Act):
                    raise GraphError(
                        f"node {n.name!r} ({p}): a constant first operand is not supported"
                    )
                self.env[n.name] = b.matmul(name, x, w, full)
                return
            wv = w.value
        if len(w.shape) != 2:
            raise GraphError(f"node {n.name!r} ({p}): weight of shape {w.shape} is not a matrix")
        if bias is not None:
            bias = self._const_of(bias, "the bias", n)
        out = b.dense(name, x, w, wv, bias, full)
        self.env[n.name] = out

    def _conv(self, n, name, p, args, full) -> None:
        b = self.b
        x, w = args[0], self._const_of(args[1], "the convolution weight", n)
        bias = args[2] if len(args) > 2 and args[2] is not None else None
        bias = self._const_of(bias, "the bias", n) if bias is not None else None

        def first(v, default):
            if v is None:
                return default
            return int(v[0]) if isinstance(v, (list, tuple)) else int(v)

        transposed = p == "conv_transpose2d" or (p == "convolution" and args[6])
        stride = first(args[3] if len(args) > 3 else None, 1)
        pad_arg = args[4] if len(args) > 4 else 0
        k = w.shape[2]
        pad = k // 2 if pad_arg == "same" else first(pad_arg, 0)
        if not transposed:
            self.env[n.name] = b.conv2d(name, x, w, bias, stride, pad, full)
        else:
            h = x.full[2]
            op = full[2] - ((h - 1) * stride - 2 * pad + k)
            self.env[n.name] = b.conv_transpose2d(name, x, w, bias, stride, pad, op, full)

    def _attention(self, n, name, args, kw, full) -> None:
        """softmax(q k^T * scale [+ mask]) v, as the zoo's attention builds it."""
        b = self.b
        q, k, v = args[:3]
        mask = args[3] if len(args) > 3 else kw.get("attn_mask")
        p = float(args[4] if len(args) > 4 else kw.get("dropout_p", 0.0))
        causal = bool(args[5] if len(args) > 5 else kw.get("is_causal", False))
        g = b.g
        qs, ks = b.per_sample(q), b.per_sample(k)
        scores_full = (*q.full[:-1], k.full[-2])
        scores = g.matmul(b.unique(f"{name}.scores"), b.use(q), b.use(k), transpose_b=True)
        s_act = b.out(scores, scores_full, q)
        if isinstance(mask, Act):
            s_act = b.binary(f"{name}.mask", "add", s_act, mask, scores_full)
        probs = b.softmax(f"{name}.probs", s_act, -1)
        if p > 0:
            probs = b.unary(f"{name}.probs_dropout", "dropout", probs, p=p)
        ctx = b.matmul(f"{name}.context", probs, v, full)
        if causal:
            for op in (scores, probs.op, ctx.op):
                g.replace_op(op, attrs={**g.op(op).attrs, "causal": True})
        del qs, ks
        self.env[n.name] = ctx


def from_torch(
    module,
    example_inputs: Sequence,
    *,
    loss: str | None = "cross_entropy",
    batch: int | None = None,
    name: str | None = None,
    dtype: str = "fp16",
    strict: bool = False,
) -> Graph:
    """Translate ``module`` (a ``torch.nn.Module``) into a :class:`Graph` via ``torch.export``.

    Parameters
    ----------
    example_inputs : a tuple of example tensors whose leading dimension is the batch (use 2 or
        more so the batch can be told from unit axes).
    loss : the loss added over the outputs (every zoo model has one), or None.
    batch : samples per optimizer step, stored as ``meta['batch_default']`` (default: the
        example batch).
    strict : passed to ``torch.export.export``.

    Raises :class:`~wse_sim.errors.GraphError` listing every unsupported op type at once, or
    naming the export failure.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise GraphError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    try:
        ep = torch.export.export(module, example_inputs, strict=strict)
    except Exception as e:  # torch raises many types here; name it and the fix
        raise GraphError(
            f"torch.export could not export {type(module).__name__}: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "see the torch.export documentation for the unsupported Python "
            "construct"
        ) from e
    name = name or type(module).__name__
    imp = _TorchImport(ep, name, 1, dtype, module)
    imp.batch = int(batch if batch is not None else max(imp.example_batch, 1))
    return imp.run(loss)
