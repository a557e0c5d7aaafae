"""The cycle-level fabric (wse_sim.fabric.cycle): properties a wrong simulator breaks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wse_sim.errors import FabricError, WseSimError
from wse_sim.fabric import cycle

PRESETS = ("wse", "generic-4stage")
VOLATILE = ("router_cycles_per_s", "wall_s")


def _stable(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in VOLATILE}


# ---- conservation and drain ------------------------------------------------------------------
@pytest.mark.parametrize("traffic", ["uniform", "transpose", "neighbor", "bit-complement",
                                     "hotspot"])
@pytest.mark.parametrize("flits", [1, 3])
def test_conservation_and_drain(traffic, flits):
    # loads both below and far above saturation: the kernel checks conservation every cycle
    # (it raises otherwise); after injection stops the network must drain to zero in flight
    for rate in (0.05, 0.9):
        r = cycle.simulate(mesh=(6, 6), traffic=traffic, rate=rate / flits, packet_flits=flits,
                           vcs=2, buffer=4, cycles=1500, warmup=300, seed=1)
        assert r.in_flight == 0
        assert r.injected == r.delivered > 0
        assert r.injected % flits == 0


def test_collectives_conserve_and_finish():
    for name, group in [("broadcast", None), ("chain-reduce", None), ("tree-reduce", None),
                        ("two-phase-reduce", 3), ("ring-allreduce", None)]:
        for router in PRESETS:
            c = cycle.collective(name, cores=(3, 8), wavelets=17, router=router, group=group)
            assert c.in_flight == 0
            # copies delivered: every injected wavelet reaches >= 1 core
            assert c.delivered >= c.injected > 0
            assert c.cycles >= c.lower_bound_cycles


def test_kernel_inconsistency_raises_fabric_error():
    # a route that sends a color east into a router with no queue for it: the kernel stops
    # with an error code and Python raises a WseSimError naming it
    prog = cycle.Program(1, 3)
    prog.routes.append((np.array([0]), np.array([4]), np.array([0]), np.array([1])))
    prog.nodes.append((np.array([0]), np.array([0]), np.array([5]), np.array([0]),
                       np.array([0]), np.array([[-1]])))
    prog.colors = 1
    with pytest.raises(FabricError, match="without a queue"):
        cycle.run_program(prog, cycle.PRESETS["wse"], 4, 10_000, "bad route")
    assert issubclass(FabricError, WseSimError)


# ---- zero-load latency -----------------------------------------------------------------------
@pytest.mark.parametrize("router", PRESETS)
@pytest.mark.parametrize("mesh,traffic,hops", [((1, 1), "uniform", 0), ((1, 2), "neighbor", 1),
                                               ((2, 2), "bit-complement", 2)])
@pytest.mark.parametrize("flits", [1, 4])
def test_zero_load_latency_is_the_pipeline_sum(router, mesh, traffic, hops, flits):
    spec = cycle.PRESETS[router]
    r = cycle.simulate(mesh=mesh, traffic=traffic, rate=0.002, packet_flits=flits, vcs=2,
                       buffer=8, router=router, cycles=8000, warmup=1000, seed=3)
    want = spec.zero_load_cycles(hops, flits)
    assert r.packets_measured > 0
    assert r.latency_p50 == r.latency_p99 == want
    assert r.latency_mean == pytest.approx(want)
    if hops == 0:  # to itself: injection, one router, ejection
        assert want == spec.ramp_in_cycles + spec.pre_cycles + spec.eject_cycles + flits - 1


@pytest.mark.parametrize("router", PRESETS)
def test_one_wavelet_over_h_hops(router):
    spec = cycle.PRESETS[router]
    for h in (0, 1, 2, 5, 13):
        prog = cycle.Program(3, 16)
        cycle.add_unicasts(prog, [1], [1], [1 + (h > 3)], [1 + h - (h > 3)], [1], 0)
        stats, link, _ = cycle.run_program(prog, spec, 4, 10_000, "one wavelet")
        # a wavelet injected in cycle 0 arrives in cycle `latency`: the program spans one more
        assert cycle.program_cycles(stats) == spec.zero_load_cycles(h) + 1
        assert link.sum() == h


# ---- throughput and latency versus load ------------------------------------------------------
def test_accepted_never_exceeds_offered_nor_bisection():
    k = 8
    for rate in (0.05, 0.2, 0.6, 1.0):
        r = cycle.simulate(mesh=(k, k), traffic="uniform", rate=rate, vcs=2, buffer=4,
                           cycles=2500, warmup=500, seed=2)
        assert r.accepted_rate <= r.offered_rate * 1.05 + 0.005
        assert r.accepted_rate <= 4 / k * 1.02  # half the traffic crosses k links each way
    assert r.saturated  # rate 1.0 is far past the bound


def test_latency_rises_with_load_below_saturation():
    rates = (0.02, 0.1, 0.18, 0.26)
    means = []
    for rate in rates:
        lat = [cycle.simulate(mesh=(8, 8), traffic="uniform", rate=rate, vcs=2, buffer=8,
                              cycles=3000, warmup=600, seed=s).latency_mean for s in range(3)]
        means.append(np.mean(lat))
    assert all(b > a for a, b in zip(means, means[1:], strict=False)), means
    # at the lowest load: the pipeline sum over the mean hop count (a sample of it), + queueing
    r = cycle.simulate(mesh=(8, 8), rate=0.02, cycles=3000, warmup=600)
    assert 0.97 * r.zero_load_latency <= r.latency_mean < r.zero_load_latency * 1.1


# ---- multicast and reductions ----------------------------------------------------------------
def test_row_multicast_loads_each_link_once():
    B, P = 37, 16
    c = cycle.collective("broadcast", cores=P, wavelets=B, router="wse")
    load = c.link_load[0]
    assert (load[:-1, 0] == B).all()  # every east link of the row: B wavelets, once each
    assert load[:, 1:].sum() == 0 and load[-1, 0] == 0
    assert c.wavelet_hops == B * (P - 1)
    assert c.delivered == B * (P - 1)  # every core but the source receives every wavelet


@pytest.mark.parametrize("router", PRESETS)
def test_chain_reduce_lower_bound(router):
    spec = cycle.PRESETS[router]
    B, P, task = 64, 24, 1
    c = cycle.collective("chain-reduce", cores=P, wavelets=B, router=router, task_cycles=task)
    per_hop = spec.zero_load_cycles(1) + task  # ramp out, hop, ramp in, the add
    assert c.cycles >= B + (P - 1) * per_hop
    if router == "wse":  # one stream, 1 wavelet per cycle: the bound is met exactly
        assert c.cycles == B + (P - 1) * per_hop


def test_reductions_order_at_large_and_small_wavelet_counts():
    # a line tree sends log2(P) streams over the root's last link: slower than a chain for
    # many wavelets, faster for one; two-phase sits between for a single wavelet
    big = {n: cycle.collective(n, cores=64, wavelets=512, group=8).cycles
           for n in ("chain-reduce", "tree-reduce")}
    assert big["chain-reduce"] < big["tree-reduce"]
    small = {n: cycle.collective(n, cores=64, wavelets=1, group=8).cycles
             for n in ("chain-reduce", "tree-reduce", "two-phase-reduce")}
    assert small["tree-reduce"] < small["two-phase-reduce"] < small["chain-reduce"]


# ---- buffers and virtual channels ------------------------------------------------------------
def _saturation(k, traffic, flits, vcs, buf):
    return cycle.simulate(mesh=(k, k), traffic=traffic, rate=1.0 / flits, packet_flits=flits,
                          vcs=vcs, buffer=buf, cycles=1200, warmup=300, seed=5).accepted_rate


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(2, 4), traffic=st.sampled_from(["uniform", "transpose", "bit-complement"]),
       flits=st.sampled_from([1, 2, 4]), vcs=st.integers(1, 2), buf=st.integers(1, 4))
def test_more_vcs_or_deeper_buffers_never_lower_saturation_throughput(k, traffic, flits, vcs,
                                                                       buf):
    base = _saturation(k, traffic, flits, vcs, buf)
    assert _saturation(k, traffic, flits, vcs + 1, buf) >= base * 0.97 - 0.005
    assert _saturation(k, traffic, flits, vcs, buf + 2) >= base * 0.97 - 0.005


# ---- determinism and input errors ------------------------------------------------------------
def test_deterministic_per_seed():
    a = cycle.simulate(mesh=(6, 6), rate=0.2, packet_flits=2, cycles=1500, warmup=300, seed=7)
    b = cycle.simulate(mesh=(6, 6), rate=0.2, packet_flits=2, cycles=1500, warmup=300, seed=7)
    c = cycle.simulate(mesh=(6, 6), rate=0.2, packet_flits=2, cycles=1500, warmup=300, seed=8)
    assert _stable(a.to_dict()) == _stable(b.to_dict())
    assert np.array_equal(a.link_utilisation, b.link_utilisation)
    assert _stable(a.to_dict()) != _stable(c.to_dict())


@pytest.mark.parametrize("kwargs,match", [
    ({"router": "booksim"}, "unknown router"),
    ({"traffic": "tornado"}, "unknown traffic"),
    ({"mesh": (4, 6), "traffic": "transpose"}, "square"),
    ({"rate": 1.5}, "rate"),
    ({"warmup": 20, "cycles": 10}, "warmup"),
    ({"vcs": 99}, "vcs"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(FabricError, match=match):
        cycle.simulate(**{"mesh": (4, 4), **kwargs})


def test_preset_to_dict_and_results_to_dict():
    for name, spec in cycle.PRESETS.items():
        d = spec.to_dict()
        assert d["name"] == name and d["hop_cycles"] >= 1
    assert cycle.PRESETS["wse"].zero_load_cycles(3) == 2 + 3 + 2  # ramp, 1 per hop, ramp
    # BookSim's timing: injection 2 (its 1-cycle channel), RC + VA in each of 4 routers,
    # SA + ST + link per hop, SA + ST + ejection channel at the end
    assert cycle.PRESETS["generic-4stage"].zero_load_cycles(3) == 2 + 4 * 2 + 3 * 3 + 3
    keys = {"cycles", "injected", "delivered", "in_flight", "latency_mean", "latency_p50",
            "latency_p99", "network_latency_mean", "accepted_rate", "offered_rate",
            "saturated", "router_cycles_per_s"}
    assert keys <= set(cycle.simulate(mesh=(3, 3), cycles=200, warmup=50).to_dict())
    ckeys = {"cycles", "wavelet_hops", "max_link_load"}
    assert ckeys <= set(cycle.collective("broadcast", cores=4, wavelets=3).to_dict())
    with pytest.raises(FabricError, match="group"):
        cycle.collective("two-phase-reduce", cores=8, wavelets=3)


def test_cli_fabric(capsys, tmp_path):
    import json

    from wse_sim.cli.main import main

    assert main(["fabric", "--mesh", "4x4", "--cycles", "400", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mesh"] == [4, 4] and out["in_flight"] == 0
    png = tmp_path / "c.png"
    assert main(["fabric", "--collective", "chain-reduce", "--cores", "8", "--wavelets", "5",
                 "--plot", str(png)]) == 0
    assert "cycles" in capsys.readouterr().out and png.stat().st_size > 0
    assert main(["fabric", "--mesh", "4by4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wse-sim: error:") and err.count("\n") == 1
