"""Parameter sweeps: a space of settings -> cached, resumable points -> a table and plots."""

from .plot import plot_sweep
from .run import SweepTable, load_space, read_table, run_points, sweep, without_timings
from .space import OUTPUTS, TIMING_FIELDS, check_space, expand_space, point_key

__all__ = ["OUTPUTS", "TIMING_FIELDS", "SweepTable", "check_space", "expand_space",
           "load_space", "plot_sweep", "point_key", "read_table", "run_points", "sweep",
           "without_timings"]
