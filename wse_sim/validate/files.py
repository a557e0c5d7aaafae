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
