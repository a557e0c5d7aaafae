"""The simulator's fingerprint: a hash of its own source, so cached results follow the code.

:func:`fingerprint` hashes the bytes of every source file of ``wse_sim``, ``wse_sim.kernels``
and ``wse_sim.models`` (``*.py``, and the preset data files ``*.toml``, which change results
as surely as code), each with its path relative to its package. It is computed once per process
(about 150 files, a few milliseconds) and keys every sweep point, so any edit to the model,
without a version bump, invalidates the points computed before it; ``result.json`` and every
sweep row record it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path

PACKAGES = ("wse_sim", "wse_sim.kernels", "wse_sim.models")
"""The packages whose files make up the fingerprint."""

SUFFIXES = (".py", ".toml")
LENGTH = 16  # hex digits kept: 64 bits, collision-free for any number of code versions in use

_cached: str | None = None


def source_roots() -> dict[str, Path]:
    """``{package: its folder}`` for :data:`PACKAGES`, found the way ``import`` finds them."""
    roots = {}
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        roots[name] = Path(next(iter(spec.submodule_search_locations)))
    return roots


def source_files(roots: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """``[(label, path)]`` of the fingerprinted files, sorted by label (``package/relative``).

    A subpackage that is itself in ``roots`` (``wse_sim/kernels`` when it is installed inside
    ``wse_sim``) is counted once, under its own name.
    """
    own = {Path(p).resolve() for p in roots.values()}
    files = []
    for name, root in roots.items():
        root = Path(root).resolve()
        for path in root.rglob("*"):
            if path.suffix not in SUFFIXES or not path.is_file() or "__pycache__" in path.parts:
                continue
            if any(p != root and p in own and path.is_relative_to(p) for p in own):
                continue
            files.append((f"{name}/{path.relative_to(root).as_posix()}", path))
    return sorted(files)


def tree_fingerprint(roots: Mapping[str, Path]) -> str:
    """The fingerprint of the source trees ``roots`` (see :func:`fingerprint`)."""
    h = hashlib.sha256()
    for label, path in source_files(roots):
        data = path.read_bytes()
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:LENGTH]


def fingerprint() -> str:
    """The fingerprint of the running simulator (:data:`LENGTH` hex digits), computed once."""
    global _cached
    if _cached is None:
        _cached = tree_fingerprint(source_roots())
    return _cached


def forget() -> None:
    """Drop the cached fingerprint (tests that edit a copied source tree)."""
    global _cached
    _cached = None
