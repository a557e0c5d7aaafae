"""Bad arguments to a SimResult's own comparison methods (issue 26): each is a WseSimError."""

import math

import pytest

import wse_sim as ws
from wse_sim.errors import GpuError
from wse_sim.graph import Graph


@pytest.fixture(scope="module")
def result_and_gpu():
    g = Graph("mlp")
    x = g.input("x", (16, 256))
    g.dense("fc", x, 256)
    g.meta["batch_default"] = 8
    r = ws.simulate(ws.place(g, ws.wafer("tiny"), training=False), mode="infer", samples=4)
    return r, ws.gpu_baseline(g, "v100", mode="infer")


@pytest.mark.parametrize("bad", [0, -1, 10**30, 2.5, "8", True, float("nan")])
def test_max_gpus_is_checked(result_and_gpu, bad):
    r, gpu = result_and_gpu
    with pytest.raises(GpuError, match="max_gpus"):
        r.equivalent_gpus(gpu, max_gpus=bad)


def test_max_gpus_caps_the_search(result_and_gpu):
    r, gpu = result_and_gpu
    n = r.equivalent_gpus(gpu)
    assert r.equivalent_gpus(gpu, max_gpus=10**6) == n
    if n > 1:  # a cap below the answer finds no cluster
        assert r.equivalent_gpus(gpu, max_gpus=int(n) - 1) == math.inf


@pytest.mark.parametrize("bad", [None, 3.0, "v100", object()])
def test_the_gpu_must_be_a_gpu_result(result_and_gpu, bad):
    r, _ = result_and_gpu
    with pytest.raises(GpuError):
        r.equivalent_gpus(bad)
