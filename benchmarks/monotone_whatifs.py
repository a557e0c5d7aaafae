"""What-ifs that used to answer "more hardware is slower", and BERT-Base under four resources:
samples/s on the WSE-2 preset and with more of one resource (training, 32 samples).

    python benchmarks/monotone_whatifs.py

Prints a markdown table: case, change, base, more, ratio (more / base, never below 0.99).
"""

from __future__ import annotations

import wse_sim as ws
from wse_sim.models import get


def rate(graph, wafer) -> float:
    return ws.simulate(ws.place(graph, wafer), samples=32).samples_per_s


def main() -> None:
    base = ws.wafer("wse2")
    cases = [
        ("bert-large s=0.5", ws.sparsify(get("bert-large"), 0.5, seed=0),
         {"link_wavelets_per_cycle": 2.0}),
        ("cvae", get("cvae"), {"sram_bytes_per_core": 2 * base.sram_bytes_per_core}),
        ("cvae", get("cvae"), {"code_reserve_bytes": base.code_reserve_bytes // 2}),
    ]
    bert_base = get("bert-base")
    cases += [("bert-base", bert_base, {f: v}) for f, v in (
        ("link_wavelets_per_cycle", 2.0), ("sram_bytes_per_core", 2 * base.sram_bytes_per_core),
        ("sram_read_bytes_per_cycle", 2 * base.sram_read_bytes_per_cycle),
        ("rows", 2 * base.rows))]
    print("| case | change | base samples/s | more samples/s | ratio |\n|---|---|---|---|---|")
    for name, graph, change in cases:
        a, b = rate(graph, base), rate(graph, base.replace(**change))
        print(f"| {name} | {change} | {a:,.0f} | {b:,.0f} | {b / a:.3f} |", flush=True)


if __name__ == "__main__":
    main()
