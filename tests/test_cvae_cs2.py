"""The CVAE as ported to the CS-2 (``cvae-cs2``) and the per-layer ``filters``/``strides`` of
the ``cvae`` builder: shapes, parameters by hand, errors naming the value."""

from __future__ import annotations

import math

import pytest

import wse_sim as ws
from wse_sim.errors import GraphError
from wse_sim.models import cvae, cvae_cs2, describe, expected_contact_density, get

K = 9  # 3x3 kernels


@pytest.fixture(scope="module")
def cs2():
    return get("cvae-cs2")


def _conv(c_in, c_out):
    return c_in * c_out * K + c_out


def _dense(n_in, n_out):
    return n_in * n_out + n_out


# layer -> params by hand for the published configuration (ramanathanlab/cs2_cvae)
FLAT = 32 * 64 * 64  # two stride-2 convs: 256 -> 64; 32 channels out of conv4: 131,072
CS2_PARAMS = {
    "enc.conv1": _conv(1, 64),            # 640
    "enc.conv2": _conv(64, 64),           # 36,928
    "enc.conv3": _conv(64, 64),           # 36,928
    "enc.conv4": _conv(64, 32),           # 18,464
    "enc.dense": _dense(FLAT, 128),       # 16,777,344
    "enc.z_mean": _dense(128, 3),         # 387
    "enc.z_log_var": _dense(128, 3),      # 387
    "dec.dense1": _dense(3, 128),         # 512
    "dec.dense2": _dense(128, FLAT),      # 16,908,288
    "dec.deconv1": _conv(32, 64),         # 18,496
    "dec.deconv2": _conv(64, 64),         # 36,928
    "dec.deconv3": _conv(64, 64),         # 36,928
    "dec.deconv4": _conv(64, 1),          # 577
}


def test_cs2_params_by_hand(cs2):
    for name, n in CS2_PARAMS.items():
        assert cs2.op(name).params == n, name
    assert sum(CS2_PARAMS.values()) == 33_872_807
    assert cs2.total_params == sum(CS2_PARAMS.values())
    assert describe("cvae-cs2")["params"] == cs2.total_params
    # nothing else carries weights
    assert {op.name for op in cs2.ops() if op.params} == set(CS2_PARAMS)


def test_cs2_layer_shapes(cs2):
    assert cs2.op("contact_map").out_shape == (1, 256, 256)
    expect = {"enc.conv1": (64, 256, 256), "enc.conv2": (64, 128, 128),
              "enc.conv3": (64, 64, 64), "enc.conv4": (32, 64, 64), "enc.flatten": (FLAT,),
              "enc.dense": (128,), "enc.z_mean": (3,), "enc.z": (3,), "dec.dense1": (128,),
              "dec.dense2": (FLAT,), "dec.reshape": (32, 64, 64),
              "dec.deconv1": (64, 64, 64), "dec.deconv2": (64, 128, 128),
              "dec.deconv3": (64, 256, 256), "dec.deconv4": (1, 256, 256),
              "dec.sigmoid": (1, 256, 256)}
    for name, shape in expect.items():
        assert cs2.op(name).out_shape == shape, name
    assert [cs2.op(f"enc.conv{i}").attrs["stride"] for i in range(1, 5)] == [1, 2, 2, 1]
    assert [cs2.op(f"dec.deconv{i}").attrs["stride"] for i in range(1, 5)] == [1, 2, 2, 1]
    assert cs2.op("loss").inputs == ("dec.sigmoid", "enc.z_mean", "enc.z_log_var")
    assert cs2.op("loss").attrs["fn"] == "bce+kl"


def test_cs2_meta_precision_and_no_dropout(cs2):
    assert cs2.meta["batch_default"] == 64
    assert cs2.meta["model"] == "cvae-cs2" and cs2.name == "cvae-cs2"
    assert cs2.dtype == "fp16" and all(op.dtype == "fp16" for op in cs2.ops())
    assert not any(op.attrs.get("fn") == "dropout" for op in cs2.ops())
    assert cs2.op("contact_map").out_density == expected_contact_density(256)
    assert cvae_cs2(input_density=0.05).op("contact_map").out_density == 0.05
    # fp16: each weight is 2 bytes, so the weights alone are 2x the parameter count
    assert cs2.op("enc.dense").dtype_bytes == 2


def test_cs2_macs_by_hand(cs2):
    # stride-2 conv2 sees 256 x 256 but writes 128 x 128; conv MACs = out pixels * c_in * c_out * 9
    assert cs2.op("enc.conv2").macs_fwd == 128 * 128 * 64 * 64 * K
    assert cs2.op("enc.dense").macs_fwd == FLAT * 128


@pytest.mark.parametrize(("filters", "strides", "n"), [
    ((8, 16, 4), (2, 1, 2), 16),
    ((5, 7), (1, 4), 32),
    (6, (3, 1, 1, 1, 1), 12),
])
def test_per_layer_filters_and_strides_honoured(filters, strides, n):
    g = cvae(map_size=n, filters=filters, strides=strides, latent_dim=2, dense_units=16)
    per = (filters,) * len(strides) if isinstance(filters, int) else filters
    size, c_in, total = n, 1, 0
    for i, (f, s) in enumerate(zip(per, strides, strict=True), start=1):
        size //= s
        op = g.op(f"enc.conv{i}")
        assert op.out_shape == (f, size, size) and op.attrs["stride"] == s
        assert op.params == _conv(c_in, f)
        total += op.params
        c_in = f
    flat = per[-1] * size * size
    assert g.op("enc.flatten").out_shape == (flat,)
    total += _dense(flat, 16) + 2 * _dense(16, 2) + _dense(2, 16) + _dense(16, flat)
    # the decoder runs the strides backwards, each deconv giving back its twin's input channels
    dec_out = (*per[::-1][1:], 1)
    c_in = per[-1]
    for i, (f, s) in enumerate(zip(dec_out, strides[::-1], strict=True), start=1):
        size *= s
        op = g.op(f"dec.deconv{i}")
        assert op.out_shape == (f, size, size) and op.attrs["stride"] == s
        total += op.params
        assert op.params == _conv(c_in, f)
        c_in = f
    assert size == n and g.op("dec.sigmoid").out_shape == (1, n, n)
    assert g.total_params == total
    assert math.prod(strides) * g.op("dec.reshape").out_shape[1] == n


def test_int_filters_same_as_a_repeated_sequence():
    a, b = cvae(filters=32), cvae(filters=(32, 32, 32, 32))
    assert [(op.name, op.out_shape, op.params) for op in a.ops()] == \
        [(op.name, op.out_shape, op.params) for op in b.ops()]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"filters": (64, 64, 64)}, r"filters.*\(1, 2, 1, 1\).*\(64, 64, 64\)"),
    ({"filters": (64,) * 5}, r"filters.*one per encoder conv.*\(64, 64, 64, 64, 64\)"),
    ({"filters": ()}, r"filters.*\(\)"),
    ({"filters": "64"}, r"filters.*'64'"),
    ({"filters": (64, 0, 64, 64)}, r"filters must be a positive integer, got 0"),
    ({"filters": (64, 64, 2.5, 64)}, r"filters.*2\.5"),
    ({"strides": ()}, r"strides.*\(\)"),
    ({"strides": 2}, r"strides.*got 2"),
    ({"strides": (1, 2, -1, 1)}, r"strides must be a positive integer, got -1"),
    ({"filters": (8, 8), "strides": (1, 2, 2)}, r"filters.*\(8, 8\)"),
    ({"map_size": 30, "strides": (1, 2, 2, 1)}, r"map_size must be a multiple of 4.*30"),
])
def test_bad_filters_or_strides_named(kwargs, match):
    with pytest.raises(GraphError, match=match):
        cvae(**kwargs)


def test_dropout_zero_drops_the_ops_and_nothing_else():
    with_p, without = cvae(), cvae(dropout=0.0)
    assert {op.name for op in with_p.ops()} - {op.name for op in without.ops()} == \
        {"enc.dropout", "dec.dropout"}
    assert with_p.total_params == without.total_params


@pytest.mark.parametrize("replicas", [1, 2])
def test_cs2_places_and_simulates_on_wse2(cs2, replicas):
    plan = ws.place(cs2, ws.wafer("wse2"), replicas=replicas)
    r = ws.simulate(plan, samples=16)
    assert plan.replicas == r.replicas == replicas
    assert r.samples_per_s > 0 and r.bottleneck_op in {op.name for op in cs2.ops()}
    assert plan.sram_bytes.max() <= plan.wafer.sram_bytes_per_core
