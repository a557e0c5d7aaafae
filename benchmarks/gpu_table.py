"""The GPU baseline's prediction table for docs/gpu_baselines.md (markdown on stdout).

    python benchmarks/gpu_table.py

Sections: the V100 calibration figures beside the predictions; BERT-Large (seq 128 and 512,
fp32 and mixed) and ResNet-50 (fp32 and mixed) training samples/s per GPU on V100, A100,
H100 and H200 (the README's micro-batches for BERT, batch 256 for ResNet-50, the tuned stack);
LLaMA decode at batch 1; Llama-2 7B and 70B training on 8 and 64 H100s (parallel='auto').
"""

from __future__ import annotations

from wse_sim.baselines import CUDA_CORE_EFFICIENCY, TENSOR_CORE_EFFICIENCY, gpu_baseline
from wse_sim.baselines.calibration import V100_BERT_LARGE, predict
from wse_sim.baselines.llm import gpu_llm
from wse_sim.baselines.llm_train import gpu_train_llm
from wse_sim.errors import GpuError
from wse_sim.models import LlamaConfig, get, llama, llama_preset

GPUS = ("v100", "a100", "h100", "h200")
LLAMA2_70B = LlamaConfig(80, 8192, 64, 8, 28672, 32000, 4096)  # Llama 2 70B config.json


def _cell(graph, gpu, precision, batch, acc=1):
    try:
        r = gpu_baseline(graph, gpu, precision=precision, batch_per_gpu=batch,
                         grad_accumulation=acc)
    except GpuError:
        r = gpu_baseline(graph, gpu, precision=precision, batch_per_gpu="auto",
                         grad_accumulation=acc)
        return f"{r.samples_per_s:,.0f} (b{r.batch_per_gpu}*)"
    return f"{r.samples_per_s:,.0f}"


def main() -> None:
    print(f"Fitted: TENSOR_CORE_EFFICIENCY = {TENSOR_CORE_EFFICIENCY}, "
          f"CUDA_CORE_EFFICIENCY = {CUDA_CORE_EFFICIENCY}\n")
    print("### Calibration: V100-32GB, BERT-Large pre-training (DLE PyTorch README, 21.11)\n")
    print("| seq | precision | micro-batch | published seq/s | predicted | error | role |")
    print("|---|---|---|---|---|---|---|")
    bert = {s: get("bert-large", seq_len=s) for s in (128, 512)}
    for p in V100_BERT_LARGE:
        pred = predict(bert[p.seq_len], p)
        role = "fitted" if p.seq_len == 128 else "held out"
        print(f"| {p.seq_len} | {p.precision} | {p.micro_batch} | {p.samples_per_s:g} | "
              f"{pred:.1f} | {pred / p.samples_per_s - 1:+.0%} | {role} |")
    print("\n### Training samples/s per GPU (one GPU, tuned stack)\n")
    print("| model | precision | batch | " + " | ".join(GPUS) + " |")
    print("|---|---|---|" + "---|" * len(GPUS))
    cases = [(f"BERT-Large seq {p.seq_len}", bert[p.seq_len], p.precision, p.micro_batch,
              p.accumulation) for p in V100_BERT_LARGE]
    resnet = get("resnet50")
    cases += [("ResNet-50", resnet, prec, 256, 1) for prec in ("fp32", "mixed")]
    for label, g, prec, b, acc in cases:
        cells = [_cell(g, name, prec, b, acc) for name in GPUS]
        print(f"| {label} | {prec} | {b} | " + " | ".join(cells) + " |")
    print("\nfp32 is TF32 on tensor cores on A100/H100/H200, CUDA cores on V100; * = the batch "
          "did not fit, 'auto' batch shown.")
    print("\n### LLaMA decode, batch 1, context 2048, one GPU (ms per token)\n")
    print("| model | " + " | ".join(GPUS[1:]) + " |")
    print("|---|" + "---|" * len(GPUS[1:]))
    for name in ("llama2-7b", "llama3-8b"):
        g = llama_preset(name, seq_len=2048)
        row = []
        for gpu in GPUS[1:]:
            try:
                row.append(f"{gpu_llm(g, gpu, 1, 'decode', 2048, 1).time_per_token_s * 1e3:.2f}")
            except GpuError:
                row.append("does not fit")
        print(f"| {name} | " + " | ".join(row) + " |")
    print("\n### Llama-2 training on H100s (seq 4096, 4M-token global batch, parallel='auto')\n")
    print("| model | GPUs | layout | MFU | tokens/s per GPU | step s | memory/GPU GB |")
    print("|---|---|---|---|---|---|---|")
    models = {"Llama-2 7B": llama_preset("llama2-7b", seq_len=4096),
              "Llama-2 70B": llama(LLAMA2_70B, seq_len=4096, name="llama2-70b")}
    for label, g in models.items():
        for n in (8, 64):
            try:
                r = gpu_train_llm(g, "h100", n)
            except GpuError as exc:
                need = str(exc).split("needs ")[1].split(" bytes")[0]
                print(f"| {label} | {n} | does not fit (best needs {need} B/GPU) | - | - | - "
                      "| - |")
                continue
            p = r.parallel
            lay = (f"dp {p['dp']} tp {p['tp']} pp {p['pp']} ZeRO-{p['zero']}"
                   f"{' recompute' if p['recompute'] else ''} mb {p['micro_batch']}")
            print(f"| {label} | {n} | {lay} | {r.mfu:.1%} | {r.tokens_per_s_per_gpu:,.0f} | "
                  f"{r.step_time_s:.2f} | {r.memory_bytes_per_gpu / 1e9:.1f} |")


if __name__ == "__main__":
    main()
