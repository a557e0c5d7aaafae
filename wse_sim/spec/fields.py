"""A frozen spec's copy with some fields changed, refusing names it does not have."""

from __future__ import annotations

import dataclasses

from ..errors import SpecError, unknown_name


def replaced(spec, changes: dict, kind: str | None = None):
    """``dataclasses.replace(spec, **changes)``; an unknown field raises :class:`SpecError`
    listing the known ones (``kind`` names the spec in the message)."""
    known = {f.name for f in dataclasses.fields(spec)}
    for key in changes:
        if key not in known:
            raise SpecError(unknown_name(f"{kind or type(spec).__name__} field", key, known))
    return dataclasses.replace(spec, **changes)
