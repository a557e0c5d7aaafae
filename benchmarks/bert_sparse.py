"""Scenario: BERT-Large (seq 128) training on WSE-1 and WSE-2 at unstructured weight sparsity.

Sparsity 0, 0.25, 0.5, 0.75 and 0.9. For each point: the wafer's samples/s, the training-time
reduction against the dense model on the same wafer (1 - t_sparse / t_dense), and the
equivalent V100s (6 per node) and A100s (8 per node). GPUs run the model dense: unstructured
sparsity gives them nothing (only 2:4 does, on A100/H100).

    python benchmarks/bert_sparse.py [--quick] [--out DIR] [--samples N]

``--quick`` drops sparsity 0.25 and 0.75 on WSE-1 (all five stay on WSE-2). Writes
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
QUICK = {"wse1": (0.0, 0.5, 0.9), "wse2": SPARSITIES}
GPUS = (("v100", 6), ("a100", 8))
COLUMNS = ("wafer", "sparsity", "status", "execution", "replicas", "samples_per_s", "speedup",
           "time_reduction", "bottleneck", "equivalent_v100", "equivalent_a100", "wall_s")


class PointTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None):
    """Raise :class:`PointTimeout` after ``seconds`` (main thread, POSIX; else no limit)."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise PointTimeout(f"timed out after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
        row["status"] = f"failed: {' '.join(str(exc).split())}"
    row["wall_s"] = time.perf_counter() - t0
    return row


def add_reductions(rows: list[dict]) -> None:
    """speedup = sps / dense sps and time_reduction = 1 - dense sps / sps, per wafer."""
    for wafer in WAFERS:
        dense = next((r for r in rows if r["wafer"] == wafer and r["sparsity"] == 0
                      and r["status"] == "ok"), None)
        for r in rows:
            if r["wafer"] == wafer and r["status"] == "ok" and dense is not None:
                r["speedup"] = r["samples_per_s"] / dense["samples_per_s"]
                r["time_reduction"] = 1.0 - dense["samples_per_s"] / r["samples_per_s"]


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in COLUMNS})


def plot(rows: list[dict], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=100)
    xs = [0.0, 0.9]
    ax.plot(xs, [100 * x for x in xs], ":", color="#999",
            label="ideal: time falls with the pruned fraction")
    for wafer, colour in (("wse1", "#1f77b4"), ("wse2", "#d62728")):
        ok = [r for r in rows if r["wafer"] == wafer and "time_reduction" in r]
        ax.plot([r["sparsity"] for r in ok], [100 * r["time_reduction"] for r in ok], "o-",
                color=colour, label=wafer.upper())
    ax.set_xlabel("weight sparsity (fraction of weights pruned, unstructured)")
    ax.set_ylabel("training-time reduction vs dense (%)")
    ax.set_title("BERT-Large (seq 128) training: time saved by weight sparsity")
    ax.set_xticks(SPARSITIES)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    failed = [f"{r['wafer']}@{r['sparsity']:g}" for r in rows if r["status"] != "ok"]
    text = "; ".join(t for t in (note, f"failed: {', '.join(failed)}" if failed else "") if t)
    if text:
        fig.text(0.01, 0.01, text, fontsize=8, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="WSE-1 at sparsity 0, 0.5, 0.9 only (WSE-2 keeps all five)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / NAME,
                   help="output folder (default: benchmarks/out/bert_sparse)")
    p.add_argument("--samples", type=int, default=64,
                   help="samples simulated per point (default: 64)")
    p.add_argument("--point-timeout", type=float, default=None, metavar="S",
                   help="give up on a point after S seconds (recorded as failed)")
    args = p.parse_args(argv)
    base = get("bert-large", seq_len=128)
    # the GPUs train the dense model whatever the wafer's sparsity: one baseline each
    gpus = {name: gpu_baseline(base, name, mode="train", batch_per_gpu="auto",
                               precision="mixed", gpus_per_node=per_node)
            for name, per_node in GPUS}
    plan = QUICK if args.quick else {w: SPARSITIES for w in WAFERS}
    rows = []
    for wafer in WAFERS:
        for s in plan[wafer]:
            rows.append(run_point(base, wafer, s, args.samples, gpus, args.point_timeout))
            print(f"{wafer} s={s:g}: {rows[-1]['status']} ({rows[-1]['wall_s']:.1f} s)",
                  file=sys.stderr, flush=True)
    add_reductions(rows)
    note = "--quick: WSE-1 at sparsity 0, 0.5, 0.9 only" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / f"{NAME}.csv")
    plot(rows, args.out / f"{NAME}.png", note)
    print(table([[fmt(r.get(k)) for k in COLUMNS] for r in rows], list(COLUMNS),
                right={1, 4, 5, 6, 7, 9, 10, 11}))
    print("GPU baselines (dense, mixed precision): " + ", ".join(
        f"{n.upper()} {g.single_gpu_samples_per_s:,.1f} samples/s per GPU at batch "
        f"{g.batch_per_gpu}" for n, g in gpus.items()))
    if note:
        print(note)
    print(f"wrote {args.out / (NAME + '.csv')} and {args.out / (NAME + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
