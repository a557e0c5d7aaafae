"""Wafer and GPU specs: presets, overrides, validation, derived figures, vendor aggregates."""

from __future__ import annotations

import dataclasses
import json

import pytest

from wse_sim.errors import SpecError, WseSimError
from wse_sim.spec import GPU_PRESETS, WAFER_PRESETS, GpuSpec, WaferSpec, gpu, wafer

WAFER_NAMES = ["wse1", "wse2", "wse3", "tiny"]
GPU_NAMES = ["v100", "a100", "h100"]


# ---- presets and overrides ---------------------------------------------------------------
@pytest.mark.parametrize("name", WAFER_NAMES)
def test_every_wafer_preset_constructs(name):
    spec = wafer(name)
    assert isinstance(spec, WaferSpec)
    assert spec.name == name
    assert spec == WAFER_PRESETS[name]
    assert spec.rows >= 1 and spec.cols >= 1
    # usable SRAM left after the code reserve
    assert spec.sram_bytes_per_core > spec.code_reserve_bytes
    json.dumps(spec.to_dict())  # JSON-ready


def test_preset_table_holds_exactly_the_documented_names():
    assert sorted(WAFER_PRESETS) == sorted(WAFER_NAMES)
    assert sorted(GPU_PRESETS) == sorted(GPU_NAMES)


def test_default_wafer_is_wse2():
    assert wafer() == WAFER_PRESETS["wse2"]


def test_preset_names_are_case_and_dash_insensitive():
    assert wafer("WSE-2") == wafer("wse2")
    assert gpu("V100") == gpu("v100")


@pytest.mark.parametrize(("name", "rows", "cols"), [
    ("wse1", 633, 633),    # square layout assumed (docs/hardware.md)
    ("wse2", 994, 750),    # 750 x 994 usable by a program (SDK)
    ("wse3", 1172, 762),   # 762 x 1172 SDK fabric
    ("tiny", 16, 16),
])
def test_preset_meshes_are_the_program_visible_fabric(name, rows, cols):
    spec = wafer(name)
    assert (spec.rows, spec.cols) == (rows, cols)


def test_wse2_clock_default_and_max():
    spec = wafer("wse2")
    assert spec.clock_hz == pytest.approx(0.85e9)  # SDK cycle-to-time conversion
    assert spec.clock_max_hz == pytest.approx(1.1e9)  # WaferLLM "maximum"


def test_marketed_core_counts():
    assert wafer("wse1").cores_marketed == 400_000
    assert wafer("wse2").cores_marketed == 850_000
    assert wafer("wse3").cores_marketed == 900_000


def test_override_replaces_fields_and_leaves_the_preset_alone():
    spec = wafer("wse2", rows=10, cols=12, sram_bytes_per_core=96 * 1024, clock_hz=1.0e9)
    assert (spec.rows, spec.cols, spec.sram_bytes_per_core, spec.clock_hz) == (
        10, 12, 96 * 1024, 1.0e9)
    # every field not overridden is the preset's
    base = WAFER_PRESETS["wse2"]
    for f in dataclasses.fields(WaferSpec):
        if f.name not in ("rows", "cols", "sram_bytes_per_core", "clock_hz"):
            assert getattr(spec, f.name) == getattr(base, f.name), f.name
    assert (base.rows, base.cols, base.sram_bytes_per_core) == (994, 750, 48 * 1024)


def test_wafer_accepts_a_spec_as_base():
    custom = wafer("tiny", rows=3)
    assert wafer(custom) is custom
    assert wafer(custom, cols=5).rows == 3
    assert wafer(custom, cols=5).cols == 5


def test_one_by_one_wafer_is_allowed():
    spec = wafer("tiny", rows=1, cols=1)
    assert spec.cores == 1
    assert spec.total_sram_bytes == spec.sram_bytes_per_core


def test_presets_are_frozen():
    spec = wafer("wse2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.rows = 1  # type: ignore[misc]


def test_unknown_override_field_names_the_field():
    with pytest.raises(SpecError, match="sram_kb") as info:
        wafer("wse2", sram_kb=96)
    # the message lists real fields so the user can fix the typo
    assert "sram_bytes_per_core" in str(info.value)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(SpecError) as info:
        wafer("wse9")
    msg = str(info.value)
    assert "wse9" in msg
    for name in WAFER_NAMES:
        assert name in msg
    assert isinstance(info.value, WseSimError)


@pytest.mark.parametrize("field", ["rows", "cols", "sram_bytes_per_core", "fmac_per_cycle_fp16",
                                   "colors", "buffer_depth"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_integer_fields_rejected_with_value(field, value):
    with pytest.raises(SpecError) as info:
        wafer("tiny", **{field: value})
    msg = str(info.value)
    assert field in msg
    assert str(value) in msg


@pytest.mark.parametrize("field", ["clock_hz", "clock_max_hz", "link_wavelets_per_cycle",
                                   "sram_read_bytes_per_cycle", "offwafer_bytes_per_s"])
@pytest.mark.parametrize("value", [0, -2.5])
def test_non_positive_rates_rejected_with_value(field, value):
    with pytest.raises(SpecError) as info:
        wafer("tiny", **{field: value})
    assert field in str(info.value)
    assert str(value) in str(info.value)


@pytest.mark.parametrize("value", [2.5, True, "16"])
def test_mesh_size_must_be_an_integer(value):
    with pytest.raises(SpecError, match="rows"):
        wafer("tiny", rows=value)


@pytest.mark.parametrize("field", ["hop_latency_cycles", "task_overhead_cycles",
                                   "energy_pj_per_fmac", "static_power_w"])
def test_negative_costs_rejected(field):
    with pytest.raises(SpecError, match=field):
        wafer("tiny", **{field: -1.0})
    # zero is a legitimate "free" setting
    assert getattr(wafer("tiny", **{field: 0}), field) == 0


def test_code_reserve_must_leave_sram():
    with pytest.raises(SpecError, match="code_reserve_bytes"):
        wafer("tiny", sram_bytes_per_core=4096, code_reserve_bytes=4096)


# ---- derived figures, by independent arithmetic -------------------------------------------
def test_wse2_derived_figures_by_hand():
    spec = wafer("wse2")
    cores = 994 * 750  # 745,500
    assert spec.cores == cores == 745_500
    assert spec.total_sram_bytes == 745_500 * 49_152 == 36_642_816_000
    # 2 FLOPs per FMAC; 4 fp16 lanes, 1 fp32 lane; 0.85 GHz
    assert spec.peak_flops("fp16") == pytest.approx(2 * 745_500 * 4 * 0.85e9)
    assert spec.peak_flops("fp16") == pytest.approx(5.06940e15)
    assert spec.peak_flops("bf16") == pytest.approx(spec.peak_flops("fp16"))
    assert spec.peak_flops("fp32") == pytest.approx(2 * 745_500 * 1 * 0.85e9)
    # 16 B read + 8 B write per core per cycle
    assert spec.sram_bandwidth_bytes_per_s == pytest.approx(745_500 * 24 * 0.85e9)
    # 4 mesh ports x 2 directions x 32 bits per core per cycle
    assert spec.fabric_bandwidth_bits_per_s == pytest.approx(745_500 * 256 * 0.85e9)
    assert spec.link_bytes_per_cycle == 4


@pytest.mark.parametrize("name", WAFER_NAMES)
def test_derived_figures_follow_the_fields(name):
    s = wafer(name)
    n = s.rows * s.cols
    assert s.cores == n
    assert s.total_sram_bytes == n * s.sram_bytes_per_core
    assert s.peak_flops("fp16") == pytest.approx(2 * n * s.fmac_per_cycle_fp16 * s.clock_hz)
    assert s.peak_flops("fp32") == pytest.approx(2 * n * s.fmac_per_cycle_fp32 * s.clock_hz)
    assert s.sram_bandwidth_bytes_per_s == pytest.approx(
        n * (s.sram_read_bytes_per_cycle + s.sram_write_bytes_per_cycle) * s.clock_hz)
    assert s.fabric_bandwidth_bits_per_s == pytest.approx(
        n * s.mesh_ports * 2 * s.wavelet_bits * s.link_wavelets_per_cycle * s.clock_hz)
    d = s.to_dict()
    assert d["cores"] == n
    assert d["total_sram_bytes"] == s.total_sram_bytes
    assert d["peak_flops_fp16"] == pytest.approx(s.peak_flops("fp16"))


def test_derived_figures_track_overrides():
    s = wafer("tiny", rows=2, cols=3, sram_bytes_per_core=64 * 1024, clock_hz=2e9,
              fmac_per_cycle_fp16=8, link_wavelets_per_cycle=2.0)
    assert s.cores == 6
    assert s.total_sram_bytes == 6 * 65_536
    assert s.peak_flops("fp16") == pytest.approx(2 * 6 * 8 * 2e9)
    assert s.sram_bandwidth_bytes_per_s == pytest.approx(6 * 24 * 2e9)
    assert s.fabric_bandwidth_bits_per_s == pytest.approx(6 * 4 * 2 * 32 * 2.0 * 2e9)
    assert s.link_bytes_per_cycle == 8


def test_unknown_dtype_rejected():
    with pytest.raises(SpecError, match="int8"):
        wafer("wse2").peak_flops("int8")


# ---- vendor aggregates -----------------------------------------------------------------------
# docs/hardware.md, "stated": total SRAM (GB), SRAM bandwidth (PB/s), fabric bandwidth (Pb/s).
VENDOR_AGGREGATES = {
    "wse1": (18e9, 9e15, 100e15),
    "wse2": (40e9, 20e15, 220e15),
    "wse3": (44e9, 21e15, 214e15),
}
TOLERANCE = 0.15


@pytest.mark.parametrize("name", sorted(VENDOR_AGGREGATES))
def test_presets_reproduce_vendor_aggregates(name):
    """Each preset's derived aggregates are within 15% of the vendor's stated figures.

    The vendor counts its *marketed* cores (``cores_marketed``: 400k / 850k / 900k) running at
    its *peak* clock (``clock_max_hz``), whereas a preset's mesh is the program-visible fabric
    (fewer cores, e.g. 750 x 994 = 745,500 on WSE-2 beside the host I/O columns) at the operating
    clock the simulator uses for time (``clock_hz``, 0.85 GHz on WSE-2). To compare like with
    like, evaluate the derived figure at ``clock_hz = clock_max_hz`` and scale it by
    ``cores_marketed / cores``. Every aggregate is linear in both, so this is exact, and the
    remaining gap measures only the per-core figures (SRAM bytes, SRAM ports, link width, mesh
    ports), which is what the preset must get right. Units are decimal (GB = 1e9 B,
    PB/s = 1e15 B/s, Pb/s = 1e15 bit/s) as in vendor material.
    """
    base = wafer(name)
    at_peak = wafer(name, clock_hz=base.clock_max_hz)
    scale = base.cores_marketed / at_peak.cores
    derived = {
        "total SRAM": at_peak.total_sram_bytes * scale,
        "SRAM bandwidth": at_peak.sram_bandwidth_bytes_per_s * scale,
        "fabric bandwidth": at_peak.fabric_bandwidth_bits_per_s * scale,
    }
    vendor = dict(zip(derived, VENDOR_AGGREGATES[name], strict=True))
    errors = {k: abs(derived[k] - vendor[k]) / vendor[k] for k in derived}
    bad = {k: f"{derived[k]:.4g} vs {vendor[k]:.4g} ({errors[k]:.1%})"
           for k in derived if errors[k] > TOLERANCE}
    assert not bad, f"{name}: aggregates off by more than {TOLERANCE:.0%}: {bad}"


def test_aggregate_comparison_is_sensitive_to_per_core_figures():
    """Guard the aggregate test itself: halving SRAM per core must break the SRAM comparison."""
    s = wafer("wse2", sram_bytes_per_core=24 * 1024, code_reserve_bytes=1024)
    total = s.total_sram_bytes * s.cores_marketed / s.cores
    assert abs(total - 40e9) / 40e9 > TOLERANCE


# ---- GPU presets ------------------------------------------------------------------------------
# docs/hardware.md, NVIDIA datasheets:
# (fp16 dense, fp16 2:4, fp32, HBM B/s, memory B, NVLink B/s, TDP)
GPU_DATASHEET = {
    "v100": (125e12, 125e12, 15.7e12, 900e9, 32e9, 300e9, 300.0),
    "a100": (312e12, 624e12, 19.5e12, 2039e9, 80e9, 600e9, 400.0),
    "h100": (989e12, 1979e12, 67e12, 3350e9, 80e9, 900e9, 700.0),
}
# (GPUs per node, inter-node injection bytes/s per node)
GPU_NODES = {
    "v100": (6, 2 * 100e9 / 8),   # Summit: 6 V100, 2 x 100 Gb/s EDR
    "a100": (8, 8 * 200e9 / 8),   # DGX A100: 8 x 200 Gb/s HDR
    "h100": (8, 8 * 400e9 / 8),   # DGX H100: 8 x 400 Gb/s NDR
}


@pytest.mark.parametrize("name", GPU_NAMES)
def test_gpu_preset_matches_datasheet(name):
    g = gpu(name)
    assert isinstance(g, GpuSpec)
    assert g.name == name
    got = (g.fp16_tensor_flops, g.fp16_tensor_sparse_flops, g.fp32_flops, g.hbm_bytes_per_s,
           g.memory_bytes, g.nvlink_bytes_per_s, g.tdp_w)
    assert got == pytest.approx(GPU_DATASHEET[name])
    assert (g.gpus_per_node, g.internode_bytes_per_s_per_node) == pytest.approx(GPU_NODES[name])
    json.dumps(g.to_dict())


def test_2to4_support():
    assert not gpu("v100").supports_2to4
    assert gpu("a100").supports_2to4 and gpu("h100").supports_2to4
    # 2:4 doubles the tensor peak where supported
    for name in ("a100", "h100"):
        g = gpu(name)
        assert g.fp16_tensor_sparse_flops == pytest.approx(2 * g.fp16_tensor_flops, rel=0.01)


def test_default_gpu_is_v100():
    assert gpu() == GPU_PRESETS["v100"]


def test_unknown_gpu_lists_known_names():
    with pytest.raises(SpecError) as info:
        gpu("p100")
    msg = str(info.value)
    assert "p100" in msg
    for name in GPU_NAMES:
        assert name in msg


def test_gpu_overrides():
    g = gpu("a100", tdp_w=500.0)
    assert g.tdp_w == 500.0
    assert g.hbm_bytes_per_s == gpu("a100").hbm_bytes_per_s
    assert gpu("a100").tdp_w == 400.0
    with pytest.raises(SpecError, match="hbm_gbps"):
        gpu("a100", hbm_gbps=1)
    with pytest.raises(SpecError, match="hbm_bytes_per_s"):
        gpu("a100", hbm_bytes_per_s=0)
