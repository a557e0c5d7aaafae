"""The importers' graph builder, part two: weighted and cheap ops, parameter owners, masks.

Parameters are counted once per stored tensor: tied weights become ``tied_to``, and a shared
tensor counts for its first op only. The zero pattern of every weight whose values are known is
collected in the op's ``weight_shape`` convention and given to the graph at the end through
``sparsify(graph, masks=...)``: each such op carries its real mask (pattern ``"mask"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph, Op, sparsify
from wse_sim.graph.extra import rmsnorm

from ._acts import Act, Const, prod
from ._layout import LayoutBuilder


class Builder(LayoutBuilder):
    """Builds a :class:`Graph` from source-model tensors, keeping masks and parameter owners."""

    # ---- weighted ops -------------------------------------------------------------------
    def _claim(self, c: Const | None, op: str) -> bool:
        """True when ``op`` is the first to use constant ``c`` (so it counts its values)."""
        if c is None:
            return True
        if c.key in self.owner:
            return False
        self.owner[c.key] = op
        return True

    def _mask(self, op: str, w: np.ndarray | None) -> None:
        if w is not None:
            self.masks[op] = np.asarray(w) != 0

    def dense(
        self,
        name: str,
        x: Act,
        w: Const,
        w_in_out: np.ndarray | None,
        bias: Const | None,
        full: Sequence[int],
    ) -> Act:
        """``x @ W (+ b)``; ``w_in_out`` is the weight as (n_in, n_out) when its values are
        known (``w`` may be stored transposed)."""
        name = self.unique(name)
        src = self.use(x)
        n_in = self.g.op(src).out_shape[-1]
        n_out = int(full[-1])
        tied = None
        if w.key in self.owner:
            first = self.g.op(self.owner[w.key])
            if first.kind == "embedding" and first.weight_shape == (n_out, n_in):
                tied = first.name
        elif w_in_out is not None:  # a copy of a table's values (an exporter's transposed copy)
            tied = next((op for op, t in self.tables.items() if t.shape == (n_out, n_in)
                         and np.array_equal(t, np.asarray(w_in_out).T)), None)
        op = self.g.dense(name, src, n_out, bias=bias is not None, tied_to=tied)
        same = None
        if tied is None and w_in_out is not None and w.key not in self.owner:
            # an exporter's copy of a weight another dense uses (a layer shared across depth)
            digest = (np.shape(w_in_out), hash(np.ascontiguousarray(w_in_out).tobytes()))
            same = self.weight_digests.setdefault(digest, w.key)
            same = None if same == w.key else same
        if same is not None:
            self.owner[w.key] = self.owner[same]
        if tied is None and not self._claim(w, op):  # shared with a non-embedding op
            self.g.replace_op(op, params=n_out if bias is not None else 0)
        if bias is not None and not self._claim(bias, op):
            self.g.replace_op(op, params=self.g.op(op).params - n_out)
        if tied is None:
            self._mask(op, w_in_out)
        return self.out(op, full, x)

    def _own(self, op: str, consts: Sequence[Const | None], counted: Sequence[int]) -> None:
        """Drop from ``op``'s params the parts (sizes ``counted``) an earlier op owns."""
        drop = sum(
            n
            for c, n in zip(consts, counted, strict=True)
            if c is not None and not self._claim(c, op)
        )
        if drop:
            self.g.replace_op(op, params=self.g.op(op).params - drop)

    def conv2d(
        self,
        name: str,
        x: Act,
        w: Const,
        bias: Const | None,
        stride: int,
        padding: int,
        full: Sequence[int],
        groups: int = 1,
        dilation: int = 1,
    ) -> Act:
        c_out, c_in, k, _ = w.shape  # c_in: input channels per group
        bias = None if _computed_zeros(bias) else bias
        op = self.g.conv2d(
            self.unique(name),
            self.use(x),
            c_out,
            k,
            stride=stride,
            padding=padding,
            bias=bias is not None,
            groups=groups,
            dilation=dilation,
        )
        self._own(op, (w, bias), (c_out * c_in * k * k, c_out))
        self._mask(op, w.value)
        return self.out(op, full, x)

    def conv_transpose2d(
        self,
        name: str,
        x: Act,
        w: Const,
        bias: Const | None,
        stride: int,
        padding: int,
        output_padding: int,
        full: Sequence[int],
    ) -> Act:
        c_in, c_out, k, _ = w.shape
        op = self.g.conv_transpose2d(
            self.unique(name),
            self.use(x),
            c_out,
            k,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            bias=bias is not None,
        )
        self._own(op, (w, bias), (c_out * c_in * k * k, c_out))
        self._mask(op, w.value)
        return self.out(op, full, x)

    def embedding(self, name: str, ids: Act, table: Const, full: Sequence[int]) -> Act:
        vocab, dim = table.shape
        op = self.g.embedding(self.unique(name), self.use(ids), vocab, dim)
        self._own(op, (table,), (vocab * dim,))
        if table.value is not None and self.g.op(op).params:
            self.tables[op] = np.asarray(table.value)
        self._mask(op, table.value)
        return self.out(op, full, ids)

    def norm(self, name: str, kind: str, x: Act, consts: Sequence[Const | None]) -> Act:
        fn = self.g.layernorm if kind == "layernorm" else self.g.batchnorm
        op = fn(self.unique(name), self.use(x))
        dim = self.g.op(op).weight_shape[0]
        self._own(op, tuple(consts) + (None,) * (2 - len(consts)), (dim, dim))
        return self.out(op, x.full, x)

    def rmsnorm(self, name: str, x: Act, weight: Const | None) -> Act:
        op = rmsnorm(self.g, self.unique(name), self.use(x))
        dim = self.g.op(op).weight_shape[0]
        self._own(op, (weight,), (dim,))
        if weight is None:
            self.g.replace_op(op, params=0)
        return self.out(op, x.full, x)

    def expand(self, name: str, x: Act, full: Sequence[int]) -> Act:
        """A broadcast copy of an activation to a larger shape (``repeat_kv`` of grouped-query
        attention): a data-movement op, no arithmetic."""
        src = self.use(x)
        shape = self.per_sample(self.out(x.op, full, x))
        op = Op(name=self.unique(name), kind="reshape", inputs=(src,),
                in_shapes=(self.g.op(src).out_shape,), out_shape=shape, dtype=self.g.dtype,
                out_density=self.g.op(src).out_density, attrs={"source_op": "expand"})
        self.g.add(op)
        return self.out(op.name, full, x)

    # ---- cheap ops ----------------------------------------------------------------------
    def unary(self, name: str, fn: str, x: Act, p: float = 0.0) -> Act:
        op = self.g.elementwise(self.unique(name), fn, self.use(x), p=p)
        return self.out(op, x.full, x)

    def softmax(self, name: str, x: Act, axis: int) -> Act:
        if self.ps_axis(x, axis, "softmax") != len(self.per_sample(x)) - 1:
            raise GraphError(
                f"op {name!r}: softmax over axis {axis} of shape {x.full} is not "
                "over the last axis; the simulator's softmax normalises the last"
            )
        op = self.g.softmax(self.unique(name), self.use(x))
        return self.out(op, x.full, x)

    def with_constant(self, name: str, fn: str, x: Act, c: Const) -> Act:
        """``x (+ - * /) constant``: one vector op per element. A multiply or divide keeps the
        zeros of ``x``; an add or subtract fills them. The stored float tensors the constant is
        made of (``c.sources``) with more than one element are counted as trainable parameters
        (a learned scale, shift or position table), each once."""
        src = self.use(x)
        scale = 1.0
        if c.value is not None and c.value.size == 1 and fn in ("mul", "div"):
            v = float(np.asarray(c.value).reshape(-1)[0])
            scale = v if fn == "mul" else (1.0 / v if v else 1.0)
        keeps_zeros = fn in ("mul", "div")
        op = self.g.elementwise(self.unique(name), "scale", src)
        params = 0
        for key, n in c.sources:
            if n > 1 and key not in self.owner:
                self.owner[key] = op
                params += n
        self.g.replace_op(
            op,
            params=params,
            out_density=self.g.op(src).out_density if keeps_zeros else 1.0,
            attrs={
                "fn": "scale",
                "p": 0.0,
                "scale": scale,
                "source_op": fn,
                "constant_shape": tuple(c.shape),
            },
        )
        return self.out(op, x.full, x)

    def binary(self, name: str, fn: str, a: Act, b: Act, full: Sequence[int]) -> Act:
        """Elementwise ``fn`` of two activations; shapes that differ are broadcast."""
        ia, ib = self.use(a), self.use(b)
        sa, sb = self.g.op(ia).out_shape, self.g.op(ib).out_shape
        if fn == "div":
            fn = "mul"  # one vector op per element either way; zeros of a kept
        if sa == sb:
            op = self.g.elementwise(self.unique(name), fn, ia, ib)
            return self.out(op, full, a)
        big = a if prod(sa) >= prod(sb) else b
        shape = self.per_sample(Act(big.op, tuple(int(d) for d in full), big.bplace, name))
        op = Op(
            name=self.unique(name),
            kind="elementwise",
            inputs=(ia, ib),
            in_shapes=(sa, sb),
            out_shape=shape,
            dtype=self.g.dtype,
            vector_ops=prod(shape),
            attrs={"fn": fn, "p": 0.0, "broadcast": True},
        )
        self.g.add(op)
        return self.out(op.name, full, big)

    def matmul(self, name: str, a: Act, b: Act, full: Sequence[int],
               transpose_b: bool = False) -> Act:
        ia, ib = self.use(a), self.use(b)
        op = self.g.matmul(self.unique(name), ia, ib, transpose_b=transpose_b)
        return self.out(op, full, a)

    def pool(
        self,
        name: str,
        x: Act,
        kind: str,
        kernel: int | None = None,
        stride: int | None = None,
        padding: int = 0,
        full: Sequence[int] = (),
    ) -> Act:
        op = self.g.pool(
            self.unique(name), self.use(x), kernel=kernel, stride=stride, padding=padding, kind=kind
        )
        return self.out(op, full, x)

    # ---- the end ------------------------------------------------------------------------
    def finish(self, outputs: Sequence[Act], loss: str | None, batch: int) -> Graph:
        if loss is not None:
            self.g.loss(self.unique("loss"), *[self.use(o) for o in outputs], fn=loss)
        self.g.meta.update({"model": self.g.name, "batch_default": int(batch), "imported": True})
        masks = kept_masks(self.masks)
        return sparsify(self.g, masks=masks) if masks else self.g


def _computed_zeros(c: Const | None) -> bool:
    """A bias the exporter computed as zeros (no stored tensor behind it): no bias at all."""
    return c is not None and not c.sources and c.value is not None and not np.any(c.value)


def kept_masks(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The masks that prune something (a weight with no zero stays a dense op)."""
    return {n: m for n, m in masks.items() if not m.all()}


def weight_masks(graph: Graph) -> dict[str, np.ndarray]:
    """The masks an import kept, by op name (ops whose weights had no zeros are absent)."""
    return {op.name: op.attrs["weight_mask"] for op in graph.ops() if "weight_mask" in op.attrs}
