"""Kernel fusions of a tuned GPU training stack, found in a graph by pattern.

An eager framework runs every graph op as its own kernel, each reading its inputs from HBM and
writing its output back. Tuned stacks (NVIDIA's DeepLearningExamples, Megatron, cuDNN/cuBLASLt
epilogues, apex) fold the cheap ops into a neighbour, so the intermediate tensor never makes
the round trip and the kernel's launch disappears. This module finds those patterns; the
roofline (:mod:`.roofline`) then prices an absorbed op with no kernel of its own and only the
HBM bytes that remain:

* ``epilogue_activation``: an activation (relu, gelu, silu, sigmoid, tanh) whose only input is a
  matrix product, a norm or a residual add that feeds nothing else runs in that kernel's
  epilogue (cuBLASLt ``EPILOGUE_GELU_AUX_BIAS`` / ``DGELU_BGRAD``; cuDNN's fused
  batchnorm-add-relu). Forward: the pre-activation is still written for the backward pass (one
  write, no read); backward: the derivative is applied in the next gradient kernel's epilogue,
  reading the saved pre-activation once.
* ``dropout_add``: a dropout whose only consumer is an add (bias-dropout-residual, as Megatron
  fuses it) is applied inside the add: its output is never written or re-read; the mask still
  is.
* ``softmax_dropout``: a dropout right after a softmax (attention probabilities) is applied in
  the softmax kernel, forward and backward; the mask is still written and read.
* ``add_norm``: a residual add whose only consumer is a layernorm/RMSNorm runs in the norm
  kernel (the sum is written once, for the residual stream, and not re-read).
* ``flash_attention``: scores, softmax, dropout and context product as one kernel per pass
  (see :mod:`.roofline`), where the GPU has it (``GpuSpec.flash_attention``).
* ``multi_tensor_optimizer``: the optimizer update as one multi-tensor kernel (apex / PyTorch
  ``foreach``/fused Adam and LAMB) instead of one kernel per parameter tensor.

``fused=False`` turns them all off (the eager stack); a collection of names keeps only those.
"""

from __future__ import annotations

from ..errors import GpuError
from ..graph import Graph

FUSIONS = ("epilogue_activation", "dropout_add", "softmax_dropout", "add_norm",
           "flash_attention", "multi_tensor_optimizer")
ACTIVATIONS = frozenset({"relu", "gelu", "silu", "sigmoid", "tanh"})
EPILOGUE_PRODUCERS = frozenset({"dense", "conv2d", "conv_transpose2d", "layernorm",
                                "batchnorm"})
NORMS = frozenset({"layernorm", "batchnorm"})


def check_fused(fused) -> frozenset[str]:
    """The fusions asked for: ``True`` = all of :data:`FUSIONS`, ``False`` = none, or an
    iterable of their names. Raises :class:`GpuError` naming an unknown one."""
    if fused is True:
        return frozenset(FUSIONS)
    if fused is False or fused is None:
        return frozenset()
    if isinstance(fused, str) or not hasattr(fused, "__iter__"):
        raise GpuError(f"fused must be True, False or a collection of fusion names "
                       f"({', '.join(FUSIONS)}), got {fused!r}")
    names = frozenset(fused)
    bad = sorted(str(n) for n in names if n not in FUSIONS)
    if bad:
        raise GpuError(f"unknown fusion(s) {', '.join(map(repr, bad))}; choose from "
                       f"{', '.join(FUSIONS)}")
    return names


def _sole_consumer(graph: Graph, name: str) -> str | None:
    nxt = graph.successors(name)
    return nxt[0] if len(nxt) == 1 else None


def fusion_plan(graph: Graph, names: frozenset[str]) -> dict[str, str]:
    """``{op name: fusion}`` for every op a fusion in ``names`` absorbs into a neighbour, plus
    ``{norm name: 'add_norm_reader'}`` for each norm whose input read an ``add_norm`` saves."""
    plan: dict[str, str] = {}
    for op in graph.ops():
        fn = op.attrs.get("fn")
        if op.kind != "elementwise" or not op.inputs:
            continue
        src = graph.op(op.inputs[0])
        sole = _sole_consumer(graph, src.name) == op.name
        if "epilogue_activation" in names and fn in ACTIVATIONS and len(op.inputs) == 1 \
                and sole and (src.kind in EPILOGUE_PRODUCERS
                              or src.attrs.get("fn") == "add") and src.name not in plan:
            plan[op.name] = "epilogue_activation"
        elif fn == "dropout":
            nxt = _sole_consumer(graph, op.name)
            if "softmax_dropout" in names and src.kind == "softmax" and sole:
                plan[op.name] = "softmax_dropout"
            elif "dropout_add" in names and nxt is not None \
                    and graph.op(nxt).attrs.get("fn") == "add":
                plan[op.name] = "dropout_add"
        elif fn == "add" and "add_norm" in names:
            nxt = _sole_consumer(graph, op.name)
            if nxt is not None and graph.op(nxt).kind in NORMS:
                plan[op.name] = "add_norm"
                plan[nxt] = "add_norm_reader"
    return plan
