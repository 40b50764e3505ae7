"""Real servers for the live tests, started as child processes: GStreamer RTSP, Xvfb.

Both skip (never fail) when the machine lacks them: the system interpreter with PyGObject and
gst-rtsp-server for RTSP, the Xvfb binary for windows. ``.ci/run`` installs them on Debian.
"""

from __future__ import annotations

import functools
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


@functools.cache
def rtsp_server_unavailable() -> str | None:
    """Why the GStreamer RTSP server cannot run here (a skip reason), or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found (the RTSP test server runs on the system interpreter)"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay', 'valve', 'rtph264depay', 'avdec_h264',"
        " 'identity', 'breakmydata')"
        " if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"system python lacks gi/GstRtspServer ({last}); apt-get install python3-gi gir1.2-gst-rtsp-server-1.0"
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()} (gstreamer1.0-plugins-good/ugly, gstreamer1.0-libav)"
    return None


def needs_rtsp(test):
    """Mark a test that runs the GStreamer RTSP server: the ``integration`` tier (deselected by a
    plain ``pytest -q``, run by ``.ci/run``), skipped with the reason where the server cannot run."""
    reason = rtsp_server_unavailable()
    return pytest.mark.integration(pytest.mark.skipif(reason is not None, reason=str(reason))(test))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_port() -> int:
    """A local port nobody listens on (connections are refused at once)."""
    return free_port()


class RtspServer:
    """``tests/support/rtsp_server.py`` as a child process on a fixed port (restartable).

    url: ``rtsp://127.0.0.1:PORT/stream``. lines: stdout lines after READY (RECEIVED n, STALLED,
    RESUMED, CORRUPT ON/OFF). sent: frames the camera sent, summed over every start (its SENT lines).
    corrupt_after / corrupt_for: seconds of clean video, then seconds of broken H.264 data.
    :meth:`stall` and :meth:`resume` silence the camera and let it send again, when the test says.
    """

    def __init__(self, port: int | None = None, *, stall_after: float | None = None, record: bool = False,
                 size: str = "320x180", fps: int = 25, corrupt_after: float | None = None,
                 corrupt_for: float = 1.0, bitrate: int = 300):
        self.port = port or free_port()
        self.args = ["--port", str(self.port), "--size", size, "--fps", str(fps), "--bitrate", str(bitrate)]
        if stall_after is not None:
            self.args += ["--stall-after", str(stall_after)]
        if corrupt_after is not None:
            self.args += ["--corrupt-after", str(corrupt_after), "--corrupt-for", str(corrupt_for)]
        if record:
            self.args.append("--record")
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.sent = 0  # over every start of this server: a restarted camera counts from 0 again
        self._sent_before = 0
        self._received = 0

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def start(self, timeout: float = 15.0) -> RtspServer:
        self._sent_before = self.sent
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER_SCRIPT), *self.args], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        ready: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, ready), daemon=True).start()
        try:
            first = ready.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError(f"RTSP test server did not start within {timeout} s") from None
        if not first.startswith("READY"):
            self.kill()
            raise RuntimeError(f"RTSP test server failed: {first}")
        return self

    def _pump(self, proc: subprocess.Popen, ready: queue.Queue) -> None:
        announced = False
        for line in proc.stdout:
            line = line.strip()
            if not announced:
                ready.put(line)
                announced = True
            elif line.startswith("SENT "):  # one per frame: counted here, not queued
                self.sent = self._sent_before + int(line.split()[1])
            else:
                self.lines.put(line)
        if not announced:
            ready.put(f"exited with code {proc.wait()}")

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line.startswith(prefix):
                return line
        return None

    def stall(self, timeout: float = 10.0) -> None:
        """Stop sending video, connections kept open (SIGUSR1); returns once the server did."""
        self._signal(signal.SIGUSR1, "STALLED", timeout)

    def resume(self, timeout: float = 10.0) -> None:
        """Send video again after :meth:`stall` (SIGUSR2); returns once the server did."""
        self._signal(signal.SIGUSR2, "RESUMED", timeout)

    def _signal(self, signum: int, answer: str, timeout: float) -> None:
        self.proc.send_signal(signum)
        if self.wait_for(answer, timeout) is None:
            raise RuntimeError(f"RTSP test server did not print {answer} within {timeout} s")

    def received(self) -> int:
        """Frames a --record server decoded so far (its latest RECEIVED line; 0 before any)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self._received
            if line.startswith("RECEIVED"):
                self._received = int(line.split()[1])

    def kill(self) -> None:
        """SIGKILL: the connection drops as when a camera loses power."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM, wait; returns the final RECEIVED count for a --record server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        time.sleep(0.05)
        return self.received()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


class Xvfb:
    """A virtual X server (``Xvfb -displayfd``) for window tests; ``display`` like ``:5``."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.display: str | None = None

    @staticmethod
    def unavailable() -> str | None:
        return None if shutil.which("Xvfb") else "Xvfb not installed (apt-get install xvfb)"

    def __enter__(self) -> Xvfb:
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        os.close(w)
        with os.fdopen(r) as fh:
            number = fh.readline().strip()
        if not number.isdigit():
            self.__exit__()
            raise RuntimeError("Xvfb did not report a display number")
        self.display = f":{number}"
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
