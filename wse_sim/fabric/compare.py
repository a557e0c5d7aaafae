"""Cross-check of the flow-level fabric model against the cycle-level one, stage by stage.

:func:`compare_stage` takes one placed stage's fabric traffic exactly as
:mod:`wse_sim.fabric.flow` derives it (row multicasts, column reduction chains, in training
the backward streams, and the XY flows between this stage and its neighbours), runs it for a
number of samples through :mod:`wse_sim.fabric.cycle`, and returns both figures per sample.

The placement is duck-typed (``.stages``, ``.flows``, ``.data``, ``.wafer``, ``.training``,
``.batch``, ``.tile_shape``): the fabric never imports the placer, which builds on it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FabricError
from ..kernels.region_links import add_region_links
from ..kernels.routes import DIR_E, DIR_N, DIR_S, DIR_W, add_xy_routes
from . import cycle
from .cycle.core import _pos_int
from .flow import flow_routes, logical_grid, region_traffic

# colors of a stage's own streams; flows between stages take the colors after these
C_ROW, C_COL, C_BWD_ROW, C_BWD_COL, C_FLOWS = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class StageComparison:
    """Flow-level bound vs cycle-level time of one stage's fabric traffic, cycles per sample."""

    stage: int
    heavy: str
    rect: tuple[int, int, int, int]  # (row0, col0, height, width) in the replica tile
    mesh: tuple[int, int]  # the window simulated (the stage and its flows' end points)
    offset: tuple[int, int]  # tile coordinates of the window's (0, 0)
    samples: int
    router: str
    task_cycles: int
    colors: int  # colors the routes needed (conflict-free; a real fabric has 24)
    flow_cycles: float  # flow model: busiest mesh link's wavelets per sample / link width
    flow_cycles_rounded: float  # the same from the whole wavelets the cycle run sends
    ramp_cycles: float  # busiest core ramp (in or out) per sample: the flow model has none
    bound_cycles: float  # max(flow_cycles_rounded, ramp_cycles): a true lower bound
    cycle_cycles: float  # cycle level: cycles to completion / samples
    steady_cycles: float  # cycle level: (T(2n) - T(n)) / n, fill and drain removed
    fill_cycles: float  # T(n) - n * steady: the one-off latency of the pipeline of hops
    contention: float  # cycle_cycles / flow_cycles
    steady_contention: float  # steady_cycles / flow_cycles
    wavelet_hops: int
    wall_s: float
    link_load: np.ndarray = field(repr=False)  # (rows, cols, 4) wavelets, the n-sample run

    def to_dict(self, arrays: bool = False) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "link_load"}
        for k in ("rect", "mesh", "offset"):
            d[k] = list(d[k])
        if arrays:
            d["link_load"] = self.link_load.tolist()
        return d


def _stage_costs(placement, i: int):
    """Per-sample costs of stage i at its expected activation density (as the placer)."""
    from ..mapping import expected_x_counts, region_costs  # mapping does not import fabric

    st, sd = placement.stages[i], placement.data[i]
    xc = expected_x_counts(sd.view, st.in_density, st.split.groups)
    return region_costs(sd.view, sd.rtn, xc, st.split, placement.wafer, dtype=sd.op.dtype,
                        training=placement.training, first=st.first,
                        extra_vector_ops=sd.extra_vector_ops, batch=placement.batch,
                        nnz_total=sd.nnz)


def _streams(stage, cost, flows_of, stages, training: bool):
    """The stage's streams in tile coordinates.

    Returns (segments, unicasts): segments a list of (kind, rows, cols, direction, lengths,
    wavelets per sample, color); unicasts (sr, sc, dr, dc, wavelets per sample).
    """
    r0, c0, _, _ = stage.rect
    sp, a, b, g_lo, g_hi, i, j = logical_grid(stage)
    segs = []
    # logical row i multicasts over its b cores from its first one (flow.py: 'along')
    if b > 1:
        if sp.k_on_rows:
            rows, cols, d_f, d_b = r0 + i, np.full(a, c0), DIR_E, DIR_W
            end_r, end_c = rows, np.full(a, c0 + b - 1)
        else:
            rows, cols, d_f, d_b = np.full(a, r0), c0 + i, DIR_S, DIR_N
            end_r, end_c = np.full(a, r0 + b - 1), cols
        segs.append(("multicast", rows, cols, d_f, np.full(a, b), cost.row_wavelets, C_ROW))
        if training:  # input-gradient partial sums reduced back along the row
            segs.append(("chain", end_r, end_c, d_b, np.full(a, b), cost.bwd_row_wavelets,
                         C_BWD_ROW))
    # logical column j of group g: a reduction chain over the group's rows ('down')
    if a > 1:
        lo = np.repeat(g_lo, b)
        hi = np.repeat(g_hi, b)
        jj = np.tile(j, sp.groups)
        n = hi - lo
        if sp.k_on_rows:
            rows, cols, d_f, d_b = r0 + lo, c0 + jj, DIR_S, DIR_N
            end_r, end_c = r0 + hi - 1, cols
        else:
            rows, cols, d_f, d_b = r0 + jj, c0 + lo, DIR_E, DIR_W
            end_r, end_c = rows, c0 + hi - 1
        segs.append(("chain", rows, cols, d_f, n, cost.col_wavelets.ravel(), C_COL))
        if training:  # gradients multicast back up the columns
            segs.append(("multicast", end_r, end_c, d_b, n, cost.bwd_col_wavelets.ravel(),
                         C_BWD_COL))
    uni = flow_routes(stages, flows_of, training)
    return segs, uni


def _flow_level(stage, cost, uni, tile, training: bool) -> float:
    """The flow model's busiest link over exactly this traffic, wavelets per sample."""
    loads = np.zeros((*tile, 4), dtype=np.float64)
    add_region_links(loads, *region_traffic([stage], [cost], training))
    sr, sc, dr, dc, w = uni
    if len(w):
        add_xy_routes(loads, sr, sc, dr, dc, w)
    return float(loads.max(initial=0.0))


def _build(segs, uni, samples: int, off, mesh, task: int):
    prog = cycle.Program(*mesh)
    ramp_in = np.zeros(mesh, dtype=np.int64)
    ramp_out = np.zeros(mesh, dtype=np.int64)
    for kind, rows, cols, d, n, w, color in segs:
        cnt = np.rint(np.asarray(w, dtype=np.float64) * samples).astype(np.int64)
        rr, cc = rows - off[0], cols - off[1]
        cycle.add_segments(prog, kind, rr, cc, d, n, cnt, color, task=task)
        # what each core sends into and takes off its ramp: every stream core but the
        # first receives; every chain core but the last (and a multicast's first) sends
        dr, dc = cycle.DIR_STEP[d]
        keep = (n >= 2) & (cnt > 0)
        seg, pos = cycle.ragged(n[keep])
        r = rr[keep][seg] + dr * pos
        c = cc[keep][seg] + dc * pos
        k = cnt[keep][seg]
        recv = pos > 0
        send = (pos < n[keep][seg] - 1) if kind == "chain" else (pos == 0)
        np.add.at(ramp_out, (r[recv], c[recv]), k[recv])
        np.add.at(ramp_in, (r[send], c[send]), k[send])
    sr, sc, dr_, dc_, w = uni
    cnt = np.rint(np.asarray(w, dtype=np.float64) * samples).astype(np.int64)
    sr, sc, dr_, dc_ = sr - off[0], sc - off[1], dr_ - off[0], dc_ - off[1]
    cycle.add_unicasts(prog, sr, sc, dr_, dc_, cnt, C_FLOWS)
    np.add.at(ramp_in, (sr, sc), cnt)
    np.add.at(ramp_out, (dr_, dc_), cnt)
    prog.colors = max(prog.colors, C_FLOWS)
    return prog, int(max(ramp_in.max(initial=0), ramp_out.max(initial=0)))


def compare_stage(placement, stage, samples: int = 2, router="wse",
                  task_cycles: int = cycle.DEFAULT_TASK_CYCLES, flows: bool = True,
                  costs=None, steady: bool = True) -> StageComparison:
    """Flow-level and cycle-level fabric cycles per sample of one placed stage.

    Parameters
    ----------
    placement : a pipelined placement (``wse_sim.place``); duck-typed
    stage : the stage's index, or the Stage itself
    samples : samples of traffic sent at once (every stream carries round(wavelets per
        sample x samples) wavelets); the run is repeated with 2 x samples to separate the
        steady rate from the one-off fill
    router : a preset name or a RouterSpec; it is given as many colors as the conflict-free
        routes need (``colors`` in the result says how many)
    task_cycles : cycles a core takes per wavelet it reduces (a chain's add)
    flows : include the XY flows to and from the neighbouring stages
    costs : the stage's per-sample costs (a ``CoreCosts``); default: recomputed as the
        placer does at the stage's expected activation density
    steady : also run 2 x samples to split the steady rate from the fill (else steady_cycles,
        fill_cycles and steady_contention are NaN)
    """
    if getattr(placement, "mode", "pipelined") != "pipelined":
        raise FabricError("compare_stage needs a pipelined placement (weight streaming moves "
                          "weights, not the stage's activations, over the fabric)")
    stages = placement.stages
    idx = stage if isinstance(stage, (int, np.integer)) else getattr(stage, "index", None)
    if isinstance(idx, bool) or idx is None or not 0 <= int(idx) < len(stages):
        raise FabricError(f"stage must be a stage index in [0, {len(stages)}) or a Stage, "
                          f"got {stage!r}")
    idx = int(idx)
    n = _pos_int("samples", samples)
    st = stages[idx]
    training = bool(placement.training)
    cost = costs if costs is not None else _stage_costs(placement, idx)
    flows_of = [f for f in placement.flows if idx in (f.src, f.dst)] if flows else []
    segs, uni = _streams(st, cost, flows_of, stages, training)
    tile = tuple(placement.tile_shape)
    flow_w = _flow_level(st, cost, uni, tile, training)
    # window: the stage's rectangle and every flow's end points (XY routes stay inside)
    r0, c0, h, w = st.rect
    rlo, rhi, clo, chi = r0, r0 + h, c0, c0 + w
    if len(uni[0]):
        rlo = min(rlo, int(uni[0].min()), int(uni[2].min()))
        rhi = max(rhi, int(uni[0].max()) + 1, int(uni[2].max()) + 1)
        clo = min(clo, int(uni[1].min()), int(uni[3].min()))
        chi = max(chi, int(uni[1].max()) + 1, int(uni[3].max()) + 1)
    off, mesh = (rlo, clo), (rhi - rlo, chi - clo)
    spec = cycle.router_spec(router)
    task = _pos_int("task_cycles", task_cycles, 0)
    t0 = time.perf_counter()
    results = []
    for k in (n, 2 * n) if steady else (n,):
        prog, ramp = _build(segs, uni, k, off, mesh, task)
        sp = dataclasses.replace(spec, max_vcs=max(spec.max_vcs, prog.colors))
        busiest = max(ramp, 1)
        limit = 64 * (busiest + 8 * (mesh[0] + mesh[1]) * (sp.hop_cycles + sp.eject_cycles
                                                              + sp.ramp_in_cycles + task + 2))
        stats, link, _ = cycle.run_program(prog, sp, sp.queue_depth, limit,
                                           f"stage {idx} ({st.heavy})")
        results.append((cycle.program_cycles(stats), link, ramp, prog.colors))
    wall = time.perf_counter() - t0
    (t1, link1, ramp1, colors) = results[0]
    t2 = results[1][0] if steady else float("nan")
    flow_r = float(link1.max(initial=0)) / n
    ramp_c = ramp1 / n
    bound = max(flow_r, ramp_c)
    per = t1 / n
    steady = (t2 - t1) / n
    ref = flow_w if flow_w > 0 else float("nan")
    return StageComparison(
        stage=idx, heavy=st.heavy, rect=tuple(st.rect), mesh=mesh, offset=off, samples=n,
        router=spec.name, task_cycles=task, colors=colors, flow_cycles=flow_w,
        flow_cycles_rounded=flow_r, ramp_cycles=ramp_c, bound_cycles=bound, cycle_cycles=per,
        steady_cycles=steady, fill_cycles=t1 - n * steady, contention=per / ref,
        steady_contention=steady / ref, wavelet_hops=int(link1.sum()), wall_s=wall,
        link_load=link1)


__all__ = ["StageComparison", "compare_stage"]
