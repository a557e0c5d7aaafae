"""LLM serving on the wafer against H100s: GEMV, LLaMA3-8B / 70B decode and prefill.

    python benchmarks/llm_inference.py --quick        # contexts 1K, 4K, 32K
    python benchmarks/llm_inference.py --out results/  # contexts 1K-32K, CSV in results/

Prints (and writes ``llm_inference.csv`` under ``--out``) the GEMV figures on WSE-2, then one
row per (model, platform, mode, context): wafers (or GPUs) used, tokens/s per request and in
total, time per token and time to first token. A wafer row uses as many wafers as the model
and its KV cache need (``wafers='auto'``); a GPU row that does not fit says so.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import wse_sim as ws
from wse_sim import gemv
from wse_sim.baselines.llm import gpu_llm
from wse_sim.engine import simulate_llm
from wse_sim.errors import WseSimError
from wse_sim.models import get
from wse_sim.placer import place_llm

PLATFORMS = [("wse2", {}), ("wse2", {"rows": 420, "cols": 420}),
             ("wse2", {"rows": 540, "cols": 540}), ("wse2", {"rows": 660, "cols": 660}),
             ("wse3", {})]
FIELDS = ["model", "platform", "mode", "context", "batch", "units", "tokens_per_s",
          "total_tokens_per_s", "time_per_token_ms", "ttft_ms", "note"]


def _label(name: str, kw: dict) -> str:
    return name + (f" {kw['rows']}x{kw['cols']}" if kw else "")


def rows(models, contexts, batch: int) -> list[dict]:
    out = []
    for model in models:
        g = get(model, seq_len=16)
        for mode in ("decode", "prefill"):
            for ctx in contexts:
                for name, kw in PLATFORMS:
                    w = ws.wafer(name, **kw)
                    row = {"model": model, "platform": _label(name, kw), "mode": mode,
                           "context": ctx, "batch": batch}
                    try:
                        plan = place_llm(g, w, mode, ctx, batch, wafers="auto")
                        r = simulate_llm(plan)
                        row.update(units=f"{plan.wafers} wafer(s)", tokens_per_s=r.tokens_per_s,
                                   total_tokens_per_s=r.total_tokens_per_s,
                                   time_per_token_ms=r.time_per_token_s * 1e3,
                                   ttft_ms=r.time_to_first_token_s * 1e3)
                    except WseSimError as exc:
                        row.update(note=str(exc)[:120])
                    out.append(row)
                for n in (1, 8):
                    row = {"model": model, "platform": "h100", "mode": mode, "context": ctx,
                           "batch": batch, "units": f"{n} GPU(s)"}
                    try:
                        r = gpu_llm(g, "h100", n, mode, ctx, batch)
                        row.update(tokens_per_s=r.tokens_per_s,
                                   total_tokens_per_s=r.total_tokens_per_s,
                                   time_per_token_ms=r.time_per_token_s * 1e3,
                                   ttft_ms=r.time_to_first_token_s * 1e3)
                    except WseSimError as exc:
                        row.update(note=str(exc)[:120])
                    out.append(row)
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.3f}" if isinstance(v, float) else str(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="contexts 1K, 4K and 32K only")
    ap.add_argument("--batch", type=int, default=1, help="requests per step (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="folder for llm_inference.csv")
    args = ap.parse_args(argv)
    w2 = ws.wafer("wse2")
    print("GEMV [1, K] x [K, K] on WSE-2, best region:")
    for k in (16384, 32768):
        r = gemv(w2, k, k)
        print(f"  K={k}: {r.time_s * 1e6:.3f} us on {r.region[0]} x {r.region[1]} cores, "
              f"{r.reduction} (chain {r.time_chain_s * 1e6:.3f} us, tree "
              f"{r.time_tree_s * 1e6:.3f} us)")
    contexts = (1024, 4096, 32768) if args.quick else (1024, 2048, 4096, 8192, 16384, 32768)
    table = rows(("llama3-8b", "llama3-70b"), contexts, args.batch)
    widths = {f: max(len(f), *(len(_fmt(r.get(f))) for r in table)) for f in FIELDS[:-1]}
    print("  ".join(f.ljust(widths[f]) for f in FIELDS[:-1]) + "  note")
    for r in table:
        print("  ".join(_fmt(r.get(f)).ljust(widths[f]) for f in FIELDS[:-1]) + "  "
              + (r.get("note") or ""))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "llm_inference.csv", "w", newline="") as f:
            wr = csv.DictWriter(f, FIELDS)
            wr.writeheader()
            wr.writerows(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
