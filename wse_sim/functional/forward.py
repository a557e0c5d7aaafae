"""forward(): a graph's forward pass on a batch of inputs, every op's output kept."""

from __future__ import annotations

import numpy as np

from ..errors import SimulationError
from ..graph import Graph, Op
from .ops import _conv, _dense, _elementwise, _embedding, _matmul, _norm, _pool, _softmax
from .weights import _NOISE_STREAM, _check_seed, _draw_weight, _rng, _weighted


def _batch_inputs(graph: Graph, inputs: dict) -> tuple[dict[str, np.ndarray], int]:
    """Inputs as float32 ``(B, *shape)`` arrays, checked against the graph; and B."""
    if not isinstance(inputs, dict):
        raise SimulationError(f"inputs must be a dict of arrays by input op name, got "
                              f"{type(inputs).__name__}")
    out, batch = {}, None
    for op in graph.ops():
        if op.kind != "input":
            continue
        if op.name not in inputs:
            raise SimulationError(f"input op {op.name!r} has no array in inputs (given: "
                                  f"{sorted(inputs)}); pass one of shape (batch, "
                                  f"{', '.join(map(str, op.out_shape))})")
        a = np.asarray(inputs[op.name])
        if a.dtype.kind not in "biuf" or a.shape[1:] != op.out_shape or a.ndim < 1:
            raise SimulationError(f"input {op.name!r}: need a real array of shape (batch, "
                                  f"{', '.join(map(str, op.out_shape))}), got {a.dtype} "
                                  f"{a.shape}")
        if batch is not None and a.shape[0] != batch:
            raise SimulationError(f"input {op.name!r} has batch {a.shape[0]}, others {batch}; "
                                  "all inputs need the same leading batch size")
        batch = a.shape[0]
        out[op.name] = a.astype(np.float32)
    return out, batch or 0


def _move(op: Op, args: list[np.ndarray]) -> np.ndarray:
    """A data-movement op: a reshape, or an importer's concat / split / pad."""
    src = op.attrs.get("source_op")
    ax = op.attrs.get("axis", 0) + 1  # + the batch axis
    if src == "concat":
        pieces, it = [], iter(args)
        for part in op.attrs.get("parts", ("act",) * len(args)):
            if part == "act":
                pieces.append(next(it))
            else:  # stored rows (a learned class token): zeros stand in for their values
                shape = list(args[0].shape)
                shape[ax] = part
                pieces.append(np.zeros(shape, dtype=args[0].dtype))
        return np.concatenate(pieces, axis=ax)
    if src == "split":
        start, step = op.attrs["start"], op.attrs.get("step", 1)
        index = np.arange(start, start + step * op.out_shape[ax - 1], step)
        return np.take(args[0], index, axis=ax)
    if src == "pad":
        t, b, l, r = op.attrs["pads"]
        return np.pad(args[0], ((0, 0), (0, 0), (t, b), (l, r)))
    return args[0].reshape(args[0].shape[0], *op.out_shape)


def _run_op(graph: Graph, op: Op, args: list[np.ndarray], w: np.ndarray | None,
            rng_noise, use_kernels: bool) -> np.ndarray:
    """Output ``(B, *op.out_shape)`` of one non-input op given its input arrays."""
    kind = op.kind
    if kind == "dense":
        return _dense(args[0], w, use_kernels)
    if kind in ("conv2d", "conv_transpose2d"):
        return _conv(op, args[0], w, use_kernels)
    if kind == "embedding":
        return _embedding(op, args[0], w)
    if kind == "matmul":
        return _matmul(op, args[0], args[1])
    if kind in ("layernorm", "batchnorm"):
        return _norm(op, args[0])
    if kind == "softmax":
        return _softmax(graph, op, args[0])
    if kind == "elementwise":
        return _elementwise(op, args, rng_noise())
    if kind == "pool":
        return _pool(op, args[0])
    if kind == "reshape":
        return _move(op, args)
    if kind == "transpose":
        return args[0].transpose(0, *(p + 1 for p in op.attrs["perm"]))
    if kind == "loss":  # not the real loss: a per-sample scalar that depends on every input
        return np.stack([a.reshape(a.shape[0], -1).mean(axis=1) for a in args], axis=1) \
            .mean(axis=1, keepdims=True).astype(np.float32)
    raise SimulationError(f"op {op.name!r}: kind {kind!r} is not supported by functional "
                          "simulation")


def forward(graph: Graph, inputs: dict[str, np.ndarray], seed: int = 0,
            use_kernels: bool = True) -> dict[str, np.ndarray]:
    """Run the forward pass of ``graph`` on a batch and return every op's output.

    Parameters
    ----------
    graph : the model
    inputs : ``{input op name: array (B, *per-sample shape)}``; token ids may be float
    seed : weights and dropout/reparam noise (op ``i`` of :meth:`Graph.ops` draws from
        ``default_rng([seed, i, stream])``); same seed, bit-identical outputs
    use_kernels : dense and conv ops through the zero-skipping numba kernels (``spmm``,
        ``conv2d``, ``conv_transpose2d`` on a 1 x 1 region); False: plain numpy references

    Returns
    -------
    ``{op name: float32 array (B, *op.out_shape)}`` in topological order (inputs included).
    """
    seed = _check_seed(seed)
    acts, _ = _batch_inputs(graph, inputs)
    tables: dict[str, np.ndarray] = {}  # embeddings, for dense layers tied to them
    for i, op in enumerate(graph.ops()):
        if op.kind == "input":
            continue
        w = _draw_weight(graph, op, i, seed, tables) if _weighted(op) else None
        if op.kind == "embedding":
            tables[op.name] = w
        args = [acts[name] for name in op.inputs]
        y = _run_op(graph, op, args, w, lambda i=i: _rng(seed, i, _NOISE_STREAM), use_kernels)
        acts[op.name] = np.asarray(y, dtype=np.float32)
    return acts
