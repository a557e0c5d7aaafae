"""Hardware specs: the wafer (:class:`WaferSpec`) and the GPU baselines (:class:`GpuSpec`).

Every number here is a field with its source in a comment; figures are from
``shared/reference/hardware.md`` and are marked *stated*, *derived* or *assumed* as there.
No workload result was used to choose any value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import SpecError, unknown_name

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
"""Bytes per element for the dtypes the simulator knows."""


@dataclass(frozen=True)
class WaferSpec:
    """A wafer-scale engine: a ``rows x cols`` mesh of cores, each with its own SRAM.

    All rates are per core per cycle unless the name says otherwise.
    """

    name: str
    rows: int
    cols: int
    sram_bytes_per_core: int = 48 * 1024  # 48 KB per core, stated (SDK examples)
    clock_hz: float = 1.1e9  # operating clock used for time; per preset
    clock_max_hz: float = 1.1e9  # peak clock the vendor's aggregate figures assume
    cores_marketed: int = 0  # vendor core count (0 = rows*cols); only for comparing aggregates
    fmac_per_cycle_fp16: int = 4  # FP16 FMAC lanes (SIMD-4), stated for WSE-2
    fmac_per_cycle_fp32: int = 1  # FP32 FMAC lanes, derived from WSE-2 papers
    sram_read_bytes_per_cycle: int = 16  # 4 x 32-bit loads, stated (SC22 stencil paper)
    sram_write_bytes_per_cycle: int = 8  # 2 x 32-bit stores, stated (SC22 stencil paper)
    wavelet_bits: int = 32  # one wavelet = 32-bit fabric message, stated
    link_wavelets_per_cycle: float = 1.0  # 32 bits per direction per cycle, stated
    mesh_ports: int = 4  # N, S, E, W (the ramp to the core is a 5th port), stated
    hop_latency_cycles: float = 1.0  # 1 cycle per straight hop, stated
    ramp_latency_cycles: float = 2.0  # core <-> router, each way; HPDC 2024 model, medium
    turn_latency_cycles: float = 0.0  # hardware XY routes turn for free; software turns cost more
    colors: int = 24  # routable colors (static route ids), stated (SDK)
    wavelet_overhead_cycles: float = 1.0  # per received wavelet task dispatch, assumed
    task_overhead_cycles: float = 20.0  # fixed per task (per op per sample), assumed
    code_reserve_bytes: int = 6 * 1024  # program + runtime per core, assumed
    io_buffer_bytes: int = 1024  # per-core FIFOs for wavelets in flight (in + out), assumed
    stream_chunk_bytes: int = 4096  # weight streaming: double-buffered weight chunk, assumed
    buffer_depth: int = 4  # samples a stage can queue before it stalls its producer, assumed
    offwafer_bytes_per_s: float = 150e9  # 1.2 Tb/s MemoryX/SwarmX class I/O, assumed
    # Energy per operation is not published. These defaults reproduce the ~22.8 kW measured on a
    # CS-2 under full load (16.1 kW measured idle + ~6.7 kW dynamic at peak FMAC, SRAM and fabric
    # rates); they are calibrated to power, never to a workload's throughput.
    energy_pj_per_fmac: float = 1.0  # assumed, see above
    energy_pj_per_wavelet_hop: float = 0.25  # assumed, see above
    energy_pj_per_sram_byte: float = 0.1  # assumed, see above
    static_power_w: float = 16_100.0  # measured idle power of a CS-2 (stencil run), stated

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "sram_bytes_per_core", "fmac_per_cycle_fp16",
                     "fmac_per_cycle_fp32", "colors", "buffer_depth", "mesh_ports",
                     "wavelet_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(
                    f"WaferSpec.{name} must be a positive integer, got {value!r}; "
                    f"set {name}=<int >= 1>"
                )
        for name in ("clock_hz", "clock_max_hz", "link_wavelets_per_cycle",
                     "sram_read_bytes_per_cycle", "sram_write_bytes_per_cycle",
                     "offwafer_bytes_per_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise SpecError(
                    f"WaferSpec.{name} must be a positive number, got {value!r}; "
                    f"set {name}=<number > 0>"
                )
        for name in ("hop_latency_cycles", "ramp_latency_cycles", "turn_latency_cycles",
                     "wavelet_overhead_cycles", "task_overhead_cycles", "code_reserve_bytes",
                     "io_buffer_bytes", "stream_chunk_bytes",
                     "energy_pj_per_fmac", "energy_pj_per_wavelet_hop",
                     "energy_pj_per_sram_byte", "static_power_w", "cores_marketed"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise SpecError(
                    f"WaferSpec.{name} must be a number >= 0, got {value!r}; "
                    f"set {name}=<number >= 0>"
                )
        if self.code_reserve_bytes >= self.sram_bytes_per_core:
            raise SpecError(
                f"WaferSpec.code_reserve_bytes={self.code_reserve_bytes} leaves no SRAM of "
                f"sram_bytes_per_core={self.sram_bytes_per_core}; lower the reserve or raise SRAM"
            )

    # ---- derived figures -------------------------------------------------------------------
    @property
    def cores(self) -> int:
        """Cores in the mesh a program sees (rows x cols)."""
        return self.rows * self.cols

    @property
    def total_sram_bytes(self) -> int:
        """SRAM of all cores, bytes."""
        return self.cores * self.sram_bytes_per_core

    def fmac_per_cycle(self, dtype: str = "fp16") -> int:
        """FMAC lanes per core per cycle for ``dtype`` ('fp16', 'bf16' or 'fp32')."""
        if dtype in ("fp16", "bf16"):
            return self.fmac_per_cycle_fp16
        if dtype == "fp32":
            return self.fmac_per_cycle_fp32
        raise SpecError(f"unknown dtype {dtype!r}; use one of 'fp16', 'bf16', 'fp32'")

    def peak_flops(self, dtype: str = "fp16") -> float:
        """Peak FLOP/s of the whole wafer (one FMAC = 2 FLOPs) at ``clock_hz``."""
        return 2.0 * self.cores * self.fmac_per_cycle(dtype) * self.clock_hz

    @property
    def sram_bandwidth_bytes_per_s(self) -> float:
        """Aggregate SRAM port bandwidth (read + write), bytes/s, at ``clock_hz``."""
        per_cycle = self.sram_read_bytes_per_cycle + self.sram_write_bytes_per_cycle
        return float(self.cores * per_cycle * self.clock_hz)

    @property
    def fabric_bandwidth_bits_per_s(self) -> float:
        """Aggregate fabric bandwidth, bits/s, counted as vendors do: every router's mesh ports,
        in and out, at ``clock_hz``."""
        per_cycle = 2 * self.mesh_ports * self.wavelet_bits * self.link_wavelets_per_cycle
        return float(self.cores * per_cycle * self.clock_hz)

    @property
    def link_bytes_per_cycle(self) -> float:
        """Bytes one link carries per cycle in one direction."""
        return self.link_wavelets_per_cycle * self.wavelet_bits / 8

    def replace(self, **changes) -> WaferSpec:
        """A copy with fields replaced; unknown field names raise :class:`SpecError`."""
        known = {f.name for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known:
                raise SpecError(unknown_name("WaferSpec field", key, known))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready fields plus the derived aggregates."""
        d = dataclasses.asdict(self)
        d.update(cores=self.cores, total_sram_bytes=self.total_sram_bytes,
                 peak_flops_fp16=self.peak_flops("fp16"))
        return d


# WSE-1 (CS-1): ~633 x 633 square layout (assumed). The clock is derived from the vendor's
# aggregate SRAM bandwidth: 9 PB/s / (400,000 cores x 24 B/cycle) = 0.94 GHz; hardware.md's
# "~1.1 GHz assumed" disagrees with every WSE-1 aggregate by > 15%.
_WSE1 = WaferSpec(
    name="wse1", rows=633, cols=633, clock_hz=0.94e9, clock_max_hz=0.94e9,
    cores_marketed=400_000,  # vendor launch material, stated
    fmac_per_cycle_fp16=4,  # SIMD-4 assumed for WSE-1 (hardware.md)
    offwafer_bytes_per_s=150e9,  # 12 x 100 GbE = 1.2 Tb/s, assumed
)
# WSE-2 (CS-2): 750 x 994 cores usable by a program beside the host I/O columns (SDK, stated).
_WSE2 = WaferSpec(
    name="wse2", rows=994, cols=750,
    clock_hz=0.85e9,  # SDK's cycle-to-time conversion, stated
    clock_max_hz=1.1e9,  # "maximum" clock in the WaferLLM paper, stated
    cores_marketed=850_000,  # vendor launch material, stated
    fmac_per_cycle_fp16=4,  # "up to eight 16-bit FP operations per cycle", stated
)
# WSE-3 (CS-3): 762 x 1172 SDK fabric (stated). Clock derived like WSE-1's: 21 PB/s /
# (900,000 x 24 B/cycle) = 0.97 GHz.
_WSE3 = WaferSpec(
    name="wse3", rows=1172, cols=762, clock_hz=0.97e9, clock_max_hz=0.97e9,
    sram_bytes_per_core=48 * 1024,  # 44 GB / 900k = 48.9 KB, derived; 48 KB addressable
    cores_marketed=900_000,  # vendor launch material, stated
    fmac_per_cycle_fp16=8,  # assumed (hardware.md)
)
# A 16 x 16 wafer for tests and examples; every other field as WSE-2.
_TINY = dataclasses.replace(
    _WSE2, name="tiny", rows=16, cols=16, cores_marketed=0,
    static_power_w=_WSE2.static_power_w * 256 / _WSE2.cores,  # CS-2 idle power per core
)

WAFER_PRESETS: dict[str, WaferSpec] = {s.name: s for s in (_WSE1, _WSE2, _WSE3, _TINY)}


def wafer(name: str | WaferSpec = "wse2", **overrides) -> WaferSpec:
    """Return wafer preset ``name`` ('wse1', 'wse2', 'wse3', 'tiny') with fields replaced.

    >>> wafer("wse2", sram_bytes_per_core=96 * 1024).total_sram_bytes // 2**30
    68
    """
    if isinstance(name, WaferSpec):
        base = name
    else:
        key = str(name).lower().replace("-", "")
        if key not in WAFER_PRESETS:
            raise SpecError(unknown_name("wafer", name, WAFER_PRESETS))
        base = WAFER_PRESETS[key]
    return base.replace(**overrides) if overrides else base


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


GPU_PRESETS: dict[str, GpuSpec] = {
    # NVIDIA V100 SXM2 32 GB datasheet; Summit node: 6 GPUs, 2 x 100 Gb/s EDR IB per node.
    "v100": GpuSpec("v100", 125e12, 125e12, 15.7e12, 900e9, 32e9, 300e9, 300.0,
                    gpus_per_node=6, internode_bytes_per_s_per_node=2 * 100e9 / 8),
    # NVIDIA A100 SXM4 80 GB datasheet; DGX A100 node: 8 GPUs, 8 x 200 Gb/s HDR.
    "a100": GpuSpec("a100", 312e12, 624e12, 19.5e12, 2039e9, 80e9, 600e9, 400.0,
                    gpus_per_node=8, internode_bytes_per_s_per_node=8 * 200e9 / 8,
                    supports_2to4=True),
    # NVIDIA H100 SXM5 80 GB datasheet; DGX H100 node: 8 GPUs, 8 x 400 Gb/s NDR.
    "h100": GpuSpec("h100", 989e12, 1979e12, 67e12, 3350e9, 80e9, 900e9, 700.0,
                    gpus_per_node=8, internode_bytes_per_s_per_node=8 * 400e9 / 8,
                    supports_2to4=True),
}


def gpu(name: str | GpuSpec = "v100", **overrides) -> GpuSpec:
    """Return GPU preset ``name`` ('v100', 'a100', 'h100') with fields replaced."""
    if isinstance(name, GpuSpec):
        base = name
    else:
        key = str(name).lower()
        if key not in GPU_PRESETS:
            raise SpecError(unknown_name("GPU", name, GPU_PRESETS))
        base = GPU_PRESETS[key]
    return base.replace(**overrides) if overrides else base
