"""The web view in a real headless chromium (Selenium): the commands run as a user starts them,
in their own process, against the real GStreamer RTSP test camera and the virtual camera.

Small on purpose (2-core machine): 320x180 streams, threads host, short runs; every wait is
bounded so a regression fails instead of hanging.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import decode_video
from tests.support.browser import chromium, needs_browser
from tests.support.servers import RtspServer, free_port, rtsp_server_unavailable
from vidlle.frames import Frame
from vidlle.io.preview import PreviewControls
from vidlle.web.feed import CameraFeeds, FeedLimits
from vidlle.web.server import WebConfig, WebServer
from vidlle.web.views import PreviewView

ROOT = Path(__file__).resolve().parents[2]


def start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "vidlle", *args, "--http", f"127.0.0.1:{port}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vidlle exited early: {proc.stderr.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("the web view did not come up")


def state(port: int) -> dict:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5).read())


def rows(port: int) -> dict:
    return {c["name"]: c for c in state(port)["cameras"]}


def wait_until(ok, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def shot(element) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(np.int16)


def card_state(driver, camera: str) -> str:
    return driver.execute_script(
        "const c = document.getElementById('cam-' + arguments[0]); return c ? c.querySelector('.state').textContent : ''",
        camera)


@needs_browser
def test_preview_page_shows_a_live_picture_its_state_and_switches(tmp_path):
    port = free_port()
    proc = start(["preview", "testsrc:320x180@15"], port)
    try:
        with chromium() as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            wait_until(lambda: "streaming" in driver.find_element("id", "rows").text, 30, "streaming in the table")
            assert "testsrc" in driver.find_element("id", "rows").text
            canvas = driver.find_element("id", "large-enhanced")
            wait_until(lambda: driver.execute_script("return window.vidlleLatency.length") > 10, 30, "pictures")
            first = shot(canvas)
            time.sleep(1.5)
            second = shot(canvas)
            assert first.std() > 5 and np.abs(first - second).mean() > 0.5  # a picture, and it moves
            assert shot(driver.find_element("id", "large-original")).std() > 1
            latency = driver.execute_script("return window.vidlleLatency.slice(-20)")
            assert 0 < float(np.median(latency)) < 5000
            driver.find_element("id", "toggle-enhance").click()
            wait_until(lambda: state(port)["controls"]["enhance"] is False, 10, "enhancement switched off")
            assert driver.find_element("id", "toggle-overlay").get_attribute("disabled")  # no overlay model
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "web view on http://127.0.0.1:" in err


class LateCamera(PreviewView):
    """A preview view whose camera has no feed yet: its streams answer 404 until ``arrive()``
    (a camera still connecting when the page opened), then pictures of a moving bar."""

    def __init__(self):
        super().__init__("late", "late", CameraFeeds(FeedLimits(max_fps=20)), PreviewControls())
        self.refused = 0
        self.here = False

    def feed(self, camera: str, kind: str):
        if not self.here:
            self.refused += 1
            return None
        return super().feed(camera, kind)

    def arrive(self, stop) -> None:
        self.here = True
        x = 0
        while not stop.is_set():
            image = np.zeros((90, 160, 3), np.uint8)
            image[:, x % 150:x % 150 + 10] = 255
            self.feeds.offer(Frame(image, captured=time.time(), original=image))
            x += 3
            time.sleep(0.05)


@needs_browser
def test_a_picture_whose_camera_starts_after_the_page_opened_still_shows():
    late = LateCamera()
    stop = threading.Event()
    with WebServer(late, WebConfig("127.0.0.1", 0)) as server, chromium() as driver:
        driver.get(f"http://127.0.0.1:{server.port}/")
        wait_until(lambda: late.refused >= 2, 20, "the page asking for both pictures")  # 404 each
        offers = threading.Thread(target=late.arrive, args=(stop,), daemon=True)
        offers.start()
        try:
            canvas = driver.find_element("id", "large-enhanced")
            wait_until(lambda: shot(canvas).std() > 5, 20, "the picture once the camera is there")
        finally:
            stop.set()
            offers.join(5)


@needs_browser
@pytest.mark.skipif(rtsp_server_unavailable() is not None, reason=str(rtsp_server_unavailable()))
def test_serve_page_follows_a_killed_camera_and_a_leaving_viewer_changes_no_recording(tmp_path):
    with RtspServer(size="320x180", fps=15) as camera:
        config = tmp_path / "cams.json"
        config.write_text(json.dumps({
            "defaults": {"open_timeout": 3.0, "read_timeout": 1.5},
            "cameras": [{"name": "door", "source": camera.url, "output": "none"},
                        {"name": "yard", "source": "testsrc:320x180@15", "output": str(tmp_path / "yard.mkv")}]}))
        port = free_port()
        proc = start(["serve", str(config), "--run-on", "threads", "--stats-every", "1", "-q"], port)
        try:
            with chromium() as driver:
                driver.get(f"http://127.0.0.1:{port}/")
                wait_until(lambda: card_state(driver, "door") == "streaming" and card_state(driver, "yard") == "streaming",
                           60, "both cameras streaming on the page")
                names = [e.text for e in driver.find_elements("css selector", ".card .name")]
                assert names == ["door", "yard"]
                door = driver.find_element("css selector", "#cam-door canvas")
                wait_until(lambda: shot(door).std() > 2, 20, "door's picture")
                first = shot(door)
                time.sleep(1.5)
                assert np.abs(first - shot(door)).mean() > 0.2  # the ball moves

                camera.kill()  # the camera loses power
                wait_until(lambda: card_state(driver, "door") == "reconnecting", 30, "door reconnecting on the page")
                assert card_state(driver, "yard") == "streaming"
                camera.start()
                wait_until(lambda: card_state(driver, "door") == "streaming", 60, "door streaming again")
                assert rows(port)["door"]["reconnects"] >= 1

                driver.find_element("id", "cam-yard").click()  # large, original beside it
                wait_until(lambda: shot(driver.find_element("id", "large-original")).std() > 1, 20, "yard's original")
                before = rows(port)["yard"]
                assert {(v["camera"], v["kind"]) for v in state(port)["viewers"]} == \
                    {("yard", "enhanced"), ("yard", "original")}
            # the browser is gone mid-stream
            wait_until(lambda: state(port)["viewers"] == [], 10, "viewers gone")
            time.sleep(2.0)
            after = rows(port)["yard"]
            assert after["state"] == "streaming" and after["restarts"] == 0 and after["last_error"] is None
            assert after["frames"] >= before["frames"] + 15  # ~15 fps for 2 s: the recording goes on
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = int(re.search(r"yard: (\d+) frames kept in ", err).group(1))
    assert len(decode_video(tmp_path / "yard.mkv")[1]) == kept > 0  # finalised, every frame readable
