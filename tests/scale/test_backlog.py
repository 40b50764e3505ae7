"""`vidlle enhance GLOB FOLDER [--ray]`: a backlog of files, each exactly as the single-file path."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from tests.conftest import decode_video
from vidlle.cli import main
from vidlle.errors import InputError, OutputError, ScaleError
from vidlle.io.synth import write_dark_clip
from vidlle.scale.backlog import is_backlog, plan_jobs


@pytest.fixture(scope="module")
def backlog(tmp_path_factory) -> Path:
    """rec/: four small dark clips with audio (one in a sub-folder-free mix of containers) + a corrupt one."""
    d = tmp_path_factory.mktemp("backlog") / "rec"
    d.mkdir()
    for i, (name, frames) in enumerate([("a.mp4", 12), ("b.mp4", 9), ("c.mp4", 15), ("d.mp4", 10)]):
        write_dark_clip(d / name, width=160, height=96, frames=frames, fps=25, seed=i)
    (d / "e-corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return d


def audio_samples(path: Path) -> int:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0
        return sum(f.samples for f in c.decode(audio=0))


def check_outputs(rec: Path, out: Path, names: list[str]) -> None:
    for name in names:
        in_pts, in_frames, in_tb = decode_video(rec / name)
        out_pts, out_frames, out_tb = decode_video(out / name)
        assert len(out_frames) == len(in_frames) and out_pts == in_pts and out_tb == in_tb, name
        assert sum(f.mean() for f in out_frames) > 2 * sum(f.mean() for f in in_frames), name  # enhanced
        assert audio_samples(out / name) > 0.8 * audio_samples(rec / name) > 0, name  # audio kept
    assert not list(out.rglob(".*vidlle-tmp*"))


def test_plan_checks_everything_before_anything_runs(backlog, tmp_path):
    assert is_backlog(str(backlog / "*.mp4")) and not is_backlog(str(backlog / "a.mp4"))
    jobs = plan_jobs(str(backlog / "*.mp4"), str(tmp_path / "out"), overwrite=False)
    assert [Path(j.output).name for j in jobs] == ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e-corrupt.mp4"]
    assert plan_jobs(str(backlog), str(tmp_path / "out"), overwrite=False) == jobs  # a folder of videos too
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.mp4").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"b.mp4 already exists \(use -y"):
        plan_jobs(str(backlog / "*.mp4"), str(tmp_path / "out"), overwrite=False)
    with pytest.raises(OutputError, match="must be a folder"):
        plan_jobs(str(backlog / "*.mp4"), str(tmp_path / "one.mp4"), overwrite=False)
    with pytest.raises(InputError, match="no files match"):
        plan_jobs(str(backlog / "*.mov"), str(tmp_path / "out2"), overwrite=False)
    with pytest.raises(InputError, match="vidlle serve"):
        plan_jobs("rtsp://cam/x", str(tmp_path / "out2"), overwrite=False)


@pytest.mark.ray
def test_ray_backlog_four_files_enhanced_one_corrupt_reported(ray_local, backlog, tmp_path, capsys):
    out = tmp_path / "out"
    stats = tmp_path / "backlog.json"
    code = main(["enhance", str(backlog / "*.mp4"), str(out), "--ray", "--stats-json", str(stats)])
    err = capsys.readouterr().err
    assert code == 1, err  # one file failed: the run says so in its exit code, after finishing the others
    check_outputs(backlog, out, ["a.mp4", "b.mp4", "c.mp4", "d.mp4"])
    assert not (out / "e-corrupt.mp4").exists()  # a failed file leaves nothing at its output
    table = err[err.index("file "):]
    for name, frames in [("a.mp4", 12), ("b.mp4", 9), ("c.mp4", 15), ("d.mp4", 10)]:
        line = next(ln for ln in table.splitlines() if ln.startswith(str(backlog / name)))
        assert f" {frames} " in line and f"ok -> {out / name}" in line
    bad = next(ln for ln in table.splitlines() if ln.startswith(str(backlog / "e-corrupt.mp4")))
    log = out / "vidlle-backlog.log"
    assert "FAILED: cannot read" in bad and f"(traceback in {log})" in bad
    assert "Traceback (most recent call last)" in log.read_text()  # written by the driver, from the task's result
    assert "4 of 5 files enhanced, 1 failed; 46 frames" in err and "on Ray" in err
    assert err.rstrip().splitlines()[-1].startswith("vidlle: error: 1 of 5 files failed: ")
    report = json.loads(stats.read_text())
    assert report["files"] == 5 and report["failed"] == 1 and report["frames"] == 46
    assert len({r["worker"] for r in report["results"] if r["status"] == "ok"}) >= 1


def test_glob_without_ray_runs_the_files_one_after_another(backlog, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["enhance", str(backlog / "[ab].mp4"), str(out), "--no-temporal"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "one after another" in err and "2 of 2 files enhanced; 21 frames" in err
    check_outputs(backlog, out, ["a.mp4", "b.mp4"])
    code = main(["enhance", str(backlog / "[ab].mp4"), str(out)])  # outputs exist now
    assert code == 1 and "already exists (use -y to overwrite)" in capsys.readouterr().err


def test_a_failed_file_keeps_its_traceback_in_the_backlog_log_and_debug_shows_it(backlog, tmp_path, capsys):
    out, stats = tmp_path / "out", tmp_path / "backlog.json"
    bad_input = backlog / "e-corrupt.mp4"
    code = main(["enhance", str(backlog / "[ae]*.mp4"), str(out), "--stats-json", str(stats)])
    err = capsys.readouterr().err
    assert code == 1, err
    check_outputs(backlog, out, ["a.mp4"])  # the good file is written
    log = out / "vidlle-backlog.log"
    text = log.read_text()
    assert text.startswith("--- ") and f"{bad_input} failed (on " in text, text
    assert "Traceback (most recent call last)" in text and "InputError: cannot read" in text, text
    bad = next(ln for ln in err.splitlines() if ln.startswith(str(bad_input)))
    assert "FAILED: cannot read" in bad and bad.endswith(f"(traceback in {log})"), bad
    assert err.rstrip().splitlines()[-1].endswith(f"(traceback in {log})"), err
    assert "Traceback" not in err  # without --debug: only in the file
    failed = json.loads(stats.read_text())["results"][1]
    assert failed["log"] == str(log) and failed["traceback"] in text

    with pytest.raises(ScaleError, match="1 of 2 files failed"):  # --debug: the error itself, not one line
        main(["--debug", "enhance", str(backlog / "[ae]*.mp4"), str(out), "-y", "-q"])
    err = capsys.readouterr().err
    assert f"vidlle: traceback of {bad_input}:\nTraceback (most recent call last)" in err, err
    assert log.read_text().count(f"{bad_input} failed") == 2  # appended, not replaced

    blocked = tmp_path / "blocked"
    (blocked / "vidlle-backlog.log").mkdir(parents=True)  # a log that cannot be written
    code = main(["enhance", str(backlog / "[ae]*.mp4"), str(blocked), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and (blocked / "a.mp4").exists(), err  # never the reason a file fails
    assert f"(log {blocked / 'vidlle-backlog.log'} not written: Is a directory)" in err, err
