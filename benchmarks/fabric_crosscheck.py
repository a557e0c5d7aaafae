"""Flow-level versus cycle-level fabric time of the slowest placed stages.

Run: ``python benchmarks/fabric_crosscheck.py [--samples N] [--stages K]``

For BERT-Large (training, WSE-2) and the CVAE, the K slowest stages (by the placer's
predicted time) are run through :func:`wse_sim.fabric.compare_stage` on their real
rectangles. Columns, cycles per sample: ``flow`` the flow model's busiest mesh link (what the
engine uses); ``ramp`` the busiest core ramp (core <-> router, 1 wavelet per cycle each way,
which the flow model does not count); ``bound`` the larger of the two; ``cycle`` the
cycle-level time to completion / samples; ``steady`` the cycle-level rate with the one-off
fill removed ((T(2n) - T(n)) / n); ``x flow`` = cycle / flow, the contention factor; ``x
bound`` = steady / bound.
"""

from __future__ import annotations

import argparse
import time

import wse_sim as ws
from wse_sim.fabric import compare_stage
from wse_sim.models import get


def table(name, placement, k, samples, steady=True, budget_s=60.0):
    print(f"### {name}: {placement.mode}, {placement.replicas} replica(s), tile "
          f"{placement.tile_shape[0]}x{placement.tile_shape[1]}, "
          f"{'training' if placement.training else 'inference'}\n")
    print("| stage | op | rect (h x w) | window | colors | flow | ramp | bound | cycle | "
          "steady | fill | x flow | x bound | compute est | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    slow = sorted(placement.stages, key=lambda s: -s.est_cycles)[:k]
    for st in slow:
        t0 = time.perf_counter()
        c = compare_stage(placement, st.index, samples=samples, steady=steady)
        wall = time.perf_counter() - t0
        note = "" if wall < budget_s else " (over a minute)"
        print(f"| {c.stage} | {c.heavy} | {c.rect[2]}x{c.rect[3]} | {c.mesh[0]}x{c.mesh[1]} | "
              f"{c.colors} | {c.flow_cycles:.0f} | {c.ramp_cycles:.0f} | "
              f"{c.bound_cycles:.0f} | {c.cycle_cycles:.0f} | {c.steady_cycles:.0f} | "
              f"{c.fill_cycles:.0f} | {c.contention:.2f} | "
              f"{c.steady_cycles / c.bound_cycles:.2f} | {st.est_cycles:.0f} | "
              f"{wall:.1f}{note} |", flush=True)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--stages", type=int, default=5)
    args = ap.parse_args()
    wafer = ws.wafer("wse2")
    # BERT-Large's stages carry ~50k wavelets per sample over their busiest links: one run
    # of one sample is the most that fits in a minute here, and its fill is negligible
    table("BERT-Large on WSE-2", ws.place(get("bert-large"), wafer), args.stages, args.samples,
          steady=False)
    table("CVAE on WSE-2", ws.place(get("cvae"), wafer), args.stages, args.samples)


if __name__ == "__main__":
    main()
