"""Every constant that shapes a prediction has a row in the constants registry, and every row
names a constant that exists with the value the code uses.

The registry is the table under the heading ``## Constants registry``, the last ``##`` section
of ``docs/hardware.md`` (``docs/modeling.md`` may hold one too, same heading, same place, same
row form). A row reads::

    | `wse_sim.placer.pipelined.REPLICA_SLACK` | 1.15 | assumed | why this value, where from |

- the dotted module path as the package installs it (``kernels/x.py`` is
  ``wse_sim.kernels.x``, ``models/x.py`` is ``wse_sim.models.x``), then the name; a dict
  constant gets one row per key, ``NAME.key``;
- the value as a Python literal or arithmetic of literals (``25 * 2**20``, ``(1 / 4, 0.92,
  1.0)``), compared numerically with the code's value (relative tolerance 1e-12);
- the sureness: ``stated`` (read in a source), ``derived`` (arithmetic on stated figures),
  ``assumed`` (a reasonable value no source states) or ``fitted`` (chosen to match a measured
  figure; the issue that allows it says so);
- a non-empty source: where the value comes from, or why it is what it is.

**Which constants count.** Every module under ``wse_sim/{spec,graph,mapping,placer,fabric,
engine,baselines}``, ``kernels/`` and ``models/`` is parsed with :mod:`ast` (nothing is
imported). A constant is a module-level assignment (plain or annotated) to a name written in
upper case (a leading underscore allowed) whose value is built only from int or float literals,
the names of constants found earlier in the same module, the operators ``+ - * / // % ** <<
>>`` and unary ``-``/``+``, and tuples of such values (a list is mutable state); or a dict
with string keys and such values (one row per key). Strings, booleans, calls (``np.array``,
``frozenset``) and names from other modules do not count: they are vocabularies, not numbers,
or copies. Tuples count: a tuple of numbers (tile shapes, split factors, NCCL latencies per
protocol) shapes a prediction as much as a scalar does.

Constants that cannot move a prediction (array slot indices, error codes, cache-blocking sizes,
display caps) are exempt only through :data:`EXEMPT` (by name) or :data:`EXEMPT_FAMILIES` (a
name pattern inside one module, for families of array slot indices) below, each with its reason.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_FILES = ("docs/hardware.md", "docs/modeling.md")
HEADING = "## Constants registry"
SURENESS = ("stated", "derived", "assumed", "fitted")

# (folder, dotted package) scanned for constants
SCANNED = (
    ("wse_sim/spec", "wse_sim.spec"),
    ("wse_sim/graph", "wse_sim.graph"),
    ("wse_sim/mapping", "wse_sim.mapping"),
    ("wse_sim/placer", "wse_sim.placer"),
    ("wse_sim/fabric", "wse_sim.fabric"),
    ("wse_sim/engine", "wse_sim.engine"),
    ("wse_sim/baselines", "wse_sim.baselines"),
    ("kernels", "wse_sim.kernels"),
    ("models", "wse_sim.models"),
)

_NOC = "wse_sim.kernels._noc_layout."
EXEMPT: dict[str, str] = {
    # array layout: slots and status codes of the cycle-level NoC kernels' state arrays
    _NOC + "N_PORTS": "array layout: four mesh ports and the ramp",
    _NOC + "RAMP": "array layout: the ramp's port index",
    _NOC + "RECOUNT": "a self-check period (cycles between conservation recounts)",
    "wse_sim.kernels._route_kernels.N_DIRS": "array layout: the four link directions E, W, S, N",
    "wse_sim.kernels.noc_stages.GO_ON": "a sentinel return code",
    # speed only: cache blocking and threading thresholds; the result is the same bits
    "wse_sim.kernels.spmm._K_BLOCK_BYTES": "cache blocking of the host kernel (speed only)",
    "wse_sim.kernels.spmm._COL_BLOCK_BYTES": "cache blocking of the host kernel (speed only)",
    "wse_sim.kernels.spmm._SERIAL_MACS": "threading threshold of the host kernel (speed only)",
    "wse_sim.kernels.routes._WALK_FACTOR": "picks walk vs prefix sums; both give the same loads",
    "wse_sim.models.data._BLOCK_ELEMS": "chunk size of a distance computation (memory only)",
    "wse_sim.kernels.masks._NM_DENSITY_TOL": "float round-off tolerance of an argument check",
    "wse_sim.models.data._PERSISTENCE_TAPS": "truncation of an AR(1) filter, exact to 0.5**12",
    "wse_sim.graph.drawn.DRAWN_CACHE_BYTES": "memory cap of a cache; a dropped mask is redrawn "
                                             "bit for bit",
    "wse_sim.engine.pipelined.SHOWN_SAMPLES": "samples whose timeline a result keeps (display)",
    "wse_sim.placer.llm.BATCH_PER_WAFER_LIMIT": "an input check: refuses a batch, never changes "
                                                "a number",
    "wse_sim.baselines.collectives.US": "a unit: one microsecond in seconds",
    "wse_sim.fabric.cycle.presets.OPP": "mesh geometry: the port opposite each port",
    "wse_sim.fabric.cycle.programs.DIR_STEP": "mesh geometry: (row, col) step of E, W, S, N",
}

EXEMPT_FAMILIES: dict[str, tuple[str, str]] = {
    # module -> (full-match name pattern, reason): slot indices and status codes of packed
    # state arrays, which a kernel adds to as it grows
    "wse_sim.kernels._noc_layout": (r"(S|C|ERR)_[A-Z0-9_]+|N_STATS|N_COUNTERS|OK",
                                    "slot index / status code of the NoC state arrays"),
    "wse_sim.kernels.stage_costs": (r"P_[A-Z0-9_]+|N_PARAMS",
                                    "slot index of the packed per-pass parameter array"),
}


def exempt_reason(name: str) -> str | None:
    """Why ``name`` needs no registry row, or None."""
    if name in EXEMPT:
        return EXEMPT[name]
    module, _, const = name.rpartition(".")
    family = EXEMPT_FAMILIES.get(module)
    if family and re.fullmatch(family[0], const):
        return family[1]
    return None


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class NotNumeric(Exception):
    """The expression is not a number, a tuple of numbers or arithmetic of them."""


def numeric(node: ast.AST, env: dict):
    """Value of ``node`` if it is built only from numeric literals, names in ``env``,
    arithmetic and tuples (a list is mutable state, not a constant); else :class:`NotNumeric`."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise NotNumeric
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise NotNumeric
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](numeric(node.left, env), numeric(node.right, env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](numeric(node.operand, env))
    if isinstance(node, ast.Tuple) and node.elts:
        return tuple(numeric(e, env) for e in node.elts)
    raise NotNumeric


def _is_constant_name(name: str) -> bool:
    bare = name.lstrip("_")
    return bool(bare) and bare[0].isalpha() and bare.upper() == bare


def _render(node: ast.AST, value) -> str:
    """The value as the code writes it when that is self-contained, else its repr."""
    text = ast.unparse(node)
    return text if not any(isinstance(n, ast.Name) for n in ast.walk(node)) else repr(value)


def scan_source(source: str, module: str) -> dict[str, tuple[object, str]]:
    """``{dotted name: (value, value as text)}`` of the constants of one module's source."""
    env: dict = {}
    out = {}
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if not isinstance(target, ast.Name) or not _is_constant_name(target.id):
            continue
        name = target.id
        if isinstance(value, ast.Dict) and value.keys and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys):
            try:
                pairs = zip(value.keys, value.values, strict=True)
                items = {k.value: (numeric(v, env), v) for k, v in pairs}
            except NotNumeric:
                continue
            for key, (val, node) in items.items():
                out[f"{module}.{name}.{key}"] = (val, _render(node, val))
            continue
        try:
            val = numeric(value, env)
        except NotNumeric:
            continue
        env[name] = val
        out[f"{module}.{name}"] = (val, _render(value, val))
    return out


def code_constants() -> dict[str, tuple[object, str]]:
    """Every counted constant of the scanned packages, exempt ones included."""
    out = {}
    for folder, package in SCANNED:
        root = ROOT / folder
        for path in sorted(root.rglob("*.py")):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            out.update(scan_source(path.read_text(encoding="utf-8"), ".".join([package, *parts])))
    return out


_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


def registry_rows(text: str, where: str) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """``({name: (value, sureness, source)}, [problems])`` of one file's registry section."""
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]
    at = [i for i in heads if lines[i].strip() == HEADING]
    if not at:
        return {}, []
    problems = []
    if at[-1] != heads[-1]:
        problems.append(f"{where}: '{HEADING}' must be the last '## ' section of the file")
    rows: dict[str, tuple[str, str, str]] = {}
    for line in lines[at[-1] + 1:]:
        m = _ROW.match(line.strip())
        if not m:
            continue
        cells = [c.strip() for c in m.group(2).split("|")]
        if len(cells) < 3:
            problems.append(f"{where}: row for {m.group(1)} needs value | sureness | source")
            continue
        name, value, sureness, source = m.group(1), cells[0], cells[1], " | ".join(cells[2:])
        if name in rows:
            problems.append(f"{where}: {name} has two rows")
        rows[name] = (value, sureness, source)
    return rows, problems


def _same(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)


def check(constants: dict, rows: dict) -> list[str]:
    """Every problem between the code's constants and the registry rows, ready to act on."""
    missing, wrong, stale, bad = [], [], [], []
    for name, (value, text) in sorted(constants.items()):
        reason = exempt_reason(name)
        if reason:
            if name in rows:
                bad.append(f"{name} is exempt ({reason}) but also has a row: drop one")
            continue
        if name not in rows:
            missing.append(f"| `{name}` | {text} | <stated/derived/assumed/fitted> | <source> |")
            continue
        cell, sureness, source = rows[name]
        try:
            documented = numeric(ast.parse(cell, mode="eval").body, {})
        except (SyntaxError, NotNumeric, ZeroDivisionError):
            documented = None
        if documented is None or not _same(documented, value):
            wrong.append(f"| `{name}` | {text} | {sureness} | {source} |   (registry says {cell})")
        if sureness not in SURENESS:
            bad.append(f"{name}: sureness {sureness!r} is not one of {', '.join(SURENESS)}")
        if not source or source.startswith("<"):
            bad.append(f"{name}: the source cell is empty")
    for name in sorted(set(rows) - set(constants)):
        stale.append(f"| `{name}` | ... |   (no such constant in the code: remove the row)")
    out = []
    for title, items in (("missing rows (paste under '## Constants registry')", missing),
                         ("rows whose value differs from the code (corrected rows)", wrong),
                         ("stale rows or exemptions", stale), ("malformed rows", bad)):
        if items:
            out.append(f"{title}:\n" + "\n".join(items))
    return out


def test_every_constant_has_a_registry_row_with_its_value_sureness_and_source():
    rows: dict = {}
    problems: list[str] = []
    for rel in REGISTRY_FILES:
        found, trouble = registry_rows((ROOT / rel).read_text(encoding="utf-8"), rel)
        problems += trouble
        problems += [f"{rel}: {n} is also registered in another file" for n in found if n in rows]
        rows.update(found)
    if not rows:
        problems.append(f"no '{HEADING}' table at the end of {' or '.join(REGISTRY_FILES)}")
    constants = code_constants()
    problems += check(constants, rows)
    problems += [f"EXEMPT entry {n} names no constant: remove it from the test"
                 for n in sorted(set(EXEMPT) - set(constants))]
    assert not problems, "\n\n".join(problems)


def test_a_numeric_constant_is_defined_in_one_module_only():
    """Two modules that each keep their own copy of a figure drift apart (the report's trace
    once had its own optimizer op count); the second module must import the first's."""
    seen: dict[str, set[str]] = {}
    for folder in ("wse_sim", "kernels", "models"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for dotted in scan_source(path.read_text(encoding="utf-8"), "m"):
                seen.setdefault(dotted.split(".")[1], set()).add(str(path.relative_to(ROOT)))
    twice = {name: sorted(paths) for name, paths in seen.items() if len(paths) > 1}
    assert not twice, f"one constant, several homes: {twice}"


# ---- the checker itself catches what it must ---------------------------------------------------

SOURCE = '''
US = 1e-6
LAT = (3.6 * US, 10.0 * US)
BYTES = {"fp16": 2, "fp32": 4}
MASK = 1 << 16
NAMES = ("a", "b")
ON = True
ARR = np.array([1, 2])
lower = 3
_PRIVATE = 0.5
'''


def test_scanner_counts_numbers_tuples_dicts_and_arithmetic_only():
    found = scan_source(SOURCE, "m")
    assert set(found) == {"m.US", "m.LAT", "m.BYTES.fp16", "m.BYTES.fp32", "m.MASK",
                          "m._PRIVATE"}
    assert found["m.LAT"][0] == pytest.approx((3.6e-6, 1e-5))
    assert found["m.MASK"] == (65536, "1 << 16")


@pytest.mark.parametrize("rows, expect", [
    ({}, "missing rows"),
    ({"m.X": ("0.5", "assumed", "a guess"), "m.GONE": ("1", "assumed", "x")}, "stale"),
    ({"m.X": ("0.25", "assumed", "a guess")}, "differs"),
    ({"m.X": ("0.5", "guessed", "a guess")}, "sureness"),
    ({"m.X": ("0.5", "assumed", "")}, "source cell is empty"),
])
def test_checker_reports_missing_stale_wrong_and_malformed_rows(rows, expect):
    problems = "\n".join(check({"m.X": (0.5, "0.5")}, rows))
    assert expect in problems


def test_checker_accepts_a_correct_row_and_arithmetic_values():
    assert check({"m.X": (25 * 2**20, "25 * 2**20")},
                 {"m.X": ("26214400", "stated", "PyTorch DDP default")}) == []
    assert check({"m.T": ((0.25, 0.92), "(1 / 4, 0.92)")},
                 {"m.T": ("(1 / 4, 0.92)", "stated", "NCCL")}) == []


def test_registry_heading_must_close_the_file():
    text = f"# t\n{HEADING}\n| `m.X` | 1 | stated | s |\n## Later\n"
    rows, problems = registry_rows(text, "f.md")
    assert rows == {"m.X": ("1", "stated", "s")} and problems
