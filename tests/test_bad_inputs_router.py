"""Bad router-preset fields of the cycle-level fabric raise FabricError naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from wse_sim.errors import FabricError
from wse_sim.fabric import cycle


@pytest.mark.parametrize("field,value", [
    ("rc_at_front", 1),
    ("rc_at_front", "yes"),
    ("vc_release_cycles", -1),
    ("vc_release_cycles", 1.5),
    ("vc_release_cycles", True),
    ("credit_cycles", 0),
    ("ramp_in_cycles", 0),
])
def test_bad_router_field_raises(field, value):
    with pytest.raises(FabricError, match=field):
        dataclasses.replace(cycle.PRESETS["generic-4stage"], **{field: value})


@pytest.mark.parametrize("threads", [0, -2, 1.5, True, "2", 2048])
def test_bad_threads_raise(threads):
    with pytest.raises(FabricError, match="threads"):
        cycle.collectives([("broadcast", "row")], cores=(4, 4), wavelets=8, threads=threads)


def test_two_tasks_of_one_core_on_one_color_are_refused():
    """A program whose two tasks on one core both listen on one color cannot say which of
    them a wavelet is for: the program build refuses it (and names the fix)."""
    import numpy as np

    from wse_sim.fabric.cycle.programs import Program, _compile_program

    prog = Program(rows=1, cols=2, colors=1)
    prog.routes.append(tuple(np.array([v]) for v in (0, 4, 0, 1)))  # core 0's ramp -> east
    one = np.ones(1, dtype=np.int64)
    z = np.zeros(1, dtype=np.int64)
    prog.nodes.append((z, z, one, z, z, np.zeros((1, 1), dtype=np.int64)))
    prog.nodes.append((z, -one, one, z, z, np.zeros((1, 1), dtype=np.int64)))
    with pytest.raises(FabricError, match="same color; give each its own"):
        _compile_program(prog)
