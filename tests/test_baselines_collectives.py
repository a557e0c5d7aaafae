"""NCCL-like all-reduce: ring vs double binary tree, protocols by message size, hierarchy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wse_sim.baselines import allreduce, ring_allreduce_s, tree_allreduce_s
from wse_sim.baselines.collectives import (
    NET_HOP_S,
    PROTOCOLS,
    TREE_FRACTION,
    allreduce_times,
    bus_bandwidth,
)
from wse_sim.errors import GpuError
from wse_sim.spec import GPU_PRESETS, gpu

KB, MB, GB = 1e3, 1e6, 1e9


@pytest.mark.parametrize("name", ["v100", "a100", "h100", "b200"])
@pytest.mark.parametrize("n", [64, 256, 4096])
@pytest.mark.parametrize("nbytes", [1 * KB, 64 * KB])
def test_tree_beats_ring_for_small_messages_on_many_gpus(name, n, nbytes):
    spec = gpu(name)
    g = spec.gpus_per_node
    assert tree_allreduce_s(nbytes, n, g, spec) < ring_allreduce_s(nbytes, n, g, spec)
    assert allreduce(nbytes, n, g, spec).algorithm == "tree"


@pytest.mark.parametrize("name", ["v100", "a100", "h100", "b200"])
@pytest.mark.parametrize("n", [8, 16, 64, 256])
def test_ring_wins_for_large_messages(name, n):
    spec = gpu(name)
    g = spec.gpus_per_node
    nbytes = 4 * GB
    assert ring_allreduce_s(nbytes, n, g, spec) < tree_allreduce_s(nbytes, n, g, spec)
    assert allreduce(nbytes, n, g, spec) == allreduce(nbytes, n, g, spec, algorithm="ring")


@pytest.mark.parametrize("name", ["v100", "a100", "h200"])
@pytest.mark.parametrize("n", [2, 6, 8, 48, 1024])
def test_both_converge_to_the_bandwidth_bound(name, n):
    spec = gpu(name)
    g = spec.gpus_per_node
    bw = float(bus_bandwidth(n, g, spec))
    bound = 2 * (n - 1) / n / bw  # seconds per byte: each GPU sends and receives 2(N-1)/N S
    for algo, limit in (("ring", 1.0), ("tree", n / (n - 1) / TREE_FRACTION)):
        per_byte = [allreduce(s, n, g, spec, algorithm=algo).time_s / s for s in (1e9, 1e14)]
        big = allreduce(1e14, n, g, spec, algorithm=algo)
        assert big.protocol == "Simple"
        assert big.latency_s < 1e-4 * big.time_s  # the latency term has vanished
        assert per_byte[1] <= per_byte[0]  # latency amortised: cost per byte falls
        assert per_byte[1] == pytest.approx(limit * bound, rel=1e-3)
        assert per_byte[1] >= bound * (1 - 1e-9)  # nothing beats the bound


def test_tree_latency_grows_with_log_n_and_ring_latency_with_n():
    spec = gpu("a100")
    g = spec.gpus_per_node
    tree = [allreduce(1.0, g * 2**k, g, spec, algorithm="tree").latency_s for k in range(1, 12)]
    steps = [b - a for a, b in zip(tree[:-1], tree[1:], strict=True)]
    # each doubling of the nodes adds one tree level: two network hops, up and down
    assert all(s > 0 for s in steps)
    assert max(steps) == pytest.approx(min(steps))
    assert min(steps) in [pytest.approx(2 * a) for a in NET_HOP_S["tree"]]
    ring = [allreduce(1.0, g * 2**k, g, spec, algorithm="ring").latency_s for k in (4, 5, 6)]
    assert ring[2] - ring[1] == pytest.approx(2 * (ring[1] - ring[0]), rel=0.01)  # linear in N


def test_protocol_follows_message_size_as_nccl_chooses():
    spec = gpu("a100")
    sizes = [10.0**e for e in range(2, 12)]
    for n in (8, 64, 1024):
        chosen = [PROTOCOLS.index(allreduce(s, n, 8, spec).protocol) for s in sizes]
        assert chosen == sorted(chosen), (n, chosen)  # LL -> LL128 -> Simple, never back
        assert chosen[0] == 0 and chosen[-1] == 2


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(GPU_PRESETS)), nbytes=st.floats(1.0, 1e11),
       nodes=st.integers(2, 20000), extra=st.integers(0, 7))
def test_hierarchical_is_never_slower_than_flat_across_nodes(name, nbytes, nodes, extra):
    spec = gpu(name)
    g = spec.gpus_per_node
    n = (nodes - 1) * g + 1 + min(extra, g - 1)  # any count that spans >= 2 nodes
    hier = allreduce(nbytes, n, g, spec)
    flat = allreduce(nbytes, n, g, spec, topology="flat")
    assert hier.time_s <= flat.time_s


@settings(max_examples=40, deadline=None)
@given(nbytes=st.floats(1.0, 1e11), n=st.integers(2, 10**5),
       field=st.sampled_from(["nvlink_bytes_per_s", "internode_bytes_per_s_per_node"]))
def test_more_bandwidth_never_slows_an_allreduce(nbytes, n, field):
    base = gpu("h100")
    fast = base.replace(**{field: 2 * getattr(base, field)})
    assert allreduce(nbytes, n, 8, fast).time_s <= allreduce(nbytes, n, 8, base).time_s


def test_cost_is_latency_plus_bandwidth_and_one_gpu_is_free():
    spec = gpu("h100")
    c = allreduce(300 * MB, 512, 8, spec)
    assert c.time_s == pytest.approx(c.latency_s + c.bandwidth_s)
    assert c.to_dict()["algorithm"] == c.algorithm
    assert allreduce(300 * MB, 1, 8, spec).time_s == 0.0
    assert allreduce(0.0, 64, 8, spec).time_s == 0.0
    t, choice = allreduce_times([1 * KB, 1 * GB], [1, 64], 8, spec)
    assert t[0].tolist() == [0.0, 0.0] and choice[0].tolist() == [-1, -1]
    assert t[1, 0] == pytest.approx(allreduce(1 * KB, 64, 8, spec).time_s)
    assert math.isfinite(t[1, 1]) and t[1, 1] > t[1, 0]


def test_bad_topology_or_algorithm_is_a_gpu_error():
    with pytest.raises(GpuError, match="topology.*'mesh'"):
        allreduce(1e6, 16, 8, gpu("a100"), topology="mesh")
    with pytest.raises(GpuError, match="algorithm.*'butterfly'"):
        allreduce(1e6, 16, 8, gpu("a100"), algorithm="butterfly")
