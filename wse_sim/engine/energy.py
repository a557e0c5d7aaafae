"""Energy per sample: dynamic energy of FMACs, wavelet-hops and SRAM bytes, plus static power."""

from __future__ import annotations

from ..spec import WaferSpec


def energy_j_per_sample(spec: WaferSpec, macs: float, hops: float, sram_bytes: float,
                        samples_per_s: float) -> float:
    """Joules per sample: dynamic (per FMAC, wavelet-hop and SRAM byte, from the spec's
    assumed pJ figures; ``docs/hardware.md``) plus the static power's share of a second."""
    dynamic = (macs * spec.energy_pj_per_fmac + hops * spec.energy_pj_per_wavelet_hop
               + sram_bytes * spec.energy_pj_per_sram_byte) * 1e-12
    return float(dynamic + spec.static_power_w / max(samples_per_s, 1e-30))
