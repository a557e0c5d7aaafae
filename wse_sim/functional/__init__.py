"""Functional simulation: run a graph's forward pass on real inputs and measure activation zeros.

The synthetic engine draws activation zeros from each op's expected ``out_density``; this package
replaces the guess with a measurement (sparsity is harvested, not discounted; see
``docs/modeling.md``). It draws deterministic weights (masked like the kernels mask them), runs a
batch of inputs through every op, and reports the per-sample fraction of non-zero activations
each heavy op receives. The inputs come from the caller (a callable ``(graph, n_samples, seed)``;
the model zoo's is :func:`wse_sim.models.data.default_inputs`), so the core never depends on the
zoo.

Arrays carry a leading batch axis; per-sample shapes are the graph's. Weights come from ``seed``
and the op's position in :meth:`Graph.ops`, so a graph and its :func:`~wse_sim.graph.sparsify`
copy share weights up to the mask. Biases are zero and norm gains one, so they are omitted.

>>> from wse_sim.models import cvae
>>> from wse_sim.models.data import default_inputs
>>> d = mean_densities(cvae(map_size=16), default_inputs, n_samples=2)
>>> 0 < d["enc.conv2"] < 1
True
"""

from .densities import InputsFn, mean_densities, measured_densities
from .forward import forward
from .weights import weights

__all__ = ["InputsFn", "forward", "mean_densities", "measured_densities", "weights"]
