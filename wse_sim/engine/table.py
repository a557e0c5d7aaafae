"""A result's per-stage table as plain rows (units in the keys) and as a pandas DataFrame.

``SimResult.stage_table()`` / ``SimResult.to_frame()`` and the sweep table's ``to_frame()``
call these; pandas is optional and imported only by :func:`frame`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import MissingDependencyError

STAGE_COLUMNS = (
    ("stage", "stage"),
    ("heavy_op", "heavy"),
    ("ops", "ops"),
    ("cores", "cores"),
    ("compute_cycles_max", "compute_cycles_max"),
    ("compute_cycles_mean", "compute_cycles_mean"),
    ("link_cycles_max", "link_cycles_max"),
    ("memory_cycles", "memory_cycles"),
    ("stream_cycles", "stream_cycles"),
    ("stage_cycles", "stage_cycles"),
    ("bound", "bound"),
)
"""``(row key, StageRow field)``: cycles are per sample, means over the simulated samples."""


def stage_table(result) -> list[dict]:
    """One dict per stage of ``result`` (a SimResult): the :data:`STAGE_COLUMNS`, ``ops`` as one
    comma-separated string, ``stage_time_s`` (stage cycles over the clock), ``busy_fraction``
    (mean compute cycles over the slowest stage's cycles, in [0, 1]) and the model, wafer and
    mode."""
    clock = result.clock_hz or 1.0
    period = max((r.stage_cycles for r in result.stages), default=0.0)
    rows = []
    for r in result.stages:
        d = {key: getattr(r, attr) for key, attr in STAGE_COLUMNS}
        d["ops"] = ",".join(d["ops"])
        d["stage_time_s"] = r.stage_cycles / clock
        d["busy_fraction"] = r.compute_cycles_mean / period if period > 0 else 0.0
        d["model"], d["wafer"], d["mode"] = result.model, result.wafer, result.mode
        rows.append(d)
    return rows


def frame(rows: Iterable[Mapping]):
    """A pandas DataFrame of ``rows`` (dicts, one per row); a MissingDependencyError naming
    ``pip install pandas`` when pandas is not installed."""
    try:
        import pandas as pd
    except ImportError as e:
        raise MissingDependencyError(
            "to_frame needs pandas, which is not installed: pip install pandas"
        ) from e
    return pd.DataFrame([dict(r) for r in rows])
