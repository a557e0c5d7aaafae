"""The presets: wafer and GPU specs read from the data files in ``presets/``.

Each preset file lists, per preset, the fields it sets and a ``sources`` table saying where
each value comes from (stated, derived or assumed; references in ``docs/hardware.md``). Code
holds only what is computed from other presets (the ``tiny`` test wafer).
"""

from __future__ import annotations

import dataclasses
import sys
from importlib import resources

from ..errors import SpecError, unknown_name
from .gpu import GpuSpec
from .wafer import WaferSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tomli backport is a dependency on 3.10 (pyproject.toml)
    import tomli as tomllib


def _read(name: str) -> dict[str, dict]:
    text = resources.files(__package__).joinpath("presets", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _checked(table: dict, cls, key: str) -> dict:
    """Preset ``key``'s fields, each with a source (or covered by ``sources.all``)."""
    fields = {k: v for k, v in table.items() if k != "sources"}
    sources = table.get("sources", {})
    known = {f.name for f in dataclasses.fields(cls)}
    for name in fields:
        if name not in known:
            raise SpecError(unknown_name(f"{cls.__name__} field in preset {key!r}", name, known))
        if name not in sources and "all" not in sources:
            raise SpecError(f"preset {key!r} sets {name} without a source; add it under "
                            f"[{key}.sources]")
    return fields


def _tiny(wse2: WaferSpec) -> WaferSpec:
    """A 16 x 16 wafer for tests and examples: WSE-2 per core, with the CS-2 idle power per
    core (derived) so static energy per sample stays comparable."""
    return dataclasses.replace(wse2, name="tiny", rows=16, cols=16, cores_marketed=0,
                               static_power_w=wse2.static_power_w * 256 / wse2.cores)


def _wafer_presets() -> dict[str, WaferSpec]:
    out = {k: WaferSpec(name=k, **_checked(t, WaferSpec, k))
           for k, t in _read("wafers.toml").items()}
    out["tiny"] = _tiny(out["wse2"])
    return out


def _gpu_presets() -> dict[str, GpuSpec]:
    return {k: GpuSpec(name=k, **_checked(t, GpuSpec, k)) for k, t in _read("gpus.toml").items()}


WAFER_PRESETS: dict[str, WaferSpec] = _wafer_presets()
GPU_PRESETS: dict[str, GpuSpec] = _gpu_presets()


def preset_sources(name: str) -> dict[str, str]:
    """``{field: source}`` of wafer or GPU preset ``name`` (as written in the preset file)."""
    if not isinstance(name, str):
        raise SpecError(unknown_name("preset", name, {**WAFER_PRESETS, **GPU_PRESETS}))
    for file in ("wafers.toml", "gpus.toml"):
        table = _read(file)
        if name in table:
            return dict(table[name].get("sources", {}))
    raise SpecError(unknown_name("preset", name, {**WAFER_PRESETS, **GPU_PRESETS}))


def wafer(name: str | WaferSpec = "wse2", /, **overrides) -> WaferSpec:
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


def gpu(name: str | GpuSpec = "v100", /, **overrides) -> GpuSpec:
    """Return GPU preset ``name`` (see ``GPU_PRESETS``) with fields replaced."""
    if isinstance(name, GpuSpec):
        base = name
    else:
        key = str(name).lower()
        if key not in GPU_PRESETS:
            raise SpecError(unknown_name("GPU", name, GPU_PRESETS))
        base = GPU_PRESETS[key]
    return base.replace(**overrides) if overrides else base
