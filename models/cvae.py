"""The DeepDriveMD convolutional variational autoencoder for residue contact maps.

Encoder: one 3x3 'same' conv + ReLU per entry of ``strides`` (``filters`` output channels each,
or one count per layer), flatten, dense ``dense_units`` + ReLU (+ dropout), two dense heads
(``z_mean``, ``z_log_var``) and the reparameterisation ``z = z_mean + exp(z_log_var / 2) * eps``.
The decoder mirrors it: dense ``dense_units`` + ReLU (+ dropout), dense back to the flattened
conv volume + ReLU, reshape, one transposed conv per encoder conv with the strides in reverse
order, each taking the channels its encoder twin gave out (so the output channels are the encoder
filters reversed, shifted by one, ending in one channel), ReLU between them and a sigmoid at the
end. Loss: binary cross entropy summed over pixels + KL divergence.

The default is DeepDriveMD's 28 x 28 model (4 convs of 64 filters, strides 1, 2, 1, 1, latent
10, dropout 0.25); :func:`cvae_cs2` is the configuration published with its CS-2 port.

>>> g = cvae()
>>> g.total_params, g.op("dec.sigmoid").out_shape
(3450709, (1, 28, 28))
>>> cvae_cs2().op("enc.relu4").out_shape
(32, 64, 64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from wse_sim.errors import GraphError
from wse_sim.graph import Graph

from .bert import check_sizes
from .data import expected_contact_density

CONV_STRIDES = (1, 2, 1, 1)
"""Encoder strides of the DeepDriveMD default (the decoder runs them in reverse)."""
DECONV_STRIDES = CONV_STRIDES[::-1]
KERNEL = 3

# The CS-2 port of the model (ramanathanlab/cs2_cvae, configs/params.yaml and layers.py; stated
# there): boolean maps stored 612 x 612 and sliced to their top-left 256 x 256 block, encoder
# output filters 64, 64, 64, 32 and strides 1, 2, 2, 1, decoder strides 1, 2, 2, 1, dense 128,
# latent 3, no dropout layer, Keras 'mixed_float16' (fp16 compute), batch 64, BCE and KL both
# summed per sample.
CS2_MAP_SIZE = 256
CS2_STORED_MAP_SIZE = 612
CS2_FILTERS = (64, 64, 64, 32)
CS2_STRIDES = (1, 2, 2, 1)
CS2_DENSE_UNITS = 128
CS2_LATENT_DIM = 3
CS2_BATCH = 64


def _layers(filters, strides) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-layer encoder ``(filters, strides)``; an int ``filters`` is used for every layer."""
    if isinstance(strides, (str, bytes)) or not isinstance(strides, Sequence) or not strides:
        raise GraphError(f"cvae: strides must be a non-empty sequence of positive integers, one "
                         f"per encoder conv, got {strides!r}")
    for s in strides:
        check_sizes("cvae", strides=s)
    if isinstance(filters, int) and not isinstance(filters, bool):
        filters = (filters,) * len(strides)
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence) \
            or len(filters) != len(strides):
        raise GraphError(f"cvae: filters must be one positive integer or one per encoder conv "
                         f"({len(strides)}, as many as strides={tuple(strides)!r}), got "
                         f"{filters!r}")
    for f in filters:
        check_sizes("cvae", filters=f)
    return tuple(filters), tuple(strides)


def _check_args(map_size, strides, dropout, input_density) -> float:
    """Validate the scalar arguments; return the input density (measured when ``None``)."""
    down = math.prod(strides)
    if map_size % down:
        need = "even" if down == 2 else f"a multiple of {down}"
        raise GraphError(f"cvae: map_size must be {need} (the product of strides={strides!r}: "
                         f"the encoder divides it by each stride and the decoder multiplies it "
                         f"back), got {map_size!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0 <= dropout < 1:
        raise GraphError(f"cvae: dropout must be in [0, 1), got {dropout!r}")
    if input_density is None:
        return expected_contact_density(map_size)
    if isinstance(input_density, bool) or not isinstance(input_density, (int, float)) \
            or not 0 <= input_density <= 1:
        raise GraphError(f"cvae: input_density must be in [0, 1], got {input_density!r}")
    return input_density


def cvae(map_size: int = 28, filters: int | Sequence[int] = 64, latent_dim: int = 10,
         dense_units: int = 128, dropout: float = 0.25, input_density: float | None = None,
         strides: Sequence[int] = CONV_STRIDES, dtype: str = "fp16") -> Graph:
    """The CVAE on ``(1, map_size, map_size)`` binary contact maps (shapes per sample).

    ``filters`` are the output channels of the encoder convs (one int for all, or one per
    layer) and ``strides`` their strides (one per layer; its length sets the number of convs);
    ``map_size`` must be a multiple of the strides' product. ``input_density`` is the expected
    fraction of contacts in the input; ``None`` takes it from
    :func:`~wse_sim.models.data.expected_contact_density` for ``map_size`` residues. ``dtype``
    is the activation and weight dtype of every op. Ops, for ``n = len(strides)``:
    ``enc.conv1..n`` (+ ``enc.relu1..n``), ``enc.flatten``, ``enc.dense``, ``enc.relu{n+1}``,
    ``enc.dropout`` (only when ``dropout > 0``), ``enc.z_mean``, ``enc.z_log_var``, ``enc.z``
    (reparameterisation), ``dec.dense1``, ``dec.relu1``, ``dec.dropout`` (when ``dropout >
    0``), ``dec.dense2``, ``dec.relu2``, ``dec.reshape``, ``dec.deconv1..n`` (+
    ``dec.relu3..n+1``), ``dec.sigmoid``, ``loss``.
    """
    check_sizes("cvae", map_size=map_size, latent_dim=latent_dim, dense_units=dense_units)
    filters, strides = _layers(filters, strides)
    input_density = _check_args(map_size, strides, dropout, input_density)
    g = Graph("cvae", dtype)
    h = g.input("contact_map", (1, map_size, map_size), density=input_density)
    for i, (f, stride) in enumerate(zip(filters, strides, strict=True), start=1):
        h = g.relu(f"enc.relu{i}", g.conv2d(f"enc.conv{i}", h, f, KERNEL, stride=stride))
    conv_shape = g.op(h).out_shape
    flat = math.prod(conv_shape)
    h = g.reshape("enc.flatten", h, (flat,))
    h = g.relu(f"enc.relu{len(strides) + 1}", g.dense("enc.dense", h, dense_units))
    if dropout:
        h = g.dropout("enc.dropout", h, dropout)
    z_mean = g.dense("enc.z_mean", h, latent_dim)
    z_log_var = g.dense("enc.z_log_var", h, latent_dim)
    z = g.elementwise("enc.z", "reparam", z_mean, z_log_var)

    h = g.relu("dec.relu1", g.dense("dec.dense1", z, dense_units))
    if dropout:
        h = g.dropout("dec.dropout", h, dropout)
    h = g.relu("dec.relu2", g.dense("dec.dense2", h, flat))
    h = g.reshape("dec.reshape", h, conv_shape)
    dec_filters = (*filters[::-1][1:], 1)
    n_deconv = len(strides)
    for i, (f, stride) in enumerate(zip(dec_filters, strides[::-1], strict=True), start=1):
        h = g.conv_transpose2d(f"dec.deconv{i}", h, f, KERNEL, stride=stride)
        h = g.sigmoid("dec.sigmoid", h) if i == n_deconv else g.relu(f"dec.relu{i + 2}", h)
    g.loss("loss", h, z_mean, z_log_var, fn="bce+kl")
    g.meta.update({"model": "cvae", "map_size": map_size, "batch_default": 32,
                   "latent_dim": latent_dim, "input_density": input_density})
    return g


def cvae_cs2(input_density: float | None = None) -> Graph:
    """The CVAE as it ran on a Cerebras CS-2 (ramanathanlab/cs2_cvae, ``configs/params.yaml``).

    ``(1, 256, 256)`` boolean contact maps (the top-left block of the stored 612 x 612 maps);
    encoder convs with filters 64, 64, 64, 32 and strides 1, 2, 2, 1 (so a 32 x 64 x 64
    volume), dense 128, latent 3; the decoder mirrors it (deconv filters 64, 64, 64, 1, strides
    1, 2, 2, 1); no dropout; fp16; ``meta['batch_default'] = 64``. ``input_density`` as for
    :func:`cvae` (``None``: the expected density of a 256-residue chain's map).

    >>> g = cvae_cs2()
    >>> g.total_params, g.op("dec.sigmoid").out_shape, g.meta["batch_default"]
    (33872807, (1, 256, 256), 64)
    """
    g = cvae(map_size=CS2_MAP_SIZE, filters=CS2_FILTERS, latent_dim=CS2_LATENT_DIM,
             dense_units=CS2_DENSE_UNITS, dropout=0.0, input_density=input_density,
             strides=CS2_STRIDES, dtype="fp16")
    g.name = "cvae-cs2"
    g.meta.update({"model": "cvae-cs2", "batch_default": CS2_BATCH,
                   "stored_map_size": CS2_STORED_MAP_SIZE, "precision": "mixed fp16",
                   "loss_reduction": "sum per sample (BCE over pixels, KL over latent)"})
    return g
