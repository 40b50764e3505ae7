"""cameras.yaml checking and time-rotated recordings (no Ray, no cameras)."""

from __future__ import annotations

import dataclasses
import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import decode_video
from vidlle.cli import main
from vidlle.frames import Frame, StreamInfo
from vidlle.io.sinks import SegmentedFileSink, unique_path
from vidlle.scale.config import CameraConfig, ConfigError, load_config, parse_config
from vidlle.scale.service import format_table


def cams(*entries, **defaults) -> dict:
    doc = {"cameras": list(entries)}
    if defaults:
        doc["defaults"] = defaults
    return doc


def test_valid_config_with_defaults_overrides_and_name_patterns(tmp_path, monkeypatch):
    monkeypatch.setenv("GATE_PASSWORD", "s3cret")
    cfg = parse_config(cams(
        {"name": "gate", "source": "rtsp://viewer:${GATE_PASSWORD}@10.0.0.5/stream1"},
        {"name": "yard", "source": "testsrc:320x180@15", "output": "rtsp://nvr.local:8554/{name}-enhanced",
         "overlay": "none", "temporal": False},
        {"name": "lobby", "source": "webcam:0", "output": "none", "device": "cuda"},
        output="rec/{name}/%Y%m%d-%H%M%S.mkv", segment_seconds=600, num_cpus=0.5,
    ), base_dir=tmp_path, origin="cams.yaml")
    gate, yard, lobby = cfg.cameras
    # ${VAR} stays until the camera opens its source (on the node that runs it): the config, what
    # Ray ships and every repr hold no password
    assert isinstance(gate, CameraConfig) and gate.source == "rtsp://viewer:${GATE_PASSWORD}@10.0.0.5/stream1"
    assert gate.source_url() == "rtsp://viewer:s3cret@10.0.0.5/stream1"
    assert "s3cret" not in repr(cfg) and b"s3cret" not in pickle.dumps(cfg)
    assert gate.shown_source == "rtsp://***@10.0.0.5/stream1"  # what tables and messages show
    assert gate.output == str(tmp_path / "rec/gate/%Y%m%d-%H%M%S.mkv") and gate.output_kind == "file"
    assert gate.segment_seconds == 600.0 and gate.num_cpus == 0.5 and gate.enhancer.temporal and gate.num_gpus == 0
    assert yard.output == "rtsp://nvr.local:8554/yard-enhanced" and yard.output_kind == "rtsp" and not yard.enhancer.temporal
    assert yard.segment_seconds is None  # the default is for file outputs
    assert lobby.output is None and lobby.output_kind == "none"
    assert lobby.num_gpus == 0.1  # a CUDA camera shares a GPU by default
    with pytest.raises(dataclasses.FrozenInstanceError):
        gate.name = "other"


def test_run_and_live_buffer_settings_are_camera_keys(tmp_path):
    """The settings `vidlle enhance` takes on the command line are camera keys too: the model batch,
    the drop policy and its buffer, a webcam's capture options."""
    cfg = parse_config(cams(
        {"name": "gate", "source": "testsrc:64x48@5", "output": "rec/{name}.mkv", "batch": 4,
         "drop_policy": "latest", "buffer_seconds": 5, "buffer_mb": 64},
        {"name": "desk", "source": "webcam:0", "video_size": "1280x720", "framerate": "30",
         "input_format": "mjpeg"},
        {"name": "yard", "source": "testsrc:64x48@5", "output": "rec/{name}.mkv"},
    ), base_dir=tmp_path)
    gate, desk, yard = cfg.cameras
    assert gate.run.batch == 4 and yard.run.batch == 1
    assert gate.live_config().drop_policy == "latest" and yard.live_config().drop_policy == "buffer"
    assert (gate.live.buffer_seconds, gate.live.buffer_mb) == (5.0, 64.0)
    assert (desk.live.video_size, desk.live.framerate, desk.live.input_format) == ("1280x720", "30", "mjpeg")
    for key, bad, message in (("batch", 0, "batch must be positive"), ("drop_policy", "all", "drop_policy must be"),
                              ("framerate", 30, "framerate must be a string")):
        with pytest.raises(ConfigError, match=message):
            parse_config(cams({"name": "a", "source": "testsrc", key: bad}), base_dir=tmp_path)


def test_every_camera_key_is_listed_in_the_capacity_doc():
    from vidlle.scale.config import _KEYS

    text = (Path(__file__).resolve().parents[2] / "docs" / "capacity.md").read_text()
    assert [k for k in _KEYS if f"`{k}`" not in text] == []


@pytest.mark.parametrize("doc, message", [
    ({"cameras": []}, "'cameras' must be a non-empty list"),
    ({"camera": [{"name": "a", "source": "testsrc"}]}, "unknown top-level key 'camera'"),
    (cams({"name": "a", "source": "testsrc", "modle": "curve"}), "camera 'a': unknown key 'modle'; did you mean 'model'?"),
    (cams({"name": "a"}), "camera 'a': missing 'source'"),
    (cams({"source": "testsrc"}), "cameras[0]: missing 'name'"),
    (cams({"name": "a b", "source": "testsrc"}), "name must be"),
    (cams({"name": "a", "source": "testsrc"}, {"name": "a", "source": "testsrc:64x48"}), "duplicate camera name"),
    (cams({"name": "a", "source": "clip.mp4"}), "is not a live source"),
    (cams({"name": "a", "source": "ftp://cam/x"}), "is not a live source"),
    (cams({"name": "a", "source": "testsrc:0x0"}), "size must be"),
    (cams({"name": "a", "source": "testsrc", "output": "rec/a.png"}), "must end in a video extension"),
    (cams({"name": "a", "source": "testsrc", "output": "rec/a.mkv", "segment_seconds": 60}), "needs a time in the output"),
    (cams({"name": "a", "source": "testsrc", "output": "rtsp://nvr/a", "segment_seconds": 60}), "applies to file outputs"),
    (cams({"name": "a", "source": "testsrc", "output": "rec/{cam}.mkv"}), "unknown placeholder {cam}"),
    (cams({"name": "a", "source": "testsrc"}, {"name": "b", "source": "testsrc"}, output="rec/x.mkv"),
     "have the same output"),
    (cams({"name": "a", "source": "testsrc", "model": "nope"}), "unknown model 'nope'"),
    (cams({"name": "a", "source": "testsrc", "backend": "nope"}), "unknown backend 'nope'"),
    (cams({"name": "a", "source": "testsrc", "weights": "missing.pt"}), "weights"),
    (cams({"name": "a", "source": "testsrc", "overlay": "boxes"}), "overlay must be one of none, seg"),
    (cams({"name": "a", "source": "testsrc", "device": "tpu"}), "device must be cpu, cuda or cuda:N"),
    (cams({"name": "a", "source": "testsrc", "num_cpus": "two"}), "num_cpus must be a number"),
    (cams({"name": "a", "source": "testsrc", "temporal": "yes"}), "temporal must be true or false"),
    (cams({"name": "a", "source": "testsrc", "max_restarts": -5}), "max_restarts must be -1"),
    (cams({"name": "a", "source": "testsrc", "transport": "sctp"}), "transport must be one of tcp, udp"),
    (cams({"name": "a", "source": "testsrc", "read_timeout": 0}), "read_timeout must be positive"),
    (cams({"name": "a", "source": "rtsp://cam/x?pass=${NOT_SET_ANYWHERE}"}), "NOT_SET_ANYWHERE"),
    ({"defaults": {"source": "testsrc"}, "cameras": [{"name": "a"}]}, "'source' is per camera"),
])
def test_config_errors_are_one_clear_line(tmp_path, doc, message):
    with pytest.raises(ConfigError) as info:
        parse_config(doc, base_dir=tmp_path, origin="cams.yaml")
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("cams.yaml")


def test_yaml_file_and_cli_check(tmp_path, capsys):
    pytest.importorskip("yaml", reason="PyYAML not installed (the scale extra)")
    path = tmp_path / "cams.yaml"
    path.write_text("defaults:\n  output: rec/{name}.mkv\ncameras:\n"
                    "  - name: yard\n    source: testsrc:160x90@10\n"
                    "  - name: door\n    source: rtsp://u:pw@cam.local/live\n    output: none\n")
    cfg = load_config(path)
    assert [c.name for c in cfg.cameras] == ["yard", "door"]
    assert cfg.cameras[0].output == str(tmp_path / "rec" / "yard.mkv")  # relative to the file's folder
    assert main(["serve", str(path), "--check"]) == 0
    out, err = capsys.readouterr()
    assert "yard: testsrc:160x90@10 -> " in out and "door: rtsp://***@cam.local/live -> none" in out
    assert "pw" not in out + err and "2 cameras, ok" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras:\n  - name: a\n    source: [unclosed\n")
    assert main(["serve", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vidlle: error: ") and "not valid YAML (line" in err and err.count("\n") == 1
    assert main(["serve", str(tmp_path / "missing.yaml")]) == 1
    assert "no such file" in capsys.readouterr().err


def _frame(i: int, pts: int) -> Frame:
    img = np.full((48, 64, 3), 10 + i, np.uint8)
    return Frame(image=img, pts=pts, time_base=Fraction(1, 1000), index=i)


def test_segments_rotate_on_wall_clock_multiples_and_restart_from_pts_zero(tmp_path):
    cam = parse_config(cams({"name": "cam1", "source": "testsrc", "output": "rec/{name}/%H%M%S.mkv",
                             "segment_seconds": 10}), base_dir=tmp_path).cameras[0]
    now = [1_000_005.0]  # 5 s into a 10 s slot: the first file is short, like an NVR's
    sink = SegmentedFileSink(cam.output, cam.encode, cam.segment_seconds, clock=lambda: now[0])
    sink.open(StreamInfo(width=64, height=48, rate=Fraction(10), time_base=Fraction(1, 1000), live=True))
    pts = 70_000  # a live source's pts: ms since it started
    for i in range(12):  # 1.2 s apart: slot ends at 1_000_010, then at 1_000_020
        sink.write(_frame(i, pts))
        now[0] += 1.2
        pts += 1200
    sink.close()
    assert [n for _, n in sink.segments] == [5, 7]  # 5.0 ... 9.8 | 11.0 ... 18.2
    first, second = (Path(p) for p, _ in sink.segments)
    assert first.parent == tmp_path / "rec" / "cam1" and first != second
    for path, n in sink.segments:
        got_pts, frames, tb = decode_video(Path(path))
        assert len(frames) == n and got_pts[0] == 0 and tb == Fraction(1, 1000)
        assert all(b - a == 1200 for a, b in zip(got_pts, got_pts[1:]))
    assert not list(tmp_path.rglob(".*vidlle-tmp*"))


def test_abort_keeps_the_recording_and_unique_names_never_overwrite(tmp_path):
    cam = parse_config(cams({"name": "c", "source": "testsrc", "output": "rec.mkv"}), base_dir=tmp_path).cameras[0]
    (tmp_path / "rec.mkv").write_bytes(b"an earlier recording")
    assert unique_path(tmp_path / "rec.mkv") == tmp_path / "rec-1.mkv"
    sink = SegmentedFileSink(cam.output, cam.encode, cam.segment_seconds)
    sink.open(StreamInfo(width=64, height=48, rate=Fraction(10), time_base=Fraction(1, 1000), live=True))
    for i in range(3):
        sink.write(_frame(i, 100 * i))
    sink.abort()  # the pipeline failed: a live recording is finalised, not deleted
    assert sink.segments == [(str(tmp_path / "rec-1.mkv"), 3)]
    assert (tmp_path / "rec.mkv").read_bytes() == b"an earlier recording"
    with av.open(str(tmp_path / "rec-1.mkv")) as c:
        assert len(list(c.decode(video=0))) == 3


def test_table_has_the_columns_operators_look_at():
    rows = [{"name": "gate", "state": "streaming", "fps": 24.9, "fps_in": 25.0, "frames": 1200, "drops": 3,
             "reconnects": 1, "restarts": 0, "latency_ms": 41.2, "output": "/rec/gate/x.mkv", "last_error": None},
            {"name": "lot", "state": "restarting", "fps": 0.0, "fps_in": 0.0, "frames": 10, "drops": 0,
             "reconnects": 0, "restarts": 2, "latency_ms": None, "output": None, "last_error": "boom"}]
    head, gate, lot = format_table(rows)
    for col in ("camera", "state", "fps", "drops", "reconn", "restarts", "latency", "output"):
        assert col in head
    assert "streaming" in gate and "41 ms" in gate and "/rec/gate/x.mkv" in gate
    assert "restarting" in lot and "(boom)" in lot
