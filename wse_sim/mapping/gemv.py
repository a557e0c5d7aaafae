"""Matrix-vector products on a rectangular region of wafer cores (the decode primitive).

A product ``y[B, n] = x[B, k] @ W[k, n]`` runs on an ``R x C`` region with ``W`` resident: core
``(r, c)`` holds the tile ``W[r-th k/R slice, c-th n/C slice]``. One product is three phases,
in cycles of the wafer clock:

1. **broadcast**: each row of cores receives its ``k/R`` slice of ``x`` (router multicast along
   the row, so cores spend no time forwarding): ``2 ramp + (R + C) hop`` of latency (the slice
   comes from the previous product's output row, assumed adjacent) plus the slice's
   serialisation on one link, ``ceil(B k/R / e) / link_wavelets_per_cycle`` with ``e`` elements
   per wavelet (2 for 16-bit values in a 32-bit wavelet).
2. **local**: ``B (k/R)(n/C)`` FMACs in axpy form (``acc += x_i W[i, :]``): each FMAC reads a
   weight and an accumulator and writes the accumulator, so a core sustains
   ``min(fmac lanes, read port / 2 bytes, write port / bytes)`` FMACs per cycle (derived from the
   spec's SRAM port widths; 4 per cycle on WSE-2 at fp16, where lanes and ports balance), plus
   one ``task_overhead_cycles``.
3. **reduction** of the ``B n/C`` partial sums of each column over its ``R`` cores, as
   * a pipelined **chain**: the vector hops core to core, each core ramping it in, adding its
     part and ramping it out: ``(R - 1)(hop + 2 ramp + w) + m w`` for ``m`` wavelets at ``w``
     cycles per wavelet (``w = max(1 / link rate, wavelet_overhead + e / lanes)``: a received
     wavelet is dispatched and added before the next is taken);
   * a **K-ary tree**: ``D = ceil(log_K R)`` levels; routers carry the partial sums straight to
     the parent (no ramp on the way), the parent takes ``K - 1`` vectors in per level:
     ``(R - 1) hop + D (2 ramp + (K - 1) m w)``.
   The chain pays ``2 ramp + w`` per core on the way; the tree pays ``D (K - 1)`` serialisations
   instead of one, so the chain wins on small regions and long vectors, the tree on tall
   regions (large ``R``) and short vectors.

Growing the region shrinks the local phase as ``1 / (R C)`` while the broadcast and reduction
latencies grow with ``R + C``: time against region size is U-shaped. All arithmetic is
vectorised over candidate regions (numpy arrays), never a loop over cores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import PlacementError, SimulationError
from ..graph import DTYPE_BYTES
from ..spec import WaferSpec

REDUCTIONS = ("chain", "tree")
DEFAULT_TREE_ARITY = 2
"""Children per node of the reduction tree (a spec choice; 2 = binary tree, assumed)."""


def usable_sram_bytes(spec: WaferSpec) -> int:
    """Bytes of one core's SRAM left for weights, KV cache and buffers (after code and FIFOs)."""
    return spec.sram_bytes_per_core - spec.code_reserve_bytes - spec.io_buffer_bytes


def elems_per_wavelet(spec: WaferSpec, dtype: str) -> int:
    """Values of ``dtype`` one wavelet carries (32-bit wavelet: 2 fp16, 1 fp32)."""
    return max(1, spec.wavelet_bits // (8 * DTYPE_BYTES[dtype]))


def fmac_rate(spec: WaferSpec, dtype: str) -> float:
    """Sustained axpy FMACs per core per cycle: lanes, or the SRAM ports (read weight +
    accumulator, write accumulator), whichever binds."""
    eb = DTYPE_BYTES[dtype]
    return float(min(spec.fmac_per_cycle(dtype), spec.sram_read_bytes_per_cycle / (2 * eb),
                     spec.sram_write_bytes_per_cycle / eb))


def wavelet_cycles(spec: WaferSpec, dtype: str) -> float:
    """Cycles a reducing core spends per received wavelet (dispatch + add), or the link rate."""
    e = elems_per_wavelet(spec, dtype)
    return max(1.0 / spec.link_wavelets_per_cycle,
               spec.wavelet_overhead_cycles + e / spec.fmac_per_cycle(dtype))


def broadcast_cycles(spec: WaferSpec, rows, cols, elems_per_row, dtype: str):
    """Latency + serialisation of multicasting ``elems_per_row`` values along each row."""
    e = elems_per_wavelet(spec, dtype)
    lat = 2 * spec.ramp_latency_cycles + (np.asarray(rows) + np.asarray(cols)) \
        * spec.hop_latency_cycles
    return lat + np.ceil(np.asarray(elems_per_row) / e) / spec.link_wavelets_per_cycle


def reduction_cycles(spec: WaferSpec, rows, elems, dtype: str, kind: str,
                     arity: int = DEFAULT_TREE_ARITY):
    """Cycles to sum ``elems`` values per core over ``rows`` cores of a column (chain or tree)."""
    rows = np.asarray(rows, dtype=np.float64)
    m = np.ceil(np.asarray(elems, dtype=np.float64) / elems_per_wavelet(spec, dtype))
    w = wavelet_cycles(spec, dtype)
    hop, ramp = spec.hop_latency_cycles, spec.ramp_latency_cycles
    if kind == "chain":
        out = (rows - 1) * (hop + 2 * ramp + w) + m * w
    elif kind == "tree":
        if isinstance(arity, bool) or not isinstance(arity, int) or arity < 2:
            raise SimulationError(f"tree_arity must be an int >= 2, got {arity!r}")
        depth = np.ceil(np.log(np.maximum(rows, 1)) / math.log(arity) - 1e-9)
        out = (rows - 1) * hop + depth * (2 * ramp + (arity - 1) * m * w)
    else:
        raise SimulationError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {kind!r}")
    return np.where(rows > 1, out, 0.0)


def gemv_cycles(spec: WaferSpec, k: int, n: int, rows, cols, batch: int = 1,
                dtype: str = "fp16", arity: int = DEFAULT_TREE_ARITY) -> dict:
    """Phase cycles of ``[batch, k] @ [k, n]`` on ``rows x cols`` regions (arrays broadcast).

    Returns ``{broadcast, local, chain, tree}`` arrays of cycles and ``weights_per_core``
    (elements of the largest tile).
    """
    rows, cols = np.asarray(rows), np.asarray(cols)
    kr, nc = np.ceil(k / rows), np.ceil(n / cols)
    local = batch * kr * nc / fmac_rate(spec, dtype) + spec.task_overhead_cycles
    return {"broadcast": broadcast_cycles(spec, rows, cols, batch * kr, dtype),
            "local": local,
            "chain": reduction_cycles(spec, rows, batch * nc, dtype, "chain"),
            "tree": reduction_cycles(spec, rows, batch * nc, dtype, "tree", arity),
            "weights_per_core": kr * nc}


@dataclass(frozen=True)
class GemvResult:
    """One matrix-vector product on a region: times in seconds, region ``(rows, cols)``."""

    k: int
    n: int
    batch: int
    dtype: str
    region: tuple[int, int]
    reduction: str  # the faster of 'chain' and 'tree' (the one ``time_s`` uses)
    time_s: float
    time_chain_s: float
    time_tree_s: float
    broadcast_s: float
    local_s: float
    reduction_s: float
    weight_bytes_per_core: int
    tree_arity: int

    @property
    def cores(self) -> int:
        return self.region[0] * self.region[1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["region"] = list(self.region)
        d["cores"] = self.cores
        return d


def _check_positive(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SimulationError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def gemv(spec: WaferSpec, k: int, n: int, region="best", batch: int = 1, dtype: str = "fp16",
         reduction: str = "best", tree_arity: int = DEFAULT_TREE_ARITY) -> GemvResult:
    """Time ``[batch, k] @ [k, n]`` with the weights resident on a region of ``spec``'s cores.

    ``region`` is ``'best'`` (the fastest of every ``rows x cols`` region of the wafer whose
    tiles fit the usable SRAM), an int ``s`` (an ``s x s`` square) or ``(rows, cols)``.
    ``reduction`` is ``'best'``, ``'chain'`` or ``'tree'``; both reductions are reported.
    Raises :class:`PlacementError` when no region holds the weights, naming the bytes.

    >>> import wse_sim as ws
    >>> r = gemv(ws.wafer("wse2"), 4096, 4096, region=64)
    >>> r.region, r.time_s > 0, r.time_s == min(r.time_chain_s, r.time_tree_s)
    ((64, 64), True, True)
    """
    k, n, batch = (_check_positive(w, v) for w, v in (("k", k), ("n", n), ("batch", batch)))
    if dtype not in DTYPE_BYTES:
        raise SimulationError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPE_BYTES)}")
    if reduction not in ("best", *REDUCTIONS):
        raise SimulationError(f"reduction must be 'best', 'chain' or 'tree', got {reduction!r}")
    eb = DTYPE_BYTES[dtype]
    cap = usable_sram_bytes(spec)
    if region == "best":
        rows, cols = np.meshgrid(np.arange(1, spec.rows + 1), np.arange(1, spec.cols + 1),
                                 indexing="ij")
        rows, cols = rows.ravel(), cols.ravel()
    else:
        r, c = (region, region) if isinstance(region, (int, np.integer)) else tuple(region)
        r, c = _check_positive("region rows", r), _check_positive("region cols", c)
        if r > spec.rows or c > spec.cols:
            raise PlacementError(f"region {r} x {c} exceeds the {spec.rows} x {spec.cols} "
                                 f"cores of {spec.name!r}; use a smaller region or 'best'")
        rows, cols = np.array([r]), np.array([c])
    cyc = gemv_cycles(spec, k, n, rows, cols, batch, dtype, tree_arity)
    wbytes = cyc["weights_per_core"] * eb
    # the slice of x and the partial sums live beside the tile while the product runs
    need = wbytes + batch * (np.ceil(k / rows) + np.ceil(n / cols)) * eb
    fits = need <= cap
    if not fits.any():
        raise PlacementError(f"[{batch}, {k}] x [{k}, {n}] {dtype} needs {int(need.min()):,} "
                             f"bytes per core on the largest region tried, {cap:,} usable "
                             f"per core on {spec.name!r}; use a larger region, more SRAM or a "
                             "smaller product")
    base = cyc["broadcast"] + cyc["local"]
    t_chain, t_tree = base + cyc["chain"], base + cyc["tree"]
    t = {"chain": t_chain, "tree": t_tree,
         "best": np.minimum(t_chain, t_tree)}[reduction]
    i = int(np.argmin(np.where(fits, t, np.inf)))
    chosen = reduction if reduction != "best" else \
        ("chain" if t_chain[i] <= t_tree[i] else "tree")
    hz = spec.clock_hz
    return GemvResult(k=k, n=n, batch=batch, dtype=dtype, region=(int(rows[i]), int(cols[i])),
                      reduction=chosen, time_s=float(t[i]) / hz,
                      time_chain_s=float(t_chain[i]) / hz, time_tree_s=float(t_tree[i]) / hz,
                      broadcast_s=float(cyc["broadcast"][i]) / hz,
                      local_s=float(cyc["local"][i]) / hz,
                      reduction_s=float(cyc[chosen][i]) / hz,
                      weight_bytes_per_core=int(wbytes[i]), tree_arity=tree_arity)
