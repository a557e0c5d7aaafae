"""Scenario: throughput against wafer size and SRAM per core (BERT-Base and GPT-2 XL training).

Wafer size: a quarter (497 x 375), a half (994 x 375) and a full WSE-2 (994 x 750), 48 KB per
core. SRAM per core: 24, 48 and 96 KB on the full WSE-2. The full WSE-2 at 48 KB is one point of
both sweeps and is simulated once. BERT-Base at sequence 128, GPT-2 XL at its 1024 context.

    python benchmarks/scaling.py [--quick] [--out DIR] [--samples N]

``--quick`` simulates BERT-Base only: GPT-2 XL does not fit pipelined on any of these wafers
and its weight-streaming placement takes minutes and several GB per point. Writes
``scaling.csv`` and ``scaling.png`` into ``--out`` (default ``benchmarks/out/scaling``) and
prints the table. A point that fails is recorded as failed with its message.
"""

from __future__ import annotations

import argparse
import csv
import gc
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import wse_sim as ws
from wse_sim.cli import table
from wse_sim.errors import WseSimError
from wse_sim.models import get

NAME = "scaling"
FULL = (994, 750)
SIZES = (("quarter", 497, 375), ("half", 994, 375), ("full", 994, 750))
SRAM_KB = (24, 48, 96)
MODELS = (("bert-base", {"seq_len": 128}), ("gpt2-xl", {}))
COLUMNS = ("model", "sweep", "wafer_size", "rows", "cols", "cores", "sram_kb", "status",
           "execution", "replicas", "samples_per_s", "relative", "bottleneck", "wall_s")


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


def points() -> list[tuple[str, str, int, int, int]]:
    """(sweep, size name, rows, cols, SRAM KB); the full 48 KB wafer is in both sweeps."""
    out = [("size", name, r, c, 48) for name, r, c in SIZES]
    out += [("sram", "full", *FULL, kb) for kb in SRAM_KB if kb != 48]
    return out


def run_point(graph, model: str, point, samples: int, timeout: float | None) -> dict:
    sweep, size, rows, cols, kb = point
    row = {"model": model, "sweep": sweep, "wafer_size": size, "rows": rows, "cols": cols,
           "cores": rows * cols, "sram_kb": kb}
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
        row["status"] = f"failed: {' '.join(str(exc).split())}"
    gc.collect()  # a whole-wafer placement holds GBs of per-core arrays
    row["wall_s"] = time.perf_counter() - t0
    return row


def add_relative(rows: list[dict]) -> None:
    """``relative`` = samples/s over the same model's full 48 KB WSE-2."""
    for r in rows:
        ref = next((q for q in rows if q["model"] == r["model"] and q["wafer_size"] == "full"
                    and q["sram_kb"] == 48 and q["status"] == "ok"), None)
        if ref is not None and r["status"] == "ok":
            r["relative"] = r["samples_per_s"] / ref["samples_per_s"]


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


def _series(rows, model, key):
    ok = [r for r in rows if r["model"] == model and r["status"] == "ok"]
    if key == "cores":
        ok = [r for r in ok if r["sram_kb"] == 48]
    else:
        ok = [r for r in ok if r["wafer_size"] == "full"]
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
    a1.set_xlabel("wafer size (cores, WSE-2 at 48 KB/core)")
    a2.set_xscale("log", base=2)
    a2.set_xticks(SRAM_KB, [str(k) for k in SRAM_KB])
    a2.set_xlabel("SRAM per core (KB, full WSE-2)")
    for ax in (a1, a2):
        ax.set_yscale("log")
        ax.set_ylabel("training throughput (samples/s)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    a1.minorticks_off()  # keep only the three labelled sizes on the log axis
    a1.set_title("Throughput against wafer size")
    a2.set_title("Throughput against SRAM per core")
    failed = [f"{r['model']}@{r['wafer_size']}/{r['sram_kb']}KB" for r in rows
              if r["status"] != "ok"]
    text = "; ".join(t for t in (note, f"not run or failed: {', '.join(failed)}"
                                 if failed else "") if t)
    if text:
        fig.text(0.01, 0.01, text, fontsize=8, color="#444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="BERT-Base only (GPT-2 XL skipped)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / NAME,
                   help="output folder (default: benchmarks/out/scaling)")
    p.add_argument("--samples", type=int, default=64,
                   help="samples simulated per point (default: 64)")
    p.add_argument("--point-timeout", type=float, default=None, metavar="S",
                   help="give up on a point after S seconds (recorded as failed)")
    args = p.parse_args(argv)
    rows = []
    for model, kwargs in MODELS:
        if args.quick and model != "bert-base":
            for pt in points():
                rows.append({"model": model, "sweep": pt[0], "wafer_size": pt[1],
                             "rows": pt[2], "cols": pt[3], "cores": pt[2] * pt[3],
                             "sram_kb": pt[4], "status": "skipped (--quick)"})
            continue
        graph = get(model, **kwargs)
        for pt in points():
            rows.append(run_point(graph, model, pt, args.samples, args.point_timeout))
            print(f"{model} {pt[1]} {pt[4]} KB: {rows[-1]['status']} "
                  f"({rows[-1]['wall_s']:.1f} s)", file=sys.stderr, flush=True)
    add_relative(rows)
    note = "--quick: GPT-2 XL skipped" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / f"{NAME}.csv")
    plot(rows, args.out / f"{NAME}.png", note)
    print(table([[fmt(r.get(k)) for k in COLUMNS] for r in rows], list(COLUMNS),
                right={3, 4, 5, 6, 9, 10, 11, 13}))
    if note:
        print(note)
    print(f"wrote {args.out / (NAME + '.csv')} and {args.out / (NAME + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
