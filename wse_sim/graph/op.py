"""Ops of the graph IR: :class:`Op`, the op kinds and the dtypes the simulator knows.

Shapes are per sample (no batch dimension); MAC counts are per sample too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
"""Bytes per element for the dtypes the simulator knows."""

HEAVY_KINDS = frozenset({"dense", "matmul", "conv2d", "conv_transpose2d", "embedding"})
"""Ops that own a region of cores; every other op rides on the heavy op that feeds it."""
WEIGHTED_KINDS = frozenset(
    {"dense", "conv2d", "conv_transpose2d", "embedding", "layernorm", "batchnorm"})
SPARSIFIED_BY_DEFAULT = frozenset({"dense", "conv2d", "conv_transpose2d"})
ELEMENTWISE_FNS = {
    # vector ops per output element (for cost); unary fns take 1 input, binary 2; the sources of
    # each count are in the constants registry at the end of docs/hardware.md
    "relu": 1, "gelu": 8, "sigmoid": 4, "tanh": 4, "exp": 2, "dropout": 2, "scale": 1,
    "add": 1, "mul": 1, "sub": 1, "reparam": 3,
    "silu": 5, "rope": 3,  # silu = x * sigmoid(x); rope = x cos + rotate_half(x) sin
    # relu6 = min(max(x, 0), 6): two compares; hardsigmoid = clamp(x / 6 + 1 / 2, 0, 1): a
    # multiply-add and two compares; hardswish = x * hardsigmoid(x): one multiply more
    # (Howard et al., "Searching for MobileNetV3", 2019, eq. 2-3; https://arxiv.org/abs/1905.02244)
    "relu6": 2, "hardsigmoid": 3, "hardswish": 4,
}
NORM_VECTOR_OPS = 5
"""Vector ops per element of a layer or batch norm: subtract the mean, square, scale by the
reciprocal deviation, multiply by the gain, add the bias (the two row reductions spread over the
row's elements are below one op each), derived from the definition (Ba et al. 2016)."""
SOFTMAX_VECTOR_OPS = 5
"""Vector ops per element of a softmax: max, subtract, exp, sum, scale by the reciprocal sum,
derived from the numerically safe definition; the LLM decoder charges the same per score."""
LOSS_VECTOR_OPS = 4
"""Vector ops per input element of a loss (cross entropy or BCE: log, multiply by the target,
accumulate, and the gradient's subtract), assumed."""
BINARY_FNS = frozenset({"add", "mul", "sub", "reparam"})
OP_KINDS = frozenset(HEAVY_KINDS | {"input", "pool", "layernorm", "batchnorm", "softmax",
                                    "elementwise", "reshape", "transpose", "loss"})
PATTERNS = ("dense", "unstructured", "n:m", "block")
"""Patterns a user can ask :func:`~wse_sim.graph.sparsify` for (``PATTERNS[1:]``: drawn masks)."""
MASK_PATTERN = "mask"
"""The pattern of an op that carries its real mask (``attrs['weight_mask']``); only set by
``sparsify(graph, masks=...)``, never a pattern to draw."""
OP_PATTERNS = (*PATTERNS, MASK_PATTERN)
"""Every value ``Op.sparsity_pattern`` may take."""

RMSNORM_VECTOR_OPS = 4
"""Vector ops per element of an RMS norm (square-accumulate, scale, gain, and the per-row
reduction spread over the row), used by the graph's rmsnorm and by ``models.llama``'s; derived
from the definition (Zhang & Sennrich, 2019,
https://arxiv.org/abs/1910.07467)."""

RELU_OUTPUT_DENSITY = 0.5
"""Expected fraction of non-zero outputs of a ReLU before real data says otherwise: a symmetric
pre-activation distribution is positive half the time. Functional simulation replaces it."""


@dataclass(frozen=True)
class Op:
    """One operation; shapes per sample, counts per sample.

    ``weight_shape`` is the weight tensor without bias: ``(n_in, n_out)`` for dense,
    ``(c_out, c_in // groups, kh, kw)`` for conv2d (``attrs['groups']``: 1 unless grouped or
    depthwise), ``(c_in, c_out, kh, kw)`` for conv_transpose2d,
    ``(vocab, dim)`` for embedding, ``(dim,)`` for norms.
    """

    name: str
    kind: str
    inputs: tuple[str, ...] = ()
    in_shapes: tuple[tuple[int, ...], ...] = ()
    out_shape: tuple[int, ...] = ()
    dtype: str = "fp16"
    weight_shape: tuple[int, ...] = ()
    params: int = 0  # trainable values owned by this op (weights + bias); 0 if tied
    macs_fwd: int = 0
    macs_bwd_input: int = 0
    macs_bwd_weight: int = 0
    vector_ops: int = 0  # non-MAC arithmetic per sample (activations, norms, softmax)
    weight_density: float = 1.0
    sparsity_pattern: str = "dense"
    mask_seed: int = 0
    out_density: float = 1.0  # expected fraction of non-zero output activations
    attrs: dict = field(default_factory=dict, hash=False)

    @property
    def heavy(self) -> bool:
        """True for ops that get their own region (dense, matmul, conv, embedding)."""
        return self.kind in HEAVY_KINDS

    @property
    def out_elems(self) -> int:
        """Output activation elements per sample."""
        return math.prod(self.out_shape)

    @property
    def in_elems(self) -> int:
        """Input activation elements per sample, summed over inputs."""
        return sum(math.prod(s) for s in self.in_shapes)

    @property
    def weight_count(self) -> int:
        """Elements of the weight tensor (no bias), 0 for weightless ops."""
        return math.prod(self.weight_shape) if self.weight_shape else 0

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def training_macs(self) -> int:
        """Forward + input-gradient + weight-gradient MACs per sample."""
        return self.macs_fwd + self.macs_bwd_input + self.macs_bwd_weight

    def to_dict(self) -> dict:
        """JSON-ready fields; a real mask (``attrs['weight_mask']``) is left out (its digest,
        ``attrs['weight_mask_digest']``, stays)."""
        attrs = {k: v for k, v in self.attrs.items() if k != "weight_mask"}
        d = dataclasses.asdict(dataclasses.replace(self, attrs=attrs))
        d["inputs"] = list(self.inputs)
        d["in_shapes"] = [list(s) for s in self.in_shapes]
        d["out_shape"] = list(self.out_shape)
        d["weight_shape"] = list(self.weight_shape)
        return d
