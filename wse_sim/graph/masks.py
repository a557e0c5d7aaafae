"""Real weight masks (issue 13 item 7), ready for ``sparsify(graph, masks=...)`` and the mapping.

A user's mask (boolean, or the weight array itself: non-zero = kept) is given per op name in the
op's ``weight_shape`` convention: dense ``(n_in, n_out)``, conv2d ``(c_out, c_in, kh, kw)``,
conv_transpose2d ``(c_in, c_out, kh, kw)``, embedding ``(vocab, dim)``. Nothing is drawn for a
masked op: its per-core non-zeros are *counted* from the mask, tile by tile, with
:func:`wse_sim.kernels.counts.row_tile_nnz` on the op's matrix view ``W (K x N)``.

Wiring (after the restructure): ``sparsify(graph, masks=m)`` calls :func:`apply_masks`; the
mapping's ``weight_row_counts`` calls :func:`mask_row_counts` for ``sparsity_pattern ==
"mask"``; ``Op.to_dict`` leaves out ``attrs['weight_mask']``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np

from ..errors import SparsityError, WseSimFileError
from ..kernels.counts import row_tile_nnz
from .graph import Graph
from .op import Op

MASKABLE_KINDS = ("dense", "conv2d", "conv_transpose2d", "embedding")
"""Op kinds with a stored weight matrix that a mask can prune."""
MASK_PATTERN = "mask"
"""``Op.sparsity_pattern`` of an op whose mask is real (kept in ``attrs['weight_mask']``)."""


def load_masks(masks) -> dict[str, np.ndarray]:
    """``{op name: array}`` from a dict or an ``.npz`` path (one array per op name)."""
    if isinstance(masks, (str, os.PathLike)):
        path = Path(masks)
        if not path.is_file():
            raise WseSimFileError(
                f"mask file {str(path)!r} does not exist; save one with "
                "numpy.savez(path, **{op_name: mask})"
            )
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise WseSimFileError(f"cannot read {str(path)!r} as an .npz of masks: {e}") from e
    if not isinstance(masks, dict):
        raise SparsityError(
            f"masks must be a dict {{op name: array}} or an .npz path, got {type(masks).__name__}"
        )
    return dict(masks)


def check_masks(graph: Graph, masks) -> dict[str, np.ndarray]:
    """Validated boolean masks by op name; a SparsityError names the op and the mismatch."""
    out = {}
    for name, arr in load_masks(masks).items():
        if name not in graph:
            weighted = [o.name for o in graph.ops() if o.kind in MASKABLE_KINDS]
            near = difflib.get_close_matches(str(name), weighted, n=3)
            raise SparsityError(
                f"mask given for op {name!r}, which graph {graph.name!r} does not have"
                + (
                    f"; did you mean {', '.join(map(repr, near))}?"
                    if near
                    else f"; its weighted ops: {', '.join(weighted[:8])}"
                    + (" ..." if len(weighted) > 8 else "")
                )
            )
        op = graph.op(name)
        if op.kind not in MASKABLE_KINDS:
            raise SparsityError(
                f"op {name!r} is a {op.kind}, which has no weight matrix to "
                f"mask; masks apply to {', '.join(MASKABLE_KINDS)}"
            )
        a = np.asarray(arr)
        if a.shape != op.weight_shape:
            raise SparsityError(
                f"mask for op {name!r} has shape {a.shape}, but the op's weight "
                f"is {op.weight_shape} ({op.kind}: see Op.weight_shape for the "
                "axis order)"
            )
        out[name] = a != 0
    return out


def apply_masks(graph: Graph, masks) -> Graph:
    """A copy of ``graph`` whose named ops carry their real masks: ``sparsity_pattern='mask'``,
    ``weight_density = nnz / size`` and the mask in ``attrs['weight_mask']``."""
    checked = check_masks(graph, masks)
    out = graph.copy()
    for name, m in checked.items():
        op = out.op(name)
        out.replace_op(
            name,
            weight_density=float(np.count_nonzero(m)) / m.size,
            sparsity_pattern=MASK_PATTERN,
            attrs={**op.attrs, "weight_mask": m},
        )
    return out


def mask_matrix(op: Op) -> np.ndarray:
    """The op's mask as its matrix view ``W (K x N)``: bool (K, N).

    dense and embedding as stored; conv2d ``(c_out, c_in*kh*kw)`` transposed (K in im2col
    order); conv_transpose2d ``(c_in, c_out*kh*kw)``.
    """
    m = np.asarray(op.attrs["weight_mask"], dtype=bool)
    if op.kind == "conv2d":
        return np.ascontiguousarray(m.reshape(m.shape[0], -1).T)
    if op.kind == "conv_transpose2d":
        return m.reshape(m.shape[0], -1)
    return m


def mask_row_counts(op: Op, b: int, coarse: int = 1) -> np.ndarray:
    """Non-zeros of each weight row inside each of ``b`` column tiles, counted from the mask:
    int64 (ceil(K / coarse), b); ``coarse`` consecutive rows are summed into one."""
    counts = row_tile_nnz(mask_matrix(op), b)
    if coarse > 1:
        counts = np.add.reduceat(counts, np.arange(0, counts.shape[0], coarse), axis=0)
    return counts
