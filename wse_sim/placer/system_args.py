"""The system arguments of :func:`wse_sim.place`: a :class:`SystemSpec` or a wafer,
``systems=N`` and ``micro_batch=``, checked where they enter."""

from __future__ import annotations

from ..errors import SimulationError
from ..spec import WaferSpec
from ..spec.system import SystemSpec, system_for
from ..validate import integer

_LLM = ("prefill", "decode")


def check_system_args(target, systems, micro_batch, mode):
    """``(system or None, wafer)``: the system to stream on (None: a plain wafer, placed
    pipelined when it fits) and its wafer. Raises :class:`SimulationError` naming a bad
    argument and the fix."""
    if systems is not None:
        systems = integer("place: systems", systems, 1, 1 << 20, error=SimulationError,
                          fix="give systems=N with N >= 1, e.g. systems=4")
    if micro_batch is not None:
        micro_batch = integer("place: micro_batch", micro_batch, 1, error=SimulationError,
                              fix="give micro_batch >= 1, or leave it out to fit")
    if isinstance(target, SystemSpec):
        system = target if systems is None else target.replace(n_systems=int(systems))
    elif isinstance(target, WaferSpec) and (systems is not None or micro_batch is not None):
        system = system_for(target, int(systems or 1))
    else:
        return None, target  # a wafer (or a bad value, which place()'s own checks name)
    if mode in _LLM:
        raise SimulationError(f"mode={mode!r} places LLM inference on wafers; give a "
                              "WaferSpec (wafers=N), not a SystemSpec or systems=")
    if mode == "pipelined":
        raise SimulationError("a SystemSpec (or systems=, micro_batch=) trains in weight "
                              "streaming; use mode='weight_streaming' or 'auto', or give "
                              "a WaferSpec for a pipelined placement")
    return system, system.wafer
