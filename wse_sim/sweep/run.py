"""Parameter sweeps: run the cartesian product of a space of settings, cached and resumable.

>>> import wse_sim as ws                                        # doctest: +SKIP
>>> table = ws.sweep({"model": ["cvae"], "wafer": ["wse2"],
...                   "sram_bytes_per_core": [24576, 49152], "weight_sparsity": [0, 0.9]},
...                  "out/sweep")
>>> ws.plot_sweep(table, x="sram_bytes_per_core", y="samples_per_s", hue="weight_sparsity",
...               path="out/sweep/sps.png")

The space is described in :mod:`wse_sim.sweep.space`. An output folder holds

* ``points/<key>.json``: one finished point's row, written atomically (the cache);
* ``results.jsonl``: one line per finished point, appended as each finishes (one ``write`` of a
  whole line, then fsync; readers skip a torn last line and the next run cuts it off);
* ``results.csv``: the table of the last sweep, in the space's order, written at its end;
* ``sweep.json``: the last sweep's package version, code fingerprint, row schema, checked
  space, point keys, the stale rows it kept and its counts (computed, reused, stale).

A point's key hashes its full settings (defaults included), the package version and the
simulator's source fingerprint (:mod:`wse_sim.fingerprint`), so a rerun of the same space
computes only the points that are missing, and *any* change to the code recomputes all: a
row another version of the code computed for the same settings is *stale*. A rerun reports
how many points it computed, reused and found stale; ``reuse_stale=True`` (``wse-sim sweep
--reuse-stale``) keeps stale rows on purpose, marked ``stale: true`` (they are never stored
under the new key, so the next run without the flag recomputes them). A row holds the
point's inputs, then ``key``, ``status`` ('ok' or 'failed'), ``error`` (the
:class:`~wse_sim.errors.WseSimError` of a failed point, or why ``equivalent_gpus`` is missing),
the outputs (:data:`~wse_sim.sweep.space.OUTPUTS`), the provenance
(:data:`~wse_sim.sweep.space.PROVENANCE`: ``schema``, ``fingerprint``, ``stale``) and timings in
seconds (:data:`~wse_sim.sweep.space.TIMING_FIELDS`). A space of more than ``max_points``
(100,000) points is refused before it is expanded. Every field but the timings is deterministic:
the same point gives bit-identical values on any executor; compare rows with
:func:`without_timings`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..engine.table import frame
from ..errors import SimulationError, SpecError, WseSimFileError
from ..fingerprint import fingerprint
from ..validate import path as as_path
from ..validate.files import check_output_folder
from ..validate.results import check_sweep_row
from ..version import __version__
from .executors import EXECUTORS, check_workers, iter_rows
from .space import (
    MAX_POINTS,
    OUTPUTS,
    PROVENANCE,
    ROW_SCHEMA,
    TIMING_FIELDS,
    check_size,
    check_space,
    expand_space,
    point_key,
    settings_key,
)
from .store import (
    CSV_NAME,
    JSONL_NAME,
    MANIFEST_NAME,
    POINTS_DIR,
    append_line,
    atomic_write_text,
    csv_text,
    cut_torn_tail,
    encode_row,
    normalize_row,
    point_path,
    read_jsonl,
    read_point,
    store_point,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tomli backport is a dependency on 3.10 (pyproject.toml)
    import tomli as tomllib


class SweepTable(list):
    """The rows of a sweep (a list of dicts) with counts of how they were obtained."""

    def __init__(self, rows=(), *, computed: int = 0, reused: int = 0, stale: int = 0,
                 stale_kept: bool = False, out_dir=None) -> None:
        super().__init__(rows)
        self.computed = computed  # simulated by this run (stale points recomputed included)
        self.reused = reused  # taken from the cache, computed by this very code
        self.stale = stale  # found computed by other code for the same settings
        self.stale_kept = stale_kept  # True: those rows are in the table, marked stale
        self.out_dir = None if out_dir is None else Path(out_dir)

    @property
    def failed(self) -> int:
        """Rows whose simulation raised a WseSimError."""
        return sum(row.get("status") == "failed" for row in self)

    def summary(self) -> str:
        how = "kept, marked stale" if self.stale_kept else "recomputed"
        return (f"{len(self)} points: {self.computed} computed, {self.reused} reused, "
                f"{self.failed} failed, {self.stale} stale ({how})")

    def to_frame(self):
        """The rows as a pandas DataFrame, one column per key (needs ``pip install pandas``)."""
        return frame(self)


def without_timings(row: Mapping) -> dict:
    """``row`` without its timing fields: the part that is deterministic."""
    return {k: v for k, v in row.items() if k not in TIMING_FIELDS}


def _check_run_args(executor: str, scheduler, workers) -> int:
    if executor not in EXECUTORS:
        raise SimulationError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise SimulationError(f"a scheduler ({scheduler!r}) needs executor='dask', got "
                              f"executor={executor!r}")
    return check_workers(workers)


def _cached_rows(out_dir: Path, keys: Sequence[str]) -> tuple[dict[str, dict], dict]:
    """Rows already finished in ``out_dir`` for ``keys``, and every logged row by key; makes
    the point files and the JSON Lines file agree first (a crash may have left one written
    and not the other)."""
    jsonl = out_dir / JSONL_NAME
    cut_torn_tail(jsonl)
    logged = read_jsonl(jsonl)
    cached = {}
    for key in keys:
        row = read_point(out_dir, key)
        if row is None and key in logged:
            row = logged[key]
            atomic_write_text(point_path(out_dir, key), encode_row(row))
        if row is None:
            continue
        if key not in logged:
            append_line(jsonl, encode_row(row))
        cached[key] = row
    return cached, logged


_NOT_INPUTS = frozenset({*OUTPUTS, *PROVENANCE, *TIMING_FIELDS})


def row_point(row: Mapping) -> dict:
    """The point (inputs) a row was computed for."""
    return {k: v for k, v in row.items() if k not in _NOT_INPUTS}


def _stale_rows(logged: Mapping[str, dict], keyed: Mapping[str, dict],
                missing: Sequence[str]) -> dict[str, dict]:
    """``{key: row}`` for the ``missing`` keys whose settings other code computed (the
    newest such row; keys differ from ours since the fingerprint or version differ)."""
    if not missing or not logged:
        return {}
    by_settings = {}
    for row in logged.values():  # file order: the newest row of a setting comes last
        by_settings[settings_key(row_point(row))] = row
    out = {}
    for key in missing:
        row = by_settings.get(settings_key(keyed[key]))
        if row is not None and row["key"] != key:
            out[key] = row
    return out


def _write_manifest(out_dir: Path, space, keys, stale_kept: dict, counts: dict) -> None:
    manifest = {"version": __version__, "fingerprint": fingerprint(), "schema": ROW_SCHEMA,
                "space": dict(space) if space else None, "keys": list(keys),
                "stale": {k: r["key"] for k, r in stale_kept.items()}, "counts": counts}
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def run_points(points: Sequence[Mapping], out_dir, executor: str = "local",
               scheduler: str | None = None, workers: int | None = None,
               progress: bool = True, space: Mapping | None = None,
               reuse_stale: bool = False) -> SweepTable:
    """Run ``points`` (checked points, e.g. from :func:`~wse_sim.sweep.space.expand_space`)
    into ``out_dir``, reusing finished ones; see :func:`sweep`."""
    workers = _check_run_args(executor, scheduler, workers)
    if not isinstance(reuse_stale, bool):
        raise SimulationError(f"reuse_stale must be True or False, got {reuse_stale!r}")
    out_dir = check_output_folder("sweep: out_dir", out_dir)
    try:
        (out_dir / POINTS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WseSimFileError(f"cannot create the sweep folder {str(out_dir)!r}: "
                              f"{exc.strerror or exc}; choose a writable folder") from exc
    keyed = {point_key(p, __version__): dict(p) for p in points}
    keys = list(keyed)
    _write_manifest(out_dir, space, keys, {}, {})
    rows, logged = _cached_rows(out_dir, keys)
    reused = len(rows)
    stale = _stale_rows(logged, keyed, [k for k in keys if k not in rows])
    kept = {}
    if reuse_stale:
        kept = {k: {**r, "stale": True} for k, r in stale.items()}
        rows.update(kept)
    tasks = [(k, keyed[k]) for k in keys if k not in rows]
    failed = sum(r["status"] == "failed" for r in rows.values())
    bar = tqdm(total=len(keys), initial=len(rows), file=sys.stderr, disable=not progress,
               desc="sweep", unit="pt", dynamic_ncols=True)
    bar.set_postfix(done=0, failed=failed, reused=reused, stale=len(stale))
    try:
        for i, row in enumerate(iter_rows(tasks, executor, workers, scheduler), 1):
            if row["key"] not in keyed or row["key"] in rows:
                raise SimulationError(f"executor returned an unexpected point {row['key']}")
            store_point(out_dir, row)
            rows[row["key"]] = normalize_row(row)
            failed += row["status"] == "failed"
            bar.set_postfix(done=i, failed=failed, reused=reused, stale=len(stale),
                            refresh=False)
            bar.update(1)
    finally:
        bar.close()
    table = SweepTable((rows[k] for k in keys), computed=len(tasks), reused=reused,
                       stale=len(stale), stale_kept=reuse_stale, out_dir=out_dir)
    atomic_write_text(out_dir / CSV_NAME, csv_text(table))
    _write_manifest(out_dir, space, keys, kept, {"computed": table.computed, "reused": reused,
                                                 "stale": len(stale), "failed": table.failed})
    if progress:
        print(f"sweep: {table.summary()} -> {out_dir / CSV_NAME}", file=sys.stderr)
    return table


def sweep(space: Mapping, out_dir, executor: str = "local", scheduler: str | None = None,
          workers: int | None = None, progress: bool = True, reuse_stale: bool = False,
          max_points: int | None = MAX_POINTS) -> SweepTable:
    """Simulate every point of ``space`` and return the table (one row per point, in order).

    Parameters
    ----------
    space : dict of non-empty lists (see :mod:`wse_sim.sweep.space`): sweep settings (model,
        wafer, mode, batch, weight_sparsity, pattern, gpu, seed, placement, samples), WaferSpec
        fields and model arguments. Checked before any work; a bad space raises
        :class:`~wse_sim.errors.SpecError`.
    out_dir : output folder (created); finished points there are reused, not recomputed.
    executor : 'local' (process pool on this machine), 'dask' (``scheduler`` address, or a
        loopback LocalCluster of ``workers`` processes), or 'serial' (this process).
    workers : processes for 'local' and a new LocalCluster; None = ``os.cpu_count()``.
    progress : a tqdm bar on stderr (done, failed, reused, ETA) and a closing summary line.
    reuse_stale : keep rows other code computed for the same settings (marked
        ``stale: true``) instead of recomputing them.
    max_points : refuse (:class:`~wse_sim.errors.ResourceError`) a space of more points,
        before expanding it; None for no limit.

    A point whose build, placement or simulation raises a WseSimError is recorded as failed
    (``status='failed'``, ``error``) and the sweep goes on. The returned
    :class:`SweepTable` also says how many points were computed and reused. Call it under
    ``if __name__ == "__main__":`` in a script: the local pool spawns processes.
    """
    checked = check_space(space)
    check_size(checked, max_points)
    _check_run_args(executor, scheduler, workers)
    return run_points(expand_space(checked, max_points=None), out_dir, executor, scheduler,
                      workers, progress, space=checked, reuse_stale=reuse_stale)


def read_table(out_dir) -> SweepTable:
    """The rows stored in ``out_dir``: those of its last sweep in that sweep's order (finished
    points only), or every row of ``results.jsonl`` when there is no ``sweep.json``; a
    :class:`SweepTable` (a list of dicts with ``to_frame()``)."""
    out_dir = as_path("read_table: out_dir", out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WseSimFileError(f"{str(out_dir)!r} is not a sweep folder; give the --out folder "
                              "of a sweep")
    logged = read_jsonl(out_dir / JSONL_NAME)
    stale: dict = {}
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        keys = manifest["keys"]
        stale = manifest.get("stale") or {}
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) \
                or not isinstance(stale, dict):
            raise TypeError("'keys' must be a list of keys and 'stale' a dict")
    except FileNotFoundError:
        if not logged:
            raise WseSimFileError(f"no sweep results in {str(out_dir)!r}: neither "
                                  f"{JSONL_NAME} nor {MANIFEST_NAME}; run a sweep there first"
                                  ) from None
        return SweepTable([check_sweep_row(r, str(out_dir)) for r in logged.values()],
                          out_dir=out_dir)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OSError,
            RecursionError) as exc:
        raise WseSimFileError(f"{out_dir / MANIFEST_NAME} is not a sweep manifest: "
                              f"{type(exc).__name__}: {exc}; delete it to read every row of the "
                              "JSON Lines file") from None
    rows = []
    for key in keys:
        row = logged.get(key) or read_point(out_dir, key)
        if row is None and stale.get(key) in logged:
            row = {**logged[stale[key]], "stale": True}
        if row is not None:
            rows.append(check_sweep_row(row, str(out_dir)))
    return SweepTable(rows, out_dir=out_dir)


# ---- TOML files and the command line (wired by wse_sim.cli) ---------------------------------

def load_space(path) -> tuple[dict, list[dict]]:
    """``(space, plots)`` of a sweep TOML file: the ``[space]`` table (or, without one, every
    top-level key but ``plot`` and ``description``) and the ``[[plot]]`` entries (dicts of
    :func:`~wse_sim.sweep_plot.plot_sweep` arguments plus ``file``)."""
    path = as_path("sweep space file", path)
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise WseSimFileError(f"sweep space file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise WseSimFileError(f"sweep space file {str(path)!r} is a folder; give a .toml "
                              "file") from None
    except OSError as exc:
        raise WseSimFileError(f"cannot read sweep space file {str(path)!r}: "
                              f"{exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise WseSimFileError(f"sweep space file {str(path)!r} is not UTF-8 text (byte "
                              f"{exc.start}); is it a TOML file?") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise WseSimFileError(f"sweep space file {str(path)!r} is not valid TOML: {why}"
                              ) from None
    plots = doc.get("plot", [])
    if not isinstance(plots, list) or not all(isinstance(p, dict) for p in plots):
        raise WseSimFileError(f"{path}: 'plot' must be an array of tables ([[plot]])")
    if "space" in doc:
        space = doc["space"]
        if not isinstance(space, dict):
            raise WseSimFileError(f"{path}: 'space' must be a table ([space])")
    else:
        space = {k: v for k, v in doc.items() if k not in ("plot", "description")}
    if not space:
        raise WseSimFileError(f"sweep space file {str(path)!r} defines no space; write a "
                              "[space] table of lists, e.g. model = [\"cvae\"]")
    return space, plots


def check_plots(plots: list[dict], space: Mapping) -> None:
    """Raise SpecError for a [[plot]] entry naming a column the sweep will not have."""
    allowed = {"x", "y", "hue", "file", "title", "logx", "logy"}
    for i, plot in enumerate(plots):
        unknown = set(plot) - allowed
        if unknown or "x" not in plot or "y" not in plot:
            raise SpecError(f"[[plot]] #{i + 1}: needs x and y, may have hue, file, title, "
                            f"logx, logy; got {sorted(plot)}")
        for role in ("x", "hue"):
            if role in plot and plot[role] not in space:
                raise SpecError(f"[[plot]] #{i + 1}: {role}={plot[role]!r} is not an input "
                                f"of the sweep; inputs: {', '.join(space)}")
        if plot["y"] not in (*OUTPUTS, *TIMING_FIELDS):
            raise SpecError(f"[[plot]] #{i + 1}: y={plot['y']!r} is not an output; outputs: "
                            f"{', '.join(OUTPUTS[3:])}")
