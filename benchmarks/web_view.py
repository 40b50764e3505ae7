"""Web view: capture -> shown latency in a real headless chromium, and CPU per viewer.

Runs the real command, ``vidlle serve`` (threads host: every camera in one process, so its
CPU time is the whole cost) on one virtual camera (``testsrc:WxH@FPS``, FFmpeg's testsrc2 released
in real time, read like a webcam), with output none, and measures that process's CPU time
(/proc/PID/stat, user + system) over ``--seconds`` in each phase:

1. without ``--http`` (the baseline);
2. with ``--http`` and no viewer (must equal 1: nothing is encoded without a viewer);
3. with 1 and then 2 viewers (headless chromium pages showing the camera large: its enhanced
   and original streams).

Latency = wall-clock time from the frame's decode in vidlle's reader thread (``X-Captured`` of
each motion-JPEG part) to the animation frame after the page drew it on its canvas
(``window.vidlleLatency``, same machine so the same clock), median and p95 over the phase.

It also times, in this process, what a picture costs to compress for the page: one JPEG of a
``--width`` picture (what MJPEG does per picture) against one H.264 frame from libx264
(ultrafast, zerolatency; what fragmented MP4 over MSE or WebRTC would need per picture).

    python benchmarks/web_view.py [--size 1280x720] [--fps 25] [--seconds 10]

Needs chromium, chromedriver and selenium (see tests/support/browser.py). Chromium runs on the
same machine and takes CPU too; it is not counted in the server's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path

import cv2  # noqa: I001 - before av (see vidlle.io.preview)
import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import browser_unavailable, chromium  # noqa: E402
from tests.support.servers import free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_serve(config: Path, port: int | None, stats: Path | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "vidlle", "serve", str(config), "--run-on", "threads", "-q"]
    if port:
        args += ["--http", f"127.0.0.1:{port}"]
    else:  # readiness from the stats file (the page is not there)
        args += ["--stats-every", "1", "--stats-json", str(stats)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def page_state(port: int) -> dict:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5).read())


def wait_streaming(proc: subprocess.Popen, port: int | None, stats: Path | None = None) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vidlle serve exited: {proc.stderr.read()}")
        try:
            if port:
                data = page_state(port)
            else:
                data = json.loads(stats.read_text())
            if data["cameras"][0]["state"] == "streaming" and data["cameras"][0]["frames"] > 25:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise SystemExit("the camera did not start streaming")


def measure(proc: subprocess.Popen, seconds: float) -> float:
    """CPU seconds per second of wall time (1.0 = one core busy) over ``seconds``."""
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(2)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def encode_costs(size: tuple[int, int], width: int, fps: int, n: int = 60) -> tuple[float, float]:
    """CPU ms per picture (one thread each): JPEG quality 75 (cv2.imencode) vs libx264
    ultrafast/zerolatency, of the same pictures already scaled to ``width``."""
    rng = np.random.default_rng(0)
    w, h = size
    base = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    small = [cv2.resize(np.roll(base, 4 * i, axis=1), (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
             for i in range(n)]
    cv2.setNumThreads(1)
    t0 = time.process_time()
    for f in small:
        cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 75])
    jpeg_ms = (time.process_time() - t0) / n * 1000
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = small[0].shape[1], small[0].shape[0], "yuv420p"
    codec.time_base = Fraction(1, fps)
    codec.thread_count = 1
    codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
    t0 = time.process_time()
    for f in small:
        codec.encode(av.VideoFrame.from_ndarray(f, format="bgr24").reformat(format="yuv420p"))
    h264_ms = (time.process_time() - t0) / n * 1000
    return jpeg_ms, h264_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=960, help="picture width on the page (the default cap)")
    args = ap.parse_args()
    reason = browser_unavailable()
    if reason:
        print(f"web_view: {reason}", file=sys.stderr)
        return 2
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cams.json"
        config.write_text(json.dumps({"cameras": [{"name": "cam", "source": f"testsrc:{w}x{h}@{args.fps}",
                                                   "output": "none"}]}))
        stats = Path(tmp) / "stats.json"
        rows = []
        base = start_serve(config, None, stats)
        try:
            wait_streaming(base, None, stats)
            rows.append(("serve, no --http", measure(base, args.seconds), None))
        finally:
            stop(base)
        port = free_port()
        proc = start_serve(config, port)
        try:
            wait_streaming(proc, port)
            rows.append(("serve --http, 0 viewers", measure(proc, args.seconds), None))
            fps = [page_state(port)["cameras"][0]["fps"]]
            with ExitStack() as stack:
                drivers = []
                for n in (1, 2):
                    driver = stack.enter_context(chromium())
                    driver.get(f"http://127.0.0.1:{port}/")
                    drivers.append(driver)
                    deadline = time.monotonic() + 30
                    while driver.execute_script("return window.vidlleLatency.length") < 20:
                        if time.monotonic() > deadline:
                            raise SystemExit("the page shows no pictures")
                        time.sleep(0.2)
                    driver.execute_script("window.vidlleLatency.length = 0")
                    load = measure(proc, args.seconds)
                    lat = drivers[0].execute_script("return window.vidlleLatency")
                    rows.append((f"serve --http, {n} viewer{'s' if n > 1 else ''}", load, lat))
                    fps.append(page_state(port)["cameras"][0]["fps"])
                state = page_state(port)
        finally:
            stop(proc)
    base_load = rows[0][1]
    print(f"# {args.size}@{args.fps} virtual camera, curve model, pictures <= {args.width} px wide, "
          f"<= {state['limits']['max_fps']:g} fps; {args.seconds:g} s per phase; {os.cpu_count()} CPUs")
    print(f"{'phase':28s} {'server CPU':>10s} {'vs base':>8s} {'lat p50':>8s} {'lat p95':>8s} {'n':>5s}")
    for name, load, lat in rows:
        p50 = f"{statistics.median(lat):.0f} ms" if lat else "-"
        p95 = f"{np.percentile(lat, 95):.0f} ms" if lat else "-"
        print(f"{name:28s} {load * 100:9.1f}% {(load - base_load) * 100:+7.1f}% {p50:>8s} {p95:>8s} "
              f"{len(lat) if lat else 0:5d}")
    print("camera fps (0, 1, 2 viewers):", ", ".join(f"{f:.1f}" for f in fps))
    print("viewers at the end:", [(v["kind"], v["sent"], v["skipped"]) for v in state["viewers"]])
    jpeg_ms, h264_ms = encode_costs((w, h), args.width, args.fps)
    print(f"compress one {args.width}-px picture (CPU, 1 thread): JPEG q75 {jpeg_ms:.1f} ms, "
          f"H.264 ultrafast/zerolatency {h264_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
