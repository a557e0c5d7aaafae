"""Bad inputs to the system surfaces (issue 23): each raises the named WseSimError subclass
with the value in the message, never a raw traceback."""

from __future__ import annotations

import pytest

import wse_sim as ws
from wse_sim.cli.main import main
from wse_sim.errors import PlacementError, SimulationError, SpecError
from wse_sim.graph import Graph
from wse_sim.spec import Physics

TINY = ws.wafer("tiny")


def _mlp() -> Graph:
    g = Graph("mlp")
    g.dense("fc", g.input("x", (8, 64)), 64)
    g.meta["batch_default"] = 4
    return g


@pytest.mark.parametrize("call,err,text", [
    (lambda: ws.system("cs9"), SpecError, "cs9"),
    (lambda: ws.system(42), SpecError, "42"),
    (lambda: ws.system("cs2", n=0), SpecError, "n_systems"),
    (lambda: ws.system("cs2", n=1.5), SpecError, "n_systems"),
    (lambda: ws.system("cs2", n=True), SpecError, "n_systems"),
    (lambda: ws.system("cs2", memory_bytes_per_s=-1.0), SpecError, "memory_bytes_per_s"),
    (lambda: ws.system("cs2", memory_bytes_per_s=float("nan")), SpecError, "nan"),
    (lambda: ws.system("cs2", interconnect_fan_in=1), SpecError, "interconnect_fan_in"),
    (lambda: ws.system("cs2", interconnect_latency_s=-1e-6), SpecError, "latency"),
    (lambda: ws.system("cs2", optimizer_flops=0), SpecError, "optimizer_flops"),
    (lambda: ws.system("cs2", bogus=1), SpecError, "bogus"),
    (lambda: ws.SystemSpec("x", "wse2"), SpecError, "WaferSpec"),
    (lambda: ws.SystemSpec("x"), SpecError, "wafer"),
    (lambda: Physics(attention="dense"), SpecError, "attention"),
])
def test_bad_system_specs(call, err, text):
    with pytest.raises(err, match=None) as exc:
        call()
    assert text in str(exc.value)


@pytest.mark.parametrize("kw,err,text", [
    ({"systems": 0}, SimulationError, "systems"),
    ({"systems": "two"}, SimulationError, "systems"),
    ({"micro_batch": 0}, SimulationError, "micro_batch"),
    ({"micro_batch": 2.5}, SimulationError, "micro_batch"),
    ({"micro_batch": 2, "mode": "pipelined"}, SimulationError, "weight_streaming"),
    ({"systems": 2, "mode": "decode"}, SimulationError, "decode"),
])
def test_bad_place_arguments(kw, err, text):
    with pytest.raises(err) as exc:
        ws.place(_mlp(), TINY, **kw)
    assert text in str(exc.value)


def test_service_too_small_names_the_bytes():
    with pytest.raises(PlacementError, match="memory_capacity_bytes"):
        ws.place(_mlp(), ws.system("cs2", memory_capacity_bytes=100.0).replace(wafer=TINY))


def test_one_sample_does_not_fit_names_the_fix():
    g = Graph("wide")
    g.dense("fc", g.input("x", (16384, 512)), 512)  # 16 MB of input; 12 MB of SRAM
    with pytest.raises(PlacementError, match="micro_batch=1"):
        ws.place(g, ws.system("cs2").replace(wafer=TINY), batch=2)


@pytest.mark.parametrize("argv,text", [
    (["run", "--system", "cs9", "--model", "gpt2-small"], "cs9"),
    (["run", "--systems", "0", "--model", "gpt2-small"], "--systems"),
    (["run", "--micro-batch", "0", "--model", "gpt2-small"], "--micro-batch"),
])
def test_cli_bad_system_flags(argv, text, capsys):
    assert main([*argv, "--no-progress"]) == 2
    assert text in capsys.readouterr().err
