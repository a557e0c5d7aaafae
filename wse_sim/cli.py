"""The ``wse-sim`` command line: models, wafers, run, report, sweep.

Exit codes: 0 success, 2 bad arguments or input (one ``wse-sim: error: ...`` line on stderr, no
traceback), 1 an unexpected internal failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import math
import sys
import time
from contextlib import contextmanager

from .errors import SimulationError, SparsityError, WseSimError

DEFAULT_MODEL = "cvae"
DEFAULT_WAFER = "wse2"
DEFAULT_GPU = "v100"
DEFAULT_SAMPLES = 64
GPUS = ("v100", "a100", "h100")
PATTERNS = ("unstructured", "n:m", "block")
JSON_KEYS = ("model", "wafer", "mode", "execution", "samples_per_s", "step_time_s", "latency_s",
             "bottleneck", "cores_used", "utilization", "sram_peak_fraction", "replicas",
             "energy_j_per_sample", "power_w", "gpu", "sim_wall_s", "settings")
"""Top-level keys of ``wse-sim run --json``, in order."""

PROG = "wse-sim"
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
"""


class UsageError(WseSimError, ValueError):
    """A malformed command-line value (a key=value pair, a type, a range)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``wse-sim run: error: ... (see 'wse-sim run --help')``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} "
                     f"(see '{self.prog} --help')\n")


# ---- value parsing ---------------------------------------------------------------------------
def parse_pair(text: str, option: str) -> tuple[str, str]:
    """Split ``key=value``; a missing '=' or empty key raises :class:`UsageError`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} expects key=value, got {text!r}")
    return key.strip(), value.strip()


def guess_value(text: str):
    """A model argument's value: int, float, bool or None when it reads as one, else the text."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def coerce(text: str, kind: str, what: str):
    """``text`` as a WaferSpec field of type ``kind`` ('int', 'float', 'str', 'bool')."""
    try:
        if kind == "int":
            value = float(text.replace("_", "")) if any(c in text for c in ".eE") else \
                int(text.replace("_", ""), 0)
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
            return value
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        return text
    except ValueError:
        raise UsageError(f"{what} must be {'an' if kind == 'int' else 'a'} {kind}, "
                         f"got {text!r}") from None


def wafer_overrides(pairs: list[str]) -> dict:
    """``--set field=value`` pairs as typed WaferSpec overrides."""
    from .spec import WaferSpec

    fields = {f.name: str(f.type) for f in dataclasses.fields(WaferSpec)}
    out = {}
    for text in pairs:
        key, value = parse_pair(text, "--set")
        if key not in fields or key == "name":
            raise UsageError(f"unknown wafer field {key!r} in --set; fields: "
                             f"{', '.join(k for k in fields if k != 'name')}")
        out[key] = coerce(value, fields[key], f"--set {key}")
    return out


def model_arguments(pairs: list[str]) -> dict:
    """``--model-arg key=value`` pairs with values read as int/float/bool where they parse."""
    out = {}
    for text in pairs:
        key, value = parse_pair(text, "--model-arg")
        out[key] = guess_value(value)
    return out


# ---- output helpers --------------------------------------------------------------------------
def table(rows: list[list[str]], header: list[str], right: set[int] = frozenset()) -> str:
    """An aligned text table (columns in ``right`` are right-aligned)."""
    cells = [header, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(str(v).rjust(w) if i in right else str(v).ljust(w)
                         for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _si(value: float, unit: str = "") -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def print_json(obj) -> None:
    from .results_io import json_safe

    print(json.dumps(json_safe(obj), indent=2, allow_nan=False))


# ---- models / wafers -------------------------------------------------------------------------
def cmd_models(args) -> int:
    from .models import available, describe

    info = [describe(name) for name in available()]
    if args.json:
        print_json(info)
        return 0
    rows = [[d["name"], _si(d["params"]), _si(d["forward_macs"]), _si(d["training_macs"]),
             str(d["batch_default"]), d["description"]] for d in info]
    print(table(rows, ["model", "params", "fwd MACs/sample", "train MACs/sample", "batch",
                       "description"], right={1, 2, 3, 4}))
    return 0


def wafer_rows() -> list[dict]:
    from .spec import WAFER_PRESETS

    return [{"name": w.name, "rows": w.rows, "cols": w.cols, "cores": w.cores,
             "sram_bytes_per_core": w.sram_bytes_per_core,
             "total_sram_bytes": w.total_sram_bytes, "peak_flops_fp16": w.peak_flops("fp16"),
             "clock_hz": w.clock_hz} for w in WAFER_PRESETS.values()]


def cmd_wafers(args) -> int:
    info = wafer_rows()
    if args.json:
        print_json(info)
        return 0
    rows = [[w["name"], str(w["rows"]), str(w["cols"]), f"{w['cores']:,}",
             f"{w['sram_bytes_per_core'] / 1024:g}", f"{w['total_sram_bytes'] / 2**30:.3g}",
             f"{w['peak_flops_fp16'] / 1e15:.3g}", f"{w['clock_hz'] / 1e9:.3g}"] for w in info]
    print(table(rows, ["wafer", "rows", "cols", "cores", "SRAM/core KB", "total SRAM GiB",
                       "peak fp16 PFLOP/s", "clock GHz"], right=set(range(1, 8))))
    return 0


# ---- run -------------------------------------------------------------------------------------
@contextmanager
def progress_bar(enabled: bool):
    """A tqdm bar on stderr over the phases of a run (model, place, simulate, GPU); it appears
    only once a run has taken 2 s. Yields ``advance(phase, fraction)``."""
    if not enabled:
        yield lambda phase, frac=0.0: None
        return
    from tqdm import tqdm

    bar = tqdm(total=100, file=sys.stderr, delay=2.0, leave=False, unit="%",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
    weights = {"model": (0, 5), "place": (5, 45), "simulate": (50, 45), "gpu": (95, 5)}

    def advance(phase: str, frac: float = 0.0) -> None:
        base, span = weights[phase]
        bar.set_description_str(phase, refresh=False)
        bar.update(max(0.0, min(100.0, base + span * frac) - bar.n))  # honours the delay

    try:
        yield advance
    finally:
        bar.close()


def check_run_args(args) -> None:
    s = args.weight_sparsity
    if not (0.0 <= s < 1.0) or math.isnan(s):
        raise SparsityError(f"--weight-sparsity must be in [0, 1), got {s:g}; e.g. 0.5 prunes "
                            "half the weights")
    if args.activations == "functional" and \
            importlib.util.find_spec(f"{__package__}.functional") is None:
        raise SimulationError("--activations functional needs wse_sim.functional, which this "
                              "build does not have; use --activations synthetic")
    for name in ("batch", "samples"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise SimulationError(f"--{name} must be >= 1, got {v}")
    if args.seed < 0:
        raise SimulationError(f"--seed must be >= 0, got {args.seed}")


def execute_run(args, advance) -> tuple:
    """The run pipeline; returns (graph, result, gpu block, timings in seconds)."""
    import wse_sim as ws
    from wse_sim import models

    t0 = time.perf_counter()
    advance("model")
    graph = models.get(args.model, **model_arguments(args.model_arg))
    if args.weight_sparsity > 0:
        graph = ws.sparsify(graph, args.weight_sparsity, args.sparsity_pattern, seed=args.seed)
    wafer = ws.wafer(args.wafer, **wafer_overrides(args.set))
    t1 = time.perf_counter()
    advance("place")
    plan = ws.place(graph, wafer, training=args.mode == "train", batch=args.batch,
                    seed=args.seed)
    t2 = time.perf_counter()
    advance("simulate")
    result = ws.simulate(plan, mode=args.mode, batch=args.batch, samples=args.samples,
                         activations=args.activations, seed=args.seed,
                         progress=lambda done, total: advance("simulate", done / total))
    t3 = time.perf_counter()
    advance("gpu")
    gpu = gpu_block(result, graph, args.gpu)
    t4 = time.perf_counter()
    timings = {"model": t1 - t0, "place": t2 - t1, "simulate": t3 - t2, "gpu": t4 - t3}
    return graph, result, gpu, timings


def gpu_block(result, graph, name: str) -> dict:
    """The GPU comparison (see :func:`wse_sim.results_io.gpu_summary`); an error from the
    baseline (e.g. the model does not fit one GPU) becomes a note instead of failing the run."""
    from .results_io import gpu_summary

    try:
        return gpu_summary(result, name, graph, batch_per_gpu="auto", precision="mixed")
    except ImportError:
        return {"name": name, "samples_per_s_per_gpu": None, "equivalent_gpus": None,
                "note": "the GPU baseline (wse_sim.gpu) is not available in this build"}
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
    notes = [gpu["note"]] if gpu.get("note") else []
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
    from .report import summary_rows

    rows = summary_rows(result, gpu)
    rows.append(("wall time", f"place {timings['place']:.2f} s + simulate "
                              f"{timings['simulate']:.2f} s (model {timings['model']:.2f} s, "
                              f"GPU {timings['gpu']:.2f} s)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def cmd_run(args) -> int:
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
        from .report import report

        md = report(result, args.report, gpu=gpu)
        print(f"report: {md}", file=sys.stderr if args.json else sys.stdout)
    return 0


# ---- report ----------------------------------------------------------------------------------
def cmd_report(args) -> int:
    from pathlib import Path

    from .report import report
    from .results_io import load_run

    saved = load_run(args.result)
    src = Path(args.result)
    out = args.out or (src if src.is_dir() else src.parent)
    md = report(saved, out)
    print(f"report: {md}")
    return 0


# ---- sweep -----------------------------------------------------------------------------------
def cmd_sweep(argv: list[str]) -> int:
    """``wse-sim sweep``: parsed and run by :mod:`wse_sim.sweep` (imported only here)."""
    try:
        sweep_mod = importlib.import_module(f"{__package__}.sweep")
        add, run = sweep_mod.add_sweep_arguments, sweep_mod.run_sweep_command
    except (ImportError, AttributeError):
        print(f"{PROG}: error: the sweep command is not available in this build "
              "(wse_sim.sweep lacks add_sweep_arguments/run_sweep_command)", file=sys.stderr)
        return 2
    parser = Parser(
        prog=f"{PROG} sweep", description="Run every point of a parameter space and write one "
        "table (results.csv) and its plots.")
    add(parser)
    return int(run(parser.parse_args(argv)) or 0)


# ---- parser ----------------------------------------------------------------------------------
def _add_run_arguments(p: Parser) -> None:
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
    p.add_argument("--mode", choices=("train", "infer"), default="train",
                   help="training (forward + backward + update) or inference (default: train)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="samples per optimizer step per replica (default: the model's)")
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


def build_parser() -> Parser:
    from . import __version__

    parser = Parser(
        prog=PROG, description="Cycle-approximate simulator of wafer-scale dataflow "
        "accelerators, with GPU baselines.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("models", help="list the model zoo (params, MACs per sample)",
                       description="List the models with parameter counts and forward and "
                       "training MACs per sample at their default arguments.")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {name, params, forward_macs, training_macs, "
                        "ops, batch_default, description}")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("wafers", help="list the wafer presets",
                       description="List the wafer presets with their derived figures.")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {name, rows, cols, cores, sram_bytes_per_core, "
                        "total_sram_bytes, peak_flops_fp16 (FLOP/s), clock_hz}")
    p.set_defaults(func=cmd_wafers)
    p = sub.add_parser("run", help="place and simulate one model on one wafer",
                       description="Build a model, place it on a wafer, simulate it and "
                       "compare with a GPU baseline.", epilog=RUN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="re-render a report from a saved result.json",
                       description="Redraw report.md and the PNG plots from a result.json "
                       "written by 'wse-sim run --report DIR' (arrays.npz must sit beside it).")
    p.add_argument("result", metavar="RESULT.json", help="saved result.json, or its folder")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: the folder of RESULT.json)")
    p.set_defaults(func=cmd_report)
    sub.add_parser("sweep", add_help=False,
                   help="run every point of a parameter space (see 'wse-sim sweep --help')")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``wse-sim``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "sweep":
            return cmd_sweep(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv or ["run"])
        if args.command is None:
            args = parser.parse_args(["run", *argv])
        return int(args.func(args) or 0)
    except WseSimError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
