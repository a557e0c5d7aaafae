"""Print the GPU baseline's samples/s per GPU for the model zoo on V100 to B200.

    python benchmarks/gpu_table.py                    # training, one GPU, the model's batch
    python benchmarks/gpu_table.py --batch auto       # the batch that maximises samples/s
    python benchmarks/gpu_table.py --mode infer --attention fused
    python benchmarks/gpu_table.py --markdown         # a markdown table for the notes

Each cell is ``samples/s (batch)``. With the default ``--batch default`` the batch is the
model's default; where that does not fit in the GPU's memory the 'auto' batch is used instead
(marked ``*``); ``OOM`` means not even one sample fits beside the weights and optimizer state.
``cvae-cs2`` is listed as absent while the zoo lacks it.
"""

from __future__ import annotations

import argparse

from wse_sim.baselines import GEMM_EFFICIENCY, HBM_EFFICIENCY, gpu_baseline
from wse_sim.errors import GpuError
from wse_sim.models import available, get

GPUS = ("v100", "a100", "h100", "h200", "b200")
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
    ("CVAE-CS2", "cvae-cs2", {}, "mixed"),
)


def cell(graph, gpu: str, mode: str, precision: str, batch: str, attention: str) -> str:
    """``'samples/s (batch)'`` on one GPU, ``*`` when 'auto' replaced a batch that does not
    fit."""
    tries = (("auto", ""),) if batch == "auto" else ((None, ""), ("auto", "*"))
    for b, mark in tries:
        try:
            r = gpu_baseline(graph, gpu, mode=mode, precision=precision, batch_per_gpu=b,
                             attention=attention)
        except GpuError:
            continue
        return f"{r.samples_per_s_per_gpu:,.1f} ({r.batch_per_gpu}{mark})"
    return "OOM"


def rows(mode: str, batch: str, attention: str) -> list[tuple[str, ...]]:
    out = [("model", "precision", *GPUS)]
    for label, name, kwargs, precision in CASES:
        if name not in available():
            out.append((label, precision, *("not in zoo" for _ in GPUS)))
            continue
        graph = get(name, **kwargs)
        out.append((label, precision,
                    *(cell(graph, g, mode, precision, batch, attention) for g in GPUS)))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch", choices=("default", "auto"), default="default")
    parser.add_argument("--attention", choices=("unfused", "fused"), default="unfused")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    table = rows(args.mode, args.batch, args.attention)
    print(f"GPU baseline, {args.mode}, samples/s per GPU (batch per GPU; * = 'auto' because the "
          f"default does not fit); batch {args.batch}, attention {args.attention}; GEMM "
          f"efficiency {GEMM_EFFICIENCY} (fitted), HBM efficiency {HBM_EFFICIENCY} (assumed)")
    if args.markdown:
        print("| " + " | ".join(table[0]) + " |")
        print("|" + "---|" * len(table[0]))
        for r in table[1:]:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
