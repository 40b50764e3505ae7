"""Decode stage: damage in the middle of a file is skipped and counted, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from vidlle.cli import main
from vidlle.frames import Frame
from vidlle.io.decode import VideoFileSource
from vidlle.io.synth import write_dark_clip


def _damaged_clip(tmp_path, frames: int = 50):
    """An MP4 whose middle (40-55 % of the file: inside the media data, the index is at the end)
    is overwritten with random bytes, as a bad disk sector or a broken upload leaves it."""
    clean = tmp_path / "clean.mp4"
    write_dark_clip(clean, width=160, height=96, frames=frames, fps=25, audio=False)
    data = bytearray(clean.read_bytes())
    a, b = int(len(data) * 0.40), int(len(data) * 0.55)
    data[a:b] = np.random.default_rng(3).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    return clean, bad


def test_damaged_middle_is_skipped_counted_and_the_rest_decoded(tmp_path):
    clean, bad = _damaged_clip(tmp_path)
    src = VideoFileSource(bad)
    src.open()
    frames = [f for f in src if isinstance(f, Frame)]
    src.close()
    assert 0 < len(frames) < 50  # some frames were lost to the damage, the rest came through
    assert src.skipped > 0 and src.missing == 50 - len(frames)
    assert "broken packets skipped" in src.damage() and f"{src.missing} frames missing" in src.damage()
    pts = [f.pts for f in frames]
    assert pts == sorted(set(pts))  # skipping never reorders or invents timestamps
    with av.open(str(clean)) as c:
        last = [f.pts for f in c.decode(video=0)][-1]
    assert pts[-1] == last  # decoding went on past the damage to the very end
    clean_src = VideoFileSource(clean)
    clean_src.open()
    assert sum(isinstance(f, Frame) for f in clean_src) == 50 and clean_src.damage() is None
    clean_src.close()


def test_enhance_a_damaged_file_warns_once_and_writes_what_decoded(tmp_path, capsys):
    _, bad = _damaged_clip(tmp_path)
    out = tmp_path / "out.mp4"
    code = main(["enhance", str(bad), str(out), "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"vidlle: warning: corrupt video data in {bad}: ")
    assert "broken packets skipped" in warnings[0] and "frames missing" in warnings[0]
    with av.open(str(out)) as c:
        written = sum(1 for _ in c.decode(video=0))
    assert 0 < written < 50


def test_a_backlog_reports_a_damaged_file_as_enhance_does(tmp_path, capsys):
    """Each file of a backlog runs the one path of `vidlle enhance IN OUT` (vidlle.job): the same
    warning names what was skipped, missing and concealed, in the table's run and in its JSON."""
    _, bad = _damaged_clip(tmp_path)
    out, stats = tmp_path / "out", tmp_path / "stats.json"
    code = main(["enhance", str(tmp_path / "*.mp4"), str(out), "--stats-json", str(stats)])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"vidlle: warning: corrupt video data in {bad}: ")
    assert "broken packets skipped" in warnings[0] and "frames missing" in warnings[0]
    results = {Path(r["input"]).name: r for r in json.loads(stats.read_text())["results"]}
    assert results["damaged.mp4"]["warnings"] == [warnings[0].removeprefix("vidlle: warning: ")]
    assert results["clean.mp4"]["warnings"] == [] and results["clean.mp4"]["frames"] == 50
