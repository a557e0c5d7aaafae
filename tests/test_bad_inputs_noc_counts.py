"""Bad inputs of the cycle-level fabric's int32 program counters (issue 27 speed work)."""

from __future__ import annotations

import pytest

from wse_sim.errors import FabricError
from wse_sim.fabric import cycle
from wse_sim.fabric.cycle.programs import INT32_COUNT_MAX


@pytest.mark.parametrize("kw", [dict(wavelets=INT32_COUNT_MAX + 1),
                                dict(wavelets=4, task_cycles=INT32_COUNT_MAX + 1)])
def test_counts_beyond_the_kernel_int32_limit_are_refused(kw):
    with pytest.raises(FabricError, match="exceeds"):
        cycle.collective("chain-reduce", cores=4, router="wse", **kw)
