"""``wse-sim sweep``: run every point of a parameter space, then its plots."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import WseSimError
from ..sweep import load_space, plot_sweep, sweep
from ..sweep.executors import EXECUTORS
from ..sweep.run import check_plots
from ..sweep.space import MAX_POINTS, check_space
from ..sweep.store import CSV_NAME
from .args import PROG, Parser


def add_sweep_arguments(parser) -> None:
    """Add the arguments of ``wse-sim sweep`` to an argparse (sub)parser."""
    parser.add_argument("space", metavar="SPACE.toml",
                        help="sweep space: a [space] table of lists, optional [[plot]] entries")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (results.jsonl, results.csv, points/, plots); "
                             "finished points there are reused")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: process pool (default); dask: Dask cluster; serial: "
                             "this process")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="Dask scheduler address (with --executor dask; default: a new "
                             "LocalCluster)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true", help="skip the [[plot]] entries")
    parser.add_argument("--reuse-stale", action="store_true",
                        help="keep rows that other code (another source fingerprint) computed "
                             "for the same settings, marked stale, instead of recomputing them")
    parser.add_argument("--max-points", type=int, default=MAX_POINTS, metavar="N",
                        help=f"refuse a space of more points (default: {MAX_POINTS:,})")


def run_sweep_command(args) -> int:
    """Run ``wse-sim sweep`` from parsed ``args``; 0 on success, 2 on an input error."""
    try:
        space, plots = load_space(args.space)
        checked = check_space(space)
        draw = plots and not getattr(args, "no_plots", False)
        if draw:
            check_plots(plots, checked)
        table = sweep(checked, args.out, executor=args.executor, scheduler=args.scheduler,
                      workers=args.workers, progress=not getattr(args, "no_progress", False),
                      reuse_stale=getattr(args, "reuse_stale", False),
                      max_points=getattr(args, "max_points", MAX_POINTS))
        written = []
        if draw:
            for plot in plots:
                kw = dict(plot)
                name = kw.pop("file", None) or f"{kw['y']}_vs_{kw['x']}.png"
                plot_sweep(table, path=Path(args.out) / name, **kw)
                written.append(name)
    except WseSimError as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{table.summary()}; table: {Path(args.out) / CSV_NAME}")
    for name in written:
        print(f"plot: {Path(args.out) / name}")
    return 0


def cmd_sweep(argv: list[str]) -> int:
    """``wse-sim sweep ARGV``: its own parser, so ``--help`` lists the sweep's arguments."""
    parser = Parser(
        prog=f"{PROG} sweep", description="Run every point of a parameter space and write one "
        "table (results.csv) and its plots.")
    add_sweep_arguments(parser)
    return int(run_sweep_command(parser.parse_args(argv)) or 0)
