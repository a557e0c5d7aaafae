"""The house rules, checked on the source: imports run one way and never in a circle, and the
repository stands alone (no path outside it).

Every module under ``wse_sim/``, ``kernels/`` and ``models/`` is parsed with :mod:`ast`; every
import, at module level or inside a function, counts. ``docs/architecture.md`` draws the same
map in words.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"wse_sim": ROOT / "wse_sim", "wse_sim.kernels": ROOT / "kernels",
           "wse_sim.models": ROOT / "models"}

# layer -> the layers it may import (besides itself). The base modules import nothing of ours.
BASE = {"errors", "jsonable", "version", "fingerprint", "validate", "atomic", "resources"}
ALLOWED = {
    "kernels": set(),
    "spec": {"kernels"},
    "graph": {"kernels"},
    "models": {"graph", "kernels"},
    "importers": {"graph", "kernels"},
    "mapping": {"graph", "spec", "kernels"},
    "fabric": {"mapping", "graph", "spec", "kernels"},
    "functional": {"graph", "kernels"},
    "placer": {"mapping", "fabric", "graph", "spec", "kernels"},
    "baselines": {"graph", "spec"},
    "engine": {"placer", "mapping", "fabric", "functional", "baselines", "graph", "spec",
               "kernels"},
    "io": {"engine", "placer", "graph", "spec"},
    "report": {"io", "baselines", "engine", "placer", "graph", "spec", "kernels"},
    "sweep": {"baselines", "engine", "placer", "graph", "spec", "models", "functional",
              "kernels", "io"},
    "cli": {"report", "io", "sweep", "baselines", "engine", "placer", "fabric", "functional",
            "graph", "spec", "models", "importers", "kernels", "facade"},
    "facade": {"report", "io", "sweep", "baselines", "engine", "placer", "fabric", "functional",
               "graph", "spec", "importers", "models", "kernels"},
}
TOP = {"report", "io", "sweep", "cli", "facade"}  # nothing below imports these


def _modules() -> dict[str, Path]:
    """``{dotted module name: path}`` of every source file."""
    out = {}
    for pkg, root in SOURCES.items():
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if pkg == "wse_sim" and parts and parts[0] in ("kernels", "models"):
                continue
            out[name] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The modules of ours an import statement loads (submodules named in a from-import too)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "wse_sim"]
    if node.level:
        base = module.split(".")
        if not _is_package(module):
            base = base[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "wse_sim":
        return []
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    # "from pkg import submodule" loads the submodule; any other name loads pkg itself
    return subs + ([target] if len(subs) < len(node.names) else [])


def _edges() -> list[tuple[str, str, int]]:
    edges = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _resolve(name, node):
                    while target not in MODULES and "." in target:
                        target = target.rsplit(".", 1)[0]  # an attribute of a module
                    if target != name:
                        edges.append((name, target, node.lineno))
    return edges


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "facade"
    return parts[1]


def test_every_module_belongs_to_a_known_layer():
    unknown = sorted({_layer(m) for m in MODULES} - set(ALLOWED) - BASE)
    assert not unknown, f"modules outside the layer map: {unknown}; add them to ALLOWED"


def test_imports_follow_the_direction_rule():
    bad = []
    for src, dst, line in _edges():
        a, b = _layer(src), _layer(dst)
        if a == b or b in BASE:
            continue
        if a in BASE or b not in ALLOWED.get(a, set()):
            bad.append(f"{MODULES[src].relative_to(ROOT)}:{line}: {src} -> {dst} "
                       f"({a} may not import {b})")
    assert not bad, "imports against the direction rule:\n" + "\n".join(bad)


def test_nothing_below_the_top_imports_the_top():
    bad = [(s, d) for s, d, _ in _edges() if _layer(d) in TOP and _layer(s) not in TOP]
    assert not bad, bad


def test_the_core_never_imports_the_model_zoo():
    core = {"spec", "graph", "mapping", "fabric", "functional", "placer", "engine", "baselines"}
    bad = [(s, d) for s, d, _ in _edges() if _layer(s) in core and _layer(d) == "models"]
    assert not bad, bad


def test_kernels_import_nothing_of_ours():
    bad = [(s, d) for s, d, _ in _edges() if _layer(s) == "kernels" and _layer(d) != "kernels"]
    assert not bad, bad


def test_no_import_cycle_between_modules():
    g = nx.DiGraph((s, d) for s, d, _ in _edges())
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_layer_map_itself_has_no_cycle():
    g = nx.DiGraph((a, b) for a, deps in ALLOWED.items() for b in deps)
    assert nx.is_directed_acyclic_graph(g)


@pytest.mark.parametrize("folder", ["wse_sim", "kernels", "models", "docs", "tests",
                                    "benchmarks"])
def test_no_path_outside_the_repository(folder):
    pattern = re.compile(r"(\.\./shared|shared/reference|DESIGN\.md)")
    hits = []
    for path in (ROOT / folder).rglob("*"):
        if path.suffix not in (".py", ".md", ".toml") or path == Path(__file__):
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


def test_modules_stay_small():
    """One job per module: no file over ~400 lines, no function over ~80."""
    long_files, long_funcs = [], []
    for name, path in MODULES.items():
        src = path.read_text(encoding="utf-8")
        if src.count("\n") > 450:
            long_files.append(f"{name}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 90:
                    long_funcs.append(f"{name}.{node.name}: {n} lines")
    assert not long_files and not long_funcs, long_files + long_funcs
