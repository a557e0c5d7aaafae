"""The README's Quick start and the CI script agree, word for word."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"

INSTALL_AND_RUN = "python -m pip install -e . && wse-sim run"
INSTALL_AND_TEST = 'python -m pip install -e ".[dev]" && python -m pytest'


def quick_start_block(text: str) -> tuple[str, list[str]]:
    """The info string and the lines of the fenced block right under the Quick-start heading.

    Only blank lines and prose may separate the heading from the block; reaching another
    heading first means the section has no block.
    """
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(r"^#{1,6}\s.*quick start", line, re.IGNORECASE)]
    assert len(starts) == 1, f"expected one 'Quick start' heading, found {len(starts)}"
    i = starts[0] + 1
    while i < len(lines) and not lines[i].startswith("```"):
        assert not lines[i].startswith("#"), "no fenced code block under 'Quick start'"
        i += 1
    assert i < len(lines), "no fenced code block under 'Quick start'"
    info = lines[i][3:].strip()
    body = []
    for line in lines[i + 1:]:
        if line.startswith("```"):
            return info, body
        body.append(line)
    raise AssertionError("unterminated code block under 'Quick start'")


def commands(body: list[str]) -> list[str]:
    return [line.strip() for line in body if line.strip() and not line.lstrip().startswith("#")]


def ci_test_cmd(script: str) -> str:
    found = re.findall(r"^TEST_CMD='([^']*)'\s*$", script, re.MULTILINE)
    assert len(found) == 1, f"expected one TEST_CMD='...' line in .ci/run, found {len(found)}"
    return found[0]


def test_quick_start_holds_exactly_the_two_commands():
    info, body = quick_start_block(README.read_text(encoding="utf-8"))
    assert info == "bash"
    assert commands(body) == [INSTALL_AND_RUN, INSTALL_AND_TEST]


def test_ci_runs_the_readme_test_command():
    _, body = quick_start_block(README.read_text(encoding="utf-8"))
    readme_test = commands(body)[1]
    assert ci_test_cmd(CI.read_text(encoding="utf-8")) == readme_test == INSTALL_AND_TEST


def test_ci_script_is_strict_and_isolated():
    script = CI.read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash")
    assert re.search(r"^set -euo pipefail\s*$", script, re.MULTILINE)
    assert re.search(r"^\s*python3? -m venv \S+", script, re.MULTILINE), "CI must make a venv"
    assert re.search(r"^\s*(source|\.) \S*/bin/activate", script, re.MULTILINE)
    # the command is actually executed, not just declared
    assert re.search(r'^[^#\n]*"\$TEST_CMD"', script, re.MULTILINE)


def test_ci_script_is_executable():
    if os.name == "nt":
        pytest.skip("no POSIX file modes on Windows")
    assert CI.stat().st_mode & 0o111, ".ci/run must be executable"


# ---- the parsers above, on inputs they must reject -------------------------------------------
def test_parser_rejects_a_block_under_another_heading():
    text = "# t\n\n## Quick start\n\nProse.\n\n## Other\n\n```bash\nx\n```\n"
    with pytest.raises(AssertionError, match="no fenced"):
        quick_start_block(text)


def test_parser_reads_the_first_block_only():
    text = "## Quick start\n\n```bash\na\n\nb\n```\n\n```bash\nc\n```\n"
    assert quick_start_block(text) == ("bash", ["a", "", "b"])
    assert commands(["a", "", "  # note", "b"]) == ["a", "b"]


def test_ci_regex_needs_exactly_one_assignment():
    assert ci_test_cmd("set -e\nTEST_CMD='x && y'\n") == "x && y"
    with pytest.raises(AssertionError):
        ci_test_cmd("TEST_CMD=\"x\"\n")
