"""The rule tables of :mod:`wse_sim.validate`: every spec field, model argument and
place/simulate/gpu_baseline argument, as data checked by :mod:`.checks`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from ..errors import SpecError, WseSimError
from .checks import (
    MAX_BANDWIDTH_BYTES_PER_S,
    MAX_CLOCK_HZ,
    MAX_COUNT,
    MAX_CYCLES,
    MAX_ENERGY_PJ,
    MAX_FLOPS,
    MAX_LANES,
    MAX_MEMORY_BYTES,
    MAX_MESH_SIDE,
    MAX_MODEL_DIM,
    MAX_POWER_W,
    MAX_SRAM_BYTES_PER_CORE,
    MIN_BANDWIDTH_BYTES_PER_S,
    MIN_CLOCK_HZ,
    MIN_FLOPS,
    MIN_PER_CYCLE,
    Rule,
    callable_or_none,
    check,
    check_fields,
    choice,
    flag,
    fraction,
    instance,
    integer,
    number,
    seed,
    show,
)


# ---- rule tables ----------------------------------------------------------------------------
def _count(high, unit="", fix=""):
    return Rule("int", 1, high, unit=unit, fix=fix)


def _nonneg(high, unit="", kind="number"):
    return Rule(kind, 0, high, unit=unit)


def _pos(high, unit="", fix="", low=None):
    """A positive number; ``low`` (a physical floor) replaces the open bound at 0."""
    if low is None:
        return Rule("number", 0, high, low_open=True, unit=unit, fix=fix)
    return Rule("number", low, high, unit=unit, fix=fix)


WAFER_RULES: dict[str, Rule] = {
    "name": Rule("str", fix="name the wafer, e.g. name='my-wafer'"),
    "rows": _count(MAX_MESH_SIDE, "cores", "set rows to the mesh height, e.g. rows=994"),
    "cols": _count(MAX_MESH_SIDE, "cores", "set cols to the mesh width, e.g. cols=750"),
    "sram_bytes_per_core": _count(MAX_SRAM_BYTES_PER_CORE, "bytes",
                                  "set sram_bytes_per_core in bytes, e.g. 49152 (48 KB)"),
    "clock_hz": _pos(MAX_CLOCK_HZ, "Hz", "set clock_hz to the core clock, e.g. 1.1e9",
                     MIN_CLOCK_HZ),
    "clock_max_hz": _pos(MAX_CLOCK_HZ, "Hz", "set clock_max_hz to the peak clock, e.g. 1.1e9",
                         MIN_CLOCK_HZ),
    "cores_marketed": Rule("int", 0, MAX_MESH_SIDE**2, unit="cores"),
    "fmac_per_cycle_fp16": _count(MAX_LANES),
    "fmac_per_cycle_fp32": _count(MAX_LANES),
    "sram_read_bytes_per_cycle": _pos(MAX_LANES, "bytes/cycle", low=MIN_PER_CYCLE),
    "sram_write_bytes_per_cycle": _pos(MAX_LANES, "bytes/cycle", low=MIN_PER_CYCLE),
    "wavelet_bits": _count(MAX_LANES, "bits"),
    "link_wavelets_per_cycle": _pos(MAX_LANES, low=MIN_PER_CYCLE),
    "ramp_wavelets_per_cycle": _pos(MAX_LANES, low=MIN_PER_CYCLE),
    "mesh_ports": _count(16),  # a 2-D mesh has 4; 16 allows any 3-D or express topology
    "hop_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "ramp_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "turn_latency_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "colors": _count(MAX_LANES),
    "wavelet_overhead_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "task_overhead_cycles": _nonneg(MAX_CYCLES, "cycles"),
    "code_reserve_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "io_buffer_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "stream_chunk_bytes": _nonneg(MAX_SRAM_BYTES_PER_CORE, "bytes", "int"),
    "interwafer_latency_s": _nonneg(1.0, "s"),
    "buffer_depth": _count(MAX_COUNT, "samples"),
    "offwafer_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s",
                                 "set it to the I/O bandwidth, e.g. 1.2e12",
                                 MIN_BANDWIDTH_BYTES_PER_S),
    "energy_pj_per_fmac": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "energy_pj_per_wavelet_hop": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "energy_pj_per_sram_byte": _nonneg(MAX_ENERGY_PJ, "pJ"),
    "static_power_w": _nonneg(MAX_POWER_W, "W"),
}
"""Every :class:`~wse_sim.spec.WaferSpec` field's rule."""

GPU_RULES: dict[str, Rule] = {
    "name": Rule("str", fix="name the GPU, e.g. name='my-gpu'"),
    "fp16_tensor_flops": _pos(MAX_FLOPS, "FLOP/s", low=MIN_FLOPS),
    "fp16_tensor_sparse_flops": _pos(MAX_FLOPS, "FLOP/s", low=MIN_FLOPS),
    "fp32_flops": _pos(MAX_FLOPS, "FLOP/s", low=MIN_FLOPS),
    "hbm_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s", low=MIN_BANDWIDTH_BYTES_PER_S),
    "memory_bytes": _pos(MAX_MEMORY_BYTES, "bytes"),
    "nvlink_bytes_per_s": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s",
                               low=MIN_BANDWIDTH_BYTES_PER_S),
    "tdp_w": _pos(MAX_POWER_W, "W"),
    "gpus_per_node": _count(1024, "GPUs"),
    "internode_bytes_per_s_per_node": _pos(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s",
                                           low=MIN_BANDWIDTH_BYTES_PER_S),
    "sms": _count(100_000, "SMs"),
    "tf32_tensor_flops": _nonneg(MAX_FLOPS, "FLOP/s"),  # 0: no TF32 tensor cores
    "kernel_launch_s": _pos(1.0, "s"),
    "supports_2to4": Rule("bool"),
    "flash_attention": Rule("bool"),
}
"""Every numeric or flag :class:`~wse_sim.spec.GpuSpec` field's rule."""


def check_wafer(spec) -> dict:
    """Check a WaferSpec's fields and the relations between them; return normalised fields."""
    changed = check_fields(spec, WAFER_RULES, "WaferSpec")
    get = lambda k: changed.get(k, getattr(spec, k))  # noqa: E731
    if get("clock_hz") > get("clock_max_hz"):
        raise SpecError(f"WaferSpec.clock_hz={get('clock_hz'):g} Hz is above clock_max_hz="
                        f"{get('clock_max_hz'):g} Hz (the peak clock); lower clock_hz or raise "
                        "clock_max_hz")
    if get("code_reserve_bytes") + get("io_buffer_bytes") >= get("sram_bytes_per_core"):
        raise SpecError(
            f"WaferSpec.code_reserve_bytes={get('code_reserve_bytes')} plus io_buffer_bytes="
            f"{get('io_buffer_bytes')} leaves no SRAM of sram_bytes_per_core="
            f"{get('sram_bytes_per_core')}; lower the reserve or raise SRAM")
    return changed


def check_gpu(spec) -> dict:
    """Check a GpuSpec's fields; return normalised fields."""
    changed = check_fields(spec, GPU_RULES, "GpuSpec")
    if not isinstance(spec.extra, dict):
        raise SpecError(f"GpuSpec.extra must be a dict, got {show(spec.extra)}")
    return changed


def normalise(obj, changed: Mapping) -> None:
    """Write normalised values back into a frozen dataclass (from ``__post_init__``)."""
    for k, v in changed.items():
        object.__setattr__(obj, k, v)


# ---- model builder arguments --------------------------------------------------------------
def model_arg_rule(name: str, annotation: str) -> Rule | None:
    """The rule of model-builder argument ``name`` annotated ``annotation`` ('int',
    'float | None', ...); None for arguments that are not numbers (names)."""
    kinds = {k.strip() for k in str(annotation).split("|")}
    none_ok = "None" in kinds
    if "int" in kinds:
        return Rule("int", 1, MAX_MODEL_DIM, none_ok=none_ok,
                    fix=f"{name} is a size: a positive integer such as 128")
    if "float" in kinds:
        high = 1 if name.endswith(("density", "sparsity")) else None
        if name in ("dropout", "p") or name.endswith("dropout"):
            return Rule("number", 0, 1, none_ok=none_ok, fix=f"{name} is a probability, e.g. 0.1")
        if high is not None:
            return Rule("number", 0, 1, none_ok=none_ok, fix=f"{name} is a fraction in [0, 1]")
        return Rule("number", none_ok=none_ok)
    if "bool" in kinds:
        return Rule("bool", none_ok=none_ok)
    if "str" in kinds:
        return Rule("str", none_ok=none_ok)
    return None


def check_model_args(model: str, builder: Callable, kwargs: Mapping,
                     error: type[WseSimError]) -> dict:
    """``kwargs`` of model ``model``'s ``builder`` checked against its annotations."""
    params = inspect.signature(builder).parameters
    out = {}
    for key, value in kwargs.items():
        if key not in params:
            raise error(f"model {model!r} has no argument {key!r}; it takes: "
                        f"{', '.join(params) or 'no arguments'}")
        rule = model_arg_rule(key, params[key].annotation)
        out[key] = value if rule is None else check(f"model {model!r} argument {key}", value,
                                                    rule, error)
    return out


# ---- place / simulate / sparsify arguments ------------------------------------------------
def check_place_args(graph, wafer, mode, training, replicas, batch, seed, *, modes,
                     graph_cls, wafer_cls):
    """The checked ``(training, replicas, batch, seed)`` of :func:`wse_sim.place`."""
    from ..errors import SimulationError

    instance("place: graph", graph, graph_cls, error=SimulationError,
             fix="build one with wse_sim.models.get(name) or wse_sim.Graph")
    instance("place: wafer", wafer, wafer_cls, error=SimulationError,
             fix="pass a spec such as wse_sim.wafer('wse2')")
    choice("place: mode", mode, modes, error=SimulationError)
    training = flag("place: training", training, error=SimulationError)
    if not (isinstance(replicas, str) and replicas == "auto"):
        replicas = integer("place: replicas", replicas, 1, min(wafer.cores, MAX_COUNT),
                           error=SimulationError,
                           fix="use replicas='auto' or a count up to the wafer's cores")
    batch = integer("place: batch", batch, 1, MAX_COUNT, error=SimulationError, none_ok=True,
                    fix="use a batch >= 1, or None for the model's default")
    seed = seed_check("place: seed", seed)
    return training, replicas, batch, seed


def seed_check(field, value, error=None):
    from ..errors import SimulationError

    return seed(field, value, error=error or SimulationError)


def check_densities(densities) -> dict:
    """``{op name: density}`` overrides of simulate(): str keys, values finite in [0, 1]."""
    from ..errors import SimulationError

    if densities is None:
        return {}
    if not isinstance(densities, Mapping):
        raise SimulationError(f"densities must be a dict {{heavy op name: density}}, got "
                              f"{show(densities)} ({type(densities).__name__})")
    out = {}
    for k, v in densities.items():
        if not isinstance(k, str):
            raise SimulationError(f"densities keys must be op names (str), got {show(k)}")
        out[k] = fraction(f"densities[{k!r}]", v, error=SimulationError,
                          fix="a density is the fraction of non-zero inputs, in [0, 1]")
    return out


def check_simulate_args(placement, mode, batch, samples, activations, seed, drain_per_step,
                        densities, inputs, progress, *, placement_cls) -> None:
    """Types and ranges of :func:`wse_sim.simulate`'s arguments (the engine checks how they
    fit the placement)."""
    from ..errors import SimulationError

    E = SimulationError
    instance("simulate: placement", placement, placement_cls, error=E,
             fix="pass what wse_sim.place(graph, wafer) returns")
    choice("simulate: mode", mode, ("train", "infer"), error=E,
           fix="use 'train' or 'infer', or None for the placement's") if mode is not None \
        else None
    integer("simulate: batch", batch, 1, MAX_COUNT, error=E, none_ok=True,
            fix="use a batch >= 1, or None for the placement's")
    integer("simulate: samples", samples, 1, MAX_COUNT, error=E,
            fix="simulate a few dozen samples, e.g. samples=64")
    choice("simulate: activations", activations, ("synthetic", "functional"), error=E)
    seed_check("simulate: seed", seed)
    flag("simulate: drain_per_step", drain_per_step, error=E)
    check_densities(densities)
    callable_or_none("simulate: inputs", inputs, error=E,
                     fix="use wse_sim.models.data.default_inputs or your own callable")
    callable_or_none("simulate: progress", progress, error=E, fix="a callable(done, total)")


def check_gpu_args(gpu, batch_per_gpu, n_gpus, gpus_per_node, *, gpu_cls) -> None:
    """Types and ranges of :func:`wse_sim.gpu_baseline`'s sizes (its own checks do the rest)."""
    from ..errors import GpuError

    if not isinstance(gpu, (str, gpu_cls)):
        raise GpuError(f"gpu must be a preset name or a GpuSpec, got {show(gpu)} "
                       f"({type(gpu).__name__}); e.g. gpu='a100'")
    if not (isinstance(batch_per_gpu, str) and batch_per_gpu == "auto"):
        integer("gpu_baseline: batch_per_gpu", batch_per_gpu, 1, MAX_COUNT, error=GpuError,
                none_ok=True, fix="use an integer >= 1, 'auto' or None")
    integer("gpu_baseline: n_gpus", n_gpus, 1, MAX_COUNT, error=GpuError)
    integer("gpu_baseline: gpus_per_node", gpus_per_node, 1, 1024, error=GpuError,
            none_ok=True)


# ---- GPU counts and graphs (the GPU baseline's call sites use these) ------------------------
def check_gpu_count(field: str, value, high: int = MAX_COUNT) -> int:
    """A GPU count (``n_gpus``, ``max_gpus``, an entry of ``ns``): an integer in [1, high]
    (not a bool); :class:`~wse_sim.errors.GpuError` otherwise. ``high`` keeps every count
    inside int64 arithmetic (a Python int of 10**30 would overflow numpy further down)."""
    from ..errors import GpuError

    return integer(field, value, 1, high, error=GpuError,
                   fix=f"use an integer between 1 and {high:,}")


def check_gpu_counts(field: str, values, high: int = MAX_COUNT) -> list[int]:
    """A non-empty list, tuple or range of GPU counts, each checked by
    :func:`check_gpu_count`."""
    from ..errors import GpuError

    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise GpuError(f"{field} must be a list of GPU counts, got {show(values)} "
                       f"({type(values).__name__}); e.g. {field}=[1, 8, 64]")
    out = [check_gpu_count(f"{field}[{i}]", v, high) for i, v in enumerate(values)]
    if not out:
        raise GpuError(f"{field} is empty; give at least one GPU count, e.g. {field}=[1, 8, 64]")
    return out


def check_graph_work(graph, what: str = "gpu_baseline") -> None:
    """A graph with at least one op that does arithmetic (MACs or vector ops): a model of
    inputs, reshapes and transposes only has no time to predict, so no throughput."""
    from ..errors import GpuError

    ops = graph.ops()
    if not any(op.training_macs > 0 or op.vector_ops > 0 for op in ops):
        raise GpuError(f"{what}: graph {graph.name!r} has no op that does work (no MACs and no "
                       f"vector ops among its {len(ops)} ops: "
                       f"{', '.join(sorted({op.kind for op in ops}))}); add a layer such as "
                       "g.dense(...)")


def check_op_count(field: str, value) -> int:
    """How many rows of a per-op table to show: an integer in [0, MAX_COUNT]."""
    from ..errors import GpuError

    return integer(field, value, 0, MAX_COUNT, error=GpuError, fix="e.g. k=10")


def check_target_rate(field: str, value) -> float:
    """A throughput to reach, samples/s: a number > 0 (``math.inf`` allowed: no cluster
    reaches it); :class:`~wse_sim.errors.GpuError` for NaN, 0, negatives and non-numbers."""
    from ..errors import GpuError

    if isinstance(value, float) and value == float("inf"):
        return value
    return number(field, value, 0, None, low_open=True, error=GpuError, unit="samples/s",
                  fix="pass the wafer's samples_per_s (a SimResult's)")
