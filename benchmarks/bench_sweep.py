"""Sweep throughput: BERT-Base variants on 1 and 2 workers, local process pool and Dask.

Run (plain script; each configuration starts cold in a fresh output folder):

    python benchmarks/bench_sweep.py                      # all 200 points (slow: see below)
    python benchmarks/bench_sweep.py --points 8           # an evenly spread subset, extrapolated
    python benchmarks/bench_sweep.py --points 8 --executors local --workers 1,2 --json out.json

The 200 points are BERT-Base on a WSE-2: SRAM per core {32, 48, 64, 96} KB x weight sparsity
{0, 0.25, 0.5, 0.75, 0.9} x sequence length {64, 128} x seed {0..4}. ``--points N`` runs every
(200 // N)-th point and extrapolates the 200-point time from the measured points per second.

Where the time goes: each row carries ``place_wall_s`` (place()), ``sim_wall_s`` (simulate())
and ``point_wall_s`` (the whole point: model build, sparsify, place, simulate, GPU baseline). The
rest of ``workers x wall`` is overhead: process start and imports (numpy, numba, networkx),
loading the numba kernels' on-disk cache on the first call in each process, and idle workers at
the tail when fewer points than workers remain. ``--probe`` times a cold interpreter's import
and its first tiny point separately. ``point_cpu_s / point_wall_s`` (printed as CPU/wall) below
100 % means the points waited for a CPU: the machine is shared or oversubscribed, and the
speedup from more workers is capped by the cores actually free (compare the load average).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wse_sim.sweep import run_points
from wse_sim.sweep.space import expand_space

SPACE = {
    "model": ["bert-base"], "wafer": ["wse2"],
    "sram_bytes_per_core": [32768, 49152, 65536, 98304],
    "weight_sparsity": [0.0, 0.25, 0.5, 0.75, 0.9],
    "seq_len": [64, 128], "seed": [0, 1, 2, 3, 4],
}
SPACE_POINTS = expand_space(SPACE)
PROBE = """
import time
t0 = time.perf_counter()
import wse_sim
from wse_sim.sweep_exec import run_point
from wse_sim.sweep.space import expand_space
t1 = time.perf_counter()
point = expand_space({"model": ["cvae"], "wafer": ["tiny"]})[0]
run_point(point)
t2 = time.perf_counter()
run_point(point)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def pick_points(n: int) -> list[dict]:
    """``n`` points spread evenly over the 200 of :data:`SPACE`."""
    points = expand_space(SPACE)
    stride = max(1, len(points) // n)
    return points[::stride][:n]


def probe() -> dict:
    """Cold interpreter: import time, first tiny point (numba cache load), second tiny point."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    imp, first, second = map(float, out)
    return {"import_s": imp, "first_point_s": first, "warm_point_s": second,
            "jit_cache_load_s": first - second}


def _loadavg() -> float | None:
    """1-minute load average (Linux), to tell a busy machine from a slow sweep."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def idle_makespan(cpu_s: list[float], workers: int, startup_s: float) -> float:
    """Wall time the points would take on ``workers`` idle cores: each worker starts after
    ``startup_s``, then takes the next point (in submission order) when free; a point takes its
    measured CPU time. A projection for a machine whose cores are not shared."""
    free = [startup_s] * workers
    for c in cpu_s:
        i = free.index(min(free))
        free[i] += c
    return max(free)


def run_config(points, executor: str, workers: int, root: Path, startup_s: float) -> dict:
    """Run ``points`` cold on ``executor`` with ``workers``; wall time and its breakdown."""
    out = root / f"{executor}-{workers}"
    t0 = time.perf_counter()
    table = run_points(points, out, executor=executor, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    place = sum(r["place_wall_s"] or 0.0 for r in table)
    sim = sum(r["sim_wall_s"] or 0.0 for r in table)
    point = sum(r["point_wall_s"] or 0.0 for r in table)
    cpu_s = [r["point_cpu_s"] or 0.0 for r in table]
    cpu = sum(cpu_s)
    return {"executor": executor, "workers": workers, "points": len(table),
            "failed": table.failed, "wall_s": wall, "points_per_s": len(table) / wall,
            "place_s": place, "simulate_s": sim, "other_point_s": point - place - sim,
            "overhead_s": workers * wall - point, "cpu_share": cpu / point,
            "loadavg_after": _loadavg(),
            "point_cpu_s": cpu_s,
            "extrapolated_200_s": len(SPACE_POINTS) / (len(table) / wall)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=len(SPACE_POINTS),
                    help="points to run, spread over the 200 (default: all)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--executors", default="local,dask", help="local, dask or both")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--probe", action="store_true", help="time a cold import and first point")
    args = ap.parse_args(argv)
    points = pick_points(args.points)
    results = {"points": len(points), "of": len(SPACE_POINTS), "configs": []}
    startup = 0.0
    if args.probe:
        results["probe"] = p = probe()
        startup = p["import_s"] + p["jit_cache_load_s"]
        print("cold process:", json.dumps({k: round(v, 2) for k, v in p.items()}))
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        for executor in args.executors.split(","):
            for workers in map(int, args.workers.split(",")):
                r = run_config(points, executor, workers, Path(tmp), startup)
                results["configs"].append(r)
                print(f"{executor:6s} {workers} worker(s): {r['points']} points "
                      f"({r['failed']} failed) in {r['wall_s']:.1f} s = "
                      f"{r['points_per_s']:.3f} points/s; summed over points: place "
                      f"{r['place_s']:.1f} s, simulate {r['simulate_s']:.1f} s, other "
                      f"{r['other_point_s']:.1f} s; overhead {r['overhead_s']:.1f} "
                      f"worker-s; CPU/wall in points {r['cpu_share']:.0%}; load average "
                      f"{r['loadavg_after']}; 200 points ~ {r['extrapolated_200_s'] / 60:.1f} "
                      "min",
                      flush=True)
    for executor in args.executors.split(","):
        by = {r["workers"]: r for r in results["configs"] if r["executor"] == executor}
        if 1 in by and 2 in by:
            # both projections from the 1-worker run's CPU times, so only the schedule differs
            one, two = (idle_makespan(by[1]["point_cpu_s"], w, startup) for w in (1, 2))
            print(f"{executor}: speedup from 2 workers = "
                  f"{by[1]['wall_s'] / by[2]['wall_s']:.2f}x measured; {one / two:.2f}x "
                  f"projected on 2 idle cores ({one:.1f} s -> {two:.1f} s from the 1-worker "
                  f"run's per-point CPU times{' and the probed start-up' if args.probe else ''})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
