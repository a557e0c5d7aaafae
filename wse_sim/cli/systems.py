"""``wse-sim systems``: the system presets (a wafer, its memory service and interconnect)."""

from __future__ import annotations

from ..spec import SYSTEM_PRESETS
from .args import print_json, table


def system_rows() -> list[dict]:
    return [s.to_dict() for s in SYSTEM_PRESETS.values()]


def cmd_systems(args) -> int:
    info = system_rows()
    if args.json:
        print_json(info)
        return 0
    rows = [[s["name"], s["wafer"], f"{s['memory_capacity_bytes'] / 1e12:g}",
             f"{s['memory_bytes_per_s'] / 1e9:g}", f"{s['optimizer_flops'] / 1e12:g}",
             f"{s['interconnect_bytes_per_s'] / 1e9:g}",
             f"{s['interconnect_latency_s'] * 1e6:g}", str(s["interconnect_fan_in"])]
            for s in info]
    print(table(rows, ["system", "wafer", "service TB", "stream GB/s", "optimizer TFLOP/s",
                       "tree GB/s", "tree level us", "fan-in"], right=set(range(2, 8))))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("systems", help="list the system presets (wafer + memory service)",
                       description="List the system presets: the wafer, the memory service "
                       "the weights stream from, and the broadcast/reduce tree joining N.")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of every SystemSpec field (bytes, bytes/s, "
                        "FLOP/s, s) plus stream_bytes_per_s and tree_levels")
    p.set_defaults(func=cmd_systems)
