"""`vidlle serve`: cameras in Ray actors (a real local Ray, a real RTSP server, the virtual camera)
and, without Ray, in threads of one process.

Small on purpose (2-core machine): 160x90 streams at 10 fps, half a CPU per camera, short runs.
Every wait is bounded, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import decode_video
from tests.support.servers import RtspServer, needs_rtsp
from vidlle.cli import main
from vidlle.scale.config import parse_config
from vidlle.scale.service import Service

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"num_cpus": 0.5, "open_timeout": 3.0, "read_timeout": 1.5}


def wait_rows(service: Service, ok, timeout: float, what: str) -> list[dict]:
    """Poll until ``ok(rows_by_name)``; fail with the last rows after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    rows = {}
    while time.monotonic() < deadline:
        rows = {r["name"]: r for r in service.poll(wait=0.5)}
        if ok(rows):
            return rows
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}: {rows}")


def decoded_frames(path: str) -> int:
    return len(decode_video(Path(path))[1])


def no_temp_files(folder: Path) -> bool:
    return not list(folder.rglob(".*vidlle-tmp*"))


@pytest.mark.ray
@needs_rtsp
def test_ray_cameras_survive_a_lost_server_and_a_crash_without_disturbing_each_other(ray_local, tmp_path):
    server = RtspServer(size="160x90", fps=10).start()
    try:
        cfg = parse_config({
            "defaults": {"output": "rec/{name}/%Y%m%d-%H%M%S.mkv", **SMALL},
            "cameras": [{"name": "door", "source": server.url},
                        {"name": "yard", "source": "testsrc:160x90@10"},
                        {"name": "lot", "source": "testsrc:160x90@10"}],
        }, base_dir=tmp_path)
        service = Service(cfg, host="ray")
        service.start()
        try:
            rows = wait_rows(service, lambda r: all(x["state"] == "streaming" and x["frames"] >= 5 for x in r.values()),
                             90, "three cameras streaming")
            pids = {n: r["pid"] for n, r in rows.items()}
            assert len(set(pids.values())) == 3  # one actor process per camera

            # The RTSP camera loses power: its actor reconnects when it is back; the others go on.
            server.kill()
            rows = wait_rows(service, lambda r: r["door"]["state"] == "reconnecting", 20, "door reconnecting")
            before = {n: r["frames"] for n, r in rows.items()}
            wait_rows(service, lambda r: all(r[n]["frames"] > before[n] + 10 for n in ("yard", "lot")), 30,
                      "the other cameras going on during the outage")
            server = RtspServer(port=server.port, size="160x90", fps=10).start()
            rows = wait_rows(service, lambda r: r["door"]["reconnects"] >= 1 and r["door"]["state"] == "streaming"
                             and r["door"]["frames"] > before["door"] + 5, 30, "door reconnected")
            for name in ("yard", "lot"):
                assert rows[name]["frames"] > before[name] + 10, rows[name]  # unaffected by the outage
                assert rows[name]["reconnects"] == 0 and rows[name]["restarts"] == 0
            assert rows["door"]["restarts"] == 0 and rows["door"]["pid"] == pids["door"]  # same actor

            # A bug inside lot's pipeline: its recording is finalised, the process ends, Ray restarts it.
            before = {n: r["frames"] for n, r in rows.items()}
            ray_local.get(service.handles["lot"].inject_fault.remote("raise"), timeout=30)
            rows = wait_rows(service, lambda r: r["lot"]["restarts"] == 1 and r["lot"]["state"] == "streaming"
                             and r["lot"]["frames"] > before["lot"] + 5, 60, "lot restarted by Ray")
            assert rows["lot"]["pid"] != pids["lot"] and rows["lot"]["failures"] == 1
            for name in ("door", "yard"):
                assert rows[name]["restarts"] == 0 and rows[name]["pid"] == pids[name]
                assert rows[name]["frames"] > before[name]
            # Again: the new process knows it is the second failure (Ray's count), so it waits 2 s.
            before = {n: r["frames"] for n, r in rows.items()}
            ray_local.get(service.handles["lot"].inject_fault.remote("raise"), timeout=30)
            # "streaming" comes with the first decoded frame, its recording with the first written
            # one: wait for frames, or a stop right now may find no third file yet.
            rows = wait_rows(service, lambda r: r["lot"]["restarts"] == 2 and r["lot"]["state"] == "streaming"
                             and r["lot"]["frames"] > before["lot"] + 5, 60, "lot restarted a second time")
            assert rows["lot"]["failures"] == 2, rows["lot"]
        finally:
            final = {r["name"]: r for r in service.stop()}
    finally:
        server.kill()

    # Every recording finalised: decodable, named by time, nothing left under a temporary name.
    assert no_temp_files(tmp_path)
    for name, row in final.items():
        assert row["state"] == "stopped", row
        files = sorted((tmp_path / "rec" / name).glob("*.mkv"))
        assert files and [str(f) for f in files] == sorted(row["files"]), (files, row["files"])
        total = sum(decoded_frames(str(f)) for f in files)
        assert total >= row["frames"] > 20, (name, total, row)
    assert len(final["lot"]["files"]) == 3  # before each crash (kept) and after the last restart
    assert final["yard"]["frames"] == decoded_frames(final["yard"]["files"][0])


def test_without_ray_cameras_run_in_threads_and_say_how_to_scale(tmp_path, capsys, monkeypatch):
    pytest.importorskip("yaml", reason="PyYAML not installed (the scale extra)")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    config = tmp_path / "cams.yaml"
    config.write_text("defaults:\n  output: rec/{name}/%H%M%S.mkv\n  segment_seconds: 2\ncameras:\n"
                      "  - name: yard\n    source: testsrc:160x90@10\n"
                      "  - name: lot\n    source: testsrc:160x90@10\n    output: none\n")
    code = main(["serve", str(config), "--duration", "4", "--stats-every", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.count("Ray is not installed") == 1 and "pip install" in err and "[scale]" in err
    assert "one thread per camera" in err
    assert "yard" in out and "lot" in out and "streaming" in out
    files = sorted((tmp_path / "rec" / "yard").glob("*.mkv"))
    assert len(files) >= 2  # rotated every 2 s
    assert sum(decoded_frames(str(f)) for f in files) > 10
    assert "lot:" in err and "output none" in err
    assert no_temp_files(tmp_path)


def test_engine_is_a_hidden_alias_of_host(capsys, monkeypatch):
    """Commands written with the former --engine keep working; --help shows only --run-on."""
    import vidlle.scale.serve

    asked = []
    monkeypatch.setattr(vidlle.scale.serve, "serve", lambda config, **kw: asked.append(kw["host"]))
    for args in (["--engine", "threads"], ["--run-on", "threads"], ["--run-on", "ray", "--engine", "ray"], []):
        assert main(["serve", "cams.yaml", *args]) == 0
    assert asked == ["threads", "threads", "ray", "auto"]
    assert main(["serve", "cams.yaml", "--run-on", "ray", "--engine", "threads"]) == 2  # which one? a usage error
    assert "--engine is the former name of --run-on" in capsys.readouterr().err
    assert main(["serve", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "--run-on [auto|ray|threads]" in shown and "--engine" not in shown


@needs_rtsp
def test_threads_host_table_says_a_camera_stalled_and_reconnects(tmp_path):
    """The stats table shows what the camera does (stalled N s, reconnecting, attempt k, next in N s),
    not only 'streaming'; file cameras record with the buffer drop policy."""
    from vidlle.scale.service import format_table

    with RtspServer(stall_after=1.0) as server:
        cfg = parse_config({"cameras": [{"name": "yard", "source": server.url, "output": "rec/{name}.mkv",
                                         "read_timeout": 2.0, "open_timeout": 3.0, "backend": "torch"}]},
                           base_dir=tmp_path)
        assert cfg.cameras[0].live_config().drop_policy == "buffer"
        service = Service(cfg, host="threads")
        service.start()
        try:
            stalled = wait_rows(service, lambda r: r["yard"]["status"].startswith("stalled "), 30, "yard stalled")
            assert "  stalled " in format_table(list(stalled.values()))[1]
            wait_rows(service, lambda r: r["yard"]["status"].startswith("reconnecting, attempt "), 30,
                      "yard reconnecting")
        finally:
            service.stop()


def test_threads_host_restarts_a_crashed_camera_in_place(tmp_path):
    cfg = parse_config({"cameras": [{"name": "solo", "source": "testsrc:160x90@10", "output": "rec/{name}.mkv"}]},
                       base_dir=tmp_path)
    service = Service(cfg, host="threads")
    service.start()
    try:
        wait_rows(service, lambda r: r["solo"]["frames"] >= 5, 30, "solo streaming")
        service.handles["solo"].inject_fault()
        rows = wait_rows(service, lambda r: r["solo"]["restarts"] == 1 and r["solo"]["state"] == "streaming", 30,
                         "solo restarted")
        assert "injected fault" in rows["solo"]["last_error"]
    finally:
        final = service.stop()[0]
    assert final["state"] == "stopped" and len(final["files"]) == 2  # rec.mkv (kept at the crash), rec-1.mkv
    assert sum(decoded_frames(f) for f in final["files"]) == final["frames"]


@pytest.mark.ray
def test_sigterm_stops_the_ray_service_and_finalises_recordings(tmp_path):
    """The real command in its own process (its own local Ray): table, JSON, a camera that cannot
    start reported in one line, SIGTERM -> every recording finalised, exit 130."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[scale]')")
    import torch

    cams = [{"name": "cam1", "source": "testsrc:160x90@10", "output": "rec.mkv"}]
    no_gpu = not torch.cuda.is_available()
    if no_gpu:  # configured for CUDA, scheduled (num_gpus 0) where there is no GPU
        cams.append({"name": "gpu", "source": "testsrc:160x90@10", "device": "cuda", "num_gpus": 0})
    config = tmp_path / "cams.json"  # JSON needs no PyYAML
    config.write_text(json.dumps({"defaults": {"num_cpus": 0.5}, "cameras": cams}))
    stats = tmp_path / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "vidlle", "serve", str(config), "--run-on", "ray",
                             "--stats-every", "1", "--stats-json", str(stats)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("cam1") and "streaming" in line and int(line.split()[4]) >= 5:
                break
        else:
            pytest.fail("the service did not start streaming")
        proc.send_signal(signal.SIGTERM)  # ray.init's own SIGTERM handler must not win
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"vidlle: stopped; {len(cams)} camera{'s' if len(cams) > 1 else ''} finalised" in err
    kept = int(re.search(r"cam1: (\d+) frames kept in ", err).group(1))
    assert decoded_frames(str(tmp_path / "rec.mkv")) == kept >= 5
    assert no_temp_files(tmp_path), sorted(p.name for p in tmp_path.rglob("*"))
    snap = json.loads(stats.read_text())
    assert snap["host"] == snap["engine"] == "ray" and snap["cameras"][0]["state"] == "stopped"
    assert snap["cameras"][0]["frames"] == kept
    if no_gpu:
        assert snap["cameras"][1]["state"] == "failed" and snap["cameras"][1]["restarts"] == 0
        assert re.search(r"gpu: 0 frames .*failed: no backend can run on device 'cuda'", err)
        assert "Traceback" not in err
