"""``wse-sim run --mode decode|prefill``: LLM serving on the wafer against GPUs.

Prints the wafer result (tokens/s per request and for the batch, time to first token, time per
token), the GPU baseline on 1 and 8 GPUs (tensor parallel), tokens/s against context length and
the per-layer breakdown; ``--json`` prints one object instead; ``--report DIR`` also writes
``DIR/report.md`` and ``DIR/result.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import wse_sim as ws

from .. import models
from ..baselines.llm import gpu_llm
from ..engine.decode import simulate_llm
from ..errors import SimulationError, WseSimError
from ..placer.llm import place_llm
from .args import model_arguments, wafer_overrides

CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768)


def _wafers(value: str):
    if value == "auto":
        return "auto"
    try:
        n = int(value)
    except ValueError:
        raise SimulationError(f"--wafers must be an integer >= 1 or 'auto', got {value!r}") \
            from None
    return n


def llm_record(args) -> dict:
    """Place, simulate and compare; a JSON-ready dict."""
    kw = model_arguments(args.model_arg)
    kw.setdefault("seq_len", 64)  # the per-sample graph's length does not enter inference
    graph = models.get(args.model, **kw)
    wafer = ws.wafer(args.wafer, **wafer_overrides(args.set))
    batch = args.batch or 1
    plan = place_llm(graph, wafer, args.mode, args.context, batch, _wafers(args.wafers))
    result = simulate_llm(plan)
    gpus = {}
    for n in (1, 8):
        try:
            gpus[n] = gpu_llm(graph, args.gpu, n, args.mode, args.context, batch).to_dict()
        except WseSimError as exc:
            gpus[n] = {"note": str(exc)}
    sweep = []
    for ctx in CONTEXTS:
        try:
            p = place_llm(graph, wafer, args.mode, ctx, batch, plan.wafers)
            r = simulate_llm(p)
            row = {"context": ctx, "tokens_per_s": r.tokens_per_s,
                   "time_to_first_token_s": r.time_to_first_token_s}
        except WseSimError as exc:
            row = {"context": ctx, "tokens_per_s": None, "note": str(exc)}
        try:
            g1 = gpu_llm(graph, args.gpu, 8, args.mode, ctx, batch)
            row["gpu8_tokens_per_s"] = g1.tokens_per_s
        except WseSimError:
            row["gpu8_tokens_per_s"] = None
        sweep.append(row)
    return {"model": graph.name, "wafer": wafer.name, "rows": wafer.rows, "cols": wafer.cols,
            "mode": args.mode, "context": args.context, "batch": batch, "wafers": plan.wafers,
            "result": result.to_dict(), "plan": plan.to_dict(), "gpu": gpus,
            "context_sweep": sweep}


def _table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def human(rec: dict, layers: int = 4) -> str:
    r = rec["result"]
    lines = [f"{rec['model']} {rec['mode']} on {rec['wafers']} x {rec['wafer']} "
             f"({rec['rows']} x {rec['cols']}), context {rec['context']}, batch {rec['batch']}",
             f"  tokens/s per request  {r['tokens_per_s']:,.1f}",
             f"  tokens/s total        {r['total_tokens_per_s']:,.1f}",
             f"  time per token        {r['time_per_token_s'] * 1e3:.4f} ms",
             f"  time to first token   {r['time_to_first_token_s'] * 1e3:.3f} ms"]
    for n, g in rec["gpu"].items():
        if "note" in g:
            lines.append(f"  {n} x GPU: {g['note']}")
        else:
            lines.append(f"  {n} x {g['gpu']}: {g['tokens_per_s']:,.1f} tokens/s per request, "
                         f"{g['total_tokens_per_s']:,.1f} total, TTFT "
                         f"{g['time_to_first_token_s'] * 1e3:.2f} ms ({g['bound']}-bound)")
    rows = [("context", "wafer tok/s", "8 GPU tok/s")]
    for s in rec["context_sweep"]:
        rows.append((s["context"], "-" if s["tokens_per_s"] is None
                     else f"{s['tokens_per_s']:,.1f}",
                     "-" if s["gpu8_tokens_per_s"] is None
                     else f"{s['gpu8_tokens_per_s']:,.1f}"))
    lines += ["", "tokens/s per request against context length:", _table(rows), ""]
    rows = [("layer", "wafer", "time us", "compute us", "bcast us", "reduce us", "other us",
             "fabric MB", "SRAM MB")]
    shown = r["layers"][:layers] + ([r["layers"][-1]] if len(r["layers"]) > layers else [])
    for lc in shown:
        rows.append((lc["name"], lc["wafer"], f"{lc['time_s'] * 1e6:.2f}",
                     f"{lc['compute_s'] * 1e6:.2f}", f"{lc['broadcast_s'] * 1e6:.2f}",
                     f"{lc['reduction_s'] * 1e6:.2f}", f"{lc['other_s'] * 1e6:.2f}",
                     f"{lc['fabric_bytes'] / 1e6:.1f}", f"{lc['sram_bytes'] / 1e6:.1f}"))
    lines += [f"per-layer breakdown ({len(r['layers'])} rows; first {layers} and the last):",
              _table(rows)]
    return "\n".join(lines)


def cmd_run_llm(args) -> int:
    rec = llm_record(args)
    if args.json:
        print(json.dumps(rec, indent=1, default=str))
    else:
        print(human(rec))
    sys.stdout.flush()
    if args.report:
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(rec, indent=1, default=str))
        (out / "report.md").write_text("# LLM inference\n\n```\n" + human(rec, layers=10**6)
                                       + "\n```\n")
        print(f"report: {out / 'report.md'}", file=sys.stderr if args.json else sys.stdout)
    return 0
