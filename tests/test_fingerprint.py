"""The sweep cache follows the code: a point's key includes the simulator's source fingerprint,
so one changed byte in a (copied) source tree recomputes every point; stale rows are counted,
and kept on purpose only with ``reuse_stale`` (marked)."""

from __future__ import annotations

import json
import shutil

import pytest

import wse_sim.fingerprint as fp
from wse_sim.cli import main
from wse_sim.sweep import read_table, sweep, without_timings
from wse_sim.sweep.space import expand_space, point_key
from wse_sim.sweep.store import JSONL_NAME, MANIFEST_NAME, encode_row

SPACE = {"model": ["cvae"], "wafer": ["tiny"], "weight_sparsity": [0.0, 0.5], "samples": [4]}


@pytest.fixture
def copied_tree(tmp_path, monkeypatch):
    """A copy of the simulator's source trees that the fingerprint reads instead."""
    roots = {}
    for name, root in fp.source_roots().items():
        dst = tmp_path / "src" / name
        shutil.copytree(root, dst, ignore=shutil.ignore_patterns("__pycache__"))
        roots[name] = dst
    monkeypatch.setattr(fp, "source_roots", lambda: dict(roots))
    fp.forget()
    yield roots
    fp.forget()


def flip_one_byte(roots) -> None:
    """Change one byte of one module of the copied tree (the next ' the ' -> ' thE ')."""
    path = roots["wse_sim"] / "engine" / "simulate.py"
    data = bytearray(path.read_bytes())
    i = data.index(b" the ") + 3
    data[i] = ord("E")
    path.write_bytes(bytes(data))
    fp.forget()


def test_fingerprint_hashes_content_not_location(copied_tree):
    original = fp.tree_fingerprint({k: v for k, v in fp.source_roots().items()})
    fp.forget()
    real = {}
    # the real tree, found by import: same bytes, another folder -> the same fingerprint
    import importlib.util
    for name in fp.PACKAGES:
        spec = importlib.util.find_spec(name)
        real[name] = next(iter(spec.submodule_search_locations))
    assert fp.tree_fingerprint(real) == original
    assert len(fp.source_files(copied_tree)) > 50  # every module, once
    flip_one_byte(copied_tree)
    assert fp.fingerprint() != original


def test_one_changed_byte_recomputes_every_point(copied_tree, tmp_path, capsys):
    out = tmp_path / "out"
    first = sweep(SPACE, out, executor="serial", progress=False)
    assert (first.computed, first.reused, first.stale) == (2, 0, 0)
    again = sweep(SPACE, out, executor="serial", progress=False)
    assert (again.computed, again.reused, again.stale) == (0, 2, 0)
    old_fp = fp.fingerprint()
    assert json.loads((out / MANIFEST_NAME).read_text())["fingerprint"] == old_fp

    flip_one_byte(copied_tree)
    new_fp = fp.fingerprint()
    assert new_fp != old_fp
    redo = sweep(SPACE, out, executor="serial", progress=False)
    assert (redo.computed, redo.reused, redo.stale) == (2, 0, 2)  # every point recomputed
    assert {r["fingerprint"] for r in redo} == {new_fp} and not any(r["stale"] for r in redo)
    assert {r["key"] for r in redo}.isdisjoint(r["key"] for r in first)
    # same code, same settings: the recomputed rows equal the first ones but for provenance
    strip = ("key", "fingerprint")
    assert [{k: v for k, v in without_timings(r).items() if k not in strip} for r in redo] == \
        [{k: v for k, v in without_timings(r).items() if k not in strip} for r in first]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["fingerprint"] == new_fp
    assert manifest["counts"] == {"computed": 2, "reused": 0, "stale": 2, "failed": 0}

    flip_one_byte(copied_tree)  # another change, and this time keep the stale rows
    kept = sweep(SPACE, out, executor="serial", progress=False, reuse_stale=True)
    assert (kept.computed, kept.reused, kept.stale) == (0, 0, 2)
    assert all(r["stale"] is True and r["fingerprint"] == new_fp for r in kept)
    assert "2 stale (kept, marked stale)" in kept.summary()
    assert all(r["stale"] is True for r in read_table(out))
    assert "True" in (out / "results.csv").read_text()
    # kept rows were never stored under the new keys: without the flag they are recomputed
    fresh = sweep(SPACE, out, executor="serial", progress=False)
    assert (fresh.computed, fresh.stale) == (2, 2) and not any(r["stale"] for r in fresh)


def test_rows_of_the_old_version_keyed_cache_are_stale(tmp_path):
    """Rows written before the fingerprint (schema 1, keyed by version only) are stale."""
    out = tmp_path / "out"
    table = sweep(SPACE, out, executor="serial", progress=False)
    legacy = []
    for row, point in zip(table, expand_space(SPACE), strict=True):
        old = {k: v for k, v in row.items() if k not in ("schema", "fingerprint", "stale")}
        old["key"] = "0" * 19 + str(len(legacy))  # any key: the old scheme's differ from ours
        legacy.append(old)
        assert point_key(point) == row["key"]
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    (old_dir / JSONL_NAME).write_text("".join(encode_row(r) + "\n" for r in legacy))
    t = sweep(SPACE, old_dir, executor="serial", progress=False)
    assert (t.computed, t.reused, t.stale) == (2, 0, 2)


def test_cli_reuse_stale(copied_tree, tmp_path, capsys):
    toml = tmp_path / "space.toml"
    toml.write_text('[space]\nmodel = ["cvae"]\nwafer = ["tiny"]\nsamples = [4]\n')
    argv = ["sweep", str(toml), "--out", str(tmp_path / "o"), "--executor", "serial",
            "--no-progress"]
    assert main(argv) == 0
    flip_one_byte(copied_tree)
    assert main([*argv, "--reuse-stale"]) == 0
    assert "0 computed, 0 reused, 0 failed, 1 stale (kept, marked stale)" in \
        capsys.readouterr().out
    assert main(argv) == 0
    assert "1 computed, 0 reused, 0 failed, 1 stale (recomputed)" in capsys.readouterr().out
