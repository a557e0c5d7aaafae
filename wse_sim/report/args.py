"""Argument checks of the plot functions: the object to draw and the file to write, both
refused before anything is drawn (a folder given as the PNG path costs no rendering)."""

from __future__ import annotations

from pathlib import Path

from ..engine import SimResult
from ..errors import SimulationError
from ..io import SavedRun
from ..placer import Placement
from ..validate import instance
from ..validate.files import check_output_file

MAPS = (Placement, SimResult, SavedRun)  # what a placement or SRAM map can be drawn from


def check_plot(what: str, obj, path, kinds=MAPS) -> Path:
    """``path`` checked as an output file, after ``obj`` is checked to be one of ``kinds``;
    a result must have stages to draw."""
    instance(f"{what}: the object to draw", obj, kinds, error=SimulationError,
             fix="pass what ws.place(...) or ws.simulate(...) returns, or ws.io.load_run(dir)")
    result = obj.result if isinstance(obj, SavedRun) else obj
    if isinstance(result, SimResult) and not result.stages:
        raise SimulationError(f"{what}: the result has no stages to draw; simulate again")
    return check_output_file(f"{what}: path", path)
