"""Golden results: the full ``to_dict()`` of ``simulate()`` and ``gpu_baseline()`` for the
reference workloads, bit for bit (wall-clock fields excluded).

These files pin the model's numbers across refactors: a change that moves any digit either is
a bug or changes the model on purpose, and then its commit regenerates the files and says why::

    WSE_SIM_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py

Per-core arrays are too large for JSON; each is pinned by the SHA-256 of its bytes, dtype and
shape, which is just as strict.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import wse_sim as ws
from wse_sim.models import get

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("WSE_SIM_REGEN_GOLDEN") == "1"
WALL_KEYS = {"sim_wall_s", "place_wall_s", "wall_s"}
ARRAYS = ("busy_fraction", "sram_bytes", "stage_id", "link_loads", "timeline_start",
          "timeline_finish")

# name -> (zoo model, builder kwargs, weight sparsity, GPU of the baseline); GPT-2 XL's
# training state does not fit a 32 GB V100, so its baseline is an 80 GB A100
CASES = {
    "bert-large": ("bert-large", {"seq_len": 128}, 0.0, "v100"),
    "bert-large-s50": ("bert-large", {"seq_len": 128}, 0.5, "v100"),
    "cvae-28": ("cvae", {"map_size": 28}, 0.0, "v100"),
    "cvae-256": ("cvae", {"map_size": 256}, 0.0, "v100"),
    "resnet50": ("resnet50", {}, 0.0, "v100"),
    "gpt2-xl": ("gpt2-xl", {}, 0.0, "a100"),
}
MODES = ("train", "infer")


def _strip_wall(d):
    if isinstance(d, dict):
        return {k: _strip_wall(v) for k, v in d.items() if k not in WALL_KEYS}
    if isinstance(d, list | tuple):
        return [_strip_wall(v) for v in d]
    return d


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _graph(case: str):
    name, kwargs, s, _ = CASES[case]
    g = get(name, **kwargs)
    return ws.sparsify(g, weight_sparsity=s, seed=0) if s > 0 else g


def _compute(case: str, mode: str) -> dict:
    g = _graph(case)
    plan = ws.place(g, ws.wafer("wse2"), training=(mode == "train"), seed=0)
    r = ws.simulate(plan, mode=mode, samples=32, seed=0)
    d = r.to_dict()
    d["array_sha256"] = {k: _digest(getattr(r, k)) for k in ARRAYS}
    d["placement"] = plan.to_dict()
    gpu = CASES[case][3]
    d["gpu_baseline"] = ws.gpu_baseline(g, gpu, mode=mode, batch_per_gpu="auto").to_dict()
    return _strip_wall(d)


def _canon(d: dict) -> str:
    return json.dumps(d, sort_keys=True, indent=1, default=str)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, mode: str):
    path = GOLDEN / f"{case}.{mode}.json"
    fresh = _canon(_compute(case, mode))
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(fresh + "\n")
    if not path.exists():
        pytest.fail(f"no golden file {path}; run WSE_SIM_REGEN_GOLDEN=1 python -m pytest "
                    "tests/test_golden.py")
    want = json.loads(path.read_text())
    got = json.loads(fresh)
    if got != want:
        diffs = _first_diffs(want, got)
        pytest.fail(f"{case} {mode} differs from {path.name}:\n" + "\n".join(diffs))


def _first_diffs(a, b, path="", out=None, limit=12):
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'golden' if k in a else 'fresh'}")
            else:
                _first_diffs(a[k], b[k], f"{path}/{k}", out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _first_diffs(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path}: golden {a!r} != fresh {b!r}")
    return out
