"""``wse-sim report``: redraw a report from a saved result."""

from __future__ import annotations

from pathlib import Path

from ..io import load_run
from ..report import report


def cmd_report(args) -> int:
    saved = load_run(args.result)
    src = Path(args.result)
    out = args.out or (src if src.is_dir() else src.parent)
    md = report(saved, out)
    print(f"report: {md}")
    return 0
