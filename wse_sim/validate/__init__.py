"""Validation as data: one checker per type, and the rules of every checked field in tables.

Every public entry point (the specs' ``__post_init__``, the model builders, ``sparsify``,
``place``, ``simulate``, ``gpu_baseline``, the sweep space and the command line) checks its
inputs here, so a rule is written once and every message has the same shape::

    WaferSpec.clock_hz must be a finite number in (0, 1e+11] Hz, got inf; set clock_hz to the
    core clock, e.g. 1.1e9

It names the field, the value, the allowed range and a fix. The rules:

* ``int``: an integer (``int`` or a numpy integer; **not** ``bool``), within ``[low, high]``;
* ``number``: a real number (not ``bool``, not a string), **finite** (NaN and +-inf are
  rejected), within the bounds (``low_open`` excludes ``low``);
* ``choice``: a string among ``choices``;
* ``bool``: ``True`` or ``False`` (numpy bools too);
* ``str``: a non-empty string.

The upper bounds are *physical* bounds: far above any wafer or GPU built, they only reject
values no hardware has (and that would overflow int64 arithmetic further down). Each says so.
This package imports nothing of wse-sim but :mod:`wse_sim.errors`, so every layer can use it.
"""

from .checks import (
    MAX_COUNT,
    MAX_MACS,
    MAX_MODEL_DIM,
    MAX_SEED,
    MAX_TENSOR_ELEMS,
    Rule,
    callable_or_none,
    check,
    check_fields,
    checked_init,
    choice,
    fail,
    flag,
    fraction,
    instance,
    integer,
    number,
    path,
    positive,
    seed,
    show,
    text,
)
from .rules import (
    GPU_RULES,
    WAFER_RULES,
    check_densities,
    check_gpu,
    check_gpu_args,
    check_gpu_count,
    check_gpu_counts,
    check_graph_work,
    check_model_args,
    check_op_count,
    check_place_args,
    check_simulate_args,
    check_target_rate,
    check_wafer,
    model_arg_rule,
    normalise,
    seed_check,
)

__all__ = [
    "GPU_RULES", "MAX_COUNT", "MAX_MACS", "MAX_MODEL_DIM", "MAX_SEED", "MAX_TENSOR_ELEMS",
    "Rule", "WAFER_RULES", "callable_or_none", "check", "check_densities", "check_fields",
    "check_gpu", "check_gpu_args", "check_gpu_count", "check_gpu_counts", "check_graph_work",
    "check_model_args", "check_op_count", "check_place_args", "check_simulate_args",
    "check_target_rate", "check_wafer",
    "checked_init", "choice", "fail", "flag", "fraction", "instance", "integer",
    "model_arg_rule", "normalise", "number", "path", "positive", "seed", "seed_check", "show",
    "text",
]
