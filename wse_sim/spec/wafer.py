"""The wafer spec: :class:`WaferSpec`, a ``rows x cols`` mesh of cores with their SRAM.

Every number is a field whose comment says where it comes from and how sure it is (*stated*,
*derived* or *assumed*; sources in ``docs/hardware.md``). The defaults are WSE-2's per-core
figures, but ``clock_hz`` defaults to WSE-2's peak clock (1.1 GHz), not the ``wse2`` preset's
0.85 GHz; the presets (``presets/wafers.toml``) override what differs. No workload result was
used to choose any value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import SpecError
from ..validate import check_wafer, checked_init, normalise
from .fields import replaced


@checked_init(SpecError, "use wse_sim.wafer('wse2', **overrides) for a preset")
@dataclass(frozen=True)
class WaferSpec:
    """A wafer-scale engine: a ``rows x cols`` mesh of cores, each with its own SRAM.

    All rates are per core per cycle unless the name says otherwise.
    """

    name: str
    rows: int
    cols: int
    sram_bytes_per_core: int = 48 * 1024  # 48 KB per core, stated (SDK examples)
    clock_hz: float = 1.1e9  # operating clock used for time; per preset (wse2: 0.85e9)
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
    ramp_wavelets_per_cycle: float = 1.0  # a core's ramp moves 1 wavelet/cycle each way, stated
    turn_latency_cycles: float = 0.0  # hardware XY routes turn for free; software turns cost more
    colors: int = 24  # routable colors (static route ids), stated (SDK)
    wavelet_overhead_cycles: float = 1.0  # per received wavelet task dispatch, assumed
    task_overhead_cycles: float = 20.0  # fixed per task (per op per sample), assumed
    code_reserve_bytes: int = 6 * 1024  # program + runtime per core, assumed
    io_buffer_bytes: int = 1024  # per-core FIFOs for wavelets in flight (in + out), assumed
    stream_chunk_bytes: int = 4096  # weight streaming: double-buffered weight chunk, assumed
    buffer_depth: int = 4  # samples a stage can queue before it stalls its producer, assumed
    offwafer_bytes_per_s: float = 150e9  # 1.2 Tb/s MemoryX/SwarmX class I/O, assumed
    # One-way latency of a wafer-to-wafer hop through the systems' Ethernet I/O (NIC + switch +
    # NIC), assumed: 100 GbE switches are ~1 us port to port and each NIC adds ~0.5 us. Only
    # multi-wafer LLM inference uses it; the bandwidth is offwafer_bytes_per_s.
    interwafer_latency_s: float = 2e-6
    # Energy per operation is not published. These defaults reproduce the ~22.8 kW measured on a
    # CS-2 under full load (16.1 kW measured idle + ~6.7 kW dynamic at peak FMAC, SRAM and fabric
    # rates); they are calibrated to power, never to a workload's throughput.
    energy_pj_per_fmac: float = 1.0  # assumed, see above
    energy_pj_per_wavelet_hop: float = 0.25  # assumed, see above
    energy_pj_per_sram_byte: float = 0.1  # assumed, see above
    static_power_w: float = 16_100.0  # measured idle power of a CS-2 (stencil run), stated

    def __post_init__(self) -> None:
        # one rule per field, as data: wse_sim.validate.WAFER_RULES
        normalise(self, check_wafer(self))

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
        return replaced(self, changes)

    def to_dict(self) -> dict:
        """JSON-ready fields plus the derived aggregates."""
        d = dataclasses.asdict(self)
        d.update(cores=self.cores, total_sram_bytes=self.total_sram_bytes,
                 peak_flops_fp16=self.peak_flops("fp16"))
        return d
