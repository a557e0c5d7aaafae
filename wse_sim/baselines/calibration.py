"""The published GPU figures the baseline is calibrated and checked against, and the fit.

NVIDIA DeepLearningExamples, PyTorch BERT README, "Pre-training NVIDIA DGX-1 With 32G"
(container pytorch:21.11-py3, one V100-32GB, BERT-Large pre-training with LAMB): throughput in
sequences/s; the micro-batch is the README's accumulated batch per GPU divided by its
accumulation steps. Two of the four figures set the two fitted constants (one per math pipe,
:data:`FIT_POINTS`); the other two are held-out checks (``docs/gpu_baselines.md`` explains why
they cannot be fitted: they need more FLOP/s per token than the seq-128 figures).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import Graph
from ..spec import gpu as gpu_spec
from .fusion import FUSIONS


@dataclass(frozen=True)
class CalibrationPoint:
    """One published one-GPU training figure."""

    seq_len: int
    precision: str
    micro_batch: int
    accumulation: int
    samples_per_s: float
    source: str = "NVIDIA DeepLearningExamples PyTorch BERT README, DGX-1 V100 32G, 21.11"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


V100_BERT_LARGE = (
    CalibrationPoint(128, "fp32", 32, 128, 50.0),  # 4096 accumulated / 128 steps
    CalibrationPoint(128, "mixed", 64, 64, 224.0),  # 4096 / 64
    CalibrationPoint(512, "fp32", 4, 512, 19.0),  # 2048 / 512
    CalibrationPoint(512, "mixed", 8, 256, 75.0),  # 2048 / 256
)
A100_BERT_LARGE = (  # held out: the same README, DGX A100 80GB, one GPU, seq 128
    CalibrationPoint(128, "fp32", 128, 64, 317.0, "DLE PyTorch BERT README, DGX A100 80GB, 21.11"),
    CalibrationPoint(128, "mixed", 256, 32, 580.0, "DLE PyTorch BERT README, DGX A100 80GB, 21.11"),
)
RESNET50 = (
    # held out: DeepLearningExamples ResNet-50 v1.5, one GPU, images/s; (stack, gpu, precision,
    # batch, published). PyTorch (README, container 21.03; configs.yml batches) runs eager
    # kernels (batchnorm and ReLU separate): compare with fused=False. MXNet (README,
    # container 20.12) runs cuDNN's fused batchnorm-add-ReLU: compare with the tuned stack.
    ("pytorch", "v100", "fp32", 112, 356.0),
    ("pytorch", "v100", "mixed", 256, 1156.0),
    ("pytorch", "a100", "fp32", 256, 938.0),
    ("pytorch", "a100", "mixed", 256, 2470.0),
    ("mxnet", "v100", "fp32", 128, 417.0),
    ("mxnet", "v100", "mixed", 256, 1492.0),
    ("mxnet", "a100", "fp32", 256, 1022.0),
    ("mxnet", "a100", "mixed", 256, 2180.0),
)
FIT_POINTS = {"tensor": V100_BERT_LARGE[1], "cuda": V100_BERT_LARGE[0]}
"""The figure each fitted constant is bisected to: the tensor-core efficiency to the mixed
precision seq-128 figure, the CUDA-core efficiency to the fp32 seq-128 figure."""


def predict(graph: Graph, point: CalibrationPoint, gpu: str = "v100", **eff) -> float:
    """One GPU's predicted samples/s for ``point`` with the tuned stack (flash attention where
    the GPU has it; ``eff``: efficiency overrides)."""
    from .baseline import single_gpu
    spec = gpu_spec(gpu)
    attention = "fused" if spec.flash_attention else "unfused"
    return single_gpu(graph, spec, "train", point.precision, point.micro_batch,
                      attention=attention, fusions=frozenset(FUSIONS),
                      grad_accumulation=point.accumulation, **eff).samples_per_s


def fit(graph: Graph, pipe: str, iterations: int = 30) -> float:
    """The efficiency of ``pipe`` ('tensor' or 'cuda') at which ``graph`` (BERT-Large at the
    point's sequence length) reaches :data:`FIT_POINTS`'s figure: bisection, throughput rising
    with the efficiency."""
    point = FIT_POINTS[pipe]
    key = "tensor_eff" if pipe == "tensor" else "cuda_eff"
    lo, hi = 1e-3, 1.0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = predict(graph, point, **{key: mid}) >= point.samples_per_s
        lo, hi = (lo, mid) if ok else (mid, hi)
    return 0.5 * (lo + hi)
