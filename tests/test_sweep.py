"""Sweeps: executors agree bit for bit, kill and resume, failures, bad spaces, files, CLI, plots.

The space is 12 points of the CVAE on the 16 x 16 'tiny' wafer (each well under a second).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wse_sim.cli.sweep import add_sweep_arguments, run_sweep_command
from wse_sim.errors import SimulationError, SpecError, WseSimError
from wse_sim.sweep import load_space, read_table, sweep, without_timings
from wse_sim.sweep.executors import run_point
from wse_sim.sweep.space import OUTPUTS, TIMING_FIELDS, check_space, expand_space, point_key
from wse_sim.sweep.store import (
    JSONL_NAME,
    cut_torn_tail,
    decode_row,
    encode_row,
    normalize_row,
    read_jsonl,
)

SPACE = {"model": ["cvae"], "map_size": [28], "wafer": ["tiny"],
         "weight_sparsity": [0.0, 0.5, 0.9], "sram_bytes_per_core": [24576, 98304],
         "seed": [0, 1]}
EXAMPLE = Path(__file__).resolve().parents[1] / "benchmarks" / "sweeps" / "sram_vs_sparsity.toml"


def det(table) -> list[dict]:
    """The deterministic part of each row."""
    return [without_timings(r) for r in table]


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    """The 12 points run one by one in this process, rows as they read back from disk."""
    return [normalize_row(run_point(p)) for p in expand_space(SPACE)]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    return out, sweep(SPACE, out, executor="local", workers=2, progress=False)


def test_space_expands_in_order_with_defaults():
    points = expand_space(SPACE)
    assert len(points) == 12
    assert [p["seed"] for p in points[:2]] == [0, 0] and points[0]["mode"] == "train"
    assert points[0]["weight_sparsity"] == 0.0 and isinstance(points[0]["weight_sparsity"], float)
    keys = {point_key(p) for p in points}
    assert len(keys) == 12
    # the same settings spelled differently (defaults explicit, int sparsity) give the same key
    same = expand_space({**SPACE, "weight_sparsity": [0], "mode": ["train"], "gpu": ["v100"]})
    assert point_key(same[0]) == point_key(points[0])
    assert point_key(points[0], version="9.9") != point_key(points[0])


def test_local_sweep_matches_one_by_one(local_run, reference):
    out, table = local_run
    assert len(table) == 12 and table.computed == 12 and table.reused == 0
    assert det(table) == det(reference)
    assert all(r["status"] == "ok" and r["samples_per_s"] > 0 for r in table)
    first = list(table[0])
    assert first[:first.index("key")] == list(check_space(SPACE))
    assert first[first.index("key"):] == [*OUTPUTS, *TIMING_FIELDS]
    # files: one JSONL line and one point file per point, the CSV, and read_table
    lines = (out / JSONL_NAME).read_text().splitlines()
    assert sorted(json.loads(x)["key"] for x in lines) == sorted(r["key"] for r in table)
    assert len(list((out / "points").glob("*.json"))) == 12
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 13 and csv_lines[0].split(",") == first
    assert read_table(out) == list(table)


def test_rerun_reuses_everything(local_run):
    out, table = local_run
    again = sweep(SPACE, out, executor="local", workers=2, progress=False)
    assert again.computed == 0 and again.reused == 12
    assert list(again) == list(table)  # timings too: nothing was recomputed
    assert len((out / JSONL_NAME).read_text().splitlines()) == 12


def test_dask_local_cluster_matches_local(tmp_path, local_run):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        table = sweep(SPACE, tmp_path, executor="dask", scheduler=cluster.scheduler_address,
                      progress=False)
    assert det(table) == det(local_run[1])


KILL_SCRIPT = """
import sys
from wse_sim.sweep import sweep
if __name__ == "__main__":
    sweep({space!r}, sys.argv[1], executor="local", workers=1, progress=False)
"""


def test_kill_and_resume(tmp_path, local_run):
    out = tmp_path / "out"
    script = tmp_path / "run_sweep.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT.format(space=SPACE)))
    proc = subprocess.Popen([sys.executable, str(script), str(out)], start_new_session=True)
    points = out / "points"
    deadline = time.monotonic() + 60
    try:
        while len(list(points.glob("*.json"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no points finished in 60 s"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its pool worker
        proc.wait()
    done = {p.stem: decode_row(p.read_text()) for p in points.glob("*.json")}
    assert 3 <= len(done) < 12
    with open(out / JSONL_NAME, "a") as f:  # as if killed in the middle of a line
        f.write('{"model": "cvae", "wafer": "ti')
    assert set(read_jsonl(out / JSONL_NAME)) <= set(done)  # the torn line is skipped

    table = sweep(SPACE, out, executor="serial", progress=False)
    assert table.reused == len(done) and table.computed == 12 - len(done)
    for row in table:  # finished points come back as stored, timings included
        if row["key"] in done:
            assert row == done[row["key"]]
    lines = (out / JSONL_NAME).read_text().splitlines()
    keys = [json.loads(x)["key"] for x in lines]  # every line parses: the torn tail is gone
    assert sorted(keys) == sorted(r["key"] for r in table) and len(set(keys)) == 12
    assert det(table) == det(local_run[1])


def test_failing_points_are_recorded_and_the_sweep_goes_on(tmp_path):
    space = {"model": ["cvae"], "wafer": ["tiny"], "rows": [8, 16], "cols": [1, 16],
             "sram_bytes_per_core": [4096, 49152]}
    table = sweep(space, tmp_path, executor="serial", progress=False)
    assert len(table) == 8 and table.failed == 5
    by = {(r["rows"], r["cols"], r["sram_bytes_per_core"]): r for r in table}
    small = by[(8, 1, 49152)]  # 8 cores for 13 stages
    assert small["status"] == "failed" and small["error"].startswith("PlacementError")
    assert small["samples_per_s"] is None
    no_sram = by[(16, 16, 4096)]  # SRAM below the code reserve
    assert no_sram["status"] == "failed" and "SpecError" in no_sram["error"]
    assert by[(16, 16, 49152)]["status"] == "ok"
    again = sweep(space, tmp_path, executor="serial", progress=False)
    assert again.reused == 8 and again.failed == 5  # failures are cached like results


@pytest.mark.parametrize("space, words", [
    ({"model": ["cvae"], "sram_kb": [48]}, "unknown field 'sram_kb'"),
    ({"model": ["cvae"], "weight_sparsity": []}, "empty list"),
    ({"model": ["cvae"], "weight_sparsity": 0.5}, "must be a list"),
    ({"model": ["cvae"], "rows": [16.0]}, "must be integers"),
    ({"model": ["cvae"], "sram_bytes_per_core": ["48k"]}, "must be integers"),
    ({"model": ["cvae"], "seed": [True]}, "seed"),
    ({"model": ["cvae"], "weight_sparsity": [1.5]}, "[0, 1]"),
    ({"model": ["nope"]}, "unknown model 'nope'"),
    ({"model": ["cvae"], "gpu": ["v200"]}, "unknown gpu"),
    ({"model": ["cvae"], "map_size": ["big"]}, "map_size"),
    ({"model": ["cvae", "bert-base"], "map_size": [28]}, "every model"),
    ({"model": ["cvae"], "mode": ["train", "train"]}, "twice"),
    (["cvae"], "dict of lists"),
])
def test_bad_space_fails_before_any_work(tmp_path, space, words):
    out = tmp_path / "out"
    with pytest.raises(SpecError) as info:
        sweep(space, out, progress=False)
    assert words in str(info.value)
    assert not out.exists()


@pytest.mark.parametrize("kwargs", [
    {"executor": "mpi"}, {"workers": 0}, {"executor": "local", "scheduler": "tcp://x:1"},
])
def test_bad_run_arguments_fail_before_any_work(tmp_path, kwargs):
    with pytest.raises(SimulationError):
        sweep(SPACE, tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_store_round_trips_and_cuts_torn_lines(tmp_path):
    row = {"key": "k1", "equivalent_gpus": float("inf"), "x": 0.1 + 0.2, "error": None}
    line = encode_row(row)
    # the one rule for non-finite numbers: null in every JSON file
    assert "Infinity" not in line and decode_row(line) == {**row, "equivalent_gpus": None}
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n" + encode_row({**row, "key": "k2"}) + "\n" + line[:9])
    assert list(read_jsonl(path)) == ["k1", "k2"]
    assert cut_torn_tail(path) == 9 and path.read_text().endswith("\n")
    assert cut_torn_tail(path) == 0
    with pytest.raises(WseSimError):
        read_table(tmp_path / "missing")


def test_example_space_is_valid_and_small():
    space, plots = load_space(EXAMPLE)
    points = expand_space(space)
    assert len(points) == 9 and {p["wafer"] for p in points} == {"wse2"}
    assert plots and all(p["x"] in space and p["y"] in OUTPUTS for p in plots)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wse-sim sweep")
    add_sweep_arguments(parser)
    return run_sweep_command(parser.parse_args(argv))


def test_cli_runs_a_toml_space_and_draws_its_plots(tmp_path, capsys):
    toml = tmp_path / "space.toml"
    toml.write_text(textwrap.dedent("""
        [space]
        model = ["cvae"]
        wafer = ["tiny"]
        weight_sparsity = [0.0, 0.9]
        sram_bytes_per_core = [24576, 98304]

        [[plot]]
        x = "sram_bytes_per_core"
        y = "samples_per_s"
        hue = "weight_sparsity"
    """))
    out = tmp_path / "out"
    assert _cli([str(toml), "--out", str(out), "--executor", "serial", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "4 points: 4 computed, 0 reused, 0 failed" in said
    assert (out / "results.csv").exists() and (out / "samples_per_s_vs_sram_bytes_per_core.png"
                                               ).stat().st_size > 10_000
    assert _cli([str(toml), "--out", str(out), "--executor", "serial", "--no-progress",
                 "--no-plots"]) == 0
    assert "0 computed, 4 reused" in capsys.readouterr().out
    toml.write_text('[space]\nmodel = ["cvae"]\nsram = [1]\n')
    assert _cli([str(toml), "--out", str(out), "--no-progress"]) == 2
    assert "unknown field 'sram'" in capsys.readouterr().err
    assert _cli([str(tmp_path / "none.toml"), "--out", str(out)]) == 2


def test_plot_sweep_titles_and_units(tmp_path, local_run):
    from wse_sim.sweep import plot_sweep

    path = tmp_path / "p.png"
    fig = plot_sweep(local_run[1], x="sram_bytes_per_core", y="samples_per_s",
                     hue="weight_sparsity", path=path)
    ax = fig.axes[0]
    assert path.stat().st_size > 10_000
    assert ax.get_xlabel() == "sram_bytes_per_core [bytes]"
    assert ax.get_ylabel() == "samples_per_s [samples/s]"
    assert ax.get_title().startswith("samples_per_s vs sram_bytes_per_core by weight_sparsity")
    assert len(ax.get_lines()) == 6  # 3 sparsities x 2 seeds: the seed splits the lines too
    with pytest.raises(SpecError):
        plot_sweep(local_run[1], x="nope", y="samples_per_s")
