"""Tensors of a source model as the importers see them: activations with a batch inside
(:class:`Act`), constants (:class:`Const`), and the list of unsupported ops (:class:`Unsupported`).

A source model's tensors carry the batch; the IR's shapes are per sample. Each activation is
tracked as an :class:`Act`: its full shape and the *place value* of its batch digit in the
row-major flat index (``prod(full[j + 1:])`` when the batch is axis ``j``). A reshape keeps the
flat order, so the place value survives it even when the batch is merged into another axis
(``(seq, batch, d) -> (seq * batch, d)``, as ``torch.nn.MultiheadAttention`` does); a transpose
moves the axis that holds it. The per-sample shape is the full shape with the batch divided out
of the axis that holds it (the axis removed when it held the batch alone).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wse_sim.errors import GraphError


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


def prod(s: Sequence[int]) -> int:
    return math.prod(s) if len(s) else 1


def batch_axis(full: Sequence[int], bplace: int, batch: int) -> tuple[int | None, bool]:
    """``(axis holding the batch, holds it alone)``; axis None when the batch is an implicit
    outer dimension of size one."""
    full = tuple(full)
    if batch == 1:  # a batch of one: prefer a unit axis sitting exactly at the place value
        for j in range(len(full)):
            if full[j] == 1 and prod(full[j + 1 :]) == bplace:
                return j, True
    if bplace >= prod(full):
        return None, False
    for j in range(len(full)):
        inner = prod(full[j + 1 :])
        if inner <= bplace < inner * full[j]:
            if bplace % inner or full[j] % batch:
                break
            return j, full[j] == batch
    raise GraphError(
        f"cannot find the batch (size {batch}) inside a tensor of shape {full}: "
        "the model splits or reorders it; export with a batch dimension that "
        "stays whole"
    )
