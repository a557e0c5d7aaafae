"""Scenario: CVAE training for MD steering (DeepDriveMD) on WSE-2 against V100 and A100 GPUs.

For residue contact maps of 28, 64, 128, 256, 512 and 1024 residues: the wafer's training
samples/s, one GPU's samples/s, and the equivalent GPU count (fewest data-parallel GPUs whose
cluster reaches the wafer; V100s counted in Summit nodes of 6, A100s in DGX nodes of 8).

    python benchmarks/cvae_md_steering.py [--quick] [--out DIR] [--samples N]

``--quick`` keeps the sizes 28, 64 and 128 and simulates 16 samples per point (the larger maps
take minutes each to place). Writes ``cvae_md_steering.csv`` and ``cvae_md_steering.png`` into
``--out`` (default ``benchmarks/out/cvae_md_steering``) and prints the table. A point that fails
(a :class:`wse_sim.WseSimError`, or ``--point-timeout``) is recorded as failed with its message.
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

NAME = "cvae_md_steering"
SIZES = (28, 64, 128, 256, 512, 1024)
QUICK_SIZES = (28, 64, 128)
GPUS = (("v100", 6), ("a100", 8))  # (GPU, GPUs per node)
COLUMNS = ("map_size", "status", "execution", "replicas", "wafer_samples_per_s", "bottleneck",
           "v100_samples_per_s_per_gpu", "equivalent_v100", "a100_samples_per_s_per_gpu",
           "equivalent_a100", "wall_s")


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


def gpu_columns(graph, samples_per_s: float) -> dict:
    out = {}
    for name, per_node in GPUS:
        base = gpu_baseline(graph, name, mode="train", batch_per_gpu="auto", precision="mixed",
                            gpus_per_node=per_node)
        n = equivalent_gpus(samples_per_s, base)
        out[f"{name}_samples_per_s_per_gpu"] = base.single_gpu_samples_per_s
        out[f"equivalent_{name}"] = n if math.isfinite(n) else "inf"
    return out


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
            row.update(gpu_columns(graph, r.samples_per_s))
    except (WseSimError, PointTimeout) as exc:
        row["status"] = f"failed: {' '.join(str(exc).split())}"
    row["wall_s"] = time.perf_counter() - t0
    return row


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"
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

    ok = [r for r in rows if r["status"] == "ok"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    x = [r["map_size"] for r in ok]
    a1.plot(x, [r["wafer_samples_per_s"] for r in ok], "o-", color="#d62728", label="WSE-2")
    for name, colour in (("v100", "#7f7f7f"), ("a100", "#1f77b4")):
        a1.plot(x, [r[f"{name}_samples_per_s_per_gpu"] for r in ok], "s--", color=colour,
                label=f"1 x {name.upper()}")
        n = [r[f"equivalent_{name}"] for r in ok]
        a2.plot([xi for xi, v in zip(x, n, strict=True) if v != "inf"],
                [v for v in n if v != "inf"], "o-", color=colour, label=name.upper())
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xlabel("contact-map size (residues)")
        a.set_xticks(SIZES, [str(s) for s in SIZES])
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize=9)
    a1.set_ylabel("training throughput (samples/s)")
    a1.set_title("CVAE training: WSE-2 vs one GPU")
    a2.set_ylabel("equivalent GPUs (count)")
    a2.set_title("GPUs needed to match WSE-2 (V100: 6/node, A100: 8/node)")
    failed = [str(r["map_size"]) for r in rows if r["status"] != "ok"]
    if failed or note:
        fig.text(0.01, 0.01, (note + ("; " if note and failed else "")
                              + (f"failed: {', '.join(failed)}" if failed else "")),
                 fontsize=8, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="sizes 28, 64, 128 only and 16 simulated samples per point")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / NAME,
                   help="output folder (default: benchmarks/out/cvae_md_steering)")
    p.add_argument("--samples", type=int, default=None,
                   help="samples simulated per point (default: 64, 16 with --quick)")
    p.add_argument("--point-timeout", type=float, default=None, metavar="S",
                   help="give up on a point after S seconds (recorded as failed)")
    args = p.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    samples = args.samples or (16 if args.quick else 64)
    note = (f"--quick: sizes {', '.join(map(str, sizes))} only, {samples} samples"
            if args.quick else "")
    rows = []
    for size in sizes:
        rows.append(run_point(size, samples, args.point_timeout))
        print(f"map {size}: {rows[-1]['status']} ({rows[-1]['wall_s']:.1f} s)", file=sys.stderr,
              flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / f"{NAME}.csv")
    plot(rows, args.out / f"{NAME}.png", note)
    print(table([[fmt(r.get(k)) for k in COLUMNS] for r in rows], list(COLUMNS),
                right={0, 3, 4, 6, 7, 8, 9, 10}))
    if note:
        print(note)
    print(f"wrote {args.out / (NAME + '.csv')} and {args.out / (NAME + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
