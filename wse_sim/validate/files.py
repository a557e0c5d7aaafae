"""File-system failures as :class:`~wse_sim.errors.WseSimFileError`: one rule for every reader
and writer of wse-sim (saved results, reports, plots, traces, sweep tables)."""

from __future__ import annotations

import contextlib

from ..errors import WseSimFileError


@contextlib.contextmanager
def file_errors(action: str, where, fix: str = "give a path you can read and write"):
    """Turn an ``OSError`` raised inside the block (a folder where a file belongs, a missing
    or read-only folder, a name too long) into :class:`WseSimFileError`::

        cannot write '/tmp/out': it is a folder; give the path of a file

    ``action`` is the verb phrase ('write', 'read the sweep rows of'), ``where`` the path."""
    try:
        yield
    except WseSimFileError:
        raise
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise WseSimFileError(f"cannot {action} {str(where)!r}: {why}; {fix}") from None


def _existing_ancestor_is_a_file(field: str, p) -> None:
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WseSimFileError(f"{field} {str(p)!r} lies under {str(parent)!r}, which is "
                                      "a file, not a folder; choose a path in a folder")
            return


def check_output_file(field: str, value, example: str = "out.png"):
    """The :class:`~pathlib.Path` of a file wse-sim is about to write (a plot, a trace),
    checked before any work is done: not a folder, not under a file, a readable name."""
    from .checks import path as as_path

    p = as_path(field, value)
    with file_errors("write", p, "choose a shorter path in a folder you can write"):
        if p.is_dir():
            raise WseSimFileError(f"{field} {str(p)!r} is a folder; give the path of a file in "
                                  f"it, e.g. {str(p / example)!r}")
        _existing_ancestor_is_a_file(field, p)
    return p


def check_output_folder(field: str, value):
    """The :class:`~pathlib.Path` of a folder wse-sim is about to fill (a report, a saved
    result, a sweep): not a file, not under a file, a readable name."""
    from .checks import path as as_path

    p = as_path(field, value)
    with file_errors("write into", p, "choose a shorter path you can write"):
        if p.exists() and not p.is_dir():
            raise WseSimFileError(f"{field} {str(p)!r} is a file; choose a folder")
        _existing_ancestor_is_a_file(field, p)
    return p
