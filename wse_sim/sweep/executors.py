"""Running sweep points: :func:`run_point` (one point, in any process) and the executors that
run many (serial, a local process pool, a Dask cluster). See :mod:`.sweep`.

Workers receive only a point (a small dict of settings and names) and its key, build the model
and wafer themselves, and return one compact row; no array crosses a process boundary.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .. import models
from ..baselines import gpu_summary
from ..engine import simulate
from ..errors import SimulationError, WseSimError
from ..graph import sparsify
from ..placer import place
from ..spec import wafer
from .space import OUTPUTS, TIMING_FIELDS, point_key, split_point

EXECUTORS = ("local", "dask", "serial")
"""'local': a process pool on this machine (default); 'dask': a dask.distributed cluster;
'serial': this process, one point after another (debugging, profiling)."""

Task = tuple[str, dict]  # (key, point)


def _equivalent_gpus(result, graph, gpu: str) -> tuple[int | None, str | None]:
    """``(equivalent_gpus, note)`` from the one GPU comparison (:func:`gpu_summary`): None
    when the point asks for no GPU, when no cluster reaches the wafer or the baseline failed;
    ``note`` then says why."""
    if gpu == "none":
        return None, None
    try:
        block = gpu_summary(result, gpu, graph, batch_per_gpu="auto", precision="mixed")
    except WseSimError as exc:
        return None, f"equivalent_gpus: {type(exc).__name__}: {exc}"
    return block["equivalent_gpus"], block.get("note")


def run_point(point: dict, key: str | None = None) -> dict:
    """Simulate one sweep point and return its row (inputs, key, status, outputs, timings).

    A :class:`~wse_sim.errors.WseSimError` from building, placing or simulating gives a row with
    ``status='failed'`` and the message in ``error``; any other exception propagates (a bug).
    ``key`` is the key the caller computed; the worker recomputes it with its own package
    version and a mismatch (a worker running another wse-sim version) raises.
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    mine = point_key(point)
    if key is not None and key != mine:
        raise SimulationError(f"point key mismatch: caller {key}, worker {mine}; the worker "
                              "runs another wse-sim version than the caller")
    settings, overrides, model_args = split_point(point)
    row = {**point, **dict.fromkeys(OUTPUTS), **dict.fromkeys(TIMING_FIELDS)}
    row.update(key=mine, status="ok")
    try:
        spec = wafer(settings["wafer"], **overrides)
        graph = models.get(settings["model"], **model_args)
        graph = sparsify(graph, settings["weight_sparsity"], settings["pattern"],
                         seed=settings["seed"])
        t_place = time.perf_counter()
        plan = place(graph, spec, mode=settings["placement"],
                     training=settings["mode"] == "train", batch=settings["batch"],
                     seed=settings["seed"])
        row["place_wall_s"] = time.perf_counter() - t_place
        result = simulate(plan, mode=settings["mode"], batch=settings["batch"],
                          samples=settings["samples"], seed=settings["seed"])
    except WseSimError as exc:
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        for name in ("samples_per_s", "bottleneck_kind", "bottleneck_op", "utilization",
                     "energy_j_per_sample", "power_w", "latency_s", "execution", "replicas"):
            row[name] = getattr(result, name)
        row["sim_wall_s"] = result.sim_wall_s
        row["equivalent_gpus"], row["error"] = _equivalent_gpus(result, graph, settings["gpu"])
    row["point_wall_s"] = time.perf_counter() - t0
    row["point_cpu_s"] = time.process_time() - cpu0
    return row


def iter_serial(tasks: Sequence[Task]) -> Iterator[dict]:
    """Rows of ``tasks`` run one after another in this process."""
    for key, point in tasks:
        yield run_point(point, key)


def iter_local(tasks: Sequence[Task], workers: int) -> Iterator[dict]:
    """Rows of ``tasks`` as they finish on a pool of ``workers`` spawned processes."""
    if not tasks:
        return
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe with numba's threads
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx)
    try:
        futures = [pool.submit(run_point, point, key) for key, point in tasks]
        for future in as_completed(futures):
            try:
                row = future.result()
            except BrokenProcessPool as exc:
                raise SimulationError(
                    "a sweep worker process died (killed, out of memory, or the script that "
                    "called sweep() lacks an `if __name__ == '__main__':` guard, which spawned "
                    "workers need); finished points are saved, rerun to resume") from exc
            yield row
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _dask_client(scheduler: str | None, workers: int):
    """``(client, cluster)``: a client of ``scheduler``, or of a new loopback LocalCluster of
    ``workers`` single-threaded processes (``cluster`` is None for an outside scheduler)."""
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise SimulationError("executor='dask' needs dask.distributed; install it with "
                              "pip install -e '.[dask]'") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise SimulationError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}; "
                                  "check the address (tcp://HOST:PORT)") from exc
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, host="127.0.0.1",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def iter_dask(tasks: Sequence[Task], workers: int, scheduler: str | None) -> Iterator[dict]:
    """Rows of ``tasks`` as they finish on a Dask cluster (see :func:`_dask_client`); with
    ``scheduler`` given, ``workers`` is ignored (the cluster has the workers it has). Each
    task's Dask key is derived from the point key, so identical points share one result."""
    if not tasks:
        return
    client, cluster = _dask_client(scheduler, workers)
    from distributed import as_completed as dask_completed

    futures = []
    try:
        futures = [client.submit(run_point, point, key, key=f"wse-sim-point-{key}", pure=False)
                   for key, point in tasks]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


def iter_rows(tasks: Sequence[Task], executor: str = "local", workers: int | None = None,
              scheduler: str | None = None) -> Iterator[dict]:
    """Rows of ``tasks`` as they finish on ``executor`` (see :data:`EXECUTORS`)."""
    workers = check_workers(workers)
    if executor == "serial":
        return iter_serial(tasks)
    if executor == "local":
        return iter_local(tasks, workers)
    if executor == "dask":
        return iter_dask(tasks, workers, scheduler)
    raise SimulationError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")


def check_workers(workers) -> int:
    """``workers`` as an int >= 1 (None = ``os.cpu_count()``)."""
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SimulationError(f"workers must be an int >= 1 or None, got {workers!r}")
    return workers
