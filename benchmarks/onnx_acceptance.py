"""Acceptance figures of the importers (issue 15): an ONNX ResNet-50 built with onnx.helper,
written to a file with random weights, imported and simulated beside the zoo's ResNet-50 on
WSE-2; the BERT-Large import time; a Chrome trace of the imported model.

    python benchmarks/onnx_acceptance.py [OUT_DIR]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import onnx

import wse_sim as ws
from wse_sim.cli.importing import summary
from wse_sim.importers import from_onnx
from wse_sim.importers import onnx_examples as ex
from wse_sim.models import get
from wse_sim.report.trace import export_trace, trace_events


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "resnet50.onnx"
    onnx.save(ex.resnet50(batch="N", weights="random"), str(path))
    t = time.perf_counter()
    info = summary(path, {}, batch=256)
    t_import = time.perf_counter() - t
    g = info.pop("_graph")
    print(f"import {path.name}: {t_import:.2f} s (weights read), ops {info['ops']}, params "
          f"{info['params']:,}, forward MACs {info['forward_macs']:,}, unsupported "
          f"{info['unsupported'] or 'none'}")
    w = ws.wafer("wse2")
    zoo = get("resnet50")
    r_zoo = ws.simulate(ws.place(zoo, w))
    r_onnx = ws.simulate(ws.place(g, w))
    print(f"zoo resnet50   {r_zoo.samples_per_s:,.1f} samples/s ({zoo.total_params:,} params)")
    print(f"onnx resnet50  {r_onnx.samples_per_s:,.1f} samples/s ({g.total_params:,} params)")
    print(f"ratio onnx/zoo {r_onnx.samples_per_s / r_zoo.samples_per_s:.6f}")
    m = ex.bert_large(seq=128, weights="external")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        gb = from_onnx(m, batch=64, read_weights=False)
        times.append(time.perf_counter() - t)
    print(f"BERT-Large import ({len(m.graph.node)} nodes -> {len(gb)} ops): best "
          f"{min(times):.3f} s, worst {max(times):.3f} s; params {gb.total_params:,} "
          f"(zoo {get('bert-large').total_params:,})")
    tp = export_trace(r_onnx, out / "trace.json")
    ev = trace_events(r_onnx)["traceEvents"]
    kinds = {}
    for e in ev:
        kinds[e["ph"]] = kinds.get(e["ph"], 0) + 1
    print(f"trace {tp}: {tp.stat().st_size:,} bytes, events by phase {kinds}")
    print(json.dumps(trace_events(r_onnx)["otherData"], indent=1)[:600])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
