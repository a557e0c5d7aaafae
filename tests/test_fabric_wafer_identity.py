"""The cycle-level fabric's speed work must not move a result: a down-scaled whole-wafer program
(row broadcast + column chain reduce on the ``wse`` router, the whole-wafer run's shape) gives
exactly the figures recorded from the kernel before issue 27's speed changes (commit 3ac4d34).

Any change to the visit order's effects, the credit or ready timing, the multicast replication or
the task firing moves at least one of these numbers (the link-load checksum weighs every link
by its position, so a flit on the wrong link or a missing one shows)."""

from __future__ import annotations

import numpy as np
import pytest

from wse_sim.fabric import cycle

# recorded from commit 3ac4d34 (before the speed changes): 64 x 48 cores, 1,024 wavelets
RECORDED_64X48 = dict(cycles=2426, wavelet_hops=6176768, injected=3162112, delivered=6176768,
                      peak_queue=4, max_link_load=1024, in_flight=0)
RECORDED_LINK_CHECKSUM = 37646647296  # sum of link_load * (flat index + 1)
RECORDED_DIR_SUMS = [3080192, 0, 3096576, 0]  # wavelets sent E, W, S, N


def _checksum(link_load: np.ndarray) -> int:
    w = np.arange(1, link_load.size + 1, dtype=np.int64).reshape(link_load.shape)
    return int((link_load.astype(np.int64) * w).sum())


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_wafer_style_run_is_bit_identical_to_the_recorded_one(threads):
    """On one thread and spread over two or three (row spans cut anew every cycle, the rows
    between them visited after): the same figures to the bit."""
    c = cycle.collectives([("broadcast", "row"), ("chain-reduce", "col")], cores=(64, 48),
                          wavelets=1024, router="wse", threads=threads)
    for k, v in RECORDED_64X48.items():
        assert getattr(c, k) == v, k
    assert c.link_load.sum(axis=(0, 1)).tolist() == RECORDED_DIR_SUMS
    assert _checksum(c.link_load) == RECORDED_LINK_CHECKSUM


def test_wse_pipeline_specialisation_matches_the_general_path():
    """The ``wse`` preset runs a copy of the visit with its timing as literals; a RouterSpec
    equal to ``wse`` but one field off the literal path (a 5-flit FIFO that never fills here)
    runs the general code and must give the same program result."""
    wse = cycle.PRESETS["wse"]
    parts = [("broadcast", "row"), ("chain-reduce", "col")]
    a = cycle.collectives(parts, cores=(12, 10), wavelets=48, router=wse)
    b = cycle.collectives(parts, cores=(12, 10), wavelets=48, router=wse, buffer=5)
    assert a.peak_queue <= 4 and b.peak_queue <= 5
    # a deeper FIFO may only shorten the run; here the stream already runs at link rate
    assert (a.cycles, a.wavelet_hops, a.delivered) == (b.cycles, b.wavelet_hops, b.delivered)
    assert np.array_equal(a.link_load, b.link_load)



@pytest.mark.parametrize("parts,router", [
    ([("tree-reduce", "row"), ("ring-allreduce", "col")], "wse"),
    ([("two-phase-reduce", "col", 4), ("broadcast", "row")], "generic-4stage"),
])
def test_threads_never_change_a_program_result(parts, router):
    """Other traffic shapes, and the general (non-``wse``) router path: every worker count
    gives the one-thread result, link by link. Five workers on 11 rows leave spans of a row
    or none, so the cut's clamping is exercised too."""
    one = cycle.collectives(parts, cores=(11, 9), wavelets=40, router=router, threads=1)
    for threads in (2, 5):
        many = cycle.collectives(parts, cores=(11, 9), wavelets=40, router=router,
                                 threads=threads)
        assert (many.cycles, many.delivered, many.injected, many.peak_queue) == \
            (one.cycles, one.delivered, one.injected, one.peak_queue)
        assert np.array_equal(many.link_load, one.link_load)


def test_threads_default_is_one_below_the_parallel_size():
    from wse_sim.fabric.cycle.core import PARALLEL_MIN_ROUTERS, threads_for

    assert threads_for(None, 64, 48) == 1
    assert threads_for(None, 512, 512) >= 1
    assert 512 * 512 >= PARALLEL_MIN_ROUTERS
    # never more workers than half the rows: each span is two rows from the next
    assert threads_for(16, 6, 100) == 3
    assert threads_for(4, 3, 100) == 1
