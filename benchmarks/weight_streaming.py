"""Issue 23's acceptance table: GPT and Llama training in weight streaming on CS-2 / CS-3
systems, one and several.

    python benchmarks/weight_streaming.py               # the table (markdown) on stdout
    python benchmarks/weight_streaming.py --json out.json
    python benchmarks/weight_streaming.py --stand-ins   # shape-alike stand-ins for models the
                                                        # zoo does not have yet (labelled)

Each row: samples/s, the micro-batch (and how many a step runs), the activation
checkpointing the placer chose, what bounds each kind of layer (the bound most of that kind's
layers have), scaling efficiency, MAC utilisation (model MACs, recomputation not counted) and
the warm place + simulate wall time (second call in this process). Scaling efficiency is
given three ways: the result's (against one system on the same global batch, with this
placement's tiles), against the table's own one-system row of the same model and batch (its
own placement: what a reader comparing rows sees), and per share (against one system alone on
its share of the batch: the tree's cost only). A case whose model cannot
be built (a preset not in this checkout's zoo) is listed as skipped with the reason, never
dropped silently. The published runs these are compared with are kept aside: nothing here is
fitted to them.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

import wse_sim as ws
from wse_sim.errors import WseSimError
from wse_sim.models import get
from wse_sim.models.gpt import gpt

# (label, model, model kwargs, system, systems, batch)
CASES = (
    ("GPT-2 small, MSL 2,048, batch 112, 1 CS-2", "gpt2-small",
     {"seq_len": 2048, "max_positions": 2048}, "cs2", 1, 112),
    ("GPT-J 6B, MSL 2,048, batch 66, 1 CS-2", "gptj-6b", {"seq_len": 2048}, "cs2", 1, 66),
    ("GPT-J 6B, MSL 2,048, batch 120, 1 CS-2 (the 2-system row's reference)", "gptj-6b",
     {"seq_len": 2048}, "cs2", 1, 120),
    ("GPT-J 6B, MSL 2,048, batch 120, 2 CS-2", "gptj-6b", {"seq_len": 2048}, "cs2", 2, 120),
    ("Llama-2 7B, MSL 4,096, batch 1,024, 1 CS-3", "llama2-7b", {"seq_len": 4096}, "cs3", 1,
     1024),
    ("Llama-3 70B, MSL 2,048, batch 1,024, 1 CS-3", "llama3-70b", {"seq_len": 2048}, "cs3", 1,
     1024),
    ("Llama-3 70B, MSL 2,048, batch 1,024, 4 CS-3", "llama3-70b", {"seq_len": 2048}, "cs3", 4,
     1024),
    ("Llama-3 70B, MSL 2,048, batch 1,024, 16 CS-3", "llama3-70b", {"seq_len": 2048}, "cs3",
     16, 1024),
)


def _stand_in(model: str, kwargs: dict):
    """A shape-alike for a preset this checkout lacks (labelled as such in the table)."""
    seq = kwargs.get("seq_len", 2048)
    if model == "gpt2-small":
        return gpt(12, 768, 12, seq, max_positions=seq, name="gpt2-small(stand-in)")
    if model == "gptj-6b":  # 28 x 4096, 16 heads, vocab 50,400 (no rotary, serial blocks)
        return gpt(28, 4096, 16, seq, vocab=50400, max_positions=seq, name="gptj-6b(stand-in)")
    return None


def build(model: str, kwargs: dict, stand_ins: bool):
    """``(graph, note)``; graph None (with the reason) when neither the preset nor (with
    ``stand_ins``) a stand-in can be built."""
    try:
        return get(model, **kwargs), ""
    except WseSimError as exc:
        g = _stand_in(model, kwargs) if stand_ins else None
        if g is None:
            return None, f"skipped: {' '.join(str(exc).split())[:160]}"
        return g, "stand-in (preset not in this zoo)"


def layer_kind(heavy: str) -> str:
    """The kind of a stage's heavy op: its name without the layer prefix."""
    return heavy.rsplit(".", 1)[-1]


def run_case(graph, system: str, n: int, batch: int) -> dict:
    """One row: the second place + simulate is the timed, warm one."""
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = ws.place(graph, ws.system(system, n=n), training=True, batch=batch)
        r = ws.simulate(plan, mode="train", batch=batch)
        # CPU time stands in for a quiet machine's wall time when the machine is shared
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    kinds: dict = collections.defaultdict(collections.Counter)
    for row in r.stages:
        kinds[layer_kind(row.heavy)][row.bound] += 1
    w = plan.wafer
    util = r.macs_per_sample * r.samples_per_s / r.systems / (
        w.cores * w.fmac_per_cycle("fp16") * w.clock_hz)
    return {"samples_per_s": r.samples_per_s, "micro_batch": r.micro_batch,
            "micro_batches": len(r.settings["micro_batches"]), "systems": r.systems,
            "scaling_efficiency": r.scaling_efficiency,
            "scaling_efficiency_per_share": r.settings.get("scaling_efficiency_per_share", 1.0),
            "checkpoint": plan.streaming.checkpoint,
            "bounds": {k: c.most_common(1)[0][0] for k, c in kinds.items()},
            "bottleneck": r.bottleneck, "mac_utilization": util,
            "update_exposed_s": r.memory_service["update_exposed_s"],
            "step_time_s": r.step_time_s, "place_simulate_s": wall,
            "place_simulate_cpu_s": cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--stand-ins", action="store_true",
                    help="run shape-alike stand-ins for presets the zoo lacks (labelled)")
    args = ap.parse_args(argv)
    rows = []
    print("| case | samples/s | micro-batch (x per step) | checkpoint | bound per layer kind "
          "| scaling eff.: result / vs 1-system row / per share | MAC util. "
          "| place+simulate warm: wall (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    one_row: dict = {}  # (model, system, batch) -> samples/s of its one-system row
    for label, model, kwargs, system, n, batch in CASES:
        graph, note = build(model, kwargs, args.stand_ins)
        if graph is None:
            print(f"| {label} | {note} | | | | | | |")
            rows.append({"case": label, "note": note})
            continue
        try:
            d = run_case(graph, system, n, batch)
        except WseSimError as exc:
            msg = " ".join(str(exc).split())[:160]
            print(f"| {label} | error: {msg} | | | | | | |")
            rows.append({"case": label, "error": msg})
            continue
        d.update(case=label, note=note)
        key = (model, system, batch)
        if n == 1:
            one_row[key] = d["samples_per_s"]
        d["vs_one_system_row"] = (d["samples_per_s"] / (n * one_row[key])
                                  if key in one_row else None)
        rows.append(d)
        bounds = ", ".join(f"{k}: {v}" for k, v in d["bounds"].items())
        vs_row = "-" if d["vs_one_system_row"] is None else f"{d['vs_one_system_row']:.4f}"
        print(f"| {label}{' (' + note + ')' if note else ''} | {d['samples_per_s']:,.2f} | "
              f"{d['micro_batch']} (x{d['micro_batches']}) | {d['checkpoint']} | {bounds} | "
              f"{d['scaling_efficiency']:.4f} / {vs_row} / "
              f"{d['scaling_efficiency_per_share']:.4f} | {d['mac_utilization']:.1%} | "
              f"{d['place_simulate_s']:.2f} s ({d['place_simulate_cpu_s']:.2f} s) |")
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
