"""The GPU spec of the baselines: :class:`GpuSpec` (datasheet peaks plus a typical node).

Presets live in ``presets/gpus.toml`` with the datasheet each figure comes from
(``docs/hardware.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import SpecError, unknown_name


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
    kernel_launch_s: float = 5e-6  # per-kernel launch + tail, assumed (typical CUDA figure)
    supports_2to4: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("name", "supports_2to4", "extra"):
                continue
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise SpecError(f"GpuSpec.{f.name} must be a positive number, got {v!r}")

    def replace(self, **changes) -> GpuSpec:
        known = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known:
                raise SpecError(unknown_name("GpuSpec field", key, known))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return d
