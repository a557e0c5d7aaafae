"""Weight sparsity: :func:`sparsify` gives a graph's weighted ops a density and either a mask
seed (a synthetic mask the mapping draws) or the user's real mask (counted as it is)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import GraphError, SparsityError
from ..validate import fraction, instance, show
from ..validate import seed as _seed
from .graph import Graph
from .masks import apply_masks, check_masks
from .op import MASK_PATTERN, PATTERNS, SPARSIFIED_BY_DEFAULT, WEIGHTED_KINDS


def sparsify(graph: Graph, weight_sparsity: float | None = None, pattern: str = "unstructured",
             seed: int = 0, ops: Iterable[str] | None = None, *, masks=None) -> Graph:
    """A copy of ``graph`` whose weighted ops carry weight density ``1 - weight_sparsity``, or
    their real masks.

    Synthetic (``weight_sparsity``): dense, conv and conv-transpose ops are sparsified;
    embeddings and norms only when named in ``ops`` (which, when given, restricts
    sparsification to exactly those ops). Each op gets its own mask seed derived from ``seed``
    and its position, so masks differ between layers but are reproducible. Each op stands for
    one mask drawn from these fields (:mod:`wse_sim.graph.drawn`): ``"unstructured"`` an i.i.d.
    Bernoulli(density) mask kept as bits (nested in density for one seed, so lower sparsity
    only adds non-zeros), ``"n:m"`` (2:4) and ``"block"`` drawn by ``sparsity_mask``; the
    placer counts it per tile and the functional pass multiplies by it.

    Real (``masks``): ``{op name: array}`` or the path of an ``.npz`` holding one array per op
    name, each of the op's ``weight_shape`` (booleans or the weight values; non-zero = kept).
    Each named op gets ``sparsity_pattern="mask"``, ``weight_density = nnz / size`` and the
    mask in ``attrs["weight_mask"]``; nothing is drawn, its per-tile non-zeros are counted
    exactly. Given with ``weight_sparsity``, the masks win for the ops they name. A wrong op
    name or shape raises :class:`~wse_sim.errors.SparsityError` naming both. ``graph`` is
    unchanged.

    >>> from wse_sim.models import get
    >>> sparse = sparsify(get("bert-base"), 0.75)
    >>> sparse.op("layer0.ffn1").weight_density
    0.25
    """
    # one rule per argument: wse_sim.validate
    instance("sparsify: graph", graph, Graph, error=SparsityError,
             fix="pass a graph such as wse_sim.models.get('bert-base')")
    seed = _seed("sparsify: seed", seed, error=SparsityError)
    if ops is not None and (isinstance(ops, (str, bytes)) or not isinstance(ops, Iterable)
                            or not all(isinstance(o, str) for o in ops)):
        raise SparsityError(f"sparsify: ops must be a list of op names or None, got "
                            f"{show(ops)}")
    if masks is None and isinstance(pattern, str) and pattern == MASK_PATTERN:
        raise SparsityError("pattern 'mask' is a real mask, not one to draw: pass "
                            "masks={op name: array} or masks='pruned.npz', or use one of "
                            f"{', '.join(PATTERNS[1:])}")
    if masks is None and weight_sparsity is None:
        raise SparsityError("sparsify needs weight_sparsity (e.g. 0.5) or masks={op name: "
                            "array} (or masks='pruned.npz')")
    checked = None if masks is None else check_masks(graph, masks)
    out = graph if weight_sparsity is None else _synthetic(graph, weight_sparsity, pattern,
                                                            seed, ops, exclude=checked or ())
    if checked is None:
        return out
    out = apply_masks(out, checked)
    kept = sum(int(np.count_nonzero(m)) for m in checked.values())
    total = sum(m.size for m in checked.values())
    out.meta["masked_ops"] = len(checked)
    out.meta["masked_weight_sparsity"] = 1.0 - kept / total if total else 0.0
    if weight_sparsity is None:
        out.meta["sparsity_pattern"] = MASK_PATTERN
    return out


def _synthetic(graph: Graph, weight_sparsity: float, pattern: str, seed: int,
               ops: Iterable[str] | None, exclude=()) -> Graph:
    fraction("sparsify: weight_sparsity", weight_sparsity, error=SparsityError,
             fix="use e.g. 0.5 for half the weights pruned")
    if not isinstance(pattern, str) or pattern not in PATTERNS[1:]:
        raise SparsityError(f"unknown sparsity pattern {pattern!r}; use one of "
                            f"{', '.join(PATTERNS[1:])} (real masks: masks=...)")
    if pattern == "n:m" and weight_sparsity not in (0, 0.5):
        raise SparsityError(f"pattern 'n:m' is 2:4 (sparsity 0.5), got weight_sparsity="
                            f"{weight_sparsity!r}; use 0.5 or pattern='unstructured'")
    names = None if ops is None else set(ops)
    if names is not None:
        missing = names - set(graph._g.nodes)
        if missing:
            raise GraphError(f"sparsify: no ops named {sorted(missing)} in {graph.name!r}")
        weightless = sorted(n for n in names if graph.op(n).kind not in WEIGHTED_KINDS)
        if weightless:  # naming one is a mistake: it has no weights to prune
            kinds = ", ".join(f"{n!r} ({graph.op(n).kind})" for n in weightless[:8])
            raise SparsityError(f"sparsify: ops {kinds} have no weights to sparsify; name "
                                f"ops of kinds {', '.join(sorted(WEIGHTED_KINDS))}")
    out = graph.copy()
    for i, op in enumerate(out.ops()):
        chosen = (op.kind in SPARSIFIED_BY_DEFAULT) if names is None else (op.name in names)
        if not chosen or op.kind not in WEIGHTED_KINDS or op.name in exclude:
            continue
        # a synthetic pattern replaces a real mask given before: drop the array with it
        attrs = {k: v for k, v in op.attrs.items()
                 if k not in ("weight_mask", "weight_mask_digest")}
        out.replace_op(op.name, weight_density=1.0 - float(weight_sparsity),
                       sparsity_pattern=pattern if weight_sparsity > 0 else "dense",
                       mask_seed=int(seed) * 1_000_003 + i, attrs=attrs)
    out.meta["weight_sparsity"] = float(weight_sparsity)
    out.meta["sparsity_pattern"] = pattern
    return out
