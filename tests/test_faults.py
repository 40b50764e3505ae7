"""Faults injected for real, through the command line: kill -9, signals, a full disk, a read-only
folder, a planted link, a failing rename, corrupt inputs, credentials in every kind of URL.

docs/reliability.md lists each fault with the test that checks it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.support.servers import RtspServer, needs_rtsp
from vidlle.cli import main
from vidlle.io.encode import temporary_path
from vidlle.io.synth import night_frame, write_dark_clip

SECRET = "Zq9hunter2"


def run(capsys, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    return code, capsys.readouterr().err


def frames_in(path: Path) -> int:
    """Frames a player gets out of ``path``: up to the first undecodable data (a killed file's tail)."""
    n = 0
    with av.open(str(path)) as c:
        try:
            for _ in c.decode(video=0):
                n += 1
        except av.FFmpegError:
            pass
    return n


@contextmanager
def small_fs(path: Path, size: str = "1m", read_only: bool = False):
    """A real tmpfs of ``size`` at ``path`` (needs root and mount rights; skips otherwise)."""
    path.mkdir()
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def vidlle(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidlle", *map(str, args)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"vidlle ended early: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


# -- credentials ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["RTSP://admin:{pw}@127.0.0.1:9/live", "{tmp}/rec.mkv"],             # upper-case scheme: still a camera
    ["rstp://admin:{pw}@127.0.0.1:9/live", "{tmp}/rec.mkv"],             # a typo: still a URL
    ["rtsp://127.0.0.1:9/user=admin&password={pw}&channel=1", "{tmp}/rec.mkv"],  # path-style credentials
    ["rtsp://127.0.0.1:9/live;password={pw}", "{tmp}/rec.mkv"],
    ["rtsp://127.0.0.1:9/live?pw={pw}", "{tmp}/rec.mkv"],
    ["rtsp://admin:a/{pw}@127.0.0.1:9/live", "{tmp}/rec.mkv"],           # unescaped / # ? in the password
    ["rtsp://admin:a#{pw}@127.0.0.1:9/live", "{tmp}/rec.mkv"],
    ["rtsp://admin:a?{pw}@127.0.0.1:9/live", "{tmp}/rec.mkv"],
    ["{clip}", "rtsp://admin:{pw}@127.0.0.1:9/out"],                     # an rtsp:// OUTPUT
    ["{clip}", "RTSPS://admin:{pw}@127.0.0.1:9/out"],
    ["{clip}", "rtps://admin:{pw}@127.0.0.1:9/out"],
])
def test_no_password_in_any_error_line(args, clips, tmp_path, capsys):
    argv = [a.format(pw=SECRET, tmp=tmp_path, clip=clips["mute"]) for a in args]
    code, err = run(capsys, "enhance", *argv, "--timeout", "1")
    assert code == 1 and err.startswith("vidlle: error: ") and err.count("\n") == 1, err
    assert SECRET not in err and "***" in err, err


@needs_rtsp
def test_publishing_with_a_password_prints_it_nowhere(tmp_path):
    src = tmp_path / "in.mp4"
    write_dark_clip(src, width=160, height=96, frames=50, audio=False)
    with RtspServer(record=True) as server:
        url = server.url.replace("rtsp://", f"RTSP://admin:{SECRET}@")  # upper-case scheme, credentials
        done = subprocess.run([sys.executable, "-m", "vidlle", "enhance", str(src), url], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "-> RTSP://***@127.0.0.1" in done.stderr and SECRET not in done.stderr + done.stdout
        # interrupted while publishing: the Ctrl-C line names the output, without its password
        before = server.received()  # the first run's frames: wait for the second run's own
        proc = vidlle("enhance", "testsrc:160x96@25", url)
        wait_for(lambda: server.received() > before, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted after" in err and SECRET not in err, err


# -- temporary files, leftovers, links -------------------------------------------------------------

def test_planted_link_at_the_temporary_name_is_refused(clips, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.mkv"
    temporary_path(out).symlink_to(victim)
    code, err = run(capsys, "enhance", clips["mute"], out)
    assert code == 1 and "symbolic link" in err and err.count("\n") == 1, err
    assert victim.read_text() == "precious" and not out.exists()


def test_leftover_of_a_dead_file_run_is_renamed_aside_not_truncated(clips, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    leftover = temporary_path(out)
    leftover.write_bytes(b"half a recording" * 1000)
    code, err = run(capsys, "enhance", clips["mute"], out)
    assert code == 0, err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("out.interrupted-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b"half a recording" * 1000
    assert f"was kept as {aside[0]}" in err
    assert frames_in(out) == 5 and not leftover.exists()


# -- full disk, read-only folder -----------------------------------------------------------------

def _limit_file_size(limit: int):
    def preexec():
        # A write past the limit fails with EFBIG (SIGXFSZ ignored), as on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_full_disk_file_run_fails_in_one_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "in.mp4"
    write_dark_clip(src, width=320, height=240, frames=40, audio=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = vidlle("enhance", src, out_dir / "out.mp4", "--crf", "0", "-q", preexec_fn=_limit_file_size(20_000))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err.startswith("vidlle: error: ") and err.count("\n") == 1, err
    assert "File too large" in err and "/proc/" not in err
    assert list(out_dir.iterdir()) == []  # no output, no temporary file


def test_full_tmpfs_folder_run_names_the_failure(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):  # noise compresses badly: six PNGs do not fit in 256 KiB
        cv2.imwrite(str(src / f"{i}.png"), rng.integers(0, 40, (160, 200, 3), dtype=np.uint8))
    with small_fs(tmp_path / "disk", size="256k") as disk:
        code, err = run(capsys, "enhance", src, disk / "out")
        assert code == 1 and "No space left on device" in err, err
        left = list((disk / "out").iterdir()) if (disk / "out").exists() else []
        assert not any(".vidlle-tmp" in p.name for p in left)  # no half-written file


def test_read_only_folder_is_refused_before_any_work(clips, tmp_path, capsys):
    with small_fs(tmp_path / "ro", read_only=True) as ro:
        code, err = run(capsys, "enhance", clips["mute"], ro / "out.mkv")
    assert code == 1 and "Read-only file system" in err and err.count("\n") == 1, err


# -- a folder with one corrupt image -------------------------------------------------------------

def test_one_corrupt_image_costs_only_itself(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a.png", "c.jpg"):
        cv2.imwrite(str(src / name), night_frame(0, 64, 96, np.random.default_rng(0)))
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    code, err = run(capsys, "enhance", src, out)
    assert code == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.jpg"]
    assert "skipped b.png" in err
    assert err.splitlines()[-1].startswith("vidlle: error: 1 of 3 images could not be read (b.png)")


# -- a resolution change mid-file --------------------------------------------------------------------

def test_frame_size_change_mid_file_is_resized_with_a_note(tmp_path, capsys):
    # Two H.264 transport streams of different sizes, concatenated byte for byte: what a camera's
    # recording looks like after it was reconfigured.
    parts, start = [], 0
    rng = np.random.default_rng(0)
    for i, (w, h, n) in enumerate(((160, 96, 6), (242, 130, 5))):
        part = tmp_path / f"p{i}.ts"
        with av.open(str(part), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for k in range(n):  # timestamps go on across the change, as a camera's do
                vf = av.VideoFrame.from_ndarray(night_frame(k, h, w, rng), format="rgb24")
                vf.pts = start + k
                for p in s.encode(vf):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        start += n + 3  # past the first part's muxing delay: pts keep increasing
        parts.append(part.read_bytes())
    src = tmp_path / "changing.ts"
    src.write_bytes(b"".join(parts))
    out = tmp_path / "out.mkv"
    code, err = run(capsys, "enhance", src, out)
    assert code == 0, err
    assert "frame size changed" in err and "242x130" in err
    with av.open(str(out)) as c:
        sizes = {(f.width, f.height) for f in c.decode(video=0)}
    assert sizes == {(160, 96)} and frames_in(out) == 11
    # a backlog's file says the same (its notes come from the same job: vidlle.job)
    code, err = run(capsys, "enhance", tmp_path / "chang*.ts", tmp_path / "again.mkv")
    assert code == 0 and "vidlle: note: frame size changed from 160x96 to 242x130" in err, err


def test_absurd_frame_size_is_refused(tmp_path, capsys):
    from vidlle.frames import MAX_PIXELS

    src = tmp_path / "huge.mkv"
    side = int(MAX_PIXELS ** 0.5) + 16
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=1)
        s.width, s.height, s.pix_fmt = side, side, "gray"
        for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((side, side), np.uint8), format="gray")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    code, err = run(capsys, "enhance", src, tmp_path / "out.mkv")
    assert code == 1 and "too large" in err and err.count("\n") == 1, err


# -- live recordings under signals and kill -9 ------------------------------------------------------

# Runs ``python -m vidlle ARGS`` after arranging for a SIGINT to arrive at the moment MODULE is
# first imported: a Ctrl-C at a precise point of start-up, without guessing a delay.
_SIGINT_ON_IMPORT = """
import os, runpy, signal, sys
module, args = sys.argv[1], sys.argv[2:]
class Interrupter:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupter())
sys.argv = ["vidlle", *args]
runpy.run_module("vidlle", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["click", "av"])  # loading the command line; the command loading PyAV
def test_ctrl_c_during_start_up_exits_130_in_one_line(module, clips, tmp_path):
    out = tmp_path / "out.mkv"
    done = subprocess.run([sys.executable, "-c", _SIGINT_ON_IMPORT, module, "enhance", clips["mute"], out],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130 and done.stderr.strip() == "vidlle: interrupted", (done.returncode, done.stderr)
    assert not out.exists() and not temporary_path(out).exists()


@pytest.mark.slow
def test_killed_live_mp4_stays_playable_and_the_rerun_keeps_it(tmp_path):
    out = tmp_path / "night.mp4"
    tmp = temporary_path(out)
    proc = vidlle("enhance", "testsrc:160x96@25", out, "-q")
    wait_for(lambda: tmp.exists() and tmp.stat().st_size > 30_000, proc)  # a few fragments written
    proc.kill()  # kill -9: no finalisation at all
    proc.wait(10)
    left = frames_in(tmp)
    assert left >= 25  # fragmented MP4: playable up to the last fragment
    size = tmp.stat().st_size
    rerun = vidlle("enhance", "testsrc:160x96@25", out)
    # the leftover moved aside, then the rerun's own recording begun
    wait_for(lambda: any(tmp_path.glob("night.interrupted-*")) and tmp.exists() and tmp.stat().st_size > 0, rerun)
    rerun.send_signal(signal.SIGINT)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 130, err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("night.interrupted-")]
    assert len(aside) == 1 and aside[0].stat().st_size == size and frames_in(aside[0]) == left
    assert f"kept as {aside[0]}" in err and frames_in(out) > 0


@pytest.mark.slow
def test_a_second_run_to_the_same_output_is_refused(tmp_path):
    out = tmp_path / "rec.mkv"
    first = vidlle("enhance", "testsrc:160x96@25", out, "-q")
    wait_for(lambda: temporary_path(out).exists(), first)
    second = vidlle("enhance", "testsrc:160x96@25", out, "-y")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and "another vidlle run is writing" in err, err
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130 and frames_in(out) > 0, err


@pytest.mark.slow
def test_ctrl_c_writes_the_queue_and_further_signals_cannot_cut_finalisation(tmp_path):
    out, stats = tmp_path / "rec.mkv", tmp_path / "stats.json"
    # The virtual camera makes 1080p at up to 240 fps (~200 on two shared cores), several times what
    # a CPU runner enhances (~40 fps on two cores; a larger runner kept up with 50), so the
    # 0.2-second buffer (48 frames: seconds to write) is full when the signal comes.
    proc = vidlle("enhance", "testsrc:1920x1080@240", out, "--buffer-seconds", "0.2", "--stats-json", stats, "-q")
    wait_for(lambda: temporary_path(out).exists() and temporary_path(out).stat().st_size > 0, proc)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # during the shutdown: answered, not obeyed
    proc.send_signal(signal.SIGHUP)
    try:  # the drain is bounded at 10 s; finalising a small file takes a few more on a busy machine
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"not finished 90 s after the signals: {proc.communicate()[1]}") from None
    assert proc.returncode == 130, err
    assert "still finalising" in err and ", 0 still queued)" in err, err
    record = json.loads(stats.read_text())
    written, live = record["frames"], record["live"]
    assert live["drops"] > 0, record  # the buffer overflowed: it was full of frames when the signal came
    assert written == frames_in(out) == live["frames_in"] - live["drops"]


@pytest.mark.slow
def test_sighup_finalises_a_recording(tmp_path):
    out = tmp_path / "rec.mkv"
    proc = vidlle("enhance", "testsrc:160x96@25", out)
    wait_for(lambda: temporary_path(out).exists() and temporary_path(out).stat().st_size > 0, proc)
    proc.send_signal(signal.SIGHUP)  # the terminal closed
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and f"in {out}" in err, err
    assert frames_in(out) > 0 and not temporary_path(out).exists()


@pytest.mark.slow
def test_a_failed_final_rename_keeps_the_recording_under_its_temporary_name(tmp_path):
    out = tmp_path / "rec.mkv"
    proc = vidlle("enhance", "testsrc:160x96@25", out)
    wait_for(lambda: temporary_path(out).exists() and temporary_path(out).stat().st_size > 0, proc)
    (out / "blocker").mkdir(parents=True)  # OUTPUT became a non-empty folder: the rename must fail
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"in {temporary_path(out)}" in err and "could not rename" in err, err
    assert frames_in(temporary_path(out)) > 0


# -- serve -----------------------------------------------------------------------------------------

def test_serve_refuses_a_bad_stats_json_path_before_starting_any_camera(tmp_path, capsys):
    cams = tmp_path / "cams.json"  # JSON: the core install reads it (YAML needs the scale extra)
    cams.write_text(json.dumps({"cameras": [{"name": "one", "source": "testsrc:64x48@5", "output": "rec/{name}.mkv"}]}))
    started = time.monotonic()
    code, err = run(capsys, "serve", cams, "--run-on", "threads", "--stats-json", tmp_path / "no" / "such" / "s.json")
    assert code == 1 and "cannot write" in err and err.count("\n") == 1, err
    assert time.monotonic() - started < 10 and not (tmp_path / "rec").exists()  # no camera ran


def test_serve_keeps_each_camera_failure_traceback_in_its_log_and_debug_shows_it(tmp_path, capsys):
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps({  # nothing listens on port 9: the camera fails at once, and is not restarted
        "defaults": {"wait_for_source": False, "max_reconnects": 0, "open_timeout": 1, "read_timeout": 1,
                     "max_restarts": 0},
        "cameras": [{"name": "gate", "source": f"rtsp://admin:{SECRET}@127.0.0.1:9/live", "output": "rec/{name}.mkv"},
                    {"name": "dock", "source": "rtsp://127.0.0.1:9/live", "output": "rec/{name}.mkv", "log": "none"}],
    }))
    from vidlle.errors import ScaleError

    with pytest.raises(ScaleError, match="2 of 2 cameras failed"):  # --debug: the error itself, not one line
        main(["--debug", "serve", str(cams), "--run-on", "threads", "-q"])
    err = capsys.readouterr().err
    log = tmp_path / "logs" / "gate.log"
    text = log.read_text()
    assert text.startswith("--- ") and "camera gate failed (failure 1" in text and "Traceback" in text, text
    assert "LiveSourceError" in text and SECRET not in text
    assert "gate: 0 frames, nothing recorded; failed: " in err and f"(traceback in {log})" in err, err
    assert "Traceback (most recent call last)" in err and SECRET not in err  # --debug shows it
    assert not (tmp_path / "logs" / "dock.log").exists()  # log: none
    code, err = run(capsys, "serve", cams, "--run-on", "threads", "-q")
    assert code == 1 and "Traceback" not in err, err  # without --debug: the file only, now two entries
    assert log.read_text().count("camera gate failed") == 2
