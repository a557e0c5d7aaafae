"""Issue 16 (speed with all the physics on): one benchmark per row of its targets table.

    python -m pytest benchmarks/bench_speed.py --benchmark-only
    python -m pytest benchmarks/bench_speed.py --benchmark-only -k "cold or sweep"  # the slow ones

Everything runs with every mechanism on (``Physics()`` defaults: the training schedule, ramp
and SRAM port, host ingress, FIFOs from SRAM, the colour budget and the preset candidate).
"Warm" means the numba kernels load from their on-disk cache. The weight masks of sparse ops
are kept as bits between calls in a process (``graph.drawn``): ``first`` rows clear them before
each round, ``repeat`` rows do not. Figures go in the note,
never into assertions; the machine is shared, so read ``load_avg`` beside each figure.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import wse_sim as ws
from wse_sim.graph.drawn import clear_drawn_cache
from wse_sim.models import get
from wse_sim.models.bert import bert

SAMPLES = 64
BIG = {"rows": 1988, "cols": 1500}  # 4x the cores of a WSE-2 (a what-if of the wse2 preset)


def _load() -> float:
    return os.getloadavg()[0]


@pytest.fixture(scope="module")
def bert_large():
    g = get("bert-large", seq_len=128)
    ws.simulate(ws.place(g, ws.wafer("wse2")), samples=SAMPLES)  # warm the JIT cache
    return g


@pytest.fixture(scope="module")
def bert_large_s50(bert_large):
    return ws.sparsify(bert_large, 0.5, seed=0)


def _run(graph, wafer, first: bool, mode: str = "auto"):
    if first:
        clear_drawn_cache()
    t0 = time.perf_counter()
    plan = ws.place(graph, wafer, mode=mode)
    t1 = time.perf_counter()
    result = ws.simulate(plan, samples=SAMPLES)
    return {"place_s": t1 - t0, "simulate_s": time.perf_counter() - t1,
            "samples_per_s": result.samples_per_s, "replicas": plan.replicas,
            "execution": plan.mode}


def _bench(benchmark, fn, *args, rounds=3):
    info = {}
    out = benchmark.pedantic(lambda: info.update(fn(*args)), rounds=rounds, iterations=1)
    benchmark.extra_info.update(info, load_avg=_load(),
                                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                / 1024)
    return out


def test_bert_large_wse2_place_and_simulate(benchmark, bert_large):
    """Row 1: BERT-Large seq 128 training on WSE-2, place + simulate 64 samples (<= 1.0 s)."""
    _bench(benchmark, _run, bert_large, ws.wafer("wse2"), True)


@pytest.mark.parametrize("first", [True, False], ids=["first", "repeat"])
def test_bert_large_s50_wse2(benchmark, bert_large_s50, first):
    """Row 2: the same at weight sparsity 0.5 (<= 1.5 s place)."""
    _bench(benchmark, _run, bert_large_s50, ws.wafer("wse2"), first)


def test_bert_large_4x_wafer(benchmark, bert_large):
    """Row 3: on a 1988 x 1500 wafer (<= 4x the WSE-2 time); place() also places on the wse2
    preset (the candidate it re-evaluates there)."""
    wafer = ws.wafer("wse2", **BIG)
    ws.place(bert_large, wafer)  # warm the kernels' signatures for this mesh
    _bench(benchmark, _run, bert_large, wafer, True)


@pytest.mark.parametrize("mode", ["auto", "weight_streaming"])
@pytest.mark.parametrize("layers", [6, 12, 24, 48])
def test_bert_style_layers_wse2(benchmark, layers, mode):
    """Row 4: BERT-Large-wide encoders of 6 ... 48 layers on WSE-2 (linear in layers). "auto"
    pipelines 6-24 layers and streams 48 (its activation stash does not fit a pipeline);
    "weight_streaming" holds the mode fixed, so the cost per layer can be read off."""
    g = bert(layers, hidden=1024, heads=16, ffn=4096, seq_len=128, name=f"bert-{layers}l")
    ws.place(g, ws.wafer("wse2"), mode=mode)
    info = {}
    benchmark.pedantic(lambda: info.update(_run(g, ws.wafer("wse2"), True, mode)), rounds=3,
                       iterations=1)
    benchmark.extra_info.update(info, layers=layers, load_avg=_load())


COLD = """
import time
t0 = time.perf_counter()
from wse_sim.cli.main import main
rc = main(["run", "--model", "bert-large", "--no-progress", "--json"])
print("COLD_S", time.perf_counter() - t0, rc)
"""


def test_cold_cli_run(benchmark, tmp_path):
    """Row 5: a first `wse-sim run` with an empty numba cache (compile included), report only.
    A fresh NUMBA_CACHE_DIR stands for a fresh venv: nothing compiled is found."""
    def cold():
        env = dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp(dir=tmp_path))
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True,
                             text=True, check=True)
        return float(out.stdout.split("COLD_S")[-1].split()[0])

    seconds = []
    benchmark.pedantic(lambda: seconds.append(cold()), rounds=1, iterations=1)
    benchmark.extra_info.update(cold_s=seconds[-1], load_avg=_load())


SWEEP_SPACE = {  # 200 BERT-Base points: SRAM x weight sparsity x sequence length x seed
    "model": ["bert-base"], "wafer": ["wse2"],
    "sram_bytes_per_core": [32768, 49152, 65536, 98304],
    "weight_sparsity": [0.0, 0.25, 0.5, 0.75, 0.9],
    "seq_len": [64, 128], "seed": [0, 1, 2, 3, 4],
    "samples": [16],
}
SWEEP_SMALL = {**SWEEP_SPACE, "sram_bytes_per_core": [49152], "seed": [0, 1]}  # 20 points


@pytest.mark.parametrize("workers", [1, 2])
def test_sweep_bert_base(benchmark, workers, tmp_path):
    """Row 6: the BERT-Base sweep on 1 and 2 workers (>= 1.8x on an idle machine). Runs the
    20-point subset SWEEP_SMALL unless WSE_SIM_BENCH_SWEEP=200; compare the two rows' means."""
    space = SWEEP_SPACE if os.environ.get("WSE_SIM_BENCH_SWEEP") == "200" else SWEEP_SMALL
    out = Path(tmp_path)
    runs = iter(range(100))

    def one():
        ws.sweep(space, out / f"run{next(runs)}", executor="local", workers=workers,
                 progress=False)

    benchmark.pedantic(one, rounds=1, iterations=1)
    benchmark.extra_info.update(workers=workers, load_avg=_load())
