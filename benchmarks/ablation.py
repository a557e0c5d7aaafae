"""Ablation of the engine's mechanisms: samples/s with every mechanism on, then with each one
turned off alone, and the bottleneck in each case (training, 64 samples).

    python benchmarks/ablation.py          # BERT-Large dense and s=0.5, cvae-cs2 on WSE-2
    python benchmarks/ablation.py --wafers wse1 wse3  # the same models on other wafers, all on
    python benchmarks/ablation.py --replicas          # cvae-cs2 with replicas 1, 2, 4 and auto

One replica (the default of ``place()``); the granularity row moves whole samples between
stages instead of streaming chunks (issue 22).

Prints a markdown table (docs/validation.md keeps the latest one).
"""

from __future__ import annotations

import argparse
import time

import wse_sim as ws
from wse_sim.models import get
from wse_sim.spec import Physics

# each row turns one switch of Physics off (the schedule's "off" is async: no drain)
VARIANTS = {
    "all on": {},
    "schedule off (async)": {"schedule": "async"},
    "ingress off": {"ingress": False},
    "ramp + SRAM port off": {"ramp": False},
    "colors off": {"colors": False},
    "FIFO from SRAM off": {"fifo": False},
    "granularity off (whole samples)": {"granularity": "sample"},
}


def _model(name: str):
    if name == "bert-large-s50":
        return ws.sparsify(get("bert-large", seq_len=128), 0.5, seed=0)
    if name == "bert-large":
        return get("bert-large", seq_len=128)
    return get(name)


def run(model: str, wafer: str, physics: Physics, replicas=1) -> tuple[str, float]:
    g = _model(model)
    t0 = time.perf_counter()
    plan = ws.place(g, ws.wafer(wafer), replicas=replicas, physics=physics)
    r = ws.simulate(plan, samples=64)
    b = r.bottleneck
    cell = (f"{r.samples_per_s:,.0f} ({r.replicas} rep; {b['op']} {b['kind']}; "
            f"bubble {r.bubble_fraction:.2f})")
    return cell, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["bert-large", "bert-large-s50", "cvae-cs2"])
    ap.add_argument("--wafers", nargs="+", default=None)
    ap.add_argument("--replicas", action="store_true")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="LABEL",
                    help="rows to run (default: all), e.g. 'all on' 'granularity off "
                         "(whole samples)'")
    args = ap.parse_args()
    if args.replicas:
        print("| cvae-cs2 on wse2 | chunks (default) | whole samples |\n|---|---|---|")
        for r in (1, 2, 4, "auto"):
            cells = [run("cvae-cs2", "wse2", Physics(granularity=gr), replicas=r)[0]
                     for gr in ("chunk", "sample")]
            print(f"| replicas={r} | " + " | ".join(cells) + " |")
        return
    if args.wafers:
        print("| model | " + " | ".join(args.wafers) + " |\n|---|" + "---|" * len(args.wafers))
        for m in args.models:
            cells = [run(m, w, Physics())[0] for w in args.wafers]
            print(f"| {m} | " + " | ".join(cells) + " |")
        return
    print("| mechanism | " + " | ".join(args.models) + " |\n|---|" + "---|" * len(args.models))
    for label in args.variants:
        change = VARIANTS[label]
        cells = [run(m, "wse2", Physics().replace(**change))[0] for m in args.models]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
