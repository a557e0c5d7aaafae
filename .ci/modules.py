"""Regenerate the module list of docs/architecture.md from the source tree.

    python .ci/modules.py          # rewrites the block in place; review with git diff

One line per module: path, length in lines, the first sentence of its docstring shortened.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 74  # characters of docstring kept per line


def first_sentence(path: Path) -> str:
    doc = " ".join((ast.get_docstring(ast.parse(path.read_text())) or "").split())
    m = re.match(r"(.+?\.)(\s|$)", doc)
    return m.group(1) if m else doc


def module_lines() -> list[str]:
    lines = []
    for top in ("wse_sim", "kernels", "models"):
        lines.append(f"{top}/")
        for p in sorted((ROOT / top).rglob("*.py")):
            s = textwrap.shorten(first_sentence(p), width=WIDTH, placeholder=" ...",
                                 break_on_hyphens=False)
            n = len(p.read_text().splitlines())
            lines.append(f"  {p.relative_to(ROOT / top).as_posix():<34}{n:>5}  {s}")
    return lines


def main() -> int:
    path = ROOT / "docs" / "architecture.md"
    doc = path.read_text()
    start = doc.index("```\nwse_sim/\n") + 4
    end = doc.index("```", start)
    path.write_text(doc[:start] + "\n".join(module_lines()) + "\n" + doc[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
