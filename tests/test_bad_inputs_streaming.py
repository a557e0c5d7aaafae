"""Bad inputs to issue 22's surfaces: the granularity switch, replicas, the streaming
arguments of the schedule kernels; each raises its specific error naming the value."""

from __future__ import annotations

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.errors import PlacementError, SimulationError, SpecError
from wse_sim.graph import Graph
from wse_sim.kernels.masks import KernelArgumentError
from wse_sim.kernels.pipeline import pipeline_times
from wse_sim.kernels.schedule import train_schedule
from wse_sim.placer.stages import stage_set
from wse_sim.spec import Physics


def _mlp() -> Graph:
    g = Graph("mlp")
    g.dense("fc", g.input("x", (4, 8)), 8)
    return g


@pytest.mark.parametrize("value", ["chunks", "token", "", None, 1, True])
def test_bad_granularity_is_a_spec_error(value):
    with pytest.raises(SpecError, match="granularity"):
        Physics(granularity=value)


@pytest.mark.parametrize("value", ["chunks", "", None])
def test_bad_granularity_of_a_stage_set_is_a_placement_error(value):
    with pytest.raises(PlacementError, match="granularity"):
        stage_set(_mlp(), True, value)


@pytest.mark.parametrize("value", [0, -1, "many", 1.5, None])
def test_bad_replicas_are_refused(value):
    with pytest.raises(SimulationError, match="replicas"):
        ws.place(_mlp(), ws.wafer("tiny"), replicas=value)


ONE = np.ones((2, 3))


@pytest.mark.parametrize("kw", [
    {"chunks": 0}, {"chunks": [1, 0, 1]}, {"lead": 0.0}, {"lead": 1.5}, {"lead": np.nan},
    {"back_lead": -0.5}, {"back_lead": [1.0, 2.0]},
])
def test_bad_streaming_arguments_of_the_training_schedule(kw):
    with pytest.raises(KernelArgumentError):
        train_schedule(ONE, ONE, 1, [0, 1], [1, 2], **kw)


@pytest.mark.parametrize("kw", [
    {"chunks": [1, 0, 1]}, {"lead": [1.0, 0.0, 1.0]}, {"lead": [1.0, 1.0, 2.0]},
    {"chunks": [1, -3, 1]},
])
def test_bad_streaming_arguments_of_the_inference_chain(kw):
    with pytest.raises(KernelArgumentError):
        pipeline_times(ONE, 1, **kw)


@pytest.mark.parametrize("value", ["0", "x", "-2", "1.5", "Auto"])
def test_bad_replicas_flag_is_one_line_naming_it(value):
    import contextlib
    import io

    from wse_sim import cli

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = cli.main(["run", "--model", "cvae", "--wafer", "tiny", "--replicas", value,
                       "--no-progress"])
    assert rc != 0 and "--replicas" in err.getvalue() and "Traceback" not in err.getvalue()
