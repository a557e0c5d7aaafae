"""``wse-sim run``: build a model, place it, simulate it and compare with a GPU baseline."""

from __future__ import annotations

import sys
import time

import wse_sim as ws

from .. import models
from ..baselines import gpu_summary
from ..errors import SimulationError, SparsityError, WseSimError
from ..models.data import default_inputs
from ..report import report, summary_rows
from ..spec import GPU_PRESETS
from ..spec.system import system_for
from ..validate import MAX_COUNT, integer, number, seed
from ..validate.files import check_output_file, check_output_folder
from .args import Parser, model_arguments, print_json, progress_bar, refuse_unused, wafer_overrides
from .importing import add_run_options, graph_from_args, write_trace
from .llm import cmd_run_llm

DEFAULT_MODEL = "cvae"
DEFAULT_WAFER = "wse2"
DEFAULT_GPU = "v100"
DEFAULT_SAMPLES = 64
GPUS = tuple(GPU_PRESETS)
PATTERNS = ("unstructured", "n:m", "block")
JSON_KEYS = ("model", "wafer", "mode", "execution", "samples_per_s", "step_time_s", "latency_s",
             "bottleneck", "cores_used", "utilization", "sram_peak_fraction", "replicas",
             "energy_j_per_sample", "power_w", "gpu", "sim_wall_s", "settings")
"""Top-level keys of ``wse-sim run --json``, in order."""

RUN_EPILOG = """\
With no arguments: CVAE training (model 'cvae') on WSE-2 (wafer 'wse2') against V100s.

--json prints one JSON object with the keys: model, wafer, mode, execution, samples_per_s,
step_time_s, latency_s, bottleneck {stage, op, kind}, cores_used, utilization,
sram_peak_fraction, replicas, energy_j_per_sample, power_w, gpu {name, samples_per_s_per_gpu,
equivalent_gpus, cluster_samples_per_s, gpus_per_node, batch_per_gpu, precision}, sim_wall_s
(placement + simulation, seconds) and settings. Non-finite numbers are null: when no
data-parallel GPU cluster reaches the wafer, gpu.equivalent_gpus is null and settings.notes
says why.

examples:
  wse-sim run
  wse-sim run --model bert-large --wafer wse2 --weight-sparsity 0.5 --gpu a100 --report out/
  wse-sim run --model cvae --model-arg map_size=256 --set clock_hz=1.1e9 --json
  wse-sim run --onnx model.onnx --input-shape image=1x3x224x224 --batch 256 --trace trace.json
"""


def check_run_args(args) -> None:
    """The flags' ranges, by the rules of wse_sim.validate (one line each on error)."""
    number("--weight-sparsity", args.weight_sparsity, 0, 1, error=SparsityError,
           fix="e.g. 0.5 prunes half the weights")
    if args.weight_sparsity >= 1:
        raise SparsityError(f"--weight-sparsity must be in [0, 1), got {args.weight_sparsity:g};"
                            " e.g. 0.5 prunes half the weights")
    for name in ("batch", "samples"):
        integer(f"--{name}", getattr(args, name), 1, MAX_COUNT, error=SimulationError,
                none_ok=name == "batch")
    seed("--seed", args.seed, error=SimulationError)
    refuse_unused(args, ("context", "wafers"), "--mode decode or prefill")
    if args.report is not None:  # refused before the simulation, not after it
        check_output_folder("--report", args.report)
    if getattr(args, "trace", None) is not None:
        check_output_file("--trace", args.trace, "trace.json")
    replicas_arg(args.replicas)


def replicas_arg(value: str) -> int | str:
    """``--replicas``: 'auto' or a count >= 1."""
    if value == "auto":
        return "auto"
    return integer("--replicas", int(value) if str(value).isdigit() else value, 1, MAX_COUNT,
                   error=SimulationError, fix="use a count >= 1 or 'auto'")


def execute_run(args, advance) -> tuple:
    """The run pipeline; returns (graph, result, gpu block, timings in seconds)."""
    t0 = time.perf_counter()
    advance("model")
    graph = graph_from_args(args) or models.get(args.model, **model_arguments(args.model_arg))
    if args.weight_sparsity > 0:
        graph = ws.sparsify(graph, args.weight_sparsity, args.sparsity_pattern, seed=args.seed)
    target = system_target(args)
    t1 = time.perf_counter()
    advance("place")
    plan = ws.place(graph, target, training=args.mode == "train", batch=args.batch,
                    seed=args.seed, micro_batch=args.micro_batch,
                    replicas=replicas_arg(args.replicas))
    t2 = time.perf_counter()
    advance("simulate")
    result = ws.simulate(plan, mode=args.mode, batch=args.batch, samples=args.samples,
                         activations=args.activations, seed=args.seed,
                         inputs=default_inputs if args.activations == "functional" else None,
                         progress=lambda done, total: advance("simulate", done / total))
    t3 = time.perf_counter()
    advance("gpu")
    gpu = gpu_block(result, graph, args.gpu)
    t4 = time.perf_counter()
    timings = {"model": t1 - t0, "place": t2 - t1, "simulate": t3 - t2, "gpu": t4 - t3}
    return graph, result, gpu, timings


def system_target(args):
    """The wafer, or with --system / --systems / --micro-batch the system, to place on:
    --system names the preset (its wafer replaces --wafer), --set overrides its wafer."""
    wafer = ws.wafer(args.wafer, **wafer_overrides(args.set))
    if args.system is None and args.systems is None and args.micro_batch is None:
        return wafer
    n = integer("--systems", args.systems if args.systems is not None else 1, 1, 1 << 20,
                error=SimulationError, fix="e.g. --systems 4")
    if args.micro_batch is not None:
        integer("--micro-batch", args.micro_batch, 1, MAX_COUNT, error=SimulationError,
                fix="e.g. --micro-batch 8, or leave it out to fit")
    if args.system is None:
        return system_for(wafer, n)
    base = ws.system(args.system, n=n)
    return base.replace(wafer=ws.wafer(base.wafer, **wafer_overrides(args.set)))


def gpu_block(result, graph, name: str) -> dict:
    """The GPU comparison (see :func:`wse_sim.baselines.gpu_summary`); an error from the
    baseline (e.g. the model does not fit one GPU) becomes a note instead of failing the run."""
    try:
        return gpu_summary(result, name, graph, batch_per_gpu="auto", precision="mixed")
    except WseSimError as exc:
        return {"name": name, "samples_per_s_per_gpu": None, "equivalent_gpus": None,
                "note": f"no GPU baseline: {exc}"}


def run_record(args, result, gpu: dict, timings: dict) -> dict:
    """The ``--json`` object: exactly :data:`JSON_KEYS` at the top level."""
    settings = dict(result.settings)
    settings.update(
        model_args=model_arguments(args.model_arg), wafer_overrides=wafer_overrides(args.set),
        weight_sparsity=args.weight_sparsity,
        sparsity_pattern=args.sparsity_pattern if args.weight_sparsity > 0 else "dense",
        gpu=args.gpu, timings_s=timings, engine_wall_s=result.sim_wall_s)
    if result.execution == "weight_streaming":
        settings.update(micro_batch=result.micro_batch, systems=result.systems,
                        scaling_efficiency=result.scaling_efficiency)
    # the engine's own notes (e.g. a forced micro-batch that spills) stay beside the GPU's
    notes = list(settings.get("notes", [])) + ([gpu["note"]] if gpu.get("note") else [])
    if notes:
        settings["notes"] = notes
    d = {"model": result.model, "wafer": result.wafer, "mode": result.mode,
         "execution": result.execution, "samples_per_s": result.samples_per_s,
         "step_time_s": result.step_time_s, "latency_s": result.latency_s,
         "bottleneck": result.bottleneck, "cores_used": result.cores_used,
         "utilization": result.utilization, "sram_peak_fraction": result.sram_peak_fraction,
         "replicas": result.replicas, "energy_j_per_sample": result.energy_j_per_sample,
         "power_w": result.power_w, "gpu": gpu,
         "sim_wall_s": timings["place"] + timings["simulate"], "settings": settings}
    assert tuple(d) == JSON_KEYS
    return d


def human_summary(result, gpu: dict, timings: dict) -> str:
    rows = summary_rows(result, gpu)
    if result.execution == "weight_streaming":
        name = result.settings.get("system", {}).get("name", "")
        rows.append(("systems", f"{result.systems} x {name}, micro-batch "
                                f"{result.micro_batch}, scaling efficiency "
                                f"{result.scaling_efficiency:.3f}"))
        if result.settings.get("spilled"):
            rows.append(("spill", result.settings["notes"][0]))
    rows += [("note", n) for n in result.settings.get("placement_notes", [])]
    rows.append(("wall time", f"place {timings['place']:.2f} s + simulate "
                              f"{timings['simulate']:.2f} s (model {timings['model']:.2f} s, "
                              f"GPU {timings['gpu']:.2f} s)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def cmd_run(args) -> int:
    if args.mode in ("decode", "prefill"):  # LLM inference: its own pipeline and report (llm.py)
        return cmd_run_llm(args)
    check_run_args(args)
    show = not args.no_progress
    with progress_bar(show) as advance:
        _, result, gpu, timings = execute_run(args, advance)
    record = run_record(args, result, gpu, timings)
    # print first, then draw: a finished result is never lost to a plotting failure
    if args.json:
        print_json(record)
    else:
        print(human_summary(result, gpu, timings))
    sys.stdout.flush()
    if args.report:
        md = report(result, args.report, gpu=gpu)
        print(f"report: {md}", file=sys.stderr if args.json else sys.stdout)
    write_trace(args, result)
    return 0


def add_run_arguments(p: Parser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"model from 'wse-sim models' (default: {DEFAULT_MODEL})")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword for the model builder, repeatable, e.g. seq_len=512 or "
                        "map_size=256 (values read as int/float/bool when they parse)")
    p.add_argument("--wafer", default=DEFAULT_WAFER, metavar="NAME",
                   help=f"wafer preset from 'wse-sim wafers' (default: {DEFAULT_WAFER})")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a wafer field, repeatable, e.g. rows=64, "
                        "sram_bytes_per_core=98304 (bytes), clock_hz=1.1e9 (Hz)")
    p.add_argument("--mode", choices=("train", "infer", "decode", "prefill"), default="train",
                   help="training (forward + backward + update) or inference (default: train);"
                        " decode / prefill: LLM serving with a KV cache (--context, --wafers)")
    p.add_argument("--context", type=int, default=4096, metavar="L",
                   help="decode/prefill: KV-cache / prompt length in tokens (default: 4096)")
    p.add_argument("--wafers", default="1", metavar="N",
                   help="decode/prefill: wafers in the pipeline, or 'auto' (default: 1)")
    p.add_argument("--system", default=None, metavar="NAME",
                   help="train on a system from 'wse-sim systems' (cs1, cs2, cs3): its wafer "
                        "with its memory service, in weight streaming")
    p.add_argument("--systems", type=int, default=None, metavar="N",
                   help="systems in data parallel (weight streaming; default 1)")
    p.add_argument("--micro-batch", type=int, default=None, metavar="N",
                   help="weight streaming: samples per micro-batch (default: the most that "
                        "fit; more spills activations off the wafer, charged and named)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="samples per optimizer step per replica (default: the model's "
                        "batch_default, else 256 for training and 64 for inference)")
    p.add_argument("--replicas", default="1", metavar="N|auto",
                   help="data-parallel copies of a pipelined model: a count, or 'auto' for as "
                        "many as predict fastest (default: 1; the summary says what auto "
                        "would give)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"samples pushed through the simulated pipeline (default: "
                        f"{DEFAULT_SAMPLES})")
    p.add_argument("--weight-sparsity", type=float, default=0.0, metavar="S",
                   help="fraction of weights pruned, in [0, 1) (default: 0, dense)")
    p.add_argument("--sparsity-pattern", choices=PATTERNS, default="unstructured",
                   help="weight mask pattern: unstructured, n:m (2:4, needs S=0.5) or block "
                        "(default: unstructured)")
    p.add_argument("--activations", choices=("synthetic", "functional"), default="synthetic",
                   help="activation zeros from expected densities (synthetic) or measured on "
                        "generated inputs (functional) (default: synthetic)")
    p.add_argument("--gpu", choices=GPUS, default=DEFAULT_GPU,
                   help=f"GPU for the baseline and GPU equivalence (default: {DEFAULT_GPU})")
    p.add_argument("--report", metavar="DIR",
                   help="also write a report folder: report.md, PNG plots, result.json, "
                        "arrays.npz")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the table (equivalent_gpus: null "
                        "when no GPU cluster reaches the wafer)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed for weight masks, activation draws and ties (default: 0)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is drawn on stderr only, after 2 s)")
    add_run_options(p)
