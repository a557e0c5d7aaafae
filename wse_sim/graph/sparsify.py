"""Weight sparsity: :func:`sparsify` gives a graph's weighted ops a density and a mask seed."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import GraphError, SparsityError
from .graph import Graph
from .op import PATTERNS, SPARSIFIED_BY_DEFAULT, WEIGHTED_KINDS


def sparsify(graph: Graph, weight_sparsity: float, pattern: str = "unstructured",
             seed: int = 0, ops: Iterable[str] | None = None) -> Graph:
    """A copy of ``graph`` whose weighted ops carry weight density ``1 - weight_sparsity``.

    Dense, conv and conv-transpose ops are sparsified; embeddings and norms only when named in
    ``ops`` (which, when given, restricts sparsification to exactly those ops). Each op gets its
    own mask seed derived from ``seed`` and its position, so masks differ between layers but are
    reproducible. The kernels draw the real masks from these fields. ``graph`` is unchanged.

    >>> from wse_sim.models import get
    >>> sparse = sparsify(get("bert-base"), 0.75)
    >>> sparse.op("layer0.ffn1").weight_density
    0.25
    """
    if isinstance(weight_sparsity, bool) or not isinstance(weight_sparsity, (int, float)) \
            or not 0 <= weight_sparsity <= 1:
        raise SparsityError(f"weight_sparsity must be in [0, 1], got {weight_sparsity!r}; "
                            "use e.g. 0.5 for half the weights pruned")
    if pattern not in PATTERNS[1:]:
        raise SparsityError(f"unknown sparsity pattern {pattern!r}; use one of "
                            f"{', '.join(PATTERNS[1:])}")
    if pattern == "n:m" and weight_sparsity not in (0, 0.5):
        raise SparsityError(f"pattern 'n:m' is 2:4 (sparsity 0.5), got weight_sparsity="
                            f"{weight_sparsity!r}; use 0.5 or pattern='unstructured'")
    names = None if ops is None else set(ops)
    if names is not None:
        missing = names - set(graph._g.nodes)
        if missing:
            raise GraphError(f"sparsify: no ops named {sorted(missing)} in {graph.name!r}")
    out = graph.copy()
    for i, op in enumerate(out.ops()):
        chosen = (op.kind in SPARSIFIED_BY_DEFAULT) if names is None else (op.name in names)
        if not chosen or op.kind not in WEIGHTED_KINDS:
            continue
        out.replace_op(op.name, weight_density=1.0 - float(weight_sparsity),
                       sparsity_pattern=pattern if weight_sparsity > 0 else "dense",
                       mask_seed=int(seed) * 1_000_003 + i)
    out.meta["weight_sparsity"] = float(weight_sparsity)
    out.meta["sparsity_pattern"] = pattern
    return out
