"""``wse-sim models`` and ``wse-sim wafers``: the zoo and the presets."""

from __future__ import annotations

from .. import models
from ..spec import WAFER_PRESETS
from .args import _si, print_json, table


def cmd_models(args) -> int:
    info = [models.describe(name) for name in models.available()]
    if args.json:
        print_json(info)
        return 0
    rows = [[d["name"], _si(d["params"]), _si(d["forward_macs"]), _si(d["training_macs"]),
             str(d["batch_default"]), d["description"]] for d in info]
    print(table(rows, ["model", "params", "fwd MACs/sample", "train MACs/sample", "batch",
                       "description"], right={1, 2, 3, 4}))
    return 0


def wafer_rows() -> list[dict]:
    return [{"name": w.name, "rows": w.rows, "cols": w.cols, "cores": w.cores,
             "sram_bytes_per_core": w.sram_bytes_per_core,
             "total_sram_bytes": w.total_sram_bytes, "peak_flops_fp16": w.peak_flops("fp16"),
             "clock_hz": w.clock_hz} for w in WAFER_PRESETS.values()]


def cmd_wafers(args) -> int:
    info = wafer_rows()
    if args.json:
        print_json(info)
        return 0
    rows = [[w["name"], str(w["rows"]), str(w["cols"]), f"{w['cores']:,}",
             f"{w['sram_bytes_per_core'] / 1024:g}", f"{w['total_sram_bytes'] / 2**30:.3g}",
             f"{w['peak_flops_fp16'] / 1e15:.3g}", f"{w['clock_hz'] / 1e9:.3g}"] for w in info]
    print(table(rows, ["wafer", "rows", "cols", "cores", "SRAM/core KB", "total SRAM GiB",
                       "peak fp16 PFLOP/s", "clock GHz"], right=set(range(1, 8))))
    return 0
