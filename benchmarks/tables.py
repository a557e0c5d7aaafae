"""The tables of the placer and engine issues: placement metrics and simulated throughput.

    python benchmarks/tables.py placer      # BERT-L/B, ResNet-50, CVAE 28/512, GPT-2 XL
    python benchmarks/tables.py engine      # BERT-L dense/0.5/0.9, CVAE 28/256/1024, ResNet-50
    python benchmarks/tables.py all --out benchmarks/out/tables

Each row is one placement (and simulation) on WSE-1, WSE-2 and WSE-3; a point that raises a
WseSimError is reported with its message. Writes CSV files beside printing the tables.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import wse_sim as ws
from wse_sim.errors import WseSimError
from wse_sim.models import get

WAFERS = ("wse1", "wse2", "wse3")
PLACER_CASES = [("bert-large", {}, 0.0), ("bert-base", {}, 0.0), ("resnet50", {}, 0.0),
                ("cvae", {"map_size": 28}, 0.0), ("cvae", {"map_size": 512}, 0.0),
                ("gpt2-xl", {}, 0.0)]
ENGINE_CASES = [("bert-large", {}, 0.0), ("bert-large", {}, 0.5), ("bert-large", {}, 0.9),
                ("cvae", {"map_size": 28}, 0.0), ("cvae", {"map_size": 256}, 0.0),
                ("cvae", {"map_size": 1024}, 0.0), ("resnet50", {}, 0.0)]


def _label(name, kw, s):
    args = ",".join(f"{k}={v}" for k, v in kw.items())
    return f"{name}" + (f"({args})" if args else "") + (f" s={s}" if s else "")


def run_case(name, kw, sparsity, wafer, simulate):
    graph = get(name, **kw)
    if sparsity:
        graph = ws.sparsify(graph, sparsity, seed=0)
    t0 = time.perf_counter()
    row = {"case": _label(name, kw, sparsity), "wafer": wafer}
    try:
        plan = ws.place(graph, ws.wafer(wafer))
        row.update(mode=plan.mode, replicas=plan.replicas, stages=len(plan.stages),
                   balance=round(plan.balance, 3), balance_all=round(plan.balance_all, 3),
                   utilization=round(plan.utilization, 3),
                   sram_peak=round(plan.sram_peak_fraction, 3),
                   hops_per_sample=f"{plan.wavelet_hops_per_sample:.3g}",
                   max_colors=plan.max_colors_per_router,
                   colors_over=plan.routers_over_color_budget)
        if simulate:
            r = ws.simulate(plan, samples=64)
            row.update(samples_per_s=f"{r.samples_per_s:.4g}",
                       bottleneck=f"{r.bottleneck_op} ({r.bottleneck_kind})",
                       busy_mean=round(float(r.busy_fraction[r.stage_id >= 0].mean()), 3))
    except WseSimError as e:
        row.update(mode="failed", error=str(e)[:120])
    row["wall_s"] = round(time.perf_counter() - t0, 2)
    return row


def table(cases, simulate):
    return [run_case(n, kw, s, w, simulate) for n, kw, s in cases for w in WAFERS]


def show(rows, title):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    print(f"\n## {title}\n")
    print(" | ".join(k.ljust(widths[k]) for k in keys))
    print("-|-".join("-" * widths[k] for k in keys))
    for r in rows:
        print(" | ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys))
    return keys


def save(rows, keys, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["placer", "engine", "all"])
    ap.add_argument("--out", default="benchmarks/out/tables", help="folder for the CSV files")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.which in ("placer", "all"):
        rows = table(PLACER_CASES, simulate=False)
        save(rows, show(rows, "Placement metrics (training, seq 128)"), out / "placer.csv")
    if args.which in ("engine", "all"):
        rows = table(ENGINE_CASES, simulate=True)
        save(rows, show(rows, "Simulated training throughput"), out / "engine.csv")


if __name__ == "__main__":
    main()
