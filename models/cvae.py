"""The DeepDriveMD convolutional variational autoencoder for residue contact maps.

Encoder: 4 conv layers (``filters`` 3x3 filters, strides 1, 2, 1, 1, 'same', ReLU), flatten,
dense 128 + ReLU + dropout 0.25, two dense heads (``z_mean``, ``z_log_var``) and the
reparameterisation ``z = z_mean + exp(z_log_var / 2) * eps``. The decoder mirrors it: dense 128 +
ReLU + dropout, dense back to the flattened conv volume + ReLU, reshape, 4 transposed convs
(strides 1, 1, 2, 1; the last to one channel) with a sigmoid output. Loss: binary cross
entropy + KL divergence.

>>> g = cvae()
>>> g.total_params, g.op("dec.sigmoid").out_shape
(3450709, (1, 28, 28))
"""

from __future__ import annotations

from wse_sim.errors import GraphError
from wse_sim.graph import Graph

from .bert import check_sizes
from .data import expected_contact_density

CONV_STRIDES = (1, 2, 1, 1)
DECONV_STRIDES = (1, 1, 2, 1)
KERNEL = 3


def cvae(map_size: int = 28, filters: int = 64, latent_dim: int = 10, dense_units: int = 128,
         dropout: float = 0.25, input_density: float | None = None) -> Graph:
    """The CVAE on ``(1, map_size, map_size)`` binary contact maps (shapes per sample).

    ``input_density`` is the expected fraction of contacts in the input; ``None`` takes it from
    :func:`~wse_sim.models.data.expected_contact_density` for ``map_size`` residues. Ops:
    ``enc.conv1..4`` (+ ``enc.relu1..4``), ``enc.flatten``, ``enc.dense``, ``enc.relu5``,
    ``enc.dropout``, ``enc.z_mean``, ``enc.z_log_var``, ``enc.z`` (reparameterisation),
    ``dec.dense1``, ``dec.relu1``, ``dec.dropout``, ``dec.dense2``, ``dec.relu2``,
    ``dec.reshape``, ``dec.deconv1..4`` (+ ``dec.relu3..5``), ``dec.sigmoid``, ``loss``.
    """
    check_sizes("cvae", map_size=map_size, filters=filters, latent_dim=latent_dim,
                dense_units=dense_units)
    if map_size % 2:
        raise GraphError(f"cvae: map_size must be even (the stride-2 conv halves it and the "
                         f"stride-2 deconv doubles it back), got {map_size!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0 <= dropout < 1:
        raise GraphError(f"cvae: dropout must be in [0, 1), got {dropout!r}")
    if input_density is None:
        input_density = expected_contact_density(map_size)
    elif isinstance(input_density, bool) or not isinstance(input_density, (int, float)) \
            or not 0 <= input_density <= 1:
        raise GraphError(f"cvae: input_density must be in [0, 1], got {input_density!r}")
    g = Graph("cvae")
    x = g.input("contact_map", (1, map_size, map_size), density=input_density)
    h = x
    for i, stride in enumerate(CONV_STRIDES, start=1):
        h = g.relu(f"enc.relu{i}", g.conv2d(f"enc.conv{i}", h, filters, KERNEL, stride=stride))
    conv_shape = g.op(h).out_shape
    h = g.reshape("enc.flatten", h, (filters * conv_shape[1] * conv_shape[2],))
    h = g.relu("enc.relu5", g.dense("enc.dense", h, dense_units))
    h = g.dropout("enc.dropout", h, dropout)
    z_mean = g.dense("enc.z_mean", h, latent_dim)
    z_log_var = g.dense("enc.z_log_var", h, latent_dim)
    z = g.elementwise("enc.z", "reparam", z_mean, z_log_var)

    h = g.relu("dec.relu1", g.dense("dec.dense1", z, dense_units))
    h = g.dropout("dec.dropout", h, dropout)
    h = g.relu("dec.relu2", g.dense("dec.dense2", h, filters * conv_shape[1] * conv_shape[2]))
    h = g.reshape("dec.reshape", h, conv_shape)
    n_deconv = len(DECONV_STRIDES)
    for i, stride in enumerate(DECONV_STRIDES, start=1):
        last = i == n_deconv
        h = g.conv_transpose2d(f"dec.deconv{i}", h, 1 if last else filters, KERNEL,
                               stride=stride)
        h = g.sigmoid("dec.sigmoid", h) if last else g.relu(f"dec.relu{i + 2}", h)
    g.loss("loss", h, z_mean, z_log_var, fn="bce+kl")
    g.meta.update({"model": "cvae", "map_size": map_size, "batch_default": 32,
                   "latent_dim": latent_dim, "input_density": input_density})
    return g
