"""Collectives on rows or columns of cores: broadcast, chain / tree / two-phase reduce, ring
all-reduce, each built on one line of P cores and laid on every row or column."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import FabricError, unknown_name
from ...kernels import noc
from .core import CollectiveResult, _mesh, _pos_int, threads_for
from .presets import (
    COLLECTIVES,
    DEFAULT_TASK_CYCLES,
    OPP,
    PORT_RAMP,
    RouterSpec,
    router_spec,
)
from .programs import Program, program_cycles, run_program

# A program is built on *lines* of cores (a row or a column) in line coordinates: position 0..P-1
# along the line, "forward" = increasing position. Ports in line terms:
IN_RAMP, IN_FWD, IN_BWD = 0, 1, 2  # from the core; travelling forward; travelling backward
OUT_F, OUT_B, OUT_R = 1, 2, 4  # output bits: forward, backward, to the core


@dataclass
class _Line:
    """One collective on one line of P cores, before it is laid on the mesh."""

    colors: int
    # route entries: position, in-port (IN_*), color, output bits (OUT_*)
    r_pos: list = field(default_factory=list)
    r_in: list = field(default_factory=list)
    r_col: list = field(default_factory=list)
    r_out: list = field(default_factory=list)
    # nodes: position, output color (-1 sink), count, lead, task cycles, input colors (-1 pad)
    n_pos: list = field(default_factory=list)
    n_col: list = field(default_factory=list)
    n_cnt: list = field(default_factory=list)
    n_lead: list = field(default_factory=list)
    n_task: list = field(default_factory=list)
    n_ins: list = field(default_factory=list)

    def route(self, pos, port, color, out):
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        self.r_pos.append(pos)
        self.r_in.append(np.full(len(pos), port, dtype=np.int64))
        self.r_col.append(np.full(len(pos), color, dtype=np.int64))
        self.r_out.append(np.broadcast_to(np.asarray(out), pos.shape).astype(np.int64))

    def segment(self, src, dst, color):
        """Route color from the core at src forward to the core at dst (src < dst)."""
        src = np.atleast_1d(np.asarray(src, dtype=np.int64))
        dst = np.atleast_1d(np.asarray(dst, dtype=np.int64))
        if not len(src):
            return
        self.route(src, IN_RAMP, color, OUT_F)
        n = dst - src - 1
        mids = np.repeat(src + 1, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        self.route(mids, IN_FWD, color, OUT_F)
        self.route(dst, IN_FWD, color, OUT_R)

    def nodes(self, pos, color, cnt, lead, task, ins):
        """Nodes at positions ``pos``; ``ins`` (n, k) input colors, -1 for none."""
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        n = len(pos)
        self.n_pos.append(pos)
        self.n_col.append(np.broadcast_to(np.asarray(color, dtype=np.int64), (n,)))
        self.n_cnt.append(np.full(n, cnt, dtype=np.int64))
        self.n_lead.append(np.full(n, lead, dtype=np.int64))
        self.n_task.append(np.broadcast_to(np.asarray(task, dtype=np.int64), (n,)))
        self.n_ins.append(np.asarray(ins, dtype=np.int64).reshape(n, -1))

    def node_arrays(self):
        k = max(a.shape[1] for a in self.n_ins)
        ins = np.concatenate([np.pad(a, ((0, 0), (0, k - a.shape[1])), constant_values=-1)
                              for a in self.n_ins])
        return (np.concatenate(self.n_pos), np.concatenate(self.n_col),
                np.concatenate(self.n_cnt), np.concatenate(self.n_lead),
                np.concatenate(self.n_task), ins)


def _trailing_zeros(x: np.ndarray) -> np.ndarray:
    """Trailing zero bits of positive ints (int64 array)."""
    low = x & -x
    return np.round(np.log2(low)).astype(np.int64)


def _line_collective(name: str, P: int, B: int, task: int, group: int) -> _Line:
    """Routes and nodes of one collective on a line of P cores (B wavelets per core)."""
    pos = np.arange(P, dtype=np.int64)
    if name == "broadcast":
        ln = _Line(colors=1)
        ln.route(0, IN_RAMP, 0, OUT_F)
        ln.route(pos[1:-1], IN_FWD, 0, OUT_F | OUT_R)  # multicast: each link once
        ln.route(P - 1, IN_FWD, 0, OUT_R)
        ln.nodes([0], 0, B, 0, 0, [[-1]])
        ln.nodes(pos[1:], -1, B, 0, 0, np.zeros((P - 1, 1)))
        return ln
    if name == "chain-reduce":
        return _line_collective("two-phase-reduce", P, B, task, P)
    if name == "two-phase-reduce":
        # phase 1: chains of `group` cores (color 0) ending at each group's last core;
        # phase 2: a chain over those leaders (color 1). Pipelined: no barrier between them.
        g = min(group, P)
        ln = _Line(colors=2 if g < P else 1)
        leaders = np.minimum(np.arange(0, P, g) + g, P) - 1
        is_leader = np.zeros(P, dtype=bool)
        is_leader[leaders] = True
        ln.segment(pos[~is_leader], pos[~is_leader] + 1, 0)
        ln.segment(leaders[:-1], leaders[1:], 1)
        grp = pos // g
        last = len(leaders) - 1
        in1 = np.where(pos % g != 0, 0, -1)
        in2 = np.where(is_leader & (grp > 0), 1, -1)
        col = np.where(is_leader, np.where(grp < last, 1, -1), 0)
        has_in = (in1 >= 0) | (in2 >= 0)
        ln.nodes(pos, col, B, 0, np.where(has_in, task, 0), np.stack([in1, in2], axis=1))
        return ln
    if name == "tree-reduce":
        # binomial tree rooted at the last core: in reversed coordinates x = P-1-pos, core x
        # sends to x - 2^j on color j, j its lowest set bit
        levels = max(1, math.ceil(math.log2(P)))
        ln = _Line(colors=levels)
        x = P - 1 - pos
        tz = np.full(P, levels, dtype=np.int64)
        tz[x > 0] = _trailing_zeros(x[x > 0])
        for lv in range(levels):  # one segment set per tree level (colors)
            sel = (x > 0) & (tz == lv)
            ln.segment(pos[sel], pos[sel] + (1 << lv), lv)
        lv = np.arange(levels)[None, :]
        ins = np.where((lv < tz[:, None]) & (x[:, None] + (1 << lv) < P), lv, -1)
        has_in = (ins >= 0).any(axis=1)
        ln.nodes(pos, np.where(x > 0, tz, -1), B, 0, np.where(has_in, task, 0), ins)
        return ln
    if name == "ring-allreduce":
        # ring 0 -> 1 -> ... -> P-1 -> 0 (color 0 forward, color 1 back along the line);
        # reduce-scatter then all-gather as one stream of 2 (P-1) chunks per core: output k
        # needs input k - m (m wavelets per chunk), so the first chunk goes out at once
        ln = _Line(colors=2)
        m = -(-B // P)
        ln.segment(pos[:-1], pos[:-1] + 1, 0)
        ln.route(P - 1, IN_RAMP, 1, OUT_B)
        ln.route(pos[1:-1], IN_BWD, 1, OUT_B)
        ln.route(0, IN_BWD, 1, OUT_R)
        ln.nodes(pos, np.where(pos == P - 1, 1, 0), 2 * (P - 1) * m, m, task,
                 np.where(pos == 0, 1, 0)[:, None])
        return ln
    raise FabricError(unknown_name("collective", name, COLLECTIVES))


def _lay(prog: Program, ln: _Line, axis: str) -> None:
    """Lay one line collective on every row (axis 'row') or column (axis 'col')."""
    rows, cols = prog.rows, prog.cols
    if axis == "row":
        n_lines = rows
        lines = np.arange(rows)[:, None] * cols + np.arange(cols)[None, :]
        f, b = 0, 1  # forward = east
    else:
        n_lines = cols
        lines = np.arange(rows)[None, :] * cols + np.arange(cols)[:, None]
        f, b = 2, 3  # forward = south
    in_map = np.array([PORT_RAMP, OPP[f], OPP[b]], dtype=np.int64)
    c0 = prog.colors
    pos = np.concatenate(ln.r_pos)
    port = in_map[np.concatenate(ln.r_in)]
    col = np.concatenate(ln.r_col) + c0
    out = np.concatenate(ln.r_out)
    mask = (((out & OUT_F) > 0).astype(np.int64) << f) | (
        ((out & OUT_B) > 0).astype(np.int64) << b) | (((out & OUT_R) > 0).astype(np.int64) << 4)
    prog.routes.append((lines[:, pos].ravel(), np.tile(port, n_lines), np.tile(col, n_lines),
                        np.tile(mask, n_lines)))
    npos, ncol, cnt, lead, task, ins = ln.node_arrays()
    ncol = np.where(ncol >= 0, ncol + c0, -1)
    ins = np.where(ins >= 0, ins + c0, -1)
    prog.nodes.append((lines[:, npos].ravel(), np.tile(ncol, n_lines), np.tile(cnt, n_lines),
                       np.tile(lead, n_lines), np.tile(task, n_lines),
                       np.tile(ins, (n_lines, 1))))
    prog.colors += ln.colors


def _cores(cores) -> tuple[int, int]:
    if isinstance(cores, (int, np.integer)) and not isinstance(cores, bool):
        return 1, _pos_int("cores", cores, 2)
    return _mesh(cores)


def collectives(parts, cores=512, wavelets: int = 4096, router: str | RouterSpec = "wse",
                task_cycles: int = DEFAULT_TASK_CYCLES, buffer: int | None = None,
                max_cycles: int | None = None, threads: int | None = None) -> CollectiveResult:
    """Several collectives at once on one rectangle, each on its own colors.

    ``parts`` is a sequence of ``(name, axis)`` or ``(name, axis, group)``: axis 'row' runs
    the collective along every row (west to east: a broadcast from the west core, reductions
    ending at the east core), 'col' along every column (north to south). E.g. a whole-wafer
    row broadcast plus column chain reduce: ``[("broadcast", "row"), ("chain-reduce",
    "col")]``.

    ``threads``: threads the run's router visits use (None: numba's threads on a mesh of at
    least 65,536 cores, one below). Every count gives the same result to the bit.
    """
    rows, cols = _cores(cores)
    threads_for(threads, rows, cols)  # checked before the routes are laid
    spec = router_spec(router)
    B = _pos_int("wavelets", wavelets)
    task = _pos_int("task_cycles", task_cycles, 0)
    depth = spec.queue_depth if buffer is None else _pos_int("buffer", buffer)
    prog = Program(rows, cols)
    names, groups = [], []
    for part in parts:
        name, axis = part[0], part[1]
        group = part[2] if len(part) > 2 else None
        if name not in COLLECTIVES:
            raise FabricError(unknown_name("collective", name, COLLECTIVES))
        if axis not in ("row", "col"):
            raise FabricError(f"axis must be 'row' or 'col', got {axis!r}")
        P = cols if axis == "row" else rows
        if P < 2:
            raise FabricError(f"{name} along {axis}s needs at least 2 cores per {axis}, got "
                              f"{rows}x{cols}; use cores=<int >= 2> or a larger rectangle")
        if name == "two-phase-reduce":
            if group is None:
                raise FabricError("two-phase-reduce needs group=<cores per first-phase "
                                  "chain>, e.g. group=16")
            group = _pos_int("group", group)
        else:
            group = 0 if group is None else _pos_int("group", group)
        _lay(prog, _line_collective(name, P, B, task, group), axis)
        names.append(f"{name}/{axis}")
        groups.append(group)
    if prog.colors > spec.max_vcs:
        raise FabricError(f"the routes need {prog.colors} colors but router {spec.name!r} has "
                          f"{spec.max_vcs}; run fewer collectives at once")
    if max_cycles is None:
        # far above any sane completion time: every wavelet over every hop, serialised
        max_cycles = 64 * (B * max(rows, cols) + 4 * (rows + cols) * (spec.hop_cycles + 8)) + 1000
    st, link, wall = run_program(prog, spec, depth, int(max_cycles), "+".join(names),
                                 threads)
    R = rows * cols
    cyc = program_cycles(st)
    mx = int(link.max(initial=0))
    return CollectiveResult(
        name="+".join(names), cores=(rows, cols), wavelets=B, router=spec.name,
        group=max(groups) if groups else 0, task_cycles=task, colors=prog.colors, cycles=cyc,
        wavelet_hops=int(link.sum()), max_link_load=mx, injected=int(st[noc.S_INJECTED]),
        delivered=int(st[noc.S_DELIVERED]), in_flight=int(st[noc.S_IN_FLIGHT]),
        peak_queue=int(st[noc.S_PEAK_QUEUE]),
        lower_bound_cycles=mx + spec.zero_load_cycles(1) if mx else 0,
        router_cycles_per_s=R * int(st[noc.S_CYCLES]) / max(wall, 1e-9), wall_s=wall,
        link_load=link)


def collective(name: str, cores=512, wavelets: int = 4096, router: str | RouterSpec = "wse",
               group: int | None = None, task_cycles: int = DEFAULT_TASK_CYCLES,
               axis: str = "row", buffer: int | None = None) -> CollectiveResult:
    """One collective of ``wavelets`` per core on a row of ``cores`` (an int) or on every
    row ('row') or column ('col') of a ``(rows, cols)`` rectangle.

    name : 'broadcast' (from the first core, multicast: each link once), 'chain-reduce'
        (partial sums core to core, each adds its own: task_cycles per wavelet),
        'tree-reduce' (binomial tree, one color per level), 'two-phase-reduce' (chains of
        ``group`` cores, then a chain over their ends) or 'ring-allreduce' (reduce-scatter
        then all-gather around a ring, chunks of wavelets / cores).
    """
    part = (name, axis) if group is None else (name, axis, group)
    return collectives([part], cores=cores, wavelets=wavelets, router=router,
                       task_cycles=task_cycles, buffer=buffer)
