"""Scenario: BERT-Large (seq 128) training on WSE-1 and WSE-2 at unstructured weight sparsity.

Sparsity 0, 0.25, 0.5, 0.75 and 0.9. For each point: the wafer's samples/s, the training-time
reduction against the dense model on the same wafer (1 - t_sparse / t_dense, t = time per
sample) and the equivalent V100s (6 per node) and A100s (8 per node). The GPUs train the dense
model: unstructured sparsity gives them nothing (only 2:4 does, on A100/H100).

    python benchmarks/bert_sparse.py [--quick] [--out DIR] [--samples N]

``--quick`` runs the dense and 0.9 points first on both wafers, then the rest, and stops
starting points after a 100 s budget (points left are recorded as skipped). Writes
``bert_sparse.csv`` and ``bert_sparse.png`` (time reduction against sparsity) into ``--out``
(default ``benchmarks/out/bert_sparse``) and prints the table. A point that fails is recorded
as failed with its message.
"""

from __future__ import annotations

import argparse
import math
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
from wse_sim.baselines import equivalent_gpus, gpu_baseline
from wse_sim.errors import WseSimError
from wse_sim.models import get

NAME = "bert_sparse"
WAFERS = ("wse1", "wse2")
SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9)
QUICK_FIRST = (0.0, 0.9)  # with --quick these run first: the ends of the curve
GPUS = (("v100", 6), ("a100", 8))
COLUMNS = ("wafer", "sparsity", "status", "execution", "replicas", "samples_per_s", "speedup",
           "time_reduction", "bottleneck", "equivalent_v100", "equivalent_a100", "wall_s")


def run_point(base, wafer: str, sparsity: float, samples: int, gpus: dict,
              timeout: float | None) -> dict:
    row = {"wafer": wafer, "sparsity": sparsity}
    t0 = time.perf_counter()
    try:
        with time_limit(timeout):
            graph = ws.sparsify(base, sparsity, "unstructured", seed=0) if sparsity else base
            plan = ws.place(graph, ws.wafer(wafer), training=True)
            r = ws.simulate(plan, mode="train", samples=samples)
            row.update(status="ok", execution=r.execution, replicas=r.replicas,
                       samples_per_s=r.samples_per_s,
                       bottleneck=f"{r.bottleneck_op} ({r.bottleneck_kind})")
            for name, baseline in gpus.items():
                n = equivalent_gpus(r.samples_per_s, baseline)
                row[f"equivalent_{name}"] = n if math.isfinite(n) else "inf"
    except (WseSimError, PointTimeout) as exc:
        row["status"] = "failed"
        row["message"] = f"{wafer} s={sparsity:g}: {' '.join(str(exc).split())}"
    row["wall_s"] = time.perf_counter() - t0
    return row


def add_reductions(rows: list[dict]) -> None:
    """speedup = sps / dense sps and time_reduction = 1 - dense sps / sps, per wafer."""
    for wafer in WAFERS:
        dense = next((r for r in rows if r["wafer"] == wafer and r["sparsity"] == 0
                      and r.get("status") == "ok"), None)
        for r in rows:
            if r["wafer"] == wafer and r.get("status") == "ok" and dense is not None:
                r["speedup"] = r["samples_per_s"] / dense["samples_per_s"]
                r["time_reduction"] = 1.0 - dense["samples_per_s"] / r["samples_per_s"]


def plot(rows: list[dict], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=100)
    ax.plot([0.0, 0.9], [0.0, 90.0], ":", color="#999",
            label="ideal: time falls with the pruned fraction")
    for wafer, colour, dy in (("wse1", "#1f77b4", -11), ("wse2", "#d62728", 5)):
        ok = [r for r in rows if r["wafer"] == wafer and "time_reduction" in r]
        ax.plot([r["sparsity"] for r in ok], [100 * r["time_reduction"] for r in ok], "o-",
                color=colour, label=wafer.upper())
        for r in ok:
            ax.annotate(r["execution"].replace("weight_streaming", "streaming")[:9],
                        (r["sparsity"], 100 * r["time_reduction"]), fontsize=7,
                        textcoords="offset points", xytext=(4, dy), color=colour)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("weight sparsity (fraction of weights pruned, unstructured)")
    ax.set_ylabel("training-time reduction vs dense (%)")
    ax.set_title("BERT-Large (seq 128) training: time saved by weight sparsity")
    ax.set_xticks(SPARSITIES)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    bad = [f"{r['wafer']}@{r['sparsity']:g} {r.get('status')}" for r in rows
           if r.get("status") != "ok"]
    text = "; ".join(t for t in (note, ", ".join(bad)) if t)
    if text:
        fig.text(0.01, 0.01, text, fontsize=7, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(NAME, p, f"dense and 0.9 first, then the rest, within a "
                                  f"{QUICK_BUDGET_S:g} s budget")
    args = p.parse_args(argv)
    if args.quick and args.budget is None:
        args.budget = QUICK_BUDGET_S
    started = time.perf_counter()
    base = get("bert-large", seq_len=128)
    # the GPUs train the dense model whatever the wafer's sparsity: one baseline each
    gpus = {name: gpu_baseline(base, name, mode="train", batch_per_gpu="auto",
                               precision="mixed", gpus_per_node=per_node)
            for name, per_node in GPUS}
    order = [(w, s) for w in WAFERS for s in SPARSITIES]
    if args.quick:
        order.sort(key=lambda ws_: ws_[1] not in QUICK_FIRST)
    done = {}
    for wafer, s in order:
        limit = point_limit(args, started)
        if limit is not None and limit <= 1:
            done[wafer, s] = {"wafer": wafer, "sparsity": s, "status": "skipped (budget)"}
            continue
        done[wafer, s] = run_point(base, wafer, s, args.samples, gpus, limit)
        print(f"{wafer} s={s:g}: {done[wafer, s]['status']} ({done[wafer, s]['wall_s']:.1f} s)",
              file=sys.stderr, flush=True)
    rows = [done[w, s] for w in WAFERS for s in SPARSITIES]
    add_reductions(rows)
    note = f"--quick: {args.budget:g} s budget, dense and 0.9 first" if args.quick else ""
    finish(NAME, rows, COLUMNS, args.out, note, plot)
    print("GPU baselines (dense model, mixed precision): " + ", ".join(
        f"{n.upper()} {g.single_gpu_samples_per_s:,.1f} samples/s per GPU at batch "
        f"{g.batch_per_gpu}" for n, g in gpus.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
