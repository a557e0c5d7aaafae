"""Reports and saved results: files written, image sizes, block reduction, round trips."""

from __future__ import annotations

import importlib
import json
import struct

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.baselines import gpu_summary
from wse_sim.errors import WseSimFileError
from wse_sim.io import ARRAY_KEYS, layout_of, load_result, load_run, save_result
from wse_sim.models import get
from wse_sim.report import style

# the package, not the function wse_sim.report that the top level re-exports under its name
rp = importlib.import_module("wse_sim.report")
report_module = importlib.import_module("wse_sim.report.report")


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def pipelined():
    """CVAE training pipelined on a 64 x 64 wafer (fast)."""
    plan = ws.place(get("cvae"), ws.wafer("tiny", rows=64, cols=64), training=True,
                    mode="pipelined")
    assert plan.mode == "pipelined"
    return ws.simulate(plan, mode="train", samples=8)


@pytest.fixture(scope="module")
def streamed():
    """CVAE on the 16 x 16 test wafer: it does not fit, so it streams weights."""
    result = ws.simulate(ws.place(get("cvae"), ws.wafer("tiny")), samples=4)
    assert result.execution == "weight_streaming"
    return result


@pytest.fixture(scope="module")
def written(pipelined, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    gpu = gpu_summary(pipelined, "v100")
    return rp.report(pipelined, out, gpu=gpu), out, gpu


def test_report_writes_every_file_non_empty(written):
    md, out, _ = written
    assert md == out / "report.md"
    names = ["report.md", "result.json", "arrays.npz"] + [f for f, _, _ in rp.IMAGES.values()]
    for name in names:
        assert (out / name).stat().st_size > 0, name


def test_images_have_the_fixed_pixel_size(written):
    _, out, _ = written
    for key, (fname, _, _) in rp.IMAGES.items():
        assert png_size(out / fname) == rp.IMAGE_SIZES[key], fname


def test_report_md_embeds_images_and_the_stage_table(written, pipelined):
    md, _, _ = written
    text = md.read_text()
    for fname, _, _ in rp.IMAGES.values():
        assert f"]({fname})" in text
    assert "| stage | heavy op |" in text
    assert text.count("**(bottleneck)**") == 1
    assert sum(line.startswith(f"| {i} | `") for i in range(len(pipelined.stages))
               for line in text.splitlines()) == len(pipelined.stages)


def test_saved_result_round_trips(written, pipelined):
    _, out, gpu = written
    back = load_result(out / "result.json")
    assert back.placement is None
    assert back.samples_per_s == pipelined.samples_per_s
    assert back.stages == pipelined.stages
    assert back.bottleneck == pipelined.bottleneck
    for k in ARRAY_KEYS:
        assert np.allclose(getattr(back, k), getattr(pipelined, k)), k
    run = load_run(out)
    assert run.gpu == json.loads(json.dumps(gpu))
    assert run.layout == layout_of(pipelined.placement)


def test_placement_map_from_a_saved_run_without_the_placement(written, tmp_path):
    _, out, _ = written
    saved = load_run(out / "result.json")
    assert saved.result.placement is None
    path = rp.plot_placement(saved, tmp_path / "placement.png")
    assert png_size(path) == rp.IMAGE_SIZES["placement"]


def test_json_is_written_before_the_plots(pipelined, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report_module, "plot_placement", boom)  # the first image drawn
    with pytest.raises(RuntimeError):
        rp.report(pipelined, tmp_path)
    assert load_result(tmp_path).samples_per_s == pipelined.samples_per_s


def test_weight_streaming_plots(streamed, tmp_path):
    for key, draw in (("placement", lambda p: rp.plot_placement(streamed, p)),
                      ("stage_cycles", lambda p: rp.plot_stage_cycles(streamed, p)),
                      ("timeline", lambda p: rp.plot_timeline(streamed, p))):
        assert png_size(draw(tmp_path / f"{key}.png")) == rp.IMAGE_SIZES[key]


def test_report_of_a_result_path(written, tmp_path, monkeypatch):
    _, out, _ = written
    for name in ("plot_placement", "plot_utilization", "plot_sram", "plot_link_loads",
                 "plot_stage_cycles", "plot_timeline", "plot_gpu"):
        monkeypatch.setattr(rp, name, lambda *a, **k: a[-1])  # drawing is tested above
    md = rp.report(out, tmp_path)
    assert "| stage | heavy op |" in md.read_text()
    assert load_run(tmp_path).gpu == load_run(out).gpu


def test_plot_placement_and_sram_take_a_placement(pipelined, tmp_path):
    plan = pipelined.placement
    a = rp.plot_placement(plan, tmp_path / "p.png")
    b = rp.plot_sram(plan, tmp_path / "s.png")
    assert png_size(a) == rp.IMAGE_SIZES["placement"]
    assert png_size(b) == rp.IMAGE_SIZES["sram"]


@pytest.mark.parametrize("shape,factor", [((7, 10), 3), ((9, 9), 3), ((5, 4, 4), 2),
                                          ((1, 1), 4), ((6, 6), 1)])
@pytest.mark.parametrize("how", ["max", "mean", "first"])
def test_block_reduce_matches_a_loop(shape, factor, how):
    a = np.random.default_rng(0).normal(size=shape)
    got = rp.block_reduce(a, factor, how)
    ny, nx = -(-shape[0] // factor), -(-shape[1] // factor)
    want = np.empty((ny, nx, *shape[2:]))
    for i in range(ny):
        for j in range(nx):
            block = a[i * factor:(i + 1) * factor, j * factor:(j + 1) * factor]
            want[i, j] = {"max": lambda b: b.max(axis=(0, 1)),
                          "mean": lambda b: b.mean(axis=(0, 1)),
                          "first": lambda b: b[0, 0]}[how](block)
    assert got.shape == want.shape
    assert np.allclose(got, want)


def test_map_factor_brings_a_wafer_under_the_cell_limit():
    f = rp.map_factor((994, 750))
    assert -(-994 // f) <= style.MAP_CELLS
    assert rp.map_factor((64, 64)) == 1


def test_load_errors_are_wse_sim_file_errors(tmp_path):
    with pytest.raises(WseSimFileError):
        load_result(tmp_path / "missing.json")
    (tmp_path / "result.json").write_text("{not json")
    with pytest.raises(WseSimFileError):
        load_result(tmp_path)
    (tmp_path / "result.json").write_text(json.dumps({"model": "x"}))
    with pytest.raises(WseSimFileError, match="missing keys"):
        load_result(tmp_path)


def test_missing_arrays_file_is_reported(pipelined, tmp_path):
    save_result(pipelined, tmp_path)
    (tmp_path / "arrays.npz").unlink()
    with pytest.raises(WseSimFileError, match="arrays.npz"):
        load_result(tmp_path / "result.json")
