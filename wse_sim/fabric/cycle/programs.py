"""Programs on static per-color routes: route tables, queues, core tasks and input slots.

A program is a route table (the output mask of a wavelet of color c entering router r on port
p) and nodes (a core's task: what it sends on which color after which inputs arrived). The
builders here lay streams on the mesh: straight multicast or reduction-chain segments and XY
point-to-point routes, coloured so that no two share a (router, input port, color).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import FabricError
from ...kernels import noc
from .core import _raise_kernel, _run, threads_for
from .presets import OPP, PORT_RAMP, RouterSpec
from .synthetic import _warm

# largest wavelet count, lead or task length of a node: the kernel's program counters are
# int32 (derived: 2**31 - 1, less headroom for the sums it forms from them)
INT32_COUNT_MAX = 1073741824  # 2**30


@dataclass
class Program:
    rows: int
    cols: int
    colors: int = 0
    routes: list = field(default_factory=list)  # (router, port, color, mask) arrays
    nodes: list = field(default_factory=list)  # (core, color, count, lead, task, inputs)


def _compile_program(prog: Program):
    """Route table, queue map, nodes sorted by core and input slots for the kernel."""
    rows, cols, C = prog.rows, prog.cols, prog.colors
    R = rows * cols
    tbl = np.zeros(R * 5 * C, dtype=np.uint8)
    for r, p, c, m in prog.routes:
        np.bitwise_or.at(tbl, (r * 5 + p) * C + c, m.astype(np.uint8))
    used = np.flatnonzero(tbl)
    qid = np.full(R * 5 * C, -1, dtype=np.int32)
    qid[used] = np.arange(len(used), dtype=np.int32)
    q_router = (used // (5 * C)).astype(np.int32)
    q_port = ((used // C) % 5).astype(np.int32)
    q_vc = (used % C).astype(np.int32)
    router_q0 = np.searchsorted(q_router, np.arange(R + 1)).astype(np.int32)
    # nodes, sorted by core (stable: the order parts were laid)
    k = max(n[5].shape[1] for n in prog.nodes)
    cat = [np.concatenate([n[i] for n in prog.nodes]).astype(np.int64) for i in range(5)]
    ins = np.concatenate([np.pad(n[5], ((0, 0), (0, k - n[5].shape[1])), constant_values=-1)
                          for n in prog.nodes])
    order = np.argsort(cat[0], kind="stable")
    core, color, cnt, lead, task = (a[order] for a in cat)
    ins = ins[order]
    valid = ins >= 0
    n_in = valid.sum(axis=1)
    in_col = ins[valid]
    in1 = np.cumsum(n_in)
    in0 = in1 - n_in
    slot_node = np.repeat(np.arange(len(core)), n_in).astype(np.int32)
    key = core[slot_node] * C + in_col
    slot_base = np.full(R * C, -1, dtype=np.int32)
    slots = np.arange(len(key), dtype=np.int32)
    slot_base[key] = slots
    # a key written twice keeps one of its slots: the other reads back a different one
    if (slot_base[key] != slots).any():
        raise FabricError("two tasks of one core listen on the same color; give each its own")
    core_node0 = np.searchsorted(core, np.arange(R + 1)).astype(np.int32)
    tag = np.zeros(len(core), dtype=np.int32)
    # the kernel counts wavelets and cycles of tasks in int32 (fewer bytes per router visit)
    for what, a in (("wavelets per node", cnt), ("lead", lead), ("task cycles", task)):
        if len(a) and int(np.abs(a).max()) > INT32_COUNT_MAX:
            raise FabricError(f"{what} of {int(np.abs(a).max()):,} exceeds the cycle-level "
                              f"fabric's limit of {INT32_COUNT_MAX:,}; use fewer wavelets")
    qs = (qid, q_router, q_port, q_vc, router_q0)
    pr = (tbl, C, slot_base, core.astype(np.int32), color.astype(np.int32), tag,
          cnt.astype(np.int32), lead.astype(np.int32), task.astype(np.int32),
          in0.astype(np.int32), in1.astype(np.int32), slot_node, core_node0)
    return qs, pr


def run_program(prog: Program, spec: RouterSpec, depth: int, max_cycles: int, what: str,
                threads: int | None = None):
    """Run a program to completion: kernel stats, link loads (rows, cols, 4), wall seconds.
    ``threads``: see :func:`~wse_sim.fabric.cycle.core.threads_for`."""
    qs, pr = _compile_program(prog)
    _warm()
    synth = (0, np.zeros(1, dtype=np.int32), 0, 0.0, 0.0, 1, 0, 0, 0, 0, 1, 0)
    err, st, link, _, _, wall = _run(prog.rows, prog.cols, prog.colors, depth, spec, *qs, 1,
                                     synth, (*pr, int(max_cycles)),
                                     threads_for(threads, prog.rows, prog.cols))
    _raise_kernel(err, st, what)
    return st, link, wall


def program_cycles(stats: np.ndarray) -> int:
    """Cycles a program spans: from cycle 0 (the first injection) through the cycle of its
    last event (a task done or a wavelet received), both counted; 0 for an empty program."""
    return int(stats[noc.S_DONE_CYCLE]) + 1 if stats[noc.S_DELIVERED] else 0


DIR_STEP = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (drow, dcol) of E, W, S, N


def ragged(n: np.ndarray):
    """For segment lengths n: (segment index, position within the segment) of every element."""
    seg = np.repeat(np.arange(len(n)), n)
    pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return seg, pos


def add_segments(prog: Program, kind: str, row0, col0, direction: int, length, count, color,
                 task: int = 0) -> None:
    """Straight streams of ``length`` cores from (row0, col0) towards ``direction`` (0..3, E W
    S N), ``count`` wavelets each on ``color`` (arrays, one entry per stream).

    kind 'multicast': the first core sends, every other core receives (each link once);
    'chain': the first core sends, each next core adds its own (``task`` cycles) and
    forwards; the last core keeps the result.
    """
    row0, col0, length, count, color = (np.array(a, dtype=np.int64) for a in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (row0, col0, length, count,
                                                                 color))))
    keep = (length >= 2) & (count > 0)
    row0, col0, length, count, color = (a[keep] for a in (row0, col0, length, count, color))
    if not len(row0):
        return
    dr, dc = DIR_STEP[direction]
    seg, pos = ragged(length)
    routers = (row0[seg] + dr * pos) * prog.cols + col0[seg] + dc * pos
    first, last = pos == 0, pos == length[seg] - 1
    mid = ~first & ~last
    col = color[seg]
    inp = OPP[direction]
    r_list = [routers[first], routers[last]]
    p_list = [np.full(first.sum(), PORT_RAMP), np.full(last.sum(), inp)]
    c_list = [col[first], col[last]]
    m_list = [np.full(first.sum(), 1 << direction), np.full(last.sum(), 16)]
    if kind == "multicast":
        r_list.append(routers[mid])
        p_list.append(np.full(mid.sum(), inp))
        c_list.append(col[mid])
        m_list.append(np.full(mid.sum(), (1 << direction) | 16))
        n_col = np.where(first, col, -1)
        n_task = np.zeros(len(pos), dtype=np.int64)
    elif kind == "chain":
        r_list += [routers[mid], routers[mid]]
        p_list += [np.full(mid.sum(), inp), np.full(mid.sum(), PORT_RAMP)]
        c_list += [col[mid], col[mid]]
        m_list += [np.full(mid.sum(), 16), np.full(mid.sum(), 1 << direction)]
        n_col = np.where(last, -1, col)
        n_task = np.where(first, 0, task)
    else:
        raise FabricError(f"stream kind must be 'multicast' or 'chain', got {kind!r}")
    prog.routes.append(tuple(np.concatenate(x).astype(np.int64)
                             for x in (r_list, p_list, c_list, m_list)))
    ins = np.where(first, -1, col)[:, None]
    prog.nodes.append((routers, n_col, count[seg], np.zeros(len(pos), dtype=np.int64), n_task,
                       ins))
    prog.colors = max(prog.colors, int(color.max()) + 1)


def xy_route_entries(rows: int, cols: int, sr, sc, dr, dc):
    """Router, input port and output mask of every hop of XY routes (X first), and the route
    each entry belongs to; a route to its own core is one entry ramp -> ramp."""
    sr, sc, dr, dc = (np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (sr, sc, dr, dc))
    nx, ny = np.abs(dc - sc), np.abs(dr - sr)
    steps = nx + ny
    seg, pos = ragged(steps + 1)  # one entry per router on the path
    n_x = nx[seg]
    sx = np.sign(dc - sc)[seg]
    sy = np.sign(dr - sr)[seg]
    row = np.where(pos <= n_x, sr[seg], sr[seg] + sy * (pos - n_x))
    col = np.where(pos <= n_x, sc[seg] + sx * pos, dc[seg])
    dir_x = np.where(sx > 0, 0, 1)
    dir_y = np.where(sy > 0, 2, 3)
    # direction of the step leaving this router and of the one that arrived here
    out_dir = np.where(pos < n_x, dir_x, dir_y)
    in_dir = np.where(pos - 1 < n_x, dir_x, dir_y)
    is_last = pos == steps[seg]
    mask = np.where(is_last, 16, 1 << out_dir)
    port = np.where(pos == 0, PORT_RAMP, np.asarray(OPP)[in_dir])
    return row * cols + col, port, mask, seg


def add_unicasts(prog: Program, sr, sc, dr, dc, count, color0: int) -> int:
    """XY point-to-point streams of ``count`` wavelets each, coloured from ``color0`` so that
    no two share a (router, input port, color) or a receiving (core, color); returns the
    number of colors used."""
    sr, sc, dr, dc, count = (np.array(a, dtype=np.int64) for a in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (sr, sc, dr, dc, count))))
    keep = count > 0
    sr, sc, dr, dc, count = (a[keep] for a in (sr, sc, dr, dc, count))
    if not len(sr):
        return 0
    routers, port, mask, seg = xy_route_entries(prog.rows, prog.cols, sr, sc, dr, dc)
    dst = dr * prog.cols + dc
    # keys that must be unique per color: every (router, port) a route enters, and the
    # receiving core (a pseudo port 5)
    k_r = np.concatenate([routers * 6 + port, dst * 6 + 5])
    k_seg = np.concatenate([seg, np.arange(len(sr))])
    colors = np.zeros(len(sr), dtype=np.int64)
    for _ in range(len(sr) + 1):  # greedy: bump the later route of each clash
        key = k_r * (len(sr) + 1) + colors[k_seg]
        order = np.lexsort((k_seg, key))
        dup = np.zeros(len(key), dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            break
        bump = np.unique(k_seg[dup])
        colors[bump] += 1
    col = colors + color0
    prog.routes.append((routers, port, col[seg], mask))
    src = sr * prog.cols + sc
    z = np.zeros(len(sr), dtype=np.int64)
    prog.nodes.append((src, col, count, z, z, np.full((len(sr), 1), -1)))
    prog.nodes.append((dst, np.full(len(sr), -1), count, z, z, col[:, None]))
    used = int(colors.max()) + 1
    prog.colors = max(prog.colors, color0 + used)
    return used
