"""Synthetic inputs for functional runs: protein contact maps and token batches.

Contact maps stand in for the molecular-dynamics frames the DeepDriveMD CVAE trains on. Each map
comes from a random compact polymer: a chain of ``n_residues`` alpha-carbons (CA) joined by bonds of
fixed length (3.8 Angstrom), confined to a cube whose radius of gyration matches folded proteins;
two residues are in contact when their CA atoms are closer than ``cutoff`` (8 Angstrom). The maps
are binary, symmetric, carry the diagonal band of chain neighbours, and are mostly zero for large
``n_residues`` (about 20 contacts per residue, so density falls roughly as ``20 / n_residues``).

>>> maps = contact_maps(2, 28, seed=0)
>>> maps.shape, maps.dtype, bool((maps == maps.transpose(0, 2, 1)).all())
((2, 28, 28), dtype('bool'), True)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from wse_sim.errors import GraphError
from wse_sim.graph import Graph, Op
from wse_sim.resources import require
from wse_sim.validate import MAX_COUNT, MAX_MODEL_DIM, MAX_TENSOR_ELEMS, integer
from wse_sim.validate import seed as seed_rule

PERSISTENCE = 0.5
"""Correlation between successive bond directions (AR(1) weight of the direction noise). 0.5 gives
a mean cosine of about 0.4 between successive bonds, close to the 60-90 degree turn between CA-CA
bonds of real proteins, and stops the chain from folding straight back on itself."""
_PERSISTENCE_TAPS = 12  # 0.5 ** 12 < 3e-4: the truncated AR(1) filter is exact to that level
RG_PREFACTOR = 2.2
RG_EXPONENT = 0.38
"""Radius of gyration of folded proteins, ``Rg = 2.2 * N ** 0.38`` Angstrom (Skolnick et al.,
1997, fit over PDB chains). A uniformly filled cube of side ``L`` has ``Rg = L / 2``."""
_BLOCK_ELEMS = 1 << 21  # pairwise distances are computed this many (i, j) pairs at a time


def _check_int(what: str, value, minimum: int = 1, maximum: int = MAX_MODEL_DIM) -> int:
    return integer(what, value, minimum, maximum, error=GraphError,
                   fix=f"use an integer in [{minimum}, {maximum:,}]")


def _check_seed(value) -> int:
    return seed_rule("seed", value, error=GraphError)


def _check_bytes(what: str, need: float) -> None:
    """Refuse an output that cannot fit in memory before numpy tries to allocate it."""
    require(what, need, "ask for fewer or smaller samples")


def _check_positive(what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise GraphError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def box_side(n_residues: int) -> float:
    """Side in Angstrom of the cube a chain of ``n_residues`` is confined to (``4.4 N^0.38``)."""
    return 2.0 * RG_PREFACTOR * n_residues ** RG_EXPONENT


def chain_coords(n_maps: int, n_residues: int, bond: float = 3.8, seed: int = 0,
                 first: int = 0) -> np.ndarray:
    """CA coordinates ``(n_maps, n_residues, 3)`` in Angstrom of random compact chains.

    A persistent random walk (unit steps whose directions are AR(1)-correlated noise, times
    ``bond``; cumsum gives the positions) folded into the cube ``[0, L]^3`` by reflection at its
    walls (a triangle wave per coordinate: the same law as a walk reflected at the walls). Bonds
    keep their length except the few that cross a wall. Map ``k`` draws from its own stream
    ``default_rng([seed, first + k])``, so a map does not depend on how many are asked for.
    """
    n_maps = _check_int("n_maps", n_maps, minimum=0)
    n = _check_int("n_residues", n_residues)
    bond = _check_positive("bond", bond)
    seed = _check_seed(seed)
    first = _check_int("first", first, minimum=0, maximum=MAX_COUNT)
    _check_bytes(f"chain_coords({n_maps}, {n})", n_maps * n * 72.0)
    taps = _PERSISTENCE_TAPS
    noise = np.empty((n_maps, n - 1 + taps - 1, 3))
    start = np.empty((n_maps, 3))
    side = box_side(n)
    for k in range(n_maps):
        rng = np.random.default_rng([seed, first + k])
        noise[k] = rng.standard_normal(noise.shape[1:])
        start[k] = rng.uniform(0.0, side, 3)
    # truncated AR(1) filter w_i = sum_t p^t g_{i-t}, with warm-up draws so w starts stationary
    steps = np.zeros((n_maps, n - 1, 3))
    for t in range(taps):
        steps += PERSISTENCE ** t * noise[:, taps - 1 - t: taps - 1 - t + n - 1]
    norms = np.linalg.norm(steps, axis=2, keepdims=True)
    steps *= bond / np.maximum(norms, 1e-12)
    x = np.empty((n_maps, n, 3))
    x[:, 0] = 0.0
    np.cumsum(steps, axis=1, out=x[:, 1:])
    x += start[:, None, :]
    return side - np.abs(np.mod(x, 2.0 * side) - side)


def _contacts(rows: np.ndarray, cols: np.ndarray, cutoff: float) -> np.ndarray:
    """``|rows_i - cols_j| < cutoff`` for coordinates ``(..., r, 3)`` and ``(..., c, 3)``."""
    d2 = np.zeros((*rows.shape[:-1], cols.shape[-2]))
    for a in range(3):
        diff = rows[..., :, None, a] - cols[..., None, :, a]
        d2 += diff * diff
    return d2 < cutoff * cutoff


def contact_maps(n_maps: int, n_residues: int, cutoff: float = 8.0, bond: float = 3.8,
                 seed: int = 0) -> np.ndarray:
    """Binary contact maps ``(n_maps, n_residues, n_residues)`` of random compact chains.

    ``maps[k, i, j]`` is True when residues ``i`` and ``j`` of chain ``k`` are closer than
    ``cutoff`` Angstrom (CA to CA), so the diagonal is True and the map is symmetric. Chains come
    from :func:`chain_coords`. Distances are computed in blocks of about two million pairs, so
    memory beyond the output stays bounded for any ``n_residues``. Same arguments, same maps.
    """
    n_maps = _check_int("n_maps", n_maps, minimum=0)
    n = _check_int("n_residues", n_residues)
    cutoff = _check_positive("cutoff", cutoff)
    bond = _check_positive("bond", bond)
    seed = _check_seed(seed)
    _check_bytes(f"contact_maps({n_maps}, {n})", n_maps * (n * n + 24.0 * n))
    out = np.empty((n_maps, n, n), dtype=bool)
    if n_maps == 0:
        return out
    x = chain_coords(n_maps, n, bond, seed)
    if n * n <= _BLOCK_ELEMS:
        per = max(1, _BLOCK_ELEMS // (n * n))
        for s in range(0, n_maps, per):
            out[s:s + per] = _contacts(x[s:s + per], x[s:s + per], cutoff)
    else:
        rows = max(1, _BLOCK_ELEMS // n)
        for k in range(n_maps):
            for r in range(0, n, rows):
                out[k, r:r + rows] = _contacts(x[k, r:r + rows], x[k], cutoff)
    return out


@functools.lru_cache(maxsize=256)
def expected_contact_density(n_residues: int, cutoff: float = 8.0, bond: float = 3.8) -> float:
    """Expected fraction of True entries of a :func:`contact_maps` map (diagonal included).

    Estimated from seed-0 chains without building whole maps: ``2**18 // n**2`` chains (8 to
    256), and for each the full contact rows of up to ``max(16, 2**18 // n)`` residues drawn at
    random (all rows when ``n`` is small), so the cost is a few million distance pairs at most:
    tens of milliseconds up to ``n = 8192``, about 0.3 s at ``n = 100,000``. The estimate is
    unbiased, with a sampling error of 1-3 % of the value. Cached per argument set.

    >>> 0.2 < expected_contact_density(28) < 0.6
    True
    """
    n = _check_int("n_residues", n_residues)
    cutoff = _check_positive("cutoff", cutoff)
    bond = _check_positive("bond", bond)
    n_chains = min(256, max(8, (1 << 18) // (n * n)))
    x = chain_coords(n_chains, n, bond, seed=0)
    n_rows = min(n, max(16, (1 << 18) // n))
    if n_rows == n:
        hits = int(_contacts(x, x, cutoff).sum())
    else:
        rng = np.random.default_rng([0, n])
        hits = 0
        for k in range(n_chains):
            idx = rng.choice(n, size=n_rows, replace=False)
            hits += int(_contacts(x[k, idx], x[k], cutoff).sum())
    return hits / (n_chains * n_rows * n)


def token_batch(n: int, seq_len: int, vocab: int, seed: int = 0) -> np.ndarray:
    """Token ids ``(n, seq_len)`` int32 in ``[0, vocab)`` for BERT/GPT functional runs.

    Ids follow a Zipf law over rank (probability of id ``r`` proportional to ``1 / (r + 1)``),
    the shape of word frequencies in natural text, so low ids are common and the embedding
    lookups hit a skewed set of rows as real text does.

    >>> token_batch(2, 4, 100, seed=1).shape
    (2, 4)
    """
    n = _check_int("n", n, minimum=0)
    seq_len = _check_int("seq_len", seq_len)
    vocab = _check_int("vocab", vocab, maximum=MAX_TENSOR_ELEMS)
    seed = _check_seed(seed)
    _check_bytes(f"token_batch({n}, {seq_len})", n * seq_len * 12.0 + vocab * 8.0)
    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1))
    cdf /= cdf[-1]
    u = np.random.default_rng([seed, 1]).random((n, seq_len))
    ids = np.searchsorted(cdf, u, side="right")
    return np.minimum(ids, vocab - 1).astype(np.int32)


def _derived_seed(seed: int, index: int) -> int:
    """An int seed for input number ``index`` (so two token inputs draw different ids)."""
    return int(np.random.default_rng([seed, index, 2]).integers(2 ** 31))


def _is_contact_map(graph: Graph, op: Op) -> bool:
    """The CVAE's input, or any one-channel square ``(1, N, N)`` input."""
    s = op.out_shape
    square = len(s) == 3 and s[0] == 1 and s[1] == s[2]
    return square or (graph.meta.get("model") == "cvae" and len(s) == 3)


def default_inputs(graph: Graph, n_samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Real-looking inputs ``{input op name: array (n_samples, *shape)}`` for the functional
    forward pass (:func:`wse_sim.functional.forward`); the zoo's input generator.

    - ``(1, N, N)`` inputs (the CVAE's): binary contact maps of random compact chains,
      :func:`~wse_sim.models.data.contact_maps`, as float32.
    - inputs feeding embeddings: Zipf token ids (int32) below the smallest vocabulary they
      index; an input feeding only position embeddings gets positions ``0, 1, ...``.
    - anything else: standard normal float32 with zeros at rate ``1 - op.out_density``.
    """
    seed = _check_seed(seed)
    n_samples = _check_int("n_samples", n_samples)
    out = {}
    for i, op in enumerate(graph.ops()):
        if op.kind != "input":
            continue
        embs = [graph.op(s) for s in graph.successors(op.name)]
        embs = [e for e in embs if e.kind == "embedding"]
        vocabs = [e.weight_shape[0] for e in embs if e.attrs.get("index") != "position"]
        if vocabs:
            ids = token_batch(n_samples, math.prod(op.out_shape), min(vocabs),
                              seed=_derived_seed(seed, i))
            out[op.name] = ids.reshape(n_samples, *op.out_shape)
        elif embs:
            pos = np.arange(math.prod(op.out_shape), dtype=np.int32).reshape(op.out_shape)
            out[op.name] = np.broadcast_to(pos, (n_samples, *op.out_shape)).copy()
        elif _is_contact_map(graph, op):
            maps = contact_maps(n_samples, op.out_shape[1], seed=seed)
            out[op.name] = maps.astype(np.float32).reshape(n_samples, *op.out_shape)
        else:
            rng = np.random.default_rng([seed, i, 3])
            x = rng.standard_normal((n_samples, *op.out_shape), dtype=np.float32)
            keep = rng.random(x.shape) < op.out_density
            out[op.name] = np.where(keep, x, np.float32(0.0))
    return out
