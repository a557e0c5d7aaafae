"""``report.md``: the summary table and the per-stage table of a result."""

from __future__ import annotations

import math

from .style import (
    IMAGES,
    MAX_TABLE_STAGES,
    fmt,
)


def _energy(joules: float) -> str:
    if math.isfinite(joules) and 0 < joules < 1:
        return f"{fmt(joules * 1e3)} mJ/sample"
    return f"{fmt(joules)} J/sample"


def _schedule(result) -> str:
    """The training schedule and what it costs: the sync bubble, or the async staleness."""
    name = getattr(result, "schedule", "inference")
    if name == "sync":
        return f"sync (fill and drain {result.bubble_fraction:.0%} of each step)"
    if name == "async":
        return f"async (weights {result.weight_staleness_steps:.2g} steps stale)"
    return name


def summary_rows(result, gpu: dict | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs of the headline figures, shared by report.md and the CLI."""
    rows = [
        ("model", result.model), ("wafer", result.wafer),
        ("mode / execution", f"{result.mode} / {result.execution.replace('_', ' ')}"),
        ("schedule", _schedule(result)),
        ("throughput", f"{fmt(result.samples_per_s)} samples/s"),
        ("step time", f"{fmt(result.step_time_s * 1e3)} ms"),
        ("latency", f"{fmt(result.latency_s * 1e6)} µs"),
        ("bottleneck", f"stage {result.bottleneck_stage} {result.bottleneck_op} "
                       f"({result.bottleneck_kind}-bound)"),
        ("cores used", f"{result.cores_used:,} (utilization {result.utilization:.1%}), "
                       f"{result.replicas} replica{'s' if result.replicas != 1 else ''}"),
        ("SRAM peak", f"{result.sram_peak_fraction:.1%} of a core"),
        ("energy / power", f"{_energy(result.energy_j_per_sample)}, "
                           f"{fmt(result.power_w / 1e3)} kW"),
    ]
    if gpu and not gpu.get("samples_per_s_per_gpu"):
        rows.append(("GPU baseline", gpu.get("note") or "n/a"))
    elif gpu:
        name = str(gpu.get("name", "gpu")).upper()
        rows.append(("GPU baseline", f"{name}: {fmt(gpu.get('samples_per_s_per_gpu'))} "
                                     f"samples/s per GPU (batch {gpu.get('batch_per_gpu')}, "
                                     f"{gpu.get('precision')})"))
        n = gpu.get("equivalent_gpus")
        ceiling = gpu.get("cluster_ceiling_samples_per_s")
        rows.append(("equivalent GPUs",
                     f"{n:,} x {name} on {gpu.get('equivalent_nodes')} node(s) of "
                     f"{gpu.get('gpus_per_node')}" if n
                     else f"inf (no {name} cluster reaches the wafer" + (
                         f"; clusters saturate near {fmt(ceiling)} samples/s)" if ceiling
                         else ")")))
    return rows


def _stage_table(result) -> list[str]:
    lines = ["| stage | heavy op | ops | cores | compute max | compute mean | fabric | memory "
             "| stream | stage | bound |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    rows = list(result.stages)
    keep = range(len(rows))
    if len(rows) > MAX_TABLE_STAGES:
        half = MAX_TABLE_STAGES // 2
        keep = [*range(half), -1, *range(len(rows) - half, len(rows))]
    for i in keep:
        if i < 0:
            lines.append(f"| ... | {len(rows) - MAX_TABLE_STAGES} stages left out | | | | | | "
                         "| | | |")
            continue
        r = rows[i]
        mark = " **(bottleneck)**" if i == result.bottleneck_stage else ""
        lines.append(f"| {r.stage} | `{r.heavy}`{mark} | {len(r.ops)} | {r.cores:,} | "
                     f"{r.compute_cycles_max:,.0f} | {r.compute_cycles_mean:,.0f} | "
                     f"{r.link_cycles_max:,.0f} | {r.memory_cycles:,.0f} | "
                     f"{r.stream_cycles:,.0f} | {r.stage_cycles:,.0f} | {r.bound} |")
    return lines


def report_markdown(result, gpu: dict | None = None, images: dict | None = None) -> str:
    """The text of report.md: headline table, images and the per-stage table."""
    images = images or {}
    lines = [f"# wse-sim report: {result.model} on {result.wafer}", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary_rows(result, gpu)]
    lines += ["", f"Simulated in {result.sim_wall_s:.2f} s. Settings, the per-stage table and "
              "the GPU block are in `result.json`; per-core arrays in `arrays.npz`.", ""]
    for key, (fname, _, title) in IMAGES.items():
        if key in images:
            lines += [f"## {title}", "", f"![{title}]({fname})", ""]
    lines += ["## Per-stage table", "",
              "Cycles per sample, mean over the simulated samples. *compute max*: the slowest "
              "core; *fabric*: the busiest link; *memory*: SRAM port cycles; *stream*: "
              "off-wafer weight streaming; *stage*: what the stage takes per sample.", ""]
    lines += _stage_table(result)
    return "\n".join(lines) + "\n"
