"""End-to-end `vidlle enhance` through the real entry point (in-process, stderr captured)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import decode_video, write_mulaw_mov
from vidlle.cli import main
from vidlle.io.synth import night_frame, write_dark_clip


def run(capsys, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, capsys.readouterr().err


def test_video_every_frame_in_order_with_timestamps_and_audio(clips, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "enhance", clips["plain"], out)
    assert code == 0, err
    in_pts, in_frames, in_tb = decode_video(clips["plain"])
    out_pts, out_frames, out_tb = decode_video(out)
    assert len(out_frames) == len(in_frames) == 12
    assert out_pts == in_pts and out_tb == in_tb
    assert np.mean([f.mean() for f in out_frames]) > 2.5 * np.mean([f.mean() for f in in_frames])
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
        assert c.streams.video[0].codec_context.name == "h264"
    assert "12 frames" in err and "decode" in err and "encode" in err  # summary line


def test_vfr_timestamps_survive(clips, tmp_path, capsys):
    in_pts, _, in_tb = decode_video(clips["vfr"])
    in_times = [p * in_tb for p in in_pts]
    out = tmp_path / "vfr_out.mp4"
    assert run(capsys, "enhance", clips["vfr"], out)[0] == 0
    out_pts, _, out_tb = decode_video(out)
    assert [p * out_tb for p in out_pts] == in_times  # MP4: exact, via its edit list
    assert len({b - a for a, b in zip(out_pts, out_pts[1:])}) > 1  # still variable
    # Matroska cannot store the negative DTS of B-frames, so its muxer shifts every stream by the
    # same offset (as ffmpeg does): frame durations must still be identical.
    mkv = tmp_path / "vfr_out.mkv"
    assert run(capsys, "enhance", clips["vfr"], mkv)[0] == 0
    mkv_pts, _, mkv_tb = decode_video(mkv)
    mkv_times = [p * mkv_tb for p in mkv_pts]
    assert [b - a for a, b in zip(mkv_times, mkv_times[1:])] == [b - a for a, b in zip(in_times, in_times[1:])]


def test_rotation_is_kept(clips, tmp_path, capsys):
    out = tmp_path / "rot.mp4"
    assert run(capsys, "enhance", clips["rotated"], out)[0] == 0
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_audio_reencoded_when_container_cannot_hold_it_and_odd_size_padded(tmp_path, capsys):
    src = tmp_path / "mulaw.mov"
    write_mulaw_mov(src)
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "enhance", src, out)
    assert code == 0, err
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (162, 98)
        audio = sum(f.samples for f in c.decode(audio=0))
        assert audio >= 3000  # 0.5 s at 8 kHz, resampled to AAC's rate
    assert "re-encoded to aac" in err and "padded 161x97" in err
    _, frames, _ = decode_video(out)
    assert len(frames) == 5


def test_every_video_suffix_holds_the_default_codec_and_the_audio(clips, tmp_path, capsys):
    # FFmpeg answers "which codecs can this muxer hold" only for muxers with a codec table; MPEG-TS
    # has none and seemed to hold MPEG-2 alone, so `enhance in.mp4 out.ts` used to be refused.
    for suffix, audio in ((".ts", "aac"), (".mkv", "aac"), (".mov", "aac"), (".flv", "aac")):
        out = tmp_path / f"out{suffix}"
        code, err = run(capsys, "enhance", clips["plain"], out, "-q")
        assert code == 0, (suffix, err)
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.name == "h264", suffix
            assert [s.codec_context.name for s in c.streams.audio] == [audio], suffix
        assert len(decode_video(out)[1]) == 12, suffix
    code, err = run(capsys, "enhance", clips["plain"], tmp_path / "out.webm")  # WebM: VP8/VP9/AV1 only
    assert code == 1 and "a .webm file cannot hold libx264 video; choose another --codec" in err


def test_codec_crf_preset_flags(clips, tmp_path, capsys):
    small, big = tmp_path / "q40.mkv", tmp_path / "q10.mkv"
    assert run(capsys, "enhance", clips["plain"], small, "--crf", "40", "--preset", "ultrafast", "-q")[0] == 0
    assert run(capsys, "enhance", clips["plain"], big, "--crf", "10", "-q")[0] == 0
    assert small.stat().st_size < big.stat().st_size
    vp9 = tmp_path / "out.webm"
    code, err = run(capsys, "enhance", clips["mute"], vp9, "--codec", "libvpx-vp9", "-q")
    assert code == 0, err
    with av.open(str(vp9)) as c:
        assert c.streams.video[0].codec_context.name == "vp9"


def test_quiet_prints_nothing(clips, tmp_path, capsys):
    code, err = run(capsys, "enhance", clips["mute"], tmp_path / "q.mp4", "--quiet")
    assert code == 0 and err == ""


def test_image_and_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src_dir = tmp_path / "dark"
    src_dir.mkdir()
    for name, shape in (("a.png", (40, 60)), ("b.jpg", (33, 17)), ("c.png", (2, 2))):
        cv2.imwrite(str(src_dir / name), night_frame(2, *shape, rng)[..., ::-1])
    (src_dir / "notes.txt").write_text("not an image")
    out = tmp_path / "one.png"
    assert run(capsys, "enhance", src_dir / "a.png", out)[0] == 0
    assert cv2.imread(str(out)).mean() > 2 * cv2.imread(str(src_dir / "a.png")).mean()
    out_dir = tmp_path / "bright"
    code, err = run(capsys, "enhance", src_dir, out_dir)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png", "b.jpg", "c.png"]
    assert cv2.imread(str(out_dir / "c.png")).shape == (2, 2, 3)
    # second run without -y refuses, with -y replaces
    assert run(capsys, "enhance", src_dir, out_dir)[0] == 1
    assert run(capsys, "enhance", src_dir, out_dir, "-y", "-q")[0] == 0


def test_strength_option(tmp_path, capsys):
    src = tmp_path / "dark.png"
    dark = night_frame(4, 60, 90, np.random.default_rng(5))
    cv2.imwrite(str(src), dark[..., ::-1])
    off, auto = tmp_path / "off.png", tmp_path / "auto.png"
    assert run(capsys, "enhance", src, off, "--strength", "0")[0] == 0
    assert np.array_equal(cv2.imread(str(off)), cv2.imread(str(src)))  # 0 = pass-through
    assert run(capsys, "enhance", src, auto, "--strength", "auto")[0] == 0
    assert cv2.imread(str(auto)).mean() > 2 * dark.mean()
    for bad in ("3", "bright"):
        code, err = run(capsys, "enhance", src, tmp_path / "x.png", "--strength", bad)
        assert code == 2 and "--strength" in err


@pytest.mark.slow
def test_4k_video_is_enhanced(tmp_path, capsys):
    src = tmp_path / "4k.mp4"
    write_dark_clip(src, width=3840, height=2160, frames=2, audio=False)
    out = tmp_path / "4k_out.mp4"
    code, err = run(capsys, "enhance", src, out, "--preset", "ultrafast")
    assert code == 0, err
    _, frames, _ = decode_video(out)
    assert len(frames) == 2 and frames[0].shape == (2160, 3840, 3)


def test_info_lists_versions_backends_models(capsys):
    code = main(["info"])
    out = capsys.readouterr().out
    assert code == 0
    assert "torch " in out and "av " in out and "libavcodec" in out
    assert "devices: cpu" in out
    assert "torch        available" in out
    assert "curve" in out and "sha256" in out and "trained" in out


# -- bad input: one line, exit 1, no traceback, nothing at the output path --------------------

def _bad_inputs(tmp_path: Path, clips) -> dict[str, tuple[list, str]]:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    good = clips["plain"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good[:32] + bytes(np.random.default_rng(0).integers(0, 256, len(good) - 32, dtype=np.uint8)))
    faststart = tmp_path / "faststart.mp4"
    write_dark_clip(faststart, width=64, height=48, frames=40, audio=False, crf=0)
    with av.open(str(faststart)) as c:
        assert c.streams.video[0].frames == 40
    remux = tmp_path / "faststart_fs.mp4"
    with av.open(str(faststart)) as src, av.open(str(remux), "w", options={"movflags": "faststart"}) as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.size:
                p.stream = s
                dst.mux(p)
    truncated_fs = tmp_path / "truncated_fs.mp4"
    data = remux.read_bytes()
    truncated_fs.write_bytes(data[: len(data) * 2 // 3])
    zero = tmp_path / "zero_frames.mkv"
    _write_zero_frame_video(zero)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    out = tmp_path / "out.mp4"
    return {
        "missing file": ([tmp_path / "nope.mp4", out], "not found"),
        "directory where a file is expected": ([tmp_path, tmp_path / "x.mp4"], "must be a folder"),
        "non-video file": ([text, out], "cannot read"),
        "zero-byte file": ([empty, out], "empty"),
        "truncated video": ([truncated, out], "cannot read"),
        "truncated faststart video": ([truncated_fs, out], "truncated"),
        "corrupt video": ([corrupt, out], "cannot read"),
        "zero-frame video": ([zero, out], "no video frames"),
        "unwritable output": ([clips["plain"], tmp_path / "no" / "such" / "dir.mp4"], "does not exist"),
        "unwritable output (read-only fs)": ([clips["plain"], "/proc/vidlle.mp4"], "cannot write"),
        "output == input": ([clips["plain"], clips["plain"], "-y"], "is the input"),
        "unknown output extension": ([clips["plain"], tmp_path / "out.xyz"], "unknown output extension"),
        "existing output without -y": ([clips["plain"], existing], "already exists"),
        "webcam without a device": (["webcam:0", out], "no camera at /dev/video0"),
    }


def _write_zero_frame_video(path: Path) -> None:
    """MKV with a video stream but only audio packets."""
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=25)
    vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    a = out.add_stream("aac", rate=16000)
    a.layout = "mono"
    af = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="flt", layout="mono")
    af.sample_rate, af.pts = 16000, 0
    for p in a.encode(af):
        out.mux(p)
    for p in a.encode():
        out.mux(p)
    out.close()


BAD_CASES = [
    "missing file", "directory where a file is expected", "non-video file", "zero-byte file",
    "truncated video", "truncated faststart video", "corrupt video", "zero-frame video",
    "unwritable output", "unwritable output (read-only fs)", "output == input",
    "unknown output extension", "existing output without -y", "webcam without a device",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_clear_line(case, clips, tmp_path, capsys):
    args, expected = _bad_inputs(tmp_path, clips)[case]
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    code, err = run(capsys, "enhance", *args)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("vidlle: error: ") and expected in lines[-1], err
    assert "Traceback" not in err
    output = Path(args[1])
    if case == "existing output without -y":
        assert output.read_bytes() == b"keep me"
    elif case != "output == input":
        assert not output.exists()
    # nothing new anywhere (no temporary files left behind)
    assert {p for p in tmp_path.rglob("*")} == set(before)


def test_usage_error_exits_2(capsys):
    code, err = run(capsys, "enhance", "only-one-arg")
    assert code == 2 and "Usage" in err


@pytest.mark.slow
def test_ctrl_c_finalises_cleanly(tmp_path):
    src = tmp_path / "long.mp4"
    write_dark_clip(src, width=640, height=360, frames=400, audio=True)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vidlle", "enhance", str(src), str(out)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # wait for the first progress line (the pipeline is running) and for encoded frames in the
    # temporary file (mid-run, whatever the machine's speed), then interrupt
    first = proc.stderr.readline()
    assert first.startswith("[")
    partial = tmp_path / ".out.vidlle-tmp.mp4"
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before frames were written"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "nothing written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [src]


# -- engines and backends --------------------------------------------------------------------

@pytest.mark.parametrize("model", ["curve", "skf"])
def test_enhance_with_onnxruntime_backend_end_to_end(model, clips, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ort.mp4"
    code, err = run(capsys, "enhance", clips["mute"], out, "--backend", "onnxruntime", "--model", model)
    assert code == 0, err
    assert f"model {model}, backend onnxruntime (cpu, fp32, CPUExecutionProvider)" in err.strip().splitlines()[-1]
    _, frames, _ = decode_video(out)
    _, ref, _ = decode_video(clips["mute"])
    assert len(frames) == len(ref) == 5 and np.mean(frames) > 2.5 * np.mean(ref)
    # the shipped graph runs: nothing is exported into the cache
    assert not list((tmp_path / "cache").rglob("*.onnx"))
    code, err = run(capsys, "enhance", clips["mute"], tmp_path / "auto.mp4", "--model", model)
    assert code == 0 and "chosen by auto" in err.strip().splitlines()[-1]


def test_build_engine_without_tensorrt_exports_onnx_then_fails_in_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on machines without TensorRT
    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path))
    code, err = run(capsys, "build-engine", "--model", "curve", "--precision", "fp16", "--shapes", "360p,1080p,4k")
    assert code == 1, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("vidlle: error: TensorRT is not installed") and "vidlle[trt]" in lines[-1]
    assert "Traceback" not in err
    assert any("uint8 output max diff" in line for line in lines)  # verified before failing
    assert any("min 1x3x72x128, opt 1x3x72x128, max 64x3x72x128" in line for line in lines)
    assert len(list((tmp_path / "engines").glob("*.onnx"))) == 2  # fp32 + mixed fp16 graphs


def test_build_engine_onnx_only_then_info_lists_the_cache(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path))
    code, err = run(capsys, "build-engine", "--onnx-only", "--precision", "fp32")
    assert code == 0, err
    assert "ONNX (fp32): " in err and "max 64x3x128x128" in err
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"engine cache: {tmp_path / 'engines'} (1 files)" in out
    assert "ONNX fp32 opset 17" in out and "verified: uint8 diff" in out and "; ok" in out
    assert "auto         cpu fp32: onnxruntime" in out
    onnx_file = next((tmp_path / "engines").glob("*.onnx"))
    onnx_file.write_bytes(b"tampered")
    assert main(["info"]) == 0
    assert "corrupt" in capsys.readouterr().out
    assert run(capsys, "build-engine", "--shapes", "nonsense")[0] == 2
