"""Shared plumbing of the scenario scripts: per-point time limits, the --quick budget, and
writing each scenario's CSV, PNG and printed table."""

from __future__ import annotations

import argparse
import csv
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from wse_sim.cli.args import table

QUICK_BUDGET_S = 100.0


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


def finish(name: str, rows: list[dict], columns, out: Path, note: str, draw) -> None:
    """Write the CSV (with a message column) and the PNG; print the table, messages as notes."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{name}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*columns, "message"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in (*columns, "message")})
    draw(rows, out / f"{name}.png", note)
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
    print(f"wrote {out / (name + '.csv')} and {out / (name + '.png')}")


def add_common_arguments(name: str, p: argparse.ArgumentParser, quick_help: str) -> None:
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / name,
                   help=f"output folder (default: benchmarks/out/{name})")
    p.add_argument("--samples", type=int, default=64,
                   help="samples simulated per point (default: 64)")
    p.add_argument("--point-timeout", type=float, default=None, metavar="S",
                   help="give up on a point after S seconds (recorded as failed)")
    p.add_argument("--budget", type=float, default=None, metavar="S",
                   help=f"stop starting points after S seconds in all (later points are "
                        f"recorded as skipped; default: none, {QUICK_BUDGET_S:g} with --quick)")
