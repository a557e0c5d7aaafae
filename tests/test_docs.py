"""The documentation points at things that exist: every relative link (and its anchor), every
repository path in backticks and every dotted ``wse_sim.…`` name resolves; the README's first
screen stays short."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 80  # the first screen: quick start, one example, links; details in docs/


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)}


def _prose(path: Path) -> str:
    """The file without fenced code blocks (whose text is shell or Python, not references)."""
    return re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(doc):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc)):
        if re.match(r"^[a-z]+:", target):
            continue  # a URL
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_repository_paths_in_backticks_exist(doc):
    paths = re.findall(r"`((?:wse_sim|kernels|models|benchmarks|tests|docs|\.ci)/[\w/.\-]*)`",
                       _prose(doc))
    missing = [p for p in paths if "*" not in p and not (ROOT / p).exists()]
    assert not missing, f"{doc.name}: no such path {missing}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if isinstance(obj, dict) and name in obj:  # a registry row's dict key
                obj = obj[name]
            elif hasattr(obj, name):
                obj = getattr(obj, name)
            else:
                return False
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_dotted_names_in_backticks_resolve(doc):
    names = set(re.findall(r"`(wse_sim(?:\.[\w\-*]+)+)", _prose(doc)))
    missing = sorted(n for n in names if "*" not in n and not _resolves(n))
    assert not missing, f"{doc.name}: no such module or attribute {missing}"


def test_readme_first_screen_is_short_and_links_the_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, "move details to docs/ and link them"
    quick = next(i for i, line in enumerate(lines) if line.lower().startswith("## quick start"))
    assert quick < 15, "the quick start belongs on the first screen"
    for doc in ("usage", "modeling", "hardware", "gpu_baselines", "validation", "architecture"):
        assert f"(docs/{doc}.md)" in text, f"README does not link docs/{doc}.md"


def test_slug_and_resolver_reject_what_they_must():
    assert _slug("Constants registry") == "constants-registry"
    assert _slug("`cvae-cs2` with replicas 1, 2") == "cvae-cs2-with-replicas-1-2"
    assert _resolves("wse_sim.placer.pipelined.REPLICA_SLACK")
    assert _resolves("wse_sim.models.gpt.GPT_PRESETS.gpt2-small")
    assert not _resolves("wse_sim.placer.pipelined.NO_SUCH_NAME")
    assert not _resolves("wse_sim.no_such_module")


def test_architecture_layer_table_matches_the_enforced_import_rules():
    """docs/architecture.md's 'may import' column says what tests/test_architecture.py enforces."""
    from test_architecture import ALLOWED  # tests/ is on sys.path (no __init__)

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        m = re.match(r"^\| `(\w+)/`[^|]*\| ([^|]+) \|", line)
        if m and m.group(1) in ALLOWED:
            cell = m.group(2).strip()
            table[m.group(1)] = set() if cell.startswith("nothing") else (
                None if cell == "everything" else {c.strip() for c in cell.split(",")})
    assert set(table) >= set(ALLOWED) - {"facade"}
    wrong = {layer: (sorted(allowed), sorted(table[layer])) for layer, allowed in ALLOWED.items()
             if table.get(layer) is not None and table[layer] != allowed}
    assert not wrong, f"layer: (enforced, documented) {wrong}"


def _cli_options() -> dict[str, set[str]]:
    """``{subcommand: its option strings}`` from the real parsers."""
    import argparse

    from wse_sim.cli.args import Parser
    from wse_sim.cli.main import build_parser
    from wse_sim.cli.sweep import add_sweep_arguments

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {name: {s for a in p._actions for s in a.option_strings}
           for name, p in sub.choices.items()}
    sweep = Parser(prog="sweep")
    add_sweep_arguments(sweep)
    out["sweep"] = {s for a in sweep._actions for s in a.option_strings}
    return out


@pytest.mark.parametrize("doc", [ROOT / "README.md", ROOT / "docs" / "usage.md"],
                         ids=lambda p: p.name)
def test_cli_commands_and_flags_in_the_docs_exist(doc):
    """Every ``wse-sim SUB --flag`` written in the docs is a real subcommand and option."""
    options = _cli_options()
    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    code = "\n".join(blocks + [s.replace("\n", " ") for s in spans])
    wrong = []
    # a command runs to the end of its line, or on through a trailing backslash or an
    # indented continuation line of the usage block
    for m in re.finditer(r"wse-sim (\w+)((?:[^\n]|\\\n|\n {6,})*)", code):
        sub, rest = m.group(1), m.group(2)
        if sub not in options:
            wrong.append(f"wse-sim {sub}")
            continue
        wrong += [f"wse-sim {sub} {f}" for f in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest)
                  if f not in options[sub]]
    assert not wrong, f"{doc.name}: no such command or option {sorted(set(wrong))}"


@pytest.mark.parametrize("doc", [ROOT / "README.md", ROOT / "docs" / "usage.md"],
                         ids=lambda p: p.name)
def test_python_examples_compile_and_name_the_real_api(doc):
    """Every ```python block parses, and every ``ws.NAME`` (with ``import wse_sim as ws``) and
    ``from wse_sim... import NAME`` it uses exists."""
    import ast

    import wse_sim

    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, f"{doc.name} has no Python example"
    missing = []
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "ws" and not hasattr(wse_sim, node.attr)):
                missing.append(f"ws.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module.startswith("wse_sim"):
                missing += [f"{node.module}.{a.name}" for a in node.names
                            if not _resolves(f"{node.module}.{a.name}")]
    assert not missing, f"{doc.name}: no such API {missing}"


def test_hardware_md_states_the_wafer_defaults_the_code_uses():
    """The per-core overhead table and the energy line of docs/hardware.md equal WaferSpec's
    defaults (the other defaults are WSE-2's, checked through the presets in test_spec)."""
    import dataclasses

    from wse_sim.spec import WaferSpec

    defaults = {f.name: f.default for f in dataclasses.fields(WaferSpec)}
    text = (ROOT / "docs" / "hardware.md").read_text(encoding="utf-8")
    section = text.split("### Per-core overheads and buffers", 1)[1].split("### Checking", 1)[0]
    found = {}
    for name, value, unit in re.findall(r"^\| `(\w+)` \| ([\d.]+)( KB)? \|", section, re.M):
        found[name] = float(value) * (1024 if unit else 1)
    found.update({n: float(v) for n, v in re.findall(r"`(energy_\w+)` = (\d+(?:\.\d+)?)", section)})
    assert len(found) >= 9, found
    wrong = {n: (v, defaults.get(n)) for n, v in found.items() if defaults.get(n) != v}
    assert not wrong, f"documented vs WaferSpec default: {wrong}"
