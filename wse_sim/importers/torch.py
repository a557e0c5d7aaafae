"""Import a PyTorch module into the graph IR through ``torch.export`` (optional extra ``[torch]``).

>>> g = from_torch(model, (torch.randn(8, 3, 224, 224),))            # doctest: +SKIP

The module is exported with the example inputs (their leading dimension is the batch, divided
out of the graph: the IR is per sample; a batch of 2 or more lets the importer follow the batch
through every reshape unambiguously). The exported ATen ops are translated with the same
coverage as :func:`wse_sim.importers.onnx.from_onnx`: linear/addmm/mm/matmul/bmm, conv2d
(grouped, depthwise, dilated), conv_transpose2d, relu, gelu, silu, sigmoid, tanh, hardswish,
hardsigmoid, hardtanh / clamp to [0, 6] (ReLU6), neg, softmax, layer_norm, batch_norm,
add/sub/mul/div, view/reshape/flatten/permute/transpose/squeeze/unsqueeze/expand, cat (with
constants too: a class token), stack, split/chunk/unbind/select/slice (strided too) /
index_select, pad of an image, max/avg/adaptive-avg pooling (1-D and 2-D to one position),
embedding, dropout, type casts and copies, and scaled_dot_product_attention (as two matmuls
around a softmax). Chains that are one IR op are fused (:mod:`._torch_fuse`: RMS-norm and GELU
modules, rotary embeddings, grouped-query ``repeat_kv``), a projection split into pieces
becomes one dense per piece, a table looked up by constant ids a position embedding, integer
arithmetic on token ids stands for the ids, and masks built from positions alone fold to
constants. A Hugging Face model is exported with ``use_cache=False`` (see ``kwargs``).
Ops on parameters and buffers alone are evaluated, so a model pruned with
``torch.nn.utils.prune`` (weight = weight_orig * weight_mask) arrives with its real zero
pattern, given to the graph through ``sparsify(graph, masks=...)``.

Parameters are counted from the module's parameters (not its buffers), each once: the graph's
``total_params`` equals ``sum(p.numel() for p in module.parameters())`` for the covered layers.

The work is split: :mod:`._torch_check` (what is supported) and :mod:`._torch_ops` (one
translation handler per op family).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph
from wse_sim.validate.importing import check_example_inputs, check_import_args

from ._acts import Act, Const, Unsupported
from ._build import Builder
from ._torch_check import ALIASES, IGNORED, VIEWS, check, packet, shape_of, to_numpy, torch_module
from ._torch_fuse import Fusion, module_fusions, repeat_kv, rope_fusions
from ._torch_ops import HANDLERS, context

__all__ = ["from_torch"]
_SAME_TENSOR = VIEWS | ALIASES | {"t", "permute", "transpose"}  # a view of one stored tensor


def _user_input(kind: dict, n) -> bool:
    return kind.get(n.name, ("USER_INPUT",))[0] == "USER_INPUT"


class _TorchImport:
    """One import: the exported program's nodes, their values (``env``) and the builder."""

    def __init__(self, ep, name: str, batch: int, dtype: str, module=None):
        self.ep = ep
        self.leaves = set() if module is None else {
            p for p, m in module.named_modules() if p and not any(True for _ in m.children())}
        self.name = name
        self.batch = batch
        self.nodes = list(ep.graph.nodes)
        self.kind = {s.arg.name: (s.kind.name, s.target) for s in ep.graph_signature.input_specs}
        user = [n for n in self.nodes if n.op == "placeholder" and _user_input(self.kind, n)]
        shapes = [shape_of(n.meta["val"]) for n in user if hasattr(n.meta.get("val"), "shape")]
        batches = {s[0] for s in shapes if s}
        if len(batches) != 1:
            raise GraphError(
                f"from_torch: the example inputs must share one leading (batch) "
                f"dimension, got shapes {shapes}"
            )
        self.example_batch = batches.pop()
        self.b = Builder(name, self.example_batch, dtype)
        self.env: dict = {}
        self.lookups: dict = {}  # folded embedding node -> (table Const, its constant ids)
        self.tvals: dict = {}  # constant node -> torch tensor (for folding)
        self.module_names: dict = {}

    # ---- lookups used by the handlers ---------------------------------------------------
    def name_of(self, node) -> str:
        """A leaf layer (Linear, Conv2d, ReLU...) names its op by its module path; a
        container's own ops (a residual add inside a block) get the node's name under it."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return node.name
        path = list(stack.values())[-1][0]
        path = path.replace("L['self'].", "").replace("L__self___", "") or node.name
        if path in self.leaves and path not in self.module_names:
            self.module_names[path] = node
            return path
        return f"{path}.{node.name}"

    def resolve(self, arg):
        """An argument as an Act, a Const, lists of them, or a plain Python value."""
        if isinstance(arg, torch_module().fx.Node):
            return self.env.get(arg.name)
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.resolve(a) for a in arg)
        return arg

    def const_of(self, v, what: str, node) -> Const:
        if isinstance(v, Const):
            return v
        if isinstance(v, (int, float, bool)):
            return Const("scalar", (), np.array(v))
        raise GraphError(
            f"node {node.name!r} ({packet(node)}): {what} must be a parameter, "
            f"buffer or constant, got {type(v).__name__}"
        )

    def sequence_input(self, shape: tuple) -> Act | None:
        """The first user input whose per-sample shape is ``shape`` (the token ids a position
        table rides on), or None."""
        for n in self.nodes:
            v = self.env.get(n.name)
            if n.op == "placeholder" and isinstance(v, Act) and \
                    self.b.per_sample(v) == tuple(int(d) for d in shape):
                return v
        return None

    # ---- the import ---------------------------------------------------------------------
    def _activations(self) -> set[str]:
        """Nodes computed from the user inputs (the rest are constants)."""
        fx = torch_module().fx

        def uses(arg) -> bool:
            if isinstance(arg, fx.Node):
                return arg.name in acts
            return isinstance(arg, (list, tuple)) and any(uses(a) for a in arg)

        acts: set[str] = set()
        for n in self.nodes:
            if n.op == "placeholder" and _user_input(self.kind, n):
                acts.add(n.name)
            elif n.op == "call_function" and uses(list(n.args) + list(n.kwargs.values())):
                acts.add(n.name)
        return acts

    def _index_nodes(self, acts: set[str]) -> dict:
        """Integer or boolean arithmetic on token ids that keeps their shape (RoBERTa's
        position ids: ``cumsum(ids != pad) + pad``): ``{node: the ids node}``. The result
        indexes a table as the ids do, so it stands for them (integer work on ids is not
        modelled)."""
        found: dict = {}
        for n in self.nodes:
            val = n.meta.get("val")
            if n.op != "call_function" or n.name not in acts or not hasattr(val, "dtype") \
                    or val.dtype.is_floating_point or packet(n) in IGNORED:
                continue
            srcs = [a for a in n.all_input_nodes if a.name in acts]
            src = next((a for a in srcs if hasattr(a.meta.get("val"), "shape")
                        and shape_of(a.meta["val"]) == shape_of(val)), None)
            if src is not None:
                found[n.name] = found.get(src.name, src.name)
        return found

    def _check_all(self, acts: set[str]) -> None:
        bad = Unsupported()
        for n in self.nodes:
            if n.name not in acts or n.name in self.fused or n.name in self.index_of:
                continue
            if n.op == "call_function":
                why = check(n)
                if why:
                    bad.add(why, n.name)
            elif n.op in ("call_module", "call_method", "get_attr"):
                bad.add(n.op, n.name)
        bad.raise_if_any("PyTorch", self.name)

    def _placeholder(self, n) -> None:
        kind, target = self.kind.get(n.name, ("USER_INPUT", None))
        if kind == "USER_INPUT":
            val = n.meta.get("val")
            if hasattr(val, "shape"):
                full = shape_of(val)
                shape = self.b.per_sample(Act("", full, math.prod(full[1:]), n.name))
                self.env[n.name] = self.b.out(self.b.g.input(self.b.unique(n.name), shape), full)
            return
        state, consts = self.ep.state_dict, getattr(self.ep, "constants", {})
        t = state[target] if target in state else consts.get(target)
        if t is None or not hasattr(t, "shape"):
            self.env[n.name] = None
            return
        self.tvals[n.name] = t
        trainable = ((target, t.numel()),) if kind == "PARAMETER" else ()
        self.env[n.name] = Const(target, shape_of(t), to_numpy(t), trainable)

    def _outputs(self, n) -> list[Act]:
        fx, flat = torch_module().fx, []

        def walk(a):
            if isinstance(a, (list, tuple)):
                for x in a:
                    walk(x)
            elif isinstance(a, fx.Node):
                flat.append(a)

        walk(n.args)
        return [self.env[a.name] for a in flat if isinstance(self.env.get(a.name), Act)]

    def _fusions(self, acts: set[str]) -> None:
        """Chains that are one IR op (activation and RMS-norm modules, rotary embeddings):
        ``self.fused`` maps each of their nodes to its :class:`Fusion`."""
        self.fused: dict = {}
        for f in module_fusions(self.nodes, acts) + rope_fusions(self.nodes, acts):
            if not any(m in self.fused for m in f.nodes):
                self.fused.update(dict.fromkeys(f.nodes, f))
        self.kv_group: dict = {}  # reshape node -> its kv heads' group size
        for out, (kv, group, members) in repeat_kv(self.nodes, acts).items():
            if not any(m in self.fused for m in members):
                f = Fusion("repeat_kv", kv, out, members)
                self.fused.update(dict.fromkeys(members, f))
                self.kv_group[out] = group

    def _emit_fusion(self, f) -> None:
        x = self.env[f.x]
        if f.kind == "repeat_kv":  # the attention regroups its queries (see _torch_ops)
            out = x
        elif f.kind == "gelu":
            out = self.b.unary(f.module, "gelu", x)
        elif f.kind == "rope":
            out = self.b.unary(self.name_of(self._by_name[f.out]), "rope", x)
            if f.interleaved:
                g = self.b.g
                g.replace_op(out.op, attrs={**g.op(out.op).attrs, "layout": "interleaved"})
        else:  # rmsnorm: its gain is the module's one parameter (if it has one)
            params = [self.env[i.name] for m in f.nodes for i in self._by_name[m].all_input_nodes
                      if isinstance(self.env.get(i.name), Const) and self.env[i.name].sources]
            out = self.b.rmsnorm(f.module, x, params[0] if params else None)
        self.env[f.out] = out

    def run(self, loss: str | None) -> Graph:
        acts = self._activations()
        self._by_name = {n.name: n for n in self.nodes}
        self._fusions(acts)
        self.index_of = self._index_nodes(acts)
        self._check_all(acts)
        out_acts = []
        for n in self.nodes:
            if n.op == "placeholder":
                self._placeholder(n)
            elif n.name in self.fused:
                if n.name == self.fused[n.name].out:
                    self._emit_fusion(self.fused[n.name])
            elif n.name in self.index_of:
                self.env[n.name] = self.env.get(self.index_of[n.name])
            elif n.op == "call_function" and n.name in acts:
                if packet(n) not in IGNORED:
                    HANDLERS[packet(n)](self, n, context(self, n))
            elif n.op == "call_function":
                self._fold(n)
            elif n.op == "output":
                out_acts = self._outputs(n)
        if not out_acts:
            raise GraphError(f"PyTorch model {self.name!r} has no output computed from its inputs")
        graph = self.b.finish(out_acts, loss, self.batch)
        graph.meta["source"] = "torch"
        return graph

    def _eager(self, n):
        """The node run eagerly on its constant inputs, or None (in-place ops never run)."""
        torch = torch_module()
        p = packet(n)
        if p in IGNORED or (p.endswith("_") and not p.endswith("__")):  # in place (not __and__)
            return None

        def value(a):
            if isinstance(a, torch.fx.Node):
                if a.name not in self.tvals:
                    raise KeyError(a.name)
                return self.tvals[a.name]
            if isinstance(a, (list, tuple)):
                return type(a)(value(x) for x in a)
            return a

        try:
            with torch.no_grad():
                return n.target(*value(list(n.args)), **value(dict(n.kwargs)))
        except Exception:  # an op we cannot run eagerly: its value stays unknown
            return None

    def _fold(self, n) -> None:
        """Evaluate an op on constants only (a pruned weight, a transposed table)."""
        srcs = [self.env.get(a.name) for a in n.all_input_nodes]
        srcs = [c for c in srcs if isinstance(c, Const)]
        sources = tuple(dict.fromkeys(s for c in srcs for s in c.sources))
        key = srcs[0].key if srcs and packet(n) in _SAME_TENSOR else n.name
        value, val = self._eager(n), n.meta.get("val")
        if packet(n) == "embedding" and len(srcs) == 2 and srcs[0].sources \
                and srcs[1].value is not None:
            self.lookups[n.name] = (srcs[0], srcs[1].value)
        elif packet(n) in ALIASES and n.all_input_nodes \
                and n.all_input_nodes[0].name in self.lookups:  # a cast of the lookup
            self.lookups[n.name] = self.lookups[n.all_input_nodes[0].name]
        if isinstance(value, torch_module().Tensor):
            self.tvals[n.name] = value
            self.env[n.name] = Const(key, shape_of(value), to_numpy(value), sources)
        elif hasattr(val, "shape"):
            self.env[n.name] = Const(key, shape_of(val), None, sources)
        else:
            self.env[n.name] = None


def _export_kwargs(module, kwargs: dict | None) -> dict:
    """The keyword arguments of the export: ``use_cache=False`` added where the forward takes
    it (and the caller did not set it)."""
    if kwargs is not None and not isinstance(kwargs, dict):
        raise GraphError(f"from_torch: kwargs must be a dict of keyword arguments of "
                         f"forward, got {type(kwargs).__name__}")
    kwargs = dict(kwargs or {})
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # a forward without a signature: nothing to add
        return kwargs
    if "use_cache" in params and "use_cache" not in kwargs:
        kwargs["use_cache"] = False
    return kwargs


def from_torch(
    module,
    example_inputs: Sequence,
    *,
    loss: str | None = "cross_entropy",
    batch: int | None = None,
    name: str | None = None,
    dtype: str = "fp16",
    strict: bool = False,
    kwargs: dict | None = None,
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
    kwargs : keyword arguments of ``module.forward`` for the export. A model whose forward
        takes ``use_cache`` (a Hugging Face decoder) is exported with ``use_cache=False`` unless
        given: a key/value cache is an inference-time output, not part of the network, and its
        object is no tensor ``torch.export`` can return. Outputs that are dataclasses
        (``ModelOutput``) or tuples are flattened to their tensors.

    Raises :class:`~wse_sim.errors.GraphError` listing every unsupported op type at once, or
    naming the export failure.
    """
    torch = torch_module()
    if not isinstance(module, torch.nn.Module):
        raise GraphError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    check_import_args("from_torch", batch, loss, name, batch_none_ok=True)
    example_inputs = check_example_inputs("from_torch", example_inputs, torch.Tensor)
    kwargs = _export_kwargs(module, kwargs)
    try:
        ep = torch.export.export(module, example_inputs, kwargs=kwargs or None, strict=strict)
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
    graph = imp.run(loss)
    graph.meta["batch_given"] = batch is not None  # place() uses it only when it was given
    return graph
