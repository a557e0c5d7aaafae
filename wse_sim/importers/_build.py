"""What the ONNX and PyTorch importers share: tensors with a batch inside, and the IR builder.

A source model's tensors carry the batch; the IR's shapes are per sample. Each activation is
tracked as an :class:`Act`: its full shape and the *place value* of its batch digit in the
row-major flat index (``prod(full[j + 1:])`` when the batch is axis ``j``). A reshape keeps the
flat order, so the place value survives it even when the batch is merged into another axis
(``(seq, batch, d) -> (seq * batch, d)``, as ``torch.nn.MultiheadAttention`` does); a transpose
moves the axis that holds it. The per-sample shape is the full shape with the batch divided out
of the axis that holds it (the axis removed when it held the batch alone).

Reshapes are lazy: a reshape, flatten, squeeze or unsqueeze only changes the :class:`Act`, and
a ``reshape`` op is added to the graph when a consumer needs the new per-sample shape (so a
global average pool followed by a flatten stays one op, as in the zoo's ResNet-50).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wse_sim.errors import GraphError, SparsityError
from wse_sim.graph import Graph, Op

MASKED_KINDS = ("dense", "conv2d", "conv_transpose2d", "embedding")
"""Op kinds whose weight zero pattern the importers keep as a mask."""


@dataclass(frozen=True)
class Act:
    """An activation of the source model (batch included) as produced by graph op ``op``.

    ``full`` is the source shape; ``bplace`` the place value of the batch digit in its flat
    row-major index (``prod(full)`` when the batch of one is an implicit outer dimension);
    ``hint`` names a reshape op if one has to be added to give ``op`` this tensor's shape.
    """

    op: str
    full: tuple[int, ...]
    bplace: int
    hint: str


@dataclass(frozen=True)
class Const:
    """A constant tensor (weight, bias, scalar) of the source model.

    ``value`` is None when the importer does not read it (shapes only); ``key`` identifies the
    stored tensor it comes from (initializer or parameter name) so tied weights count once.
    """

    key: str
    shape: tuple[int, ...]
    value: np.ndarray | None = None
    sources: tuple[tuple[str, int], ...] = ()  # (key, size) of the stored float tensors used


@dataclass
class Unsupported:
    """Unsupported source ops seen so far: counts and the first node name of each type."""

    counts: Counter = dataclasses.field(default_factory=Counter)
    first: dict = dataclasses.field(default_factory=dict)

    def add(self, op_type: str, node: str) -> None:
        self.counts[op_type] += 1
        self.first.setdefault(op_type, node)

    def raise_if_any(self, source: str, model: str) -> None:
        if not self.counts:
            return
        lines = [
            f"  {t}: {n} node(s), first {self.first[t]!r}" for t, n in sorted(self.counts.items())
        ]
        raise GraphError(
            f"{source} model {model!r} has {len(self.counts)} unsupported op "
            f"type(s):\n" + "\n".join(lines) + "\nsupported: see the docstring "
            "of wse_sim.importers; rewrite or remove these ops before importing"
        )


def _prod(s: Sequence[int]) -> int:
    return math.prod(s) if len(s) else 1


def batch_axis(full: Sequence[int], bplace: int, batch: int) -> tuple[int | None, bool]:
    """``(axis holding the batch, holds it alone)``; axis None when the batch is an implicit
    outer dimension of size one."""
    full = tuple(full)
    if batch == 1:  # a batch of one: prefer a unit axis sitting exactly at the place value
        for j in range(len(full)):
            if full[j] == 1 and _prod(full[j + 1 :]) == bplace:
                return j, True
    if bplace >= _prod(full):
        return None, False
    for j in range(len(full)):
        inner = _prod(full[j + 1 :])
        if inner <= bplace < inner * full[j]:
            if bplace % inner or full[j] % batch:
                break
            return j, full[j] == batch
    raise GraphError(
        f"cannot find the batch (size {batch}) inside a tensor of shape {full}: "
        "the model splits or reorders it; export with a batch dimension that "
        "stays whole"
    )


class Builder:
    """Builds a :class:`Graph` from source-model tensors, keeping masks and parameter owners."""

    def __init__(self, name: str, batch: int, dtype: str = "fp16") -> None:
        self.g = Graph(name, dtype)
        self.batch = batch
        self.masks: dict[str, np.ndarray] = {}
        self.owner: dict[str, str] = {}  # const key -> op that counted it
        self._names: set[str] = set()
        self._materialised: dict[tuple[str, tuple[int, ...]], str] = {}

    # ---- names and shapes ---------------------------------------------------------------
    def unique(self, name: str) -> str:
        base = name or "op"
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def per_sample(self, a: Act) -> tuple[int, ...]:
        j, alone = batch_axis(a.full, a.bplace, self.batch)
        if j is None:
            shape = a.full
        elif alone:
            shape = a.full[:j] + a.full[j + 1 :]
        else:
            shape = a.full[:j] + (a.full[j] // self.batch,) + a.full[j + 1 :]
        return tuple(shape) or (1,)

    def ps_axis(self, a: Act, axis: int, what: str) -> int:
        """Per-sample index of source axis ``axis`` of ``a`` (negative allowed)."""
        rank = len(a.full)
        axis = axis + rank if axis < 0 else axis
        j, alone = batch_axis(a.full, a.bplace, self.batch)
        if j is not None and alone:
            if axis == j:
                raise GraphError(
                    f"op {a.hint!r}: {what} runs along the batch axis; the "
                    "simulator's graphs are per sample"
                )
            return axis - (axis > j)
        return axis

    def use(self, a: Act) -> str:
        """A graph op whose output has ``a``'s per-sample shape (adds a reshape if needed)."""
        shape = self.per_sample(a)
        if self.g.op(a.op).out_shape == shape:
            return a.op
        key = (a.op, shape)
        if key not in self._materialised:
            self._materialised[key] = self.g.reshape(self.unique(a.hint), a.op, shape)
        return self._materialised[key]

    def out(self, op: str, full: Sequence[int], like: Act | None = None) -> Act:
        """The :class:`Act` of op ``op`` with source shape ``full``; the batch stays on the axis
        (and at the place inside it) it had in ``like`` (axis 0 when ``like`` is None)."""
        full = tuple(int(d) for d in full)
        if like is None:
            return Act(op, full, _prod(full[1:]), op)
        j, _ = batch_axis(like.full, like.bplace, self.batch)
        if j is None:
            return Act(op, full, _prod(full), op)
        w = like.bplace // _prod(like.full[j + 1 :])
        return Act(op, full, w * _prod(full[j + 1 :]), op)

    # ---- layout ops ---------------------------------------------------------------------
    def view(self, a: Act, full: Sequence[int], hint: str) -> Act:
        """A reshape (flatten, squeeze, unsqueeze): same flat order, so the same place value."""
        full = tuple(int(d) for d in full)
        if _prod(full) != _prod(a.full):
            raise GraphError(f"op {hint!r}: cannot reshape {a.full} to {full}")
        out = Act(a.op, full, a.bplace, hint)
        self.per_sample(out)  # raises if the batch is split
        return out

    def transpose(self, name: str, a: Act, perm: Sequence[int], full: Sequence[int]) -> Act:
        perm = [p + len(a.full) if p < 0 else p for p in perm]
        full = tuple(int(d) for d in full)
        j, alone = batch_axis(a.full, a.bplace, self.batch)
        if j is None:
            bplace_out = _prod(full)
        else:
            k = perm.index(j)
            bplace_out = (a.bplace // _prod(a.full[j + 1 :])) * _prod(full[k + 1 :])
        if j is not None and alone:
            kept = [p for p in perm if p != j]
            ps_perm = [p - (p > j) for p in kept]
        else:
            ps_perm = list(perm)
        if ps_perm == sorted(ps_perm):  # moves only the batch: no data moves within a sample
            return Act(a.op, full, bplace_out, name)
        op = self.g.transpose(self.unique(name), self.use(a), ps_perm)
        return Act(op, full, bplace_out, op)

    def merge(self, name: str, acts: Sequence[Act], axis: int, full: Sequence[int]) -> Act:
        """Concatenation along source ``axis``: a data movement op without arithmetic."""
        ps_shape = list(self.per_sample(acts[0]))
        ax = self.ps_axis(acts[0], axis, "concat")
        ins = [self.use(a) for a in acts]
        ps_shape[ax] = sum(self.g.op(i).out_shape[ax] for i in ins)
        op = Op(
            name=self.unique(name),
            kind="reshape",
            inputs=tuple(ins),
            in_shapes=tuple(self.g.op(i).out_shape for i in ins),
            out_shape=tuple(ps_shape),
            dtype=self.g.dtype,
            out_density=min(1.0, max(self.g.op(i).out_density for i in ins)),
            attrs={"source_op": "concat", "axis": ax},
        )
        self.g.add(op)
        return self.out(op.name, full, acts[0])

    def part(self, name: str, a: Act, axis: int, start: int, full: Sequence[int]) -> Act:
        """One piece of a split along source ``axis`` (fewer elements than its input)."""
        src = self.use(a)
        ax = self.ps_axis(a, axis, "split")
        shape = list(self.g.op(src).out_shape)
        shape[ax] = int(full[axis])
        op = Op(
            name=self.unique(name),
            kind="reshape",
            inputs=(src,),
            in_shapes=(self.g.op(src).out_shape,),
            out_shape=tuple(shape),
            dtype=self.g.dtype,
            out_density=self.g.op(src).out_density,
            attrs={"source_op": "split", "axis": ax, "start": int(start)},
        )
        self.g.add(op)
        return self.out(op.name, full, a)

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
        op = self.g.dense(name, src, n_out, bias=bias is not None, tied_to=tied)
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
    ) -> Act:
        c_out, c_in, k, _ = w.shape
        op = self.g.conv2d(
            self.unique(name),
            self.use(x),
            c_out,
            k,
            stride=stride,
            padding=padding,
            bias=bias is not None,
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
        self._mask(op, table.value)
        return self.out(op, full, ids)

    def norm(self, name: str, kind: str, x: Act, consts: Sequence[Const | None]) -> Act:
        fn = self.g.layernorm if kind == "layernorm" else self.g.batchnorm
        op = fn(self.unique(name), self.use(x))
        dim = self.g.op(op).weight_shape[0]
        self._own(op, tuple(consts) + (None,) * (2 - len(consts)), (dim, dim))
        return self.out(op, x.full, x)

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
        shape = self.g.op(src).out_shape
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
        del shape
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
        big = a if _prod(sa) >= _prod(sb) else b
        shape = self.per_sample(Act(big.op, tuple(int(d) for d in full), big.bplace, name))
        op = Op(
            name=self.unique(name),
            kind="elementwise",
            inputs=(ia, ib),
            in_shapes=(sa, sb),
            out_shape=shape,
            dtype=self.g.dtype,
            vector_ops=_prod(shape),
            attrs={"fn": fn, "p": 0.0, "broadcast": True},
        )
        self.g.add(op)
        return self.out(op.name, full, big)

    def matmul(self, name: str, a: Act, b: Act, full: Sequence[int]) -> Act:
        ia, ib = self.use(a), self.use(b)
        op = self.g.matmul(self.unique(name), ia, ib)
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
        return apply_masks(self.g, self.masks)


def apply_masks(graph: Graph, masks: dict[str, np.ndarray]) -> Graph:
    """Give each named op the density of its mask; the mask is kept on the op.

    ``masks`` maps op names to boolean arrays in the op's ``weight_shape`` convention
    (non-zero = kept). Ops whose mask keeps every weight stay dense. Until the graph IR takes
    real masks, the op is marked ``unstructured`` at the mask's density and the mask itself
    is kept in ``op.attrs['weight_mask']``.
    """
    for name, mask in masks.items():
        op = graph.op(name)
        if mask.shape != op.weight_shape:
            raise SparsityError(
                f"mask for op {name!r} has shape {mask.shape}, the op's weight is {op.weight_shape}"
            )
        nnz = int(np.count_nonzero(mask))
        if nnz == mask.size:
            continue
        graph.replace_op(
            name,
            weight_density=nnz / mask.size,
            sparsity_pattern="unstructured",
            attrs={**op.attrs, "weight_mask": mask},
        )
    return graph


def weight_masks(graph: Graph) -> dict[str, np.ndarray]:
    """The masks an import kept, by op name (ops whose weights had no zeros are absent)."""
    return {op.name: op.attrs["weight_mask"] for op in graph.ops() if "weight_mask" in op.attrs}
