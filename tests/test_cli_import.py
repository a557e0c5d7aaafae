"""``wse-sim import`` and ``wse-sim run --onnx ... --trace``."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

pytest.importorskip("onnx")

import onnx  # noqa: E402

from wse_sim import cli  # noqa: E402
from wse_sim.importers import onnx_examples as ex  # noqa: E402

TINY = ["--wafer", "tiny", "--set", "rows=32", "--set", "cols=32", "--samples", "4",
        "--no-progress"]


def call(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    onnx.save(ex.mlp([32, 24, 8], zero_fraction=0.5, seed=1), str(d / "mlp.onnx"))
    onnx.save(ex.with_unsupported(), str(d / "bad.onnx"))
    return d


def test_import_summary_counts_params_macs_and_masks(files):
    rc, out, err = call(["import", str(files / "mlp.onnx"), "--summary"])
    assert rc == 0, err
    assert f"parameters      {32 * 24 + 24 + 24 * 8 + 8:,}" in out
    assert f"forward MACs    {32 * 24 + 24 * 8:,} per sample" in out
    assert "masked ops      2" in out and "fc1" in out  # the per-op table
    rc, out, _ = call(["import", str(files / "mlp.onnx"), "--json"])
    info = json.loads(out)
    assert rc == 0 and info["params"] == 32 * 24 + 24 + 24 * 8 + 8 and not info["unsupported"]
    assert set(info["masked_ops"]) == {"fc1", "fc2"}


def test_import_names_every_unsupported_op(files):
    rc, out, _ = call(["import", str(files / "bad.onnx")])
    assert rc == 2
    assert "LeakyRelu" in out and "Elu" in out and "'leaky1'" in out


def test_run_onnx_with_a_trace(files, tmp_path):
    trace = tmp_path / "trace.json"
    rc, out, err = call(["run", "--onnx", str(files / "mlp.onnx"), "--input-shape", "x=1x32",
                         "--batch", "16", "--trace", str(trace), "--json", *TINY])
    assert rc == 0, err
    record = json.loads(out)
    assert record["model"] == "mlp" and record["samples_per_s"] > 0
    assert f"trace: {trace}" in err  # --json keeps stdout for the JSON object
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["name"] for e in events if e["ph"] == "X"}
    # the update shows only when a batch's last sample is among the samples shown
    assert {"forward", "backward"} <= names <= {"forward", "backward", "update"}


def test_bad_input_shape_is_one_line(files):
    rc, _, err = call(["run", "--onnx", str(files / "mlp.onnx"), "--input-shape", "x=1xa",
                       *TINY])
    assert rc == 2 and "NAME=D0xD1" in err and len(err.strip().splitlines()) == 1
