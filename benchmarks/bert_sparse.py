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
import csv
import math
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import wse_sim as ws
from wse_sim.cli import table
from wse_sim.errors import WseSimError
from wse_sim.gpu import equivalent_gpus, gpu_baseline
from wse_sim.models import get

NAME = "bert_sparse"
WAFERS = ("wse1", "wse2")
SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9)
QUICK_FIRST = (0.0, 0.9)  # with --quick these run first: the ends of the curve
QUICK_BUDGET_S = 100.0
GPUS = (("v100", 6), ("a100", 8))
COLUMNS = ("wafer", "sparsity", "status", "execution", "replicas", "samples_per_s", "speedup",
           "time_reduction", "bottleneck", "equivalent_v100", "equivalent_a100", "wall_s")


class PointTimeout(Exception):
    """A point ran past its time limit."""


@contextmanager
def time_limit(seconds: float | None):
    """Raise :class:`PointTimeout` after ``seconds`` (main thread, POSIX; else no limit)."""
    if seconds is None or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise PointTimeout(f"timed out after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def point_limit(args, started: float) -> float | None:
    """Seconds the next point may take: --point-timeout, capped by what is left of --budget."""
    left = None if args.budget is None else args.budget - (time.perf_counter() - started)
    limits = [v for v in (args.point_timeout, left) if v is not None]
    return min(limits) if limits else None


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def finish(rows: list[dict], columns, out: Path, note: str, draw) -> None:
    """Write the CSV (with a message column) and the PNG; print the table, messages as notes."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{NAME}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*columns, "message"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in (*columns, "message")})
    draw(rows, out / f"{NAME}.png", note)
    notes = []
    body = []
    for r in rows:
        cells = [fmt(r.get(k)) for k in columns]
        if r.get("message"):
            notes.append(r["message"])
            i = columns.index("status")
            cells[i] = f"{cells[i]} [{len(notes)}]"
        body.append(cells)
    numeric = {i for i, k in enumerate(columns)
               if any(isinstance(r.get(k), (int, float)) for r in rows)}
    print(table(body, list(columns), right=numeric))
    for i, n in enumerate(notes, 1):
        print(f"[{i}] {n}")
    if note:
        print(note)
    print(f"wrote {out / (NAME + '.csv')} and {out / (NAME + '.png')}")


def add_common_arguments(p: argparse.ArgumentParser, quick_help: str) -> None:
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / NAME,
                   help=f"output folder (default: benchmarks/out/{NAME})")
    p.add_argument("--samples", type=int, default=64,
                   help="samples simulated per point (default: 64)")
    p.add_argument("--point-timeout", type=float, default=None, metavar="S",
                   help="give up on a point after S seconds (recorded as failed)")
    p.add_argument("--budget", type=float, default=None, metavar="S",
                   help=f"stop starting points after S seconds in all (later points are "
                        f"recorded as skipped; default: none, {QUICK_BUDGET_S:g} with --quick)")


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
    add_common_arguments(p, f"dense and 0.9 first, then the rest, within a {QUICK_BUDGET_S:g} "
                            "s budget")
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
    finish(rows, COLUMNS, args.out, note, plot)
    print("GPU baselines (dense model, mixed precision): " + ", ".join(
        f"{n.upper()} {g.single_gpu_samples_per_s:,.1f} samples/s per GPU at batch "
        f"{g.batch_per_gpu}" for n, g in gpus.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
