"""The ``wse-sim`` command line: models, wafers, run, report, import, sweep.

Exit codes: 0 success, 2 bad arguments or input (one ``wse-sim: error: ...`` line on stderr, no
traceback), 1 an unexpected internal failure.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import WseSimError
from ..version import __version__
from . import fabric as fabric_cli
from . import systems as systems_cli
from .args import PROG, Parser, check_parsed, subcommand
from .importing import add_import_command
from .info import cmd_models, cmd_wafers
from .redraw import cmd_report
from .run import RUN_EPILOG, add_run_arguments, cmd_run
from .sweep import cmd_sweep


def build_parser() -> Parser:
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
    systems_cli.add_parser(sub)
    p = sub.add_parser("run", help="place and simulate one model on one wafer",
                       description="Build a model, place it on a wafer, simulate it and "
                       "compare with a GPU baseline.", epilog=RUN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="re-render a report from a saved result.json",
                       description="Redraw report.md and the PNG plots from a result.json "
                       "written by 'wse-sim run --report DIR' (arrays.npz must sit beside it).")
    p.add_argument("result", metavar="RESULT.json", help="saved result.json, or its folder")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: the folder of RESULT.json)")
    p.set_defaults(func=cmd_report)
    add_import_command(sub)
    fabric_cli.add_parser(sub)
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
        check_parsed(args, subcommand(parser, args.command))
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


