"""The benchmark scripts (benchmarks/) and `vidlle bench`, on tiny clips."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vidlle.io.synth import write_dark_clip

from tests.conftest import decode_video

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_transcode_baseline_counts_every_frame(tmp_path):
    src = tmp_path / "in.mp4"
    write_dark_clip(src, width=64, height=48, frames=10, audio=False)
    result = _load("throughput").bare_transcode(str(src), str(tmp_path / "out.mp4"))
    assert result["frames"] == 10 and result["steady_fps"] > 0 and result["steady_cpu_ms"] >= 0
    assert len(decode_video(tmp_path / "out.mp4")[1]) == 10


def test_vidlle_bench_prints_the_ratio_row_for_a_clip(tmp_path):
    src = tmp_path / "night.mp4"
    write_dark_clip(src, width=160, height=96, frames=12, audio=False)
    out = subprocess.run([sys.executable, "-m", "vidlle", "bench", "--clip", str(src), "--repeat", "1"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("| night.mp4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "160x96" and cells[2] == "12"
    bare, vid, ratio = float(cells[3]), float(cells[4]), float(cells[5])
    assert bare > 0 and vid > 0 and ratio == pytest.approx(vid / bare, abs=0.01)
    assert re.fullmatch(r"\d+\.\d\d / \d+\.\d\d s", cells[7])  # start-up of both sides


def test_stage_costs_cover_the_enhance_step(tmp_path):
    src = tmp_path / "night.mp4"
    write_dark_clip(src, width=128, height=72, frames=8, audio=False)
    costs = _load("throughput").stage_costs(src, "curve", frames=8)
    assert list(costs)[-1] == "whole enhance step"
    assert all(v >= 0 for v in costs.values()) and costs["whole enhance step"] > 0


def test_bench_models_prints_backend_table_and_auto_choice(tmp_path):
    pytest.importorskip("onnxruntime")
    out = subprocess.run([sys.executable, "-m", "vidlle", "bench", "--models", "--sizes", "64x36", "--seconds", "0.1"],
                         capture_output=True, text=True, timeout=300, check=True,
                         env={**os.environ, "VIDLLE_CACHE": str(tmp_path)}).stdout
    assert "| 64x36 | torch | 36x64 |" in out and "| 64x36 | onnxruntime | 36x64 |" in out
    assert "auto on cpu picks onnxruntime" in out


def test_bench_without_a_source_tree_says_so(monkeypatch, tmp_path):
    from vidlle import bench
    from vidlle.errors import VidlleError

    monkeypatch.setattr(bench, "BENCHMARKS", tmp_path)
    with pytest.raises(VidlleError, match="source tree"):
        bench.run(False, [])
