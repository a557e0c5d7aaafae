"""Scenario: throughput against wafer size and SRAM per core (BERT-Base and GPT-2 XL training).

Wafer size: a quarter (497 x 375), a half (994 x 375) and a full WSE-2 (994 x 750) at 48 KB per
core. SRAM per core: 24, 48 and 96 KB on the full WSE-2. The full WSE-2 at 48 KB belongs to both
sweeps and is simulated once. BERT-Base at sequence 128, GPT-2 XL at its 1024-token context.

    python benchmarks/scaling.py [--quick] [--out DIR] [--samples N]

``--quick`` runs the same points within a 100 s budget: points not started by then are recorded
as skipped (GPT-2 XL runs last; its weight-streaming points take the longest). Writes
``scaling.csv`` and ``scaling.png`` into ``--out`` (default ``benchmarks/out/scaling``) and
prints the table. A point that fails is recorded as
failed with its message.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from _scenario import (
    QUICK_BUDGET_S,
    PointTimeout,
    add_common_arguments,
    finish,
    point_limit,
    time_limit,
)

import wse_sim as ws
from wse_sim.errors import WseSimError
from wse_sim.models import get

NAME = "scaling"
FULL = (994, 750)
SIZES = (("quarter", 497, 375), ("half", 994, 375), ("full", 994, 750))
SRAM_KB = (24, 48, 96)
MODELS = (("bert-base", {"seq_len": 128}), ("gpt2-xl", {}))
COLUMNS = ("model", "sweep", "wafer_size", "cores", "sram_kb", "status", "execution",
           "replicas", "samples_per_s", "relative", "bottleneck", "wall_s")


def points() -> list[tuple[str, str, int, int, int]]:
    """(sweep, size name, rows, cols, SRAM KB); the full 48 KB wafer is in both sweeps."""
    out = [("size" if name != "full" else "size+sram", name, r, c, 48) for name, r, c in SIZES]
    out += [("sram", "full", *FULL, kb) for kb in SRAM_KB if kb != 48]
    return out


def point_row(model: str, point) -> dict:
    sweep, size, rows, cols, kb = point
    return {"model": model, "sweep": sweep, "wafer_size": f"{size} {rows}x{cols}",
            "size": size, "cores": rows * cols, "sram_kb": kb}


def run_point(graph, model: str, point, samples: int, timeout: float | None) -> dict:
    _, _, rows, cols, kb = point
    row = point_row(model, point)
    t0 = time.perf_counter()
    try:
        with time_limit(timeout):
            wafer = ws.wafer("wse2", rows=rows, cols=cols, sram_bytes_per_core=kb * 1024)
            plan = ws.place(graph, wafer, training=True)
            r = ws.simulate(plan, mode="train", samples=samples)
            row.update(status="ok", execution=r.execution, replicas=r.replicas,
                       samples_per_s=r.samples_per_s,
                       bottleneck=f"{r.bottleneck_op} ({r.bottleneck_kind})")
            del plan, r
    except (WseSimError, PointTimeout) as exc:
        row["status"] = "failed"
        row["message"] = f"{model} {row['wafer_size']} {kb} KB: {' '.join(str(exc).split())}"
    gc.collect()  # a whole-wafer placement holds GBs of per-core arrays
    row["wall_s"] = time.perf_counter() - t0
    return row


def add_relative(rows: list[dict]) -> None:
    """``relative`` = samples/s over the same model's full 48 KB WSE-2."""
    for r in rows:
        ref = next((q for q in rows if q["model"] == r["model"] and q["size"] == "full"
                    and q["sram_kb"] == 48 and q.get("status") == "ok"), None)
        if ref is not None and r.get("status") == "ok":
            r["relative"] = r["samples_per_s"] / ref["samples_per_s"]


def _series(rows, model, key):
    ok = [r for r in rows if r["model"] == model and r.get("status") == "ok"]
    ok = [r for r in ok if (r["sram_kb"] == 48 if key == "cores" else r["size"] == "full")]
    ok.sort(key=lambda r: r[key])
    return [r[key] for r in ok], [r["samples_per_s"] for r in ok]


def plot(rows: list[dict], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    for (model, _), colour in zip(MODELS, ("#1f77b4", "#d62728"), strict=True):
        for ax, key in ((a1, "cores"), (a2, "sram_kb")):
            x, y = _series(rows, model, key)
            if x:
                ax.plot(x, y, "o-", color=colour, label=model)
    a1.set_xscale("log")
    a1.set_xticks([r * c for _, r, c in SIZES], [f"{n}\n{r}x{c}" for n, r, c in SIZES])
    a1.set_xlabel("wafer size (cores; WSE-2 at 48 KB per core)")
    a2.set_xscale("log", base=2)
    a2.set_xticks(SRAM_KB, [str(k) for k in SRAM_KB])
    a2.set_xlabel("SRAM per core (KB; full WSE-2)")
    for ax in (a1, a2):
        ax.set_yscale("log")
        ax.set_ylabel("training throughput (samples/s)")
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    a1.set_title("Throughput against wafer size")
    a2.set_title("Throughput against SRAM per core")
    bad = sorted({f"{r['model']} {r.get('status')}" for r in rows if r.get("status") != "ok"})
    text = "; ".join(t for t in (note, ", ".join(bad)) if t)
    if text:
        fig.text(0.01, 0.01, text, fontsize=8, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(NAME, p, f"a {QUICK_BUDGET_S:g} s budget (points left are skipped)")
    args = p.parse_args(argv)
    if args.quick and args.budget is None:
        args.budget = QUICK_BUDGET_S
    started = time.perf_counter()
    rows = []
    for model, kwargs in MODELS:
        graph = get(model, **kwargs)
        for pt in points():
            limit = point_limit(args, started)
            if limit is not None and limit <= 1:
                rows.append(dict(point_row(model, pt), status="skipped (budget)"))
                continue
            rows.append(run_point(graph, model, pt, args.samples, limit))
            print(f"{model} {pt[1]} {pt[4]} KB: {rows[-1]['status']} "
                  f"({rows[-1]['wall_s']:.1f} s)", file=sys.stderr, flush=True)
    add_relative(rows)
    note = f"--quick: {args.budget:g} s budget" if args.quick else ""
    finish(NAME, rows, COLUMNS, args.out, note, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
