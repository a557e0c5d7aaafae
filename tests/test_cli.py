"""The ``wse-sim`` command line: JSON contract, bad arguments, report re-render, listings."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from wse_sim import cli
from wse_sim.cli import args as _cli_args  # noqa: F401  (binds cli.args)
from wse_sim.cli import run as _cli_run  # noqa: F401  (binds cli.run)
from wse_sim.models import available, describe
from wse_sim.spec import WAFER_PRESETS

SMALL = ["--model", "cvae", "--wafer", "tiny", "--set", "rows=64", "--set", "cols=64",
         "--samples", "8"]
ROOT = Path(__file__).resolve().parents[1]


def call(argv):
    """Run ``main(argv)`` in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One small run with --json and --report, shared by the tests below."""
    folder = tmp_path_factory.mktemp("run") / "report"
    rc, out, err = call(["run", *SMALL, "--json", "--report", str(folder)])
    assert rc == 0, err
    return json.loads(out), folder, err


def test_run_json_has_exactly_the_contract_keys(small_run):
    record, _, _ = small_run
    assert tuple(record) == cli.run.JSON_KEYS
    assert record["model"] == "cvae" and record["wafer"] == "tiny"
    assert record["mode"] == "train"
    assert record["execution"] in ("pipelined", "weight_streaming")
    assert {"stage", "kind"} <= set(record["bottleneck"])
    assert {"name", "samples_per_s_per_gpu", "equivalent_gpus"} <= set(record["gpu"])
    assert record["gpu"]["name"] == "v100"
    assert record["samples_per_s"] > 0 and record["sim_wall_s"] > 0
    assert record["settings"]["wafer_overrides"] == {"rows": 64, "cols": 64}
    n = record["gpu"]["equivalent_gpus"]
    assert n is None or (isinstance(n, int) and n >= 1)


def test_run_json_stdout_is_only_json(small_run):
    _, _, err = small_run
    assert "report:" in err  # the report path goes to stderr when --json is set


def test_run_report_folder_is_complete(small_run):
    _, folder, _ = small_run
    for name in ("report.md", "result.json", "arrays.npz", "placement.png", "utilization.png",
                 "sram.png", "link_loads.png", "stage_cycles.png", "timeline.png", "gpu.png"):
        assert (folder / name).stat().st_size > 0, name


def test_report_command_rerenders(small_run, tmp_path):
    _, folder, _ = small_run
    out = tmp_path / "again"
    rc, stdout, err = call(["report", str(folder), "--out", str(out)])  # a folder works too
    assert rc == 0, err
    assert "report.md" in stdout
    for name in ("report.md", "result.json", "arrays.npz", "placement.png", "gpu.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "result.json").read_text())
    original = json.loads((folder / "result.json").read_text())
    assert saved["samples_per_s"] == original["samples_per_s"]
    assert saved["gpu"] == original["gpu"]


def test_human_run_prints_the_table():
    rc, out, _ = call(["run", *SMALL, "--no-progress"])
    assert rc == 0
    for label in ("model", "wafer", "throughput", "step time", "latency", "bottleneck",
                  "cores used", "GPU baseline", "equivalent GPUs", "wall time"):
        assert label in out


BAD = [
    ["run", "--model", "no-such-model"],
    ["run", "--set", "no_such_field=1"],
    ["run", "--set", "rows"],  # malformed key=value
    ["run", "--model-arg", "map_size"],  # malformed key=value
    ["run", "--set", "rows=abc"],  # wrong type
    ["run", "--set", "rows=1.5"],  # wrong type
    ["run", "--model-arg", "no_such_arg=3"],
    ["run", "--weight-sparsity", "1"],
    ["run", "--weight-sparsity", "-0.1"],
    ["run", "--batch", "abc"],  # argparse
    ["run", "--mode", "fly"],  # argparse
    ["run", "--samples", "0"],
    ["run", "--seed", "-1"],
    ["run", "--model-arg", "map_size=abc"],  # wrong type for the model
    ["report", "no/such/result.json"],
    ["no-such-command"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_arguments_exit_2_with_one_line(argv):
    rc, out, err = call(argv)
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error" in lines[0]
    assert "Traceback" not in err and out == ""


def test_bad_argument_in_a_subprocess_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "wse_sim.cli", "run", "--model", "nope"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("wse-sim: error: unknown model 'nope'")
    assert "Traceback" not in proc.stderr


def test_json_run_in_a_subprocess_keeps_the_progress_bar_off_stdout():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "wse_sim.cli", "run", *SMALL, "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert tuple(json.loads(proc.stdout)) == cli.run.JSON_KEYS  # nothing else on stdout


def test_progress_bar_goes_to_stderr(monkeypatch):
    calls = []

    class Bar:
        def __init__(self, *a, file=None, **k):
            calls.append(file is sys.stderr and file is not sys.stdout)
            self.n = 0

        def set_description_str(self, *a, **k):
            pass

        def update(self, d):
            self.n += d

        def close(self):
            pass

    monkeypatch.setattr(cli.args, "tqdm", Bar)
    rc, out, _ = call(["run", *SMALL, "--json"])
    assert rc == 0 and calls == [True]
    json.loads(out)


def test_models_json_lists_every_model():
    rc, out, _ = call(["models", "--json"])
    assert rc == 0
    info = json.loads(out)
    assert [d["name"] for d in info] == available()
    cvae = next(d for d in info if d["name"] == "cvae")
    assert cvae["params"] == describe("cvae")["params"] > 0
    assert all(d["forward_macs"] > 0 and d["params"] > 0 for d in info)


def test_wafers_json_lists_every_preset():
    rc, out, _ = call(["wafers", "--json"])
    assert rc == 0
    info = {d["name"]: d for d in json.loads(out)}
    assert set(info) == set(WAFER_PRESETS)
    w = info["wse2"]
    spec = WAFER_PRESETS["wse2"]
    assert (w["rows"], w["cols"], w["cores"]) == (spec.rows, spec.cols, spec.rows * spec.cols)
    assert w["sram_bytes_per_core"] == spec.sram_bytes_per_core
    assert w["total_sram_bytes"] == spec.cores * spec.sram_bytes_per_core
    assert w["peak_flops_fp16"] == pytest.approx(spec.peak_flops("fp16"))


@pytest.mark.parametrize("command,header", [("models", "fwd MACs/sample"),
                                            ("wafers", "SRAM/core KB")])
def test_listings_are_aligned_tables(command, header):
    rc, out, _ = call([command])
    assert rc == 0
    lines = out.splitlines()
    assert header in lines[0] and set(lines[1]) <= {"-", " "}
    assert len(lines) >= 3


@pytest.mark.parametrize("command", [[], ["models"], ["wafers"], ["run"], ["report"]])
def test_help_on_every_command(command):
    rc, out, _ = call([*command, "--help"])
    assert rc == 0 and "usage:" in out


def test_run_help_documents_the_json_null():
    _, out, _ = call(["run", "--help"])
    assert "equivalent_gpus is null" in " ".join(out.split())


def test_sweep_without_its_module_is_one_line_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "wse_sim.sweep", types.ModuleType("wse_sim.sweep"))
    rc, out, err = call(["sweep", "space.toml", "--out", "x"])
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "sweep" in err


@pytest.mark.parametrize("text,kind,value", [("64", "int", 64), ("0x40", "int", 64),
                                             ("1e3", "int", 1000), ("1.1e9", "float", 1.1e9),
                                             ("abc", "str", "abc")])
def test_set_values_are_coerced_to_the_field_type(text, kind, value):
    assert cli.args.coerce(text, kind, "x") == value


def test_model_arg_values_are_guessed():
    assert cli.args.model_arguments(["map_size=64", "dropout=0.1", "name=x", "flag=true"]) == {
        "map_size": 64, "dropout": 0.1, "name": "x", "flag": True}
