"""Print the GPU baseline's samples/s per GPU for the model zoo on V100, A100 and H100.

    python benchmarks/gpu_table.py            # training, one GPU
    python benchmarks/gpu_table.py --mode infer

Each cell is ``samples/s (batch)``. The batch is the model's default; where that does not fit
in the GPU's memory the batch is reduced to what fits ('auto', marked ``*``), and ``OOM`` means
not even one sample fits beside the weights and optimizer state.
"""

from __future__ import annotations

import argparse

from wse_sim.errors import GpuError
from wse_sim.gpu import GEMM_EFFICIENCY, HBM_EFFICIENCY, gpu_baseline
from wse_sim.models import get

GPUS = ("v100", "a100", "h100")
CASES = (  # (label, model name, builder kwargs, precision)
    ("BERT-Large seq 128", "bert-large", {"seq_len": 128}, "mixed"),
    ("BERT-Large seq 128", "bert-large", {"seq_len": 128}, "fp32"),
    ("BERT-Large seq 512", "bert-large", {"seq_len": 512}, "mixed"),
    ("BERT-Large seq 512", "bert-large", {"seq_len": 512}, "fp32"),
    ("ResNet-50 224px", "resnet50", {}, "mixed"),
    ("GPT-2 XL ctx 1024", "gpt2-xl", {}, "mixed"),
    ("CVAE map 28", "cvae", {"map_size": 28}, "mixed"),
    ("CVAE map 256", "cvae", {"map_size": 256}, "mixed"),
    ("CVAE map 1024", "cvae", {"map_size": 1024}, "mixed"),
)


def cell(graph, gpu: str, mode: str, precision: str) -> str:
    """``'samples/s (batch)'`` on one GPU, ``*`` when the batch was reduced to fit."""
    for batch, mark in ((None, ""), ("auto", "*")):
        try:
            r = gpu_baseline(graph, gpu, mode=mode, precision=precision, batch_per_gpu=batch)
        except GpuError:
            continue
        return f"{r.samples_per_s_per_gpu:,.1f} ({r.batch_per_gpu}{mark})"
    return "OOM"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    args = parser.parse_args(argv)
    header = ("model", "precision", *GPUS)
    rows = [header]
    for label, name, kwargs, precision in CASES:
        graph = get(name, **kwargs)
        rows.append((label, precision, *(cell(graph, g, args.mode, precision) for g in GPUS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"GPU baseline, {args.mode}, samples/s per GPU (batch per GPU; * = reduced to fit); "
          f"GEMM efficiency {GEMM_EFFICIENCY} (fitted), HBM efficiency {HBM_EFFICIENCY} "
          "(assumed)")
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
