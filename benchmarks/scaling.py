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
QUICK_BUDGET_S = 100.0
COLUMNS = ("model", "sweep", "wafer_size", "cores", "sram_kb", "status", "execution",
           "replicas", "samples_per_s", "relative", "bottleneck", "wall_s")


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
    add_common_arguments(p, f"a {QUICK_BUDGET_S:g} s budget (points left are skipped)")
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
    finish(rows, COLUMNS, args.out, note, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
