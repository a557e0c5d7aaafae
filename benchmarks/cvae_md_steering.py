"""Scenario: CVAE training for MD steering (DeepDriveMD) on WSE-2 against V100 and A100 GPUs.

For residue contact maps of 28, 64, 128, 256, 512 and 1024 residues: the wafer's training
samples/s, one GPU's samples/s, and the equivalent GPU count (fewest data-parallel GPUs whose
cluster reaches the wafer; V100s counted in Summit nodes of 6, A100s in DGX nodes of 8;
``inf`` where no cluster size reaches it).

    python benchmarks/cvae_md_steering.py [--quick] [--out DIR] [--samples N]

``--quick`` simulates 16 samples per point instead of 64 and stops starting points after a
100 s budget (points left are recorded as skipped, so the largest maps go first). Writes
``cvae_md_steering.csv`` and ``cvae_md_steering.png`` into ``--out`` (default
``benchmarks/out/cvae_md_steering``) and prints the table. A point that fails (a
:class:`wse_sim.WseSimError` or a time limit) is recorded as failed with its message; a GPU
that cannot hold the model is recorded as such without failing the wafer's point.
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

NAME = "cvae_md_steering"
SIZES = (28, 64, 128, 256, 512, 1024)
GPUS = (("v100", 6), ("a100", 8))  # (GPU, GPUs per node)
QUICK_SAMPLES = 16
COLUMNS = ("map_size", "status", "execution", "replicas", "wafer_samples_per_s", "bottleneck",
           "v100_samples_per_s_per_gpu", "equivalent_v100", "a100_samples_per_s_per_gpu",
           "equivalent_a100", "wall_s")


def gpu_columns(graph, samples_per_s: float, row: dict) -> None:
    """One GPU's samples/s and the equivalent count per GPU kind; a GPU the model does not fit
    gets 'no fit' and a message."""
    for name, per_node in GPUS:
        try:
            base = gpu_baseline(graph, name, mode="train", batch_per_gpu="auto",
                                precision="mixed", gpus_per_node=per_node)
        except WseSimError as exc:
            row[f"{name}_samples_per_s_per_gpu"] = row[f"equivalent_{name}"] = "no fit"
            msg = f"{name.upper()}: {' '.join(str(exc).split())}"
            row["message"] = "; ".join(filter(None, (row.get("message"), msg)))
            continue
        n = equivalent_gpus(samples_per_s, base)
        row[f"{name}_samples_per_s_per_gpu"] = base.single_gpu_samples_per_s
        row[f"equivalent_{name}"] = n if math.isfinite(n) else "inf"


def run_point(map_size: int, samples: int, timeout: float | None) -> dict:
    row = {"map_size": map_size}
    t0 = time.perf_counter()
    try:
        with time_limit(timeout):
            graph = get("cvae", map_size=map_size)
            plan = ws.place(graph, ws.wafer("wse2"), training=True)
            r = ws.simulate(plan, mode="train", samples=samples)
            row.update(status="ok", execution=r.execution, replicas=r.replicas,
                       wafer_samples_per_s=r.samples_per_s,
                       bottleneck=f"{r.bottleneck_op} ({r.bottleneck_kind})")
            gpu_columns(graph, r.samples_per_s, row)
    except (WseSimError, PointTimeout) as exc:
        row["status"] = "failed"
        row["message"] = " ".join(str(exc).split())
    row["wall_s"] = time.perf_counter() - t0
    return row


def plot(rows: list[dict], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    x = [r["map_size"] for r in ok]
    a1.plot(x, [r["wafer_samples_per_s"] for r in ok], "o-", color="#d62728", label="WSE-2")
    for name, colour in (("v100", "#7f7f7f"), ("a100", "#1f77b4")):
        pts = [(r["map_size"], r[f"{name}_samples_per_s_per_gpu"],
                r[f"equivalent_{name}"]) for r in ok]
        one = [(m, v) for m, v, _ in pts if isinstance(v, float)]
        eq = [(m, n) for m, _, n in pts if isinstance(n, int)]
        a1.plot([m for m, _ in one], [v for _, v in one], "s--", color=colour,
                label=f"1 x {name.upper()}")
        a2.plot([m for m, _ in eq], [n for _, n in eq], "o-", color=colour, label=name.upper())
        for m, _, n in pts:
            if n == "inf":  # no cluster reaches the wafer: mark it at the top of the axis
                a2.annotate(f"{name.upper()}: inf \u2191", (m, 0.97 if name == "v100" else 0.91),
                            xycoords=("data", "axes fraction"), xytext=(-12, 0),
                            textcoords="offset points", ha="left", va="top", fontsize=9,
                            color=colour)
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xlabel("contact-map size (residues)")
        a.set_xticks(SIZES, [str(s) for s in SIZES])
        a.set_xlim(SIZES[0] / 1.3, SIZES[-1] * 1.3)
        a.minorticks_off()
        a.grid(alpha=0.3)
        a.legend(fontsize=9)
    a1.set_ylabel("training throughput (samples/s)")
    a1.set_title("CVAE training: WSE-2 vs one GPU")
    a2.set_ylabel("equivalent GPUs (count)")
    a2.set_title("GPUs to match WSE-2 (V100: 6/node, A100: 8/node)")
    bad = [f"{r['map_size']}: {r['status']}" for r in rows if r.get("status") != "ok"]
    text = "; ".join(t for t in (note, ", ".join(bad)) if t)
    if text:
        fig.text(0.01, 0.01, text, fontsize=8, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(NAME, p, f"{QUICK_SAMPLES} samples per point and a {QUICK_BUDGET_S:g} s "
                            "budget")
    args = p.parse_args(argv)
    if args.quick:
        args.samples = QUICK_SAMPLES if args.samples == 64 else args.samples
        args.budget = QUICK_BUDGET_S if args.budget is None else args.budget
    started = time.perf_counter()
    rows = []
    for size in SIZES:
        limit = point_limit(args, started)
        if limit is not None and limit <= 1:
            rows.append({"map_size": size, "status": "skipped (budget)"})
            continue
        rows.append(run_point(size, args.samples, limit))
        print(f"map {size}: {rows[-1]['status']} ({rows[-1]['wall_s']:.1f} s)",
              file=sys.stderr, flush=True)
    note = (f"--quick: {args.samples} samples per point, {args.budget:g} s budget"
            if args.quick else "")
    finish(NAME, rows, COLUMNS, args.out, note, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
