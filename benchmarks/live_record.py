"""Frames kept when recording a live RTSP camera: `vidlle enhance rtsp://... out.mkv`, as a user runs it.

A real camera stand-in (GStreamer's RTSP server, tests/support/rtsp_server.py: 1280x720, 25 fps,
H.264 on loopback) that counts every frame it sends; the real CLI in a child process; the camera
is killed (SIGKILL, like a power cut) half-way, stays down for a while, and comes back on the same
port. Then vidlle is stopped with SIGINT (it finalises the file) and the recording is decoded.

Prints frames sent by the camera while it was up, frames in the recording, their ratio, whether
the timestamps are strictly increasing, and vidlle's own counters (--stats-json)::

    python benchmarks/live_record.py [--size 1280x720] [--fps 25] [--up 8] [--down 3] [-- EXTRA ENHANCE ARGS]

Needs the system python3 with gi + gst-rtsp-server (see tests/support/servers.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RtspServer, rtsp_server_unavailable  # noqa: E402 - after the path


def wait_until(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)
    return cond()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--bitrate", type=int, default=2000, help="camera's H.264 kbit/s")
    ap.add_argument("--up", type=float, default=8.0, help="seconds of streaming before the kill and after the restart")
    ap.add_argument("--down", type=float, default=3.0, help="seconds the camera stays off")
    ap.add_argument("extra", nargs="*", help="more `vidlle enhance` options (after --)")
    args = ap.parse_args()
    reason = rtsp_server_unavailable()
    if reason:
        print(f"live_record: cannot run: {reason}", file=sys.stderr)
        return 2
    server = RtspServer(size=args.size, fps=args.fps, bitrate=args.bitrate).start()
    with tempfile.TemporaryDirectory() as tmp:
        out, stats_path, log = Path(tmp) / "night.mkv", Path(tmp) / "stats.json", Path(tmp) / "stderr.txt"
        cmd = [sys.executable, "-m", "vidlle", "enhance", server.url, str(out), "--stats-json", str(stats_path),
               *args.extra]
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, stderr=err, cwd=ROOT)
            try:
                if not wait_until(lambda: server.sent > 0, 60):
                    raise SystemExit("live_record: the camera sent nothing within 60 s")
                time.sleep(args.up)
                server.kill()
                sent_first = server.sent
                time.sleep(args.down)
                server.start()
                if not wait_until(lambda: server.sent > sent_first, 30):
                    raise SystemExit("live_record: vidlle did not reconnect within 30 s")
                time.sleep(args.up)
                server.kill()  # the camera goes first: every frame it sent had the chance to be recorded
                sent = server.sent
                time.sleep(1.0)  # the recorder drains its buffer
                proc.send_signal(signal.SIGINT)
                load = os.getloadavg()[0]
                _, status, usage = os.wait4(proc.pid, 0)  # its CPU time: what it needs, whoever else runs
                code = os.waitstatus_to_exitcode(status)
            finally:
                if proc.poll() is None:
                    proc.kill()
                server.kill()
        with av.open(str(out)) as c:
            pts = [f.pts for f in c.decode(c.streams.video[0])]
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        stderr_lines = log.read_text().splitlines()
    increasing = bool(np.all(np.diff(pts) > 0))
    print(f"command: {' '.join(cmd[1:3])} enhance <rtsp> night.mkv {' '.join(args.extra)}".rstrip())
    print(f"camera: {args.size} @ {args.fps} fps, {args.bitrate} kbit/s H.264, up {args.up:g} s, "
          f"down {args.down:g} s, up {args.up:g} s")
    print(f"exit code {code}; frames sent {sent} (before the kill {sent_first}); recorded {len(pts)} "
          f"= {len(pts) / max(1, sent):.1%}; pts strictly increasing: {increasing}")
    live = stats.get("live", {})
    median = stats.get("latency_ms", {}).get("median")
    print(f"vidlle counters: decoded {live.get('frames_in')}, dropped {live.get('drops')}, "
          f"reconnects {live.get('reconnects')}, latency median {median and round(median)} ms")
    cpu_ms = (usage.ru_utime + usage.ru_stime) / max(1, len(pts)) * 1000.0
    print(f"vidlle CPU {cpu_ms:.1f} ms per recorded frame (start-up included; {args.fps} fps needs "
          f"{cpu_ms * args.fps / 10:.0f} % of one core); machine load average at the end {load:.2f} "
          f"on {os.cpu_count()} cores")
    print("stderr (last 8 lines):")
    for line in stderr_lines[-8:]:
        print("  " + line[-200:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
