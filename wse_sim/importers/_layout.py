"""The importers' graph builder, part one: names, per-sample shapes and the layout ops.

Reshapes are lazy: a reshape, flatten, squeeze or unsqueeze only changes the :class:`Act`, and
a ``reshape`` op is added to the graph when a consumer needs the new per-sample shape (so a
global average pool followed by a flatten stays one op, as in the zoo's ResNet-50). A transpose
that only moves the batch is no op at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph, Op
from wse_sim.graph.extra import pad

from ._acts import Act, batch_axis, prod


class LayoutBuilder:
    """Builds a :class:`Graph` from source-model tensors: names, shapes and data movement."""

    def __init__(self, name: str, batch: int, dtype: str = "fp16") -> None:
        self.g = Graph(name, dtype)
        self.batch = batch
        self.masks: dict[str, np.ndarray] = {}
        self.owner: dict[str, str] = {}  # const key -> op that counted it
        self.tables: dict[str, np.ndarray] = {}  # embedding op -> its table's values
        self.weight_digests: dict = {}  # (shape, hash of a dense weight's values) -> its key
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
            return Act(op, full, prod(full[1:]), op)
        j, _ = batch_axis(like.full, like.bplace, self.batch)
        if j is None:
            return Act(op, full, prod(full), op)
        w = like.bplace // prod(like.full[j + 1 :])
        return Act(op, full, w * prod(full[j + 1 :]), op)

    # ---- layout ops ---------------------------------------------------------------------
    def view(self, a: Act, full: Sequence[int], hint: str) -> Act:
        """A reshape (flatten, squeeze, unsqueeze): same flat order, so the same place value."""
        full = tuple(int(d) for d in full)
        if prod(full) != prod(a.full):
            raise GraphError(f"op {hint!r}: cannot reshape {a.full} to {full}")
        out = Act(a.op, full, a.bplace, hint)
        self.per_sample(out)  # raises if the batch is split
        return out

    def transpose(self, name: str, a: Act, perm: Sequence[int], full: Sequence[int]) -> Act:
        perm = [p + len(a.full) if p < 0 else p for p in perm]
        full = tuple(int(d) for d in full)
        j, alone = batch_axis(a.full, a.bplace, self.batch)
        if j is None:
            bplace_out = prod(full)
        else:
            k = perm.index(j)
            bplace_out = (a.bplace // prod(a.full[j + 1 :])) * prod(full[k + 1 :])
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

    def pad(self, name: str, a: Act, pads: Sequence[int], full: Sequence[int]) -> Act:
        """Zero padding of the last two axes of an image ``pads = (top, bottom, left, right)``."""
        op = pad(self.g, self.unique(name), self.use(a), [int(p) for p in pads])
        return self.out(op, full, a)

    def concat(self, name: str, parts: Sequence, axis: int, full: Sequence[int],
               lengths: Sequence[int]) -> Act:
        """Concatenation along source ``axis`` of activations and constants (a learned class
        token beside the patch embeddings). ``lengths`` are the parts' extents along ``axis``.
        A constant part adds no input: its rows are stored with the op; its stored float
        tensors count as the op's parameters (each once). ``attrs['parts']`` lists each part
        as ``'act'`` or its extent along the axis."""
        acts = [p for p in parts if isinstance(p, Act)]
        if len(acts) == len(parts):
            return self.merge(name, acts, axis, full)
        ax = self.ps_axis(acts[0], axis, "concat")
        ins = [self.use(a) for a in acts]
        name = self.unique(name)
        shape = list(self.per_sample(acts[0]))
        shape[ax] = 0
        layout, params = [], 0
        for p, n in zip(parts, lengths, strict=True):
            if isinstance(p, Act):
                layout.append("act")
                shape[ax] += self.g.op(self.use(p)).out_shape[ax]
            else:
                layout.append(int(n))
                shape[ax] += int(n)
                v = None if p.value is None else np.asarray(p.value)
                # a table expanded over the batch (equal rows along axis 0) is stored once
                rows = v.shape[0] if v is not None and v.ndim > 1 and v.shape[0] > 1 and (
                    v == v[:1]).all() else 1
                for key, size in p.sources:
                    if key not in self.owner:
                        self.owner[key] = name
                        # (only a stored tensor that is itself the expanded one)
                        params += size // rows if v is not None and size == v.size else size
        op = Op(
            name=name,
            kind="reshape",
            inputs=tuple(ins),
            in_shapes=tuple(self.g.op(i).out_shape for i in ins),
            out_shape=tuple(shape),
            dtype=self.g.dtype,
            params=params,
            attrs={"source_op": "concat", "axis": ax, "parts": tuple(layout)},
        )
        self.g.add(op)
        return self.out(op.name, full, acts[0])

    def part(self, name: str, a: Act, axis: int, start: int, full: Sequence[int],
             step: int = 1) -> Act:
        """One piece of a split along source ``axis`` (fewer elements than its input); every
        ``step``-th position from ``start`` (``attrs['step']`` when not 1)."""
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
            attrs={"source_op": "split", "axis": ax, "start": int(start),
                   **({"step": int(step)} if step != 1 else {})},
        )
        self.g.add(op)
        return self.out(op.name, full, a)

