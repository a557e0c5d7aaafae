"""A decoder graph as one tensor rank of an LLM training layout sees it: the Megatron split of
each op, the seconds of a layer's (and the embedding's and head's) micro-batch on one rank's
shard, the activations kept for backward, and the model FLOPs (for MFU). Used by
:mod:`.llm_train`."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from ..errors import GpuError
from ..graph import Graph
from ..spec import GpuSpec
from .roofline import (
    CUDA_CORE_EFFICIENCY,
    GEMM_KINDS,
    HBM_EFFICIENCY,
    TENSOR_CORE_EFFICIENCY,
    _op_table,
    kernel_rows,
    saved_bytes,
)

LAYER = re.compile(r"^layer(\d+)\.")


@dataclass(frozen=True)
class Parts:
    """Seconds of one tensor rank's share of one micro-batch: ``(fwd, bwd)`` of one decoder
    layer (the layers' mean), of what precedes the layers (the embedding) and of what follows
    them (final norm, head, loss)."""

    layer: np.ndarray  # (2,)
    pre: np.ndarray  # (2,)
    post: np.ndarray  # (2,)


def decoder_sizes(graph: Graph) -> dict:
    n_layers = graph.meta.get("n_layers")
    if not n_layers or "layer0.scores" not in graph \
            or not graph.op("layer0.scores").attrs.get("causal"):
        raise GpuError(f"graph {graph.name!r} is not a decoder with layers 'layer{{i}}.*' "
                       "(GPT or LLaMA family); LLM layouts (parallel='auto' or a dict) need "
                       "one; use parallel='ddp' for other models")
    d = int(graph.meta.get("d_model") or graph.meta.get("hidden") or 0)
    heads = int(graph.meta.get("n_heads") or graph.meta.get("heads") or 0)
    kv = int(graph.meta.get("n_kv_heads") or heads)
    seq = int(graph.op("tokens").out_shape[0]) if "tokens" in graph else 0
    if not (d and heads and seq):
        raise GpuError(f"graph {graph.name!r} lacks meta d_model / n_heads or a 'tokens' input")
    layer_params = sum(op.params for op in graph.ops() if op.name.startswith("layer0."))
    return {"n_layers": int(n_layers), "d_model": d, "heads": heads, "kv_heads": kv,
            "seq": seq, "layer_params": layer_params, "params": graph.total_params}


def sharded_ops(graph: Graph) -> dict[str, str]:
    """How Megatron tensor parallelism splits each op: ``'column'`` (a product whose output
    features are split: its input is whole), ``'row'`` (a product whose input features are
    split: its output is whole after the all-reduce), ``'split'`` (anything else on a split
    tensor: attention, activations, vocabulary-parallel loss) or ``'whole'`` (replicated on
    every tensor rank: embedding, norms, residual adds)."""
    out: dict[str, str] = {}
    split: set[str] = set()
    for op in graph.ops():
        fed_split = any(i in split for i in op.inputs)
        if op.kind == "dense":
            out[op.name] = "row" if fed_split else "column"
            if not fed_split:
                split.add(op.name)
        elif op.kind == "embedding" or not fed_split:
            out[op.name] = "whole"
        else:
            out[op.name] = "split"
            split.add(op.name)
    return out


_DENSE_SPLIT_AXIS = {"column": {"fwd": 2, "bwd_input": 3, "bwd_weight": 2},
                     "row": {"fwd": 3, "bwd_input": 2, "bwd_weight": 1}}


def tp_row(op, how: str, row: tuple, tp: int) -> tuple:
    """One kernel row of :func:`.roofline.kernel_rows` as one of ``tp`` tensor ranks runs it:
    the products' split axis (output features for a column-parallel product, input features
    for a row-parallel one, heads for attention) divided by ``tp`` (so tile and wave
    quantization see the shard's real shape), FLOPs, weights and the split tensors' bytes
    likewise."""
    if how == "whole" or tp == 1:
        return row
    phase, flops, act, mask, w, kernels, gemm, sparse, shapes = row

    def div(x):
        return ("b", x[1] / tp) if isinstance(x, tuple) else x / tp

    if how in ("column", "row"):
        axis = _DENSE_SPLIT_AXIS[how][phase]
        shapes = tuple(tuple(div(x) if i == axis else x for i, x in enumerate(sh))
                       for sh in shapes)
        n_in, n_out = op.in_elems, op.out_elems
        share = ((n_in + n_out / tp) if how == "column" else (n_in / tp + n_out)) \
            / max(n_in + n_out, 1)
        return (phase, flops / tp, act * share, mask, w / tp, kernels, gemm, sparse, shapes)
    shapes = tuple((div(sh[0]), *sh[1:]) for sh in shapes)  # attention: heads split
    return (phase, flops / tp, act / tp, mask / tp, w / tp, kernels, gemm, sparse, shapes)


@functools.lru_cache(maxsize=64)
def layer_parts(graph: Graph, spec: GpuSpec, mb: int, tp: int, attention: str,
           fusions: frozenset[str]) -> Parts:
    how = sharded_ops(graph)
    rows = [(name, kind, tp_row(graph.op(name), how[name], row, tp))
            for name, kind, row in kernel_rows(graph, True, attention, fusions)]
    table = _op_table(graph, spec, True, "mixed", mb, TENSOR_CORE_EFFICIENCY,
                      CUDA_CORE_EFFICIENCY, HBM_EFFICIENCY, attention, rows_cache=rows,
                      opt_share=0.0)
    table = [r for r in table if r.phase != "optimizer"]
    n_layers = decoder_sizes(graph)["n_layers"]
    t = np.array([r.time_s for r in table])
    bwd = np.array([r.phase != "fwd" for r in table])
    layer_of = np.array([int(m.group(1)) if (m := LAYER.match(r.op)) else -1 for r in table])
    inside = np.flatnonzero(layer_of >= 0)
    first = inside[0] if inside.size else 0
    where = np.where(layer_of >= 0, 1, np.where(np.arange(len(table)) < first, 0, 2))

    def two(mask):
        return np.array([t[mask & ~bwd].sum(), t[mask & bwd].sum()])

    return Parts(layer=two(where == 1) / n_layers, pre=two(where == 0), post=two(where == 2))


def activation_bytes(graph: Graph, attention: str) -> dict[str, tuple[float, float]]:
    """Bytes per sequence kept for the backward pass, ``(split by tp, whole)``, for one layer
    (the layers' mean: ``'layer'``), what precedes the layers (``'pre'``) and what follows
    them (``'post'``): the roofline's own accounting (:func:`.roofline.saved_bytes`)."""
    how = sharded_ops(graph)
    n_layers = decoder_sizes(graph)["n_layers"]
    out = {k: [0.0, 0.0] for k in ("pre", "layer", "post")}
    seen_layer = False
    for name, nbytes in saved_bytes(graph, "mixed", attention).items():
        in_layer = LAYER.match(name) is not None
        seen_layer |= in_layer
        part = "layer" if in_layer else ("post" if seen_layer else "pre")
        out[part][0 if how[name] != "whole" else 1] += nbytes
    out["layer"] = [x / n_layers for x in out["layer"]]
    return {k: tuple(v) for k, v in out.items()}


def model_flops_per_sample(graph: Graph) -> float:
    """Model FLOPs of one training sample (forward + backward = 3 x forward products; causal
    attention counts its lower half), the MFU convention (Chowdhery et al., PaLM, 2022)."""
    fwd = sum(2 * op.macs_fwd * (0.5 if op.attrs.get("causal") else 1.0)
              for op in graph.ops() if op.kind in GEMM_KINDS)
    return 3.0 * fwd
