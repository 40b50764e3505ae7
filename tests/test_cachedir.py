"""vidlle.cachedir: one root for every cache, moved by $VIDLLE_CACHE."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vidlle.cachedir import CACHE_ENV, cache_dir, cache_root
from vidlle.engines.cache import ArtifactCache, engines_dir

ROOT = Path(__file__).resolve().parents[1]


def test_root_from_env_else_home(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.setenv(CACHE_ENV, "~/elsewhere")
    assert cache_root() == Path.home() / "elsewhere"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root() == Path.home() / ".cache" / "vidlle"


def test_engine_cache_lives_under_the_root(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert engines_dir() == cache_dir("engines") == tmp_path / "engines"
    assert ArtifactCache().root == tmp_path / "engines"


def test_segmentation_weights_are_found_under_the_root(monkeypatch, tmp_path):
    pytest.importorskip("torch", reason="the segmenter's module needs torch (the torch extra)")
    from vidlle.models.segment import SEG_WEIGHTS_ENV, find_seg_weights

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(SEG_WEIGHTS_ENV, raising=False)
    weights = cache_dir("weights") / "espnetv2_s_2.0_city_1024x512.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    assert find_seg_weights(None) == weights


def test_no_other_module_reads_the_cache_variable():
    """Only vidlle/cachedir.py names $VIDLLE_CACHE or ~/.cache in code (a second root would drift)."""
    readers = []
    for path in sorted((ROOT / "vidlle").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in (CACHE_ENV, ".cache"):
                readers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(readers)) == ["vidlle/cachedir.py"]
