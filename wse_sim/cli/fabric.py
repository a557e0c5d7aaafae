"""``wse-sim fabric``: the cycle-level fabric from the command line.

Synthetic traffic (one run, or a latency-versus-load sweep with ``--sweep-rates``) or a
collective (``--collective``); ``--json`` prints the result's ``to_dict()``; ``--plot out.png``
draws the latency-versus-offered-load curve of a sweep, else a link-utilisation heatmap.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import FabricError
from ..fabric import cycle
from ..jsonable import jsonable
from .args import check_plot_path, refuse_unused

EPILOG = """\
examples:
  wse-sim fabric --mesh 16x16 --traffic uniform --rate 0.05 --vcs 2 --buffer 8 \\
      --router generic-4stage --cycles 10000 --json
  wse-sim fabric --mesh 16x16 --traffic uniform --sweep-rates 0.02:0.5:0.02 --plot out.png
  wse-sim fabric --collective chain-reduce --cores 512 --wavelets 4096 --router wse
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``fabric`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("fabric", help="cycle-level fabric: synthetic traffic or a collective",
                       description="Run the cycle-level mesh simulator (routers, virtual "
                       "channels, credits, multicast) on synthetic traffic or a collective.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mesh", default="16x16", help="ROWSxCOLS (default 16x16)")
    p.add_argument("--traffic", default="uniform", help=", ".join(cycle.TRAFFIC))
    p.add_argument("--rate", type=float, default=0.05, help="packets per node per cycle")
    p.add_argument("--sweep-rates", metavar="LO:HI:STEP", default=None,
                   help="run every rate from LO to HI (inclusive) in steps of STEP")
    p.add_argument("--packet-flits", type=int, default=1)
    p.add_argument("--vcs", type=int, default=2, help="virtual channels per port")
    p.add_argument("--buffer", type=int, default=None,
                   help="flits per VC FIFO (default: the router preset's depth)")
    p.add_argument("--router", default=None, help=", ".join(cycle.PRESETS) + " (default: "
                   "generic-4stage for traffic, wse for collectives)")
    p.add_argument("--cycles", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=None, help="default: 30%% of --cycles")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--collective", default=None, help=", ".join(cycle.COLLECTIVES))
    p.add_argument("--cores", default="512", help="an int (a row) or ROWSxCOLS")
    p.add_argument("--wavelets", type=int, default=4096, help="wavelets per core")
    p.add_argument("--group", type=int, default=None, help="two-phase-reduce group size")
    p.add_argument("--axis", default="row", choices=("row", "col"))
    p.add_argument("--task-cycles", type=int, default=cycle.DEFAULT_TASK_CYCLES)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="latency-vs-load curve (with --sweep-rates) or link heatmap")
    p.set_defaults(func=run)
    return p


def _rates(text: str) -> list[float]:
    try:
        lo, hi, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise FabricError(f"--sweep-rates expects LO:HI:STEP, got {text!r}") from None
    if not (0 < step and 0 <= lo <= hi <= 1):
        raise FabricError(f"--sweep-rates needs 0 <= LO <= HI <= 1 and STEP > 0, got {text!r}")
    n = int(np.floor((hi - lo) / step + 1e-9)) + 1
    return [round(lo + i * step, 10) for i in range(n)]


def _cores(text: str):
    return int(text) if text.strip().isdigit() else text


def run(args) -> int:
    """Run ``wse-sim fabric``; returns the exit code (errors raise WseSimError)."""
    if args.plot is not None:  # refused before the simulation runs
        check_plot_path("--plot", args.plot)
    if args.collective is None:
        refuse_unused(args, ("cores", "wavelets", "group", "axis", "task_cycles"), "--collective")
    else:
        refuse_unused(args, ("mesh", "traffic", "rate", "sweep_rates", "packet_flits", "vcs",
                             "cycles", "warmup", "seed"), "synthetic traffic (no --collective)")
    if args.collective is not None:
        res = cycle.collective(args.collective, cores=_cores(args.cores),
                               wavelets=args.wavelets, router=args.router or "wse",
                               group=args.group, task_cycles=args.task_cycles, axis=args.axis,
                               buffer=args.buffer)
        out = res.to_dict()
        text = (f"{res.name} on {res.cores[0]}x{res.cores[1]} cores, {res.wavelets} wavelets "
                f"per core, router {res.router}: {res.cycles} cycles (lower bound "
                f"{res.lower_bound_cycles}), max link load {res.max_link_load}, "
                f"{res.wavelet_hops:,} wavelet-hops")
        heat = res.link_load
        runs = None
    else:
        warmup = args.warmup if args.warmup is not None else args.cycles * 3 // 10
        kw = dict(mesh=args.mesh, traffic=args.traffic, packet_flits=args.packet_flits,
                  vcs=args.vcs, buffer=args.buffer if args.buffer is not None else 8,
                  router=args.router or "generic-4stage", cycles=args.cycles, warmup=warmup,
                  seed=args.seed)
        rates = _rates(args.sweep_rates) if args.sweep_rates else [args.rate]
        runs = [cycle.simulate(rate=r, **kw) for r in rates]
        out = [r.to_dict() for r in runs] if args.sweep_rates else runs[0].to_dict()
        lines = [f"{r.mesh[0]}x{r.mesh[1]} {r.traffic} rate {r.rate:g}: latency mean "
                 f"{r.latency_mean:.1f} p99 {r.latency_p99:.0f}, accepted "
                 f"{r.accepted_rate:.4f} flits/node/cycle{' (saturated)' if r.saturated else ''}"
                 f", {r.router_cycles_per_s / 1e6:.1f} M router-cycles/s" for r in runs]
        text = "\n".join(lines)
        heat = runs[-1].link_utilisation
    if args.plot:
        _plot(args.plot, runs if args.sweep_rates else None, heat)
    print(json.dumps(jsonable(out), indent=2, allow_nan=False) if args.json else text)
    return 0


def _plot(path: str, runs, heat: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    if runs:
        ok = [r for r in runs if not r.saturated]
        ax.plot([r.offered_rate for r in ok], [r.latency_mean for r in ok], "o-",
                label="mean packet latency")
        ax.axhline(runs[0].zero_load_latency, ls=":", c="gray", label="zero-load")
        ax.set_xlabel("offered load (flits/node/cycle)")
        ax.set_ylabel("latency (cycles)")
        r0 = runs[0]
        ax.set_title(f"{r0.mesh[0]}x{r0.mesh[1]} {r0.traffic}, {r0.router}, {r0.vcs} VCs, "
                     f"buffer {r0.buffer}")
        ax.legend()
    else:
        im = ax.imshow(heat.sum(axis=2), cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="outgoing links, summed")
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        ax.set_title("link utilisation / load per router")
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise FabricError(f"cannot write --plot {path!r}: {exc.strerror}; pick a writable "
                          "path") from None
    finally:
        plt.close(fig)
