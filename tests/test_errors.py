"""The error hierarchy and the shared unknown-name message."""

from __future__ import annotations

import inspect

import pytest

import wse_sim
from wse_sim import errors, spec
from wse_sim.errors import (
    FabricError,
    GpuError,
    GraphError,
    MissingDependencyError,
    PlacementError,
    ResourceError,
    SimulationError,
    SparsityError,
    SpecError,
    WseSimError,
    WseSimFileError,
    unknown_name,
)
from wse_sim.graph import Graph

SUBCLASSES = [SpecError, GraphError, SparsityError, PlacementError, SimulationError, GpuError,
              ResourceError, WseSimFileError, MissingDependencyError, FabricError]


def module_exceptions() -> list[type]:
    return [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
            if issubclass(obj, BaseException) and obj.__module__ == errors.__name__]


def test_every_error_in_the_module_is_a_wsesimerror():
    found = module_exceptions()
    assert WseSimError in found
    assert set(found) == {WseSimError, *SUBCLASSES}
    for cls in found:
        assert issubclass(cls, WseSimError), cls.__name__


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_subclass_is_caught_as_the_base(cls):
    assert cls is not WseSimError
    with pytest.raises(WseSimError) as info:
        raise cls("what was wrong, the value, and the fix")
    assert str(info.value) == "what was wrong, the value, and the fix"
    assert issubclass(cls, Exception)


@pytest.mark.parametrize("cls", [SpecError, GraphError, SparsityError, SimulationError,
                                 GpuError])
def test_input_errors_are_value_errors(cls):
    # generic callers that catch ValueError keep working
    assert issubclass(cls, ValueError)


def test_file_error_is_an_oserror():
    assert issubclass(WseSimFileError, OSError)


def test_missing_dependency_is_an_import_error():
    # code that guards an optional import with `except ImportError` keeps working
    assert issubclass(MissingDependencyError, ImportError)


def test_errors_are_exported_at_the_top_level():
    for cls in (WseSimError, *SUBCLASSES):
        assert getattr(wse_sim, cls.__name__) is cls


def test_real_raises_use_the_hierarchy():
    with pytest.raises(WseSimError):
        spec.wafer("no-such-wafer")
    with pytest.raises(WseSimError):
        spec.gpu("no-such-gpu")
    g = Graph("g")
    with pytest.raises(WseSimError):
        g.dense("fc", "missing", 4)


def test_unknown_name_lists_known_names_sorted():
    msg = unknown_name("wafer", "wse9", ["wse3", "tiny", "wse1", "wse2"])
    assert "'wse9'" in msg  # the offending value, quoted
    listed = msg.split(":", 1)[1]
    names = [n.strip() for n in listed.split(",")]
    assert names == ["tiny", "wse1", "wse2", "wse3"]
    assert msg.startswith("unknown wafer")


def test_unknown_name_accepts_dicts_and_sets():
    for known in ({"b": 1, "a": 2, "c": 3}, {"c", "a", "b"}):
        msg = unknown_name("model", "z", known)
        assert msg.endswith("a, b, c")


def test_unknown_name_repr_of_non_strings():
    assert "42" in unknown_name("GPU", 42, ["v100"])
    assert "None" in unknown_name("GPU", None, ["v100"])
