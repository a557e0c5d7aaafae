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
