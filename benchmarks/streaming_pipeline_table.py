"""Issue 22's acceptance table: BERT-Large (MSL 128) training on WSE-1/2/3, dense and s=0.5,
batch 64 and 256 (samples/s, bubble fraction, most samples in flight, mode); the CS-2 CVAE
with one replica and with replicas='auto'; BERT-Large at sparsity 0 .. 0.9 on WSE-1 and WSE-2.

    python benchmarks/streaming_pipeline_table.py [--quick]

Prints markdown tables (``--quick``: the sparsity sweep only).
"""

from __future__ import annotations

import sys
import time

import wse_sim as ws
from wse_sim.models import get

SAMPLES = 16


def run(graph, wafer: str, batch: int | None = None, replicas=1, mode: str = "auto"):
    t0 = time.perf_counter()
    plan = ws.place(graph, ws.wafer(wafer), batch=batch, replicas=replicas, mode=mode)
    r = ws.simulate(plan, samples=SAMPLES)
    return plan, r, time.perf_counter() - t0


def row(plan, r) -> str:
    inflight = r.settings.get("samples_in_flight_max", "-")
    return (f"{r.samples_per_s:,.0f} | {r.bubble_fraction:.3f} | {inflight} | {plan.mode} | "
            f"{plan.replicas}")


def main() -> None:
    quick = "--quick" in sys.argv
    bert = get("bert-large", seq_len=128)
    sparse = {s: ws.sparsify(bert, s, seed=0) for s in (0.25, 0.5, 0.75, 0.9)}
    sparse[0.0] = bert
    if not quick:
        print("| wafer | sparsity | batch | samples/s | bubble | most in flight | mode | "
              "replicas |\n|---|---|---|---|---|---|---|---|")
        for wafer in ("wse1", "wse2", "wse3"):
            for s in (0.0, 0.5):
                for batch in (64, 256):
                    plan, r, _ = run(sparse[s], wafer, batch)
                    print(f"| {wafer} | {s} | {batch} | {row(plan, r)} |", flush=True)
        print("\n| model | replicas | mode asked | samples/s | bubble | most in flight | mode | "
              "replicas placed |\n|---|---|---|---|---|---|---|---|")
        cvae = get("cvae-cs2")
        for rep, mode in ((1, "pipelined"), (1, "auto"), ("auto", "auto")):
            plan, r, _ = run(cvae, "wse2", replicas=rep, mode=mode)
            print(f"| cvae-cs2 (WSE-2) | {rep} | {mode} | {row(plan, r)} |", flush=True)
    print("\n| wafer | sparsity | samples/s | bubble | most in flight | mode | replicas | "
          "wall s |\n|---|---|---|---|---|---|---|---|")
    for wafer in ("wse1", "wse2"):
        for s in (0.0, 0.25, 0.5, 0.75, 0.9):
            plan, r, wall = run(sparse[s], wafer)
            print(f"| {wafer} | {s} | {row(plan, r)} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
