"""Soak: a flaky synthetic camera through `vidlle enhance` for a long stretch of stream time.

The camera is GStreamer's RTSP server (tests/support/rtsp_server.py, H.264) sending at a
multiple of real time (``--speed``: 5 -> 125 frames a second stand for 25 fps of stream time),
stalled every ``--stall-every`` seconds of stream (connection open, silence) and killed and
restarted every ``--restart-every`` seconds of stream (connection refused, then back).
vidlle records it to a file with the default (buffer) policy.

Each outage is driven by events, not by racing clocks: the camera goes silent (or down), stays
so until vidlle reports the connection lost (its ``--timeout`` of silence), then ``--stall-for``
stream seconds more (a stall) or 2 (a restart), comes back, and the next outage waits until
vidlle reports it is streaming again. So every outage is exactly one reconnect, on any machine.

Every ``--sample`` seconds of stream time (default: every minute) one line: stream minutes,
vidlle's RSS, threads and open file descriptors (from /proc), frames the camera sent, and the
drops / reconnects / state of vidlle's last progress line. At the end: RSS growth after the
warm-up (first ``--warmup`` of the samples' stream time), thread and fd growth, frames kept::

    python benchmarks/soak.py [--minutes 30] [--speed 5] [--size 320x180] [--json soak.json]

Exit status 0 when RSS growth <= --max-growth % and threads and fds did not grow, else 1.
Linux only (/proc); needs the system python3 with gi + gst-rtsp-server (tests/support/servers.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RtspServer, rtsp_server_unavailable  # noqa: E402 - after the path

NOMINAL_FPS = 25  # the stream rate the camera stands for; it sends speed x this


@dataclass
class Sample:
    """One reading: stream_min = frames sent / 25 / 60; rss_mb of vidlle; threads, fds of vidlle."""

    wall_s: float
    stream_min: float
    rss_mb: float
    threads: int
    fds: int
    sent: int
    recorded: int | None
    drops: int | None
    reconnects: int
    state: str | None


def proc_reading(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, threads, open fds) of process ``pid`` from /proc."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, threads, fds


class StderrWatch:
    """Reads vidlle's stderr: the last progress line's numbers, every 'connection lost' line
    (``lost``) and every 'streaming again ... (reconnect N' line (``reconnects``)."""

    def __init__(self, stream):
        self.last: tuple | None = None
        self.lost = 0
        self.reconnects = 0
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            line = line.rstrip("\n")
            with self._changed:
                self.lines.append(line)
                if ": connection lost (" in line:
                    self.lost += 1
                if ": streaming again after " in line and "(reconnect " in line:
                    self.reconnects += 1
                parts = line.split(" | ")
                if len(parts) > 4 and parts[0].endswith(" frames") and parts[2].endswith(" dropped"):
                    self.last = (int(parts[0].split()[0]), int(parts[2].split()[0]), parts[-2])
                self._changed.notify_all()

    def wait(self, what: str, done, timeout: float) -> None:
        """Block until ``done()`` holds (checked at every line); RuntimeError naming ``what`` after
        ``timeout`` seconds (vidlle never reported it: a real failure, not a slow machine)."""
        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise RuntimeError(f"vidlle did not report {what} within {timeout:g} s: {self.lines[-3:]}")


def soak(minutes: float, speed: float, size: str, stall_every: float, stall_for: float, restart_every: float,
         sample_every: float, out_dir: Path, extra: list[str] = (), log=print) -> tuple[list[Sample], dict]:
    """Run the soak; ``minutes`` and the intervals are stream time (wall time = stream time / speed).
    Returns the samples and a summary (frames sent and recorded, drops, reconnects, and the
    outages: ``stalls``, ``restarts``)."""
    fps = round(NOMINAL_FPS * speed)
    server = RtspServer(size=size, fps=fps, bitrate=300).start()
    out = out_dir / "soak.mkv"
    cmd = [sys.executable, "-m", "vidlle", "enhance", server.url, str(out), "-y", "--timeout", "1",
           "--wait-for-source", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    watch = StderrWatch(proc.stderr)
    samples: list[Sample] = []
    t0 = time.monotonic()
    outages = {"stalls": 0, "restarts": 0}
    next_stall = stall_every or float("inf")
    next_restart = restart_every or float("inf")
    stream_s = lambda: server.sent / NOMINAL_FPS  # noqa: E731

    def outage(restart: bool) -> None:
        lost, reconnects = watch.lost, watch.reconnects
        if restart:
            server.kill()  # power cut: refused connections until it is back
        else:
            server.stall()  # connection open, no video
        watch.wait("the connection lost", lambda: watch.lost > lost, timeout=60)
        time.sleep((2.0 if restart else stall_for) / speed)  # reconnect attempts meet the outage
        if restart:
            server.start()
        else:
            server.resume()
        watch.wait("streaming again", lambda: watch.reconnects > reconnects, timeout=120)
        outages["restarts" if restart else "stalls"] += 1

    try:
        next_sample = 0.0
        while stream_s() < minutes * 60:
            if proc.poll() is not None:
                raise RuntimeError(f"vidlle exited with {proc.returncode}: {watch.lines[-3:]}")
            if stream_s() >= min(next_stall, next_restart):
                restart = next_restart <= next_stall
                outage(restart)
                if restart:
                    next_restart += restart_every
                else:
                    next_stall += stall_every
            if stream_s() >= next_sample:
                rss, threads, fds = proc_reading(proc.pid)
                recorded, drops, state = watch.last or (None, None, None)
                s = Sample(round(time.monotonic() - t0, 1), round(stream_s() / 60, 2), round(rss, 1), threads, fds, server.sent,
                           recorded, drops, watch.reconnects, state)
                samples.append(s)
                log(f"stream {s.stream_min:6.2f} min  RSS {s.rss_mb:7.1f} MiB  threads {s.threads:3d}  fds {s.fds:3d}  "
                    f"sent {s.sent:6d}  recorded {s.recorded}  dropped {s.drops}  reconnects {s.reconnects}  "
                    f"[{s.state}]")
                next_sample += sample_every
            time.sleep(0.2)
        server.kill()
        sent = server.sent
        time.sleep(1.5)  # the recorder drains its buffer
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.kill()
    import av

    with av.open(str(out)) as c:
        recorded = sum(1 for _ in c.demux(c.streams.video[0]) if _.size)
    summary = {"exit_code": code, "sent": sent, "recorded": recorded, "reconnects": watch.reconnects, **outages,
               "drops": watch.last[1] if watch.last else None, "wall_s": round(time.monotonic() - t0, 1),
               "last_line": watch.lines[-1] if watch.lines else ""}
    return samples, summary


def growth(samples: list[Sample], warmup_min: float) -> dict:
    """RSS growth in % from the first sample after the warm-up to the last; thread and fd growth
    as the change of their usual count (the most common one in the last third of the samples
    after warm-up minus that of the first third): a reading taken mid-reconnect lacks the
    decoder's threads for a moment, a leak moves the usual count."""
    after = [s for s in samples if s.stream_min >= warmup_min] or samples[-1:]
    first, last = after[0], after[-1]
    third = max(1, len(after) // 3)

    def usual(values: list[int]) -> int:
        return max(sorted(set(values)), key=values.count)

    return {"rss_start_mb": first.rss_mb, "rss_end_mb": last.rss_mb, "rss_max_mb": max(s.rss_mb for s in after),
            "rss_growth_pct": round((last.rss_mb - first.rss_mb) / first.rss_mb * 100.0, 2),
            "thread_growth": usual([s.threads for s in after[-third:]]) - usual([s.threads for s in after[:third]]),
            "fd_growth": usual([s.fds for s in after[-third:]]) - usual([s.fds for s in after[:third]])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="stream time to run")
    ap.add_argument("--speed", type=float, default=5.0, help="camera rate as a multiple of 25 fps")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--stall-every", type=float, default=120.0, help="stream seconds between stalls")
    ap.add_argument("--stall-for", type=float, default=10.0,
                    help="stream seconds each stall lasts after vidlle reported the connection lost")
    ap.add_argument("--restart-every", type=float, default=300.0, help="stream seconds between camera restarts")
    ap.add_argument("--sample", type=float, default=60.0, help="stream seconds between readings")
    # The CLI keeps freed heap for reuse (vidlle.heap), so RSS is the heap's high-water mark: it
    # steps up while the first camera restarts and stalls meet a full buffer, then stays flat.
    ap.add_argument("--warmup", type=float, default=10.0, help="stream minutes of warm-up before growth counts")
    ap.add_argument("--max-growth", type=float, default=5.0, help="RSS growth %% allowed after the warm-up")
    ap.add_argument("--json", help="write samples and summary here")
    ap.add_argument("extra", nargs="*", help="more `vidlle enhance` options (after --)")
    args = ap.parse_args()
    reason = rtsp_server_unavailable()
    if reason:
        print(f"soak: cannot run: {reason}", file=sys.stderr)
        return 2
    print(f"soak: {args.minutes:g} min of {args.size} stream time at {args.speed:g}x real time; stall "
          f"{args.stall_for:g} s every {args.stall_every:g} s, camera restart every {args.restart_every:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        samples, summary = soak(args.minutes, args.speed, args.size, args.stall_every, args.stall_for,
                                args.restart_every, args.sample, Path(tmp), args.extra)
    g = growth(samples, args.warmup)
    print(f"frames sent {summary['sent']}, recorded {summary['recorded']} "
          f"({summary['recorded'] / max(1, summary['sent']):.1%}), dropped {summary['drops']}, "
          f"reconnects {summary['reconnects']} ({summary['stalls']} stalls, {summary['restarts']} restarts), "
          f"wall {summary['wall_s']} s, exit {summary['exit_code']}")
    print(f"after {args.warmup:g} min warm-up: RSS {g['rss_start_mb']} -> {g['rss_end_mb']} MiB "
          f"({g['rss_growth_pct']:+.2f} %, max {g['rss_max_mb']}), threads {g['thread_growth']:+d}, "
          f"fds {g['fd_growth']:+d}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "samples": [asdict(s) for s in samples],
                                               "summary": summary, "growth": g}, indent=1))
    ok = (g["rss_growth_pct"] <= args.max_growth and g["thread_growth"] <= 0 and g["fd_growth"] <= 0
          and summary["reconnects"] == summary["stalls"] + summary["restarts"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
