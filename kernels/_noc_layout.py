"""Shared layout of the cycle-level NoC kernels: ports, record fields, error codes, stats and
counter indices, and the small helpers every stage uses (numba; see :mod:`wse_sim.kernels.noc`).

Nothing here imports the rest of ``wse_sim``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

N_PORTS = 5
RAMP = 4
OPP = np.array([1, 0, 3, 2, 4], dtype=np.int64)

#: Error codes returned by the kernels.
OK = 0
ERR_CONSERVATION = 1  # the per-cycle identity failed
ERR_NO_QUEUE = 2  # a route leads into a (router, port, VC) that has no queue
ERR_RECOUNT = 3  # counters disagree with the buffers
ERR_TIMEOUT = 4  # a program did not finish within max_cycles (deadlock or too short a limit)
ERR_POOL = 5  # the packet pool ran out (cannot happen with the pool size the caller sizes)
ERR_NO_SLOT = 6  # a wavelet reached a core that has no input for its color
ERR_ROUTE = 7  # a route mask is empty or leaves the mesh

# fields of the interleaved queue header (qh) and buffer slot (bs) records, 4 int32 each
QW, QR, QWP, QRP = 0, 1, 2, 3  # flits written, read, write position, read position
SR, SP, SF, SM = 0, 1, 2, 3  # ready cycle, payload, free-from cycle (credit), route mask

# per-worker rows (kernels/noc_workers.py) are this many int64s longer than their contents:
# 128 bytes, so neighbouring workers' rows never share a cache line (derived: 64-byte lines on
# x86-64 and arm64, and the adjacent-line prefetcher pairs them)
PAD = 16

RECOUNT = 4096  # cycles between full recounts of the conservation counters

# programs: the visit of router r asks the memory system for the buffers of router
# r + PREFETCH_AHEAD and of its south neighbour, so their cache lines arrive while r and the
# routers between are served (a hint only: no result depends on it). Assumed: a visit costs
# ~60-80 ns and a line from memory ~100 ns, so a few routers ahead; measured on 994 x 128
PREFETCH_AHEAD = 4

# stats layout (int64) shared by both kernels
S_CYCLES = 0  # cycles simulated
S_INJECTED = 1  # flits injected into the network (ramp buffers)
S_DELIVERED = 2  # flit copies delivered to cores
S_IN_FLIGHT = 3  # flit copies owed at the end
S_FORKS = 4  # extra copies made by multicast
S_PEAK_QUEUE = 5  # largest occupancy of any input FIFO (flits)
S_ERROR_CYCLE = 6  # cycle of the error, if any
S_ROUTER_CYCLES = 7  # router visits (active routers summed over cycles)
S_CREATED = 8  # packets created by the sources (synthetic)
S_CREATED_WIN = 9  # packets created in the measurement window
S_DELIV_WIN_FLITS = 10  # flits delivered during the measurement window (any packet)
S_TAGGED_DONE = 11  # window packets fully delivered
S_SRC_OVERFLOW = 12  # packets a full source queue could not hold
S_BACKLOG_START = 13  # packets waiting at sources when the window opens
S_BACKLOG_END = 14  # ... when it closes
S_DRAINED = 15  # 1 if every window packet was delivered before the drain limit
S_DONE_CYCLE = 16  # programs: cycle the last task completed (completion time)
S_LAT_SUM = 17  # sum of packet latencies of window packets
S_NLAT_SUM = 18  # sum of network latencies of window packets
S_CREATED_WIN_FLITS = 19
N_STATS = 20

LAT_BINS = 1 << 16  # latency histogram bins (the last one holds longer latencies)


# run counters (int64 array ``ct``) the stages share: one array instead of ~25 loop locals,
# so each stage is a function of arrays. Updated in the order the single loop updated them.
C_INJECTED = 0  # flits injected
C_DELIVERED = 1  # flit copies delivered
C_FORKS = 2  # extra copies made by multicast
C_OWED = 3  # copies owed by buffered flits
C_EJCHAN = 4  # flits on ejection channels
C_BUFFERED = 5  # flits buffered
C_PEAK = 6  # largest FIFO occupancy
C_ROUTER_CYCLES = 7  # router visits
C_CREATED = 8
C_CREATED_WIN = 9
C_CREATED_WIN_FLITS = 10
C_DELIV_WIN = 11
C_TAGGED_DONE = 12
C_SRC_OVERFLOW = 13
C_BACKLOG_START = 14
C_BACKLOG_END = 15
C_LAT_SUM = 16
C_NLAT_SUM = 17
C_DONE_CYCLE = 18  # programs: last cycle anything happened
C_N_FREE = 19  # free packet ids on the pool stack
C_NODES_LEFT = 20  # program nodes with wavelets still to send
C_TASKS_PENDING = 21  # tasks running on cores
C_N_CUR = 22  # routers listed for this cycle
C_N_NXT = 23  # routers listed for the next cycle
C_FLUSHING = 24  # 1 once sources stop (synthetic drain)
N_COUNTERS = 25


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the cache line of ``arr[idx]`` into the caches (LLVM's prefetch: read, high
    locality). No fault and no effect on results, whatever idx is."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _prefetch_router(r, R, depth, router_q0, qh, bs, q_down, own):
    """Prefetch router r's queue headers, its first three queues' slots and, for the router's
    own visit (``own``), their downstream queues (r < R)."""
    if r < R:
        q = router_q0[_u(r)]
        _prefetch(qh, q * 4)
        _prefetch(qh, q * 4 + 8)
        if own:
            _prefetch(q_down, q * 4)
            _prefetch(q_down, q * 4 + 8)
        b = q * depth * 4
        _prefetch(bs, b)
        _prefetch(bs, b + 16)
        _prefetch(bs, b + 32)


@intrinsic
def _u(typingctx, i):
    """An index as unsigned: numba then skips the negative-index wrap-around it emits for a
    signed one (a sign test, an add and a spilled array length per access in the hot visit).
    Only for indices known to be >= 0. An intrinsic, not an inlined function: the visit calls
    it ~150 times, and every numba-level inline grows the IR that type inference walks."""
    if not isinstance(i, types.Integer):
        return None
    sig = types.uint64(i)

    def codegen(context, builder, signature, args):
        v = args[0]
        if v.type.width < 64:
            return builder.zext(v, ir.IntType(64))
        return v

    return sig, codegen


def _u64_bit_op(builder, name, x, *flags):
    """Call LLVM's bit-counting intrinsic ``name`` (one instruction) on the i64 x, with i1
    ``flags`` after it."""
    i64 = ir.IntType(64)
    extra = [ir.Constant(ir.IntType(1), f) for f in flags]
    fnty = ir.FunctionType(i64, [i64] + [e.type for e in extra])
    return builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), [x, *extra])


@intrinsic
def _ctz(typingctx, x):
    """Trailing zero bits of a nonzero uint64 (LLVM's cttz), as an int64."""
    if x != types.uint64:
        return None
    return types.int64(x), lambda ctx, builder, sig, args: _u64_bit_op(
        builder, "llvm.cttz.i64", args[0], 1)  # 1: a zero input is undefined (never passed)


@intrinsic
def _popcount64(typingctx, x):
    """Set bits of a uint64 (LLVM's ctpop), as an int64."""
    if x != types.uint64:
        return None
    return types.int64(x), lambda ctx, builder, sig, args: _u64_bit_op(
        builder, "llvm.ctpop.i64", args[0])


@njit(cache=True, inline="always")
def _bump(pos, n):
    """pos + 1 modulo n, without a division."""
    return pos + 1 if pos + 1 < n else 0


@njit(cache=True, inline="always")
def _popcount(m):
    n = 0
    while m:
        n += m & 1
        m >>= 1
    return n


@njit(cache=True, inline="always")
def _xy_mask(r, d, r_row, r_col):
    """Output mask of dimension-ordered routing at router r for destination d: X first."""
    rc = r_col[r]
    dc = r_col[d]
    if dc > rc:
        return 1
    if dc < rc:
        return 2
    rr = r_row[r]
    dr = r_row[d]
    if dr > rr:
        return 4
    if dr < rr:
        return 8
    return 16


@njit(cache=True, inline="always")
def _has_credit(dq, t, qh, bs, depth):
    if qh[_u(dq * 4 + QW)] - qh[_u(dq * 4 + QR)] >= depth:
        return False
    return bs[_u((dq * depth + qh[_u(dq * 4 + QWP)]) * 4 + SF)] <= t


@njit(cache=True, error_model="numpy")
def _recount(nq, depth, qh, bs, ew_n):
    """(flits buffered, copies owed, flits on ejection channels) counted from the buffers."""
    buffered = 0
    owed = 0
    for q in range(nq):
        pos = qh[q * 4 + QRP]
        for _ in range(qh[q * 4 + QW] - qh[q * 4 + QR]):
            buffered += 1
            owed += _popcount(bs[(q * depth + pos) * 4 + SM])
            pos += 1
            if pos == depth:
                pos = 0
    ej = 0
    for w in range(ew_n.shape[0]):  # one wheel per worker; the rows' padding stays 0
        for i in range(ew_n.shape[1]):
            ej += ew_n[w, i]
    return buffered, owed, ej


@njit(cache=True, error_model="numpy")
def _tables(rows, cols, vcs, qid, q_router, q_port, q_vc):
    """Neighbour of each router per direction, first queue of each (router, port), the
    downstream queue of each queue per direction (same VC), each router's row and col, and
    the mask of each router's ports that have a queue (bit p: port p)."""
    R = rows * cols
    nq = q_router.shape[0]
    nbr = np.full(R * 4, -1, dtype=np.int32)
    r_row = np.zeros(R, dtype=np.int32)
    r_col = np.zeros(R, dtype=np.int32)
    for r in range(R):
        row = r // cols
        col = r - row * cols
        r_row[r] = row
        r_col[r] = col
        if col + 1 < cols:
            nbr[r * 4 + 0] = r + 1
        if col > 0:
            nbr[r * 4 + 1] = r - 1
        if row + 1 < rows:
            nbr[r * 4 + 2] = r + cols
        if row > 0:
            nbr[r * 4 + 3] = r - cols
    port_q0 = np.zeros(R * N_PORTS + 1, dtype=np.int32)
    for q in range(nq):
        port_q0[q_router[q] * N_PORTS + q_port[q] + 1] += 1
    for i in range(R * N_PORTS):
        port_q0[i + 1] += port_q0[i]
    r_pm = np.zeros(R, dtype=np.uint8)
    for i in range(R * N_PORTS):
        if port_q0[i + 1] > port_q0[i]:
            r_pm[i // N_PORTS] |= np.uint8(1 << (i % N_PORTS))
    q_down = np.full(nq * 4, -1, dtype=np.int32)
    for q in range(nq):
        r = q_router[q]
        for o in range(4):
            nb = nbr[r * 4 + o]
            if nb >= 0:
                q_down[q * 4 + o] = qid[(nb * N_PORTS + OPP[o]) * vcs + q_vc[q]]
    return nbr, port_q0, q_down, r_row, r_col, r_pm


@njit(cache=True, inline="always", error_model="numpy")
def _va_stage(r, t, q0, q1, depth, vcs, t_va, qh, bs, q_ovc, q_sa, out_owner, out_free, rr_va,
              va_start, va_q, va_key):
    """VC allocation of the head packets of router r: separable, input first, round-robin.

    An output VC can be allocated when no packet holds it and its release time
    (``out_free``: the cycle its last tail left plus the router's release delay) has come."""
    nva = 0
    for q in range(q0, q1):
        if qh[q * 4 + QW] == qh[q * 4 + QR] or q_ovc[q] >= 0:
            continue
        s = q * depth + qh[q * 4 + QRP]
        if bs[s * 4 + SR] > t:
            continue
        m = bs[s * 4 + SM]
        o = 0
        while (m >> o) & 1 == 0:
            o += 1
        # input stage: the first free output VC after the port's pointer
        po = r * N_PORTS + o
        start = va_start[po]
        pick = -1
        for j in range(vcs):
            v = start + j
            if v >= vcs:
                v -= vcs
            if out_owner[po * vcs + v] < 0 and out_free[po * vcs + v] <= t:
                pick = v
                break
        if pick >= 0:
            va_q[nva] = q
            va_key[nva] = po * vcs + pick
            nva += 1
    # output stage: each requested output VC grants the requester closest after
    # its round-robin pointer (over the router's queues)
    nloc = q1 - q0
    for i in range(nva):
        key = va_key[i]
        if key < 0:
            continue
        ptr = rr_va[key]
        best = i
        bestd = va_q[i] - q0 - ptr
        if bestd < 0:
            bestd += nloc
        for j in range(i + 1, nva):
            if va_key[j] == key:
                dj = va_q[j] - q0 - ptr
                if dj < 0:
                    dj += nloc
                if dj < bestd:
                    best = j
                    bestd = dj
        for j in range(i, nva):
            if va_key[j] == key:
                va_key[j] = -1
        q = va_q[best]
        out_owner[key] = q
        ov = key % vcs
        q_ovc[q] = ov
        q_sa[q] = t + t_va
        rr_va[key] = q - q0 + 1 if q - q0 + 1 < nloc else 0
        va_start[key // vcs] = ov + 1 if ov + 1 < vcs else 0
