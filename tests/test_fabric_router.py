"""The generic-4stage router against BookSim2, and its rules in small cases worked by hand."""

from __future__ import annotations

import dataclasses

import pytest

from wse_sim.fabric import cycle

GENERIC = cycle.PRESETS["generic-4stage"]

# BookSim2 (public repository, iq_router with its default allocators and delays), 8x8 mesh,
# dimension-order routing, uniform traffic, 1-flit packets: offered packets/node/cycle ->
# mean packet latency (cycles), and saturation throughput (flits/node/cycle); from issue 27
BOOKSIM_8X8 = {
    (2, 8): ({0.02: 33.3, 0.05: 33.5, 0.10: 34.1, 0.15: 35.3, 0.20: 37.1, 0.25: 41.1}, 0.297),
    (1, 4): ({0.02: 33.7, 0.05: 34.6, 0.10: 38.6}, 0.129),  # BookSim gives 0.127-0.131
}
WINDOW = dict(cycles=2000, warmup=500)  # seeded; the means move < 1.5% across seeds


@pytest.mark.parametrize("vcs,buf", list(BOOKSIM_8X8))
def test_8x8_uniform_latency_and_saturation_match_booksim(vcs, buf):
    table, sat = BOOKSIM_8X8[(vcs, buf)]
    for rate, want in table.items():
        r = cycle.simulate(mesh=(8, 8), rate=rate, vcs=vcs, buffer=buf, seed=0, **WINDOW)
        assert not r.saturated
        assert r.latency_mean == pytest.approx(want, rel=0.10), (rate, r.latency_mean)
    s = cycle.simulate(mesh=(8, 8), rate=1.0, vcs=vcs, buffer=buf, seed=0, **WINDOW)
    assert s.saturated
    assert s.accepted_rate == pytest.approx(sat, rel=0.10)
    # just past saturation the window's packets no longer drain
    past = cycle.simulate(mesh=(8, 8), rate=sat * 1.25, vcs=vcs, buffer=buf, seed=0, **WINDOW)
    assert past.saturated


def test_8x8_saturation_never_falls_with_more_vcs_or_deeper_buffers():
    def sat(vcs, buf):
        return cycle.simulate(mesh=(8, 8), rate=1.0, vcs=vcs, buffer=buf, seed=4,
                              cycles=1200, warmup=300).accepted_rate

    grid = {(v, b): sat(v, b) for v in (1, 2, 4) for b in (2, 4, 8)}
    for (v, b), x in grid.items():
        for v2, b2 in ((v * 2, b), (v, b * 2)):
            if (v2, b2) in grid:
                assert grid[(v2, b2)] >= x * 0.98, ((v, b), (v2, b2), x, grid[(v2, b2)])


def _one_link_rate(spec, vcs, flits):
    """Accepted flits/cycle from one core to its neighbour with the source always full."""
    return cycle.simulate(mesh=(1, 2), traffic="neighbor", rate=1.0 / flits,
                          packet_flits=flits, vcs=vcs, buffer=8, router=spec, cycles=3000,
                          warmup=500, seed=0).accepted_rate


@pytest.mark.parametrize("vcs,flits,want", [(1, 1, 1 / 3), (2, 1, 2 / 3), (3, 1, 1.0),
                                            (1, 4, 4 / 6)])
def test_a_head_is_routed_only_at_the_front_of_its_vc(vcs, flits, want):
    # a head starts RC the cycle after the tail ahead of it left, then VA, then SA: one packet
    # per (1 + t_rc + t_va) cycles per input VC plus one cycle per further flit, so one VC
    # carries 1/3 of a 1-flit stream, 4/6 of a 4-flit one, and 3 VCs fill the link
    assert GENERIC.rc_at_front and GENERIC.pre_cycles == 2
    assert _one_link_rate(GENERIC, vcs, flits) == pytest.approx(want, abs=0.01)


@pytest.mark.parametrize("flits,want", [(1, 1 / 2), (4, 4 / 5)])
def test_an_output_vc_is_reallocated_a_cycle_after_its_tail_left(flits, want):
    # without the front rule, 1 VC: VA at T, the flits leave at T+1..T+L, the VC is free for
    # the VA of T+L+1: L flits per L+1 cycles; with both rules off the link runs full
    spec = dataclasses.replace(GENERIC, rc_at_front=False)
    assert _one_link_rate(spec, 1, flits) == pytest.approx(want, abs=0.01)
    free = dataclasses.replace(spec, vc_release_cycles=0)
    assert _one_link_rate(free, 1, flits) == pytest.approx(1.0, abs=0.03)


def test_wse_preset_keeps_its_figures():
    # the wse router has no per-packet stages: static color routes, 1 cycle per hop; its
    # chain reduce of B wavelets over P cores is B + (P - 1) (hop + ramps + add) exactly
    w = cycle.PRESETS["wse"]
    assert (w.rc_at_front, w.vc_release_cycles, w.pre_cycles, w.hop_cycles) == (False, 0, 0, 1)
    c = cycle.collective("chain-reduce", cores=512, wavelets=256, router="wse")
    assert c.cycles == 256 + 511 * (w.zero_load_cycles(1) + 1)
