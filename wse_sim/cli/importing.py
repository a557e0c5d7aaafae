"""The CLI's model import: ``wse-sim import model.onnx --summary`` and the ``run`` options
``--onnx``, ``--input-shape`` and ``--trace``.
"""

from __future__ import annotations

import json
import math
import sys

from ..errors import GraphError


def parse_input_shapes(pairs: list[str]) -> dict[str, tuple[int, ...]]:
    """``["ids=1x128", ...]`` -> ``{"ids": (1, 128)}``; a GraphError names a malformed pair."""
    out = {}
    for text in pairs or []:
        name, sep, dims = text.partition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d < 1 for d in shape):
            raise GraphError(
                f"--input-shape {text!r} is not NAME=D0xD1x...; e.g. "
                "--input-shape image=1x3x224x224"
            )
        out[name] = shape
    return out


def add_import_command(sub) -> None:
    """Register ``wse-sim import`` on the CLI's subparsers."""
    p = sub.add_parser(
        "import",
        help="import an ONNX model and summarise it",
        description="Translate an ONNX file into the simulator's graph and "
        "print its ops, parameters and MACs per sample, or the unsupported ops.",
    )
    p.add_argument("path", metavar="MODEL.onnx", help="the ONNX file")
    add_input_shape_option(p)
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="samples per optimizer step stored with the graph (default: 1)",
    )
    p.add_argument(
        "--summary", action="store_true", help="print the per-op table too (default: totals only)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_import)


def add_input_shape_option(p) -> None:
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=SHAPE",
        help="full shape of an input whose dimensions the file leaves symbolic, "
        "batch first, repeatable, e.g. image=1x3x224x224",
    )


def add_run_options(p) -> None:
    """``--onnx``, ``--input-shape`` and ``--trace`` for ``wse-sim run``."""
    p.add_argument(
        "--onnx",
        metavar="MODEL.onnx",
        default=None,
        help="simulate this ONNX model instead of --model (batch: --batch; default 256 for "
        "training, 64 for inference, as for any graph without a batch of its own)",
    )
    add_input_shape_option(p)
    p.add_argument(
        "--trace",
        metavar="TRACE.json",
        default=None,
        help="also write the pipeline timeline as a Chrome trace (Perfetto, chrome://tracing)",
    )


def graph_from_args(args):
    """The graph ``--onnx`` names, or None when the run uses the zoo."""
    path = getattr(args, "onnx", None)
    if not path:
        return None
    from ..importers import from_onnx

    # without --batch the graph carries none, so place() applies (and names) its defaults
    return from_onnx(path, batch=getattr(args, "batch", None),
                     input_shapes=parse_input_shapes(args.input_shape))


def write_trace(args, result) -> None:
    """``--trace PATH``: write the Chrome trace of ``result`` and say where."""
    path = getattr(args, "trace", None)
    if not path:
        return
    from ..report.trace import export_trace

    out = export_trace(result, path)
    print(f"trace: {out}", file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def summary(path, input_shapes: dict, batch: int = 1) -> dict:
    """``{model, ops, ops_by_kind, params, forward_macs, training_macs, masked_ops,
    onnx_nodes, unsupported}`` of an ONNX file (the graph fields absent when it has
    unsupported ops)."""
    from ..importers import from_onnx, weight_masks
    from ..importers.onnx import op_type_counts, unsupported_ops

    bad = unsupported_ops(path, input_shapes)
    out = {
        "model": str(path),
        "onnx_nodes": dict(op_type_counts(path)),
        "unsupported": {t: {"count": n, "first_node": first} for t, (n, first) in bad.items()},
    }
    if bad:
        return out
    g = from_onnx(path, batch=batch, input_shapes=input_shapes)
    kinds: dict[str, int] = {}
    for op in g.ops():
        kinds[op.kind] = kinds.get(op.kind, 0) + 1
    masks = weight_masks(g)
    out.update(
        {
            "graph": g.name,
            "ops": len(g),
            "ops_by_kind": kinds,
            "params": g.total_params,
            "forward_macs": g.forward_macs,
            "training_macs": g.training_macs,
            "masked_ops": {n: float(m.mean()) for n, m in masks.items()},
            "_graph": g,
        }
    )
    return out


def cmd_import(args) -> int:
    info = summary(args.path, parse_input_shapes(args.input_shape), args.batch)
    g = info.pop("_graph", None)
    if args.json:
        print(json.dumps(info, indent=2))
        return 2 if info["unsupported"] else 0
    if info["unsupported"]:
        print(f"{args.path}: {len(info['unsupported'])} unsupported op type(s):")
        for t, d in info["unsupported"].items():
            print(f"  {t:<28} {d['count']:>5} node(s), first {d['first_node']!r}")
        return 2
    if args.summary:
        print(g.summary())
        print()
    print(
        f"{args.path}: {sum(info['onnx_nodes'].values())} ONNX nodes -> {info['ops']} ops "
        f"({', '.join(f'{k} {v}' for k, v in sorted(info['ops_by_kind'].items()))})"
    )
    print(f"  parameters      {info['params']:,}")
    print(
        f"  forward MACs    {info['forward_macs']:,} per sample "
        f"({info['forward_macs'] / 1e9:.3g} G)"
    )
    print(f"  training MACs   {info['training_macs']:,} per sample")
    if info["masked_ops"]:
        dens = [d for d in info["masked_ops"].values()]
        print(
            f"  masked ops      {len(dens)} (weight density {min(dens):.3g} to "
            f"{max(dens):.3g}, mean {math.fsum(dens) / len(dens):.3g})"
        )
    else:
        print("  masked ops      none (no zero weights in the file)")
    print("  unsupported ops none")
    return 0
