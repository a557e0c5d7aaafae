"""The GPU spec of the baselines: :class:`GpuSpec` (datasheet peaks plus a typical node).

Presets live in ``presets/gpus.toml`` with the datasheet each figure comes from
(``docs/hardware.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import SpecError
from ..validate import check_gpu, checked_init, normalise
from .fields import replaced


@checked_init(SpecError, "use wse_sim.gpu('v100', **overrides) for a preset")
@dataclass(frozen=True)
class GpuSpec:
    """A GPU for the baseline: datasheet peaks plus its typical cluster node."""

    name: str
    fp16_tensor_flops: float  # dense FP16/BF16 tensor-core peak, FLOP/s
    fp16_tensor_sparse_flops: float  # with 2:4 structured sparsity (= dense where unsupported)
    fp32_flops: float  # non-tensor FP32 peak, FLOP/s
    hbm_bytes_per_s: float
    memory_bytes: float
    nvlink_bytes_per_s: float  # per GPU, all links
    tdp_w: float
    gpus_per_node: int
    internode_bytes_per_s_per_node: float  # InfiniBand injection bandwidth of one node
    sms: int = 80  # streaming multiprocessors (waves of GEMM tiles), the V100's by default
    tf32_tensor_flops: float = 0.0  # dense TF32 tensor-core peak; 0 = none (fp32 on CUDA cores)
    kernel_launch_s: float = 5e-6  # per-kernel launch + tail, assumed (typical CUDA figure)
    supports_2to4: bool = False
    flash_attention: bool = False  # a fused (flash-style) attention kernel exists for it
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # one rule per field, as data: wse_sim.validate.GPU_RULES
        normalise(self, check_gpu(self))

    def replace(self, **changes) -> GpuSpec:
        """A copy with fields replaced; unknown field names raise :class:`SpecError`."""
        return replaced(self, changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return d
