"""vidlle.web.server and views: access (token, loopback Host), JSON without secrets, streams that
encode only while someone watches, a stalled viewer that holds up nobody, read-only serve pages.

Every server here binds 127.0.0.1 (port 0); a token is configured to test the checks a
non-loopback bind gets."""

from __future__ import annotations

import http.client
import json
import socket
import time

import numpy as np
import pytest

from vidlle.errors import WebError
from vidlle.io.preview import PreviewControls
from vidlle.scale.config import parse_config
from vidlle.scale.service import Service
from vidlle.web.feed import CameraFeeds, FeedLimits
from vidlle.web.server import WebConfig, WebServer, clean, parse_address, web_config
from vidlle.web.views import PreviewView, ServeView

SECRET_URL = "rtsp://admin:hunter2@10.0.0.5:554/stream1?token=s3cr3tt0k"


def get(server: WebServer, path: str, headers: dict | None = None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body, resp


def preview_view(feeds: CameraFeeds | None = None, controls: PreviewControls | None = None) -> PreviewView:
    return PreviewView("rtsp://***@10.0.0.5:554/stream1?token=***", SECRET_URL,
                       feeds or CameraFeeds(FeedLimits(max_fps=50)), controls or PreviewControls())


@pytest.fixture
def tokened():
    server = WebServer(preview_view(), WebConfig("127.0.0.1", 0, token="letmein"))
    with server:
        yield server


def test_addresses_and_who_gets_a_token(monkeypatch):
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("http", "host:99999", "host:"):
        with pytest.raises(WebError, match="--http expects"):
            parse_address(bad)
    assert web_config("8080", environ={}) == (WebConfig("127.0.0.1", 8080, None), False)
    config, made = web_config("0.0.0.0:8080", environ={})
    assert made and config.token and len(config.token) >= 20
    assert web_config("0.0.0.0:8080", environ={"VIDLLE_WEB_TOKEN": "mine"})[0].token == "mine"
    assert web_config("localhost:8080", environ={"VIDLLE_WEB_TOKEN": "mine"}) == \
        (WebConfig("localhost", 8080, "mine"), False)


def test_a_non_loopback_bind_without_a_token_is_refused_before_binding():
    with pytest.raises(WebError, match="without an access token"):
        WebServer(preview_view(), WebConfig("0.0.0.0", 0, token=None)).start()


def test_a_port_in_use_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(WebError, match=r"cannot serve the web view on 127\.0\.0\.1:\d+"):
            WebServer(preview_view(), WebConfig("127.0.0.1", s.getsockname()[1])).start()


def test_the_token_is_checked_on_every_route(tokened):
    for path in ("/", "/api/state", "/stream/preview/enhanced"):
        status, body, _ = get(tokened, path)
        assert status == 401 and b"access token" in body
    assert get(tokened, "/api/state?token=wrong")[0] == 401
    assert get(tokened, "/api/state", {"Authorization": "Bearer wrong"})[0] == 401
    status, _, resp = get(tokened, "/?token=letmein")
    assert status == 200 and "vidlle_token=letmein" in resp.getheader("Set-Cookie")
    assert "HttpOnly" in resp.getheader("Set-Cookie")
    assert get(tokened, "/api/state", {"Authorization": "Bearer letmein"})[0] == 200
    assert get(tokened, "/api/state", {"Cookie": "vidlle_token=letmein"})[0] == 200


def test_a_loopback_page_without_token_answers_only_loopback_names():
    with WebServer(preview_view(), WebConfig("127.0.0.1", 0)) as server:
        assert get(server, "/api/state")[0] == 200
        assert get(server, "/api/state", {"Host": f"localhost:{server.port}"})[0] == 200
        status, body, _ = get(server, "/api/state", {"Host": "attacker.example:80"})  # DNS rebinding
        assert status == 401 and b"not addressed to this machine" in body


def test_json_never_holds_a_credential():
    cfg = parse_config({"cameras": [{"name": "gate", "source": SECRET_URL, "output": "none"},
                                    {"name": "yard", "source": "testsrc:64x36@5",
                                     "output": "rtsp://pub:pw0rd99@nvr.local:8554/yard"}]})
    service = Service(cfg, host="threads")
    # an error text that quotes the URL, as FFmpeg's do
    service.views["gate"].error = f"cannot open {SECRET_URL}: 401 Unauthorized (user admin pass hunter2)"
    with WebServer(ServeView(service), WebConfig("127.0.0.1", 0)) as server:
        status, body, _ = get(server, "/api/state")
    assert status == 200
    text = body.decode()
    for secret in ("hunter2", "admin", "s3cr3tt0k", "pw0rd99", "pub:"):
        assert secret not in text
    data = json.loads(text)
    assert [c["id"] for c in data["cameras"]] == ["gate", "yard"]
    assert data["cameras"][0]["source"] == "rtsp://***@10.0.0.5:554/stream1?token=***"
    assert data["cameras"][0]["state"] == "starting" and data["mode"] == "serve"
    assert "401 Unauthorized" in data["cameras"][0]["last_error"]


def test_clean_redacts_urls_it_was_not_told_about():
    assert clean({"x": ["see http://u:p4ss@h/x now"]}, []) == {"x": ["see http://***@h/x now"]}


def test_no_picture_is_encoded_until_a_viewer_connects_and_none_after_it_left():
    feeds = CameraFeeds(FeedLimits(max_fps=20, lease=0.5))
    image = np.zeros((90, 160, 3), np.uint8)
    with WebServer(preview_view(feeds), WebConfig("127.0.0.1", 0)) as server:
        for _ in range(40):  # a pipeline writing with nobody watching
            feeds.offer(image_frame(image))
            time.sleep(0.005)
        assert feeds["enhanced"].encoded == feeds["original"].encoded == 0
        assert feeds["enhanced"]._thread is None
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/stream/preview/enhanced")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        deadline = time.monotonic() + 5
        while feeds["enhanced"].encoded < 3 and time.monotonic() < deadline:
            feeds.offer(image_frame(image))
            time.sleep(0.01)
        part = resp.read(400)
        assert b"Content-Type: image/jpeg" in part and b"X-Captured: " in part
        state = json.loads(get(server, "/api/state")[1])
        assert [(v["camera"], v["kind"]) for v in state["viewers"]] == [("preview", "enhanced")]
        assert feeds["original"].encoded == 0  # nobody watches the original
        resp.close()  # the viewer closes the page
        conn.close()
        time.sleep(1.5)  # past the lease: the viewer is gone
        encoded = feeds["enhanced"].encoded
        for _ in range(20):
            feeds.offer(image_frame(image))
            time.sleep(0.01)
        assert feeds["enhanced"].encoded == encoded and feeds["enhanced"]._thread is None
        assert json.loads(get(server, "/api/state")[1])["viewers"] == []


def test_a_viewer_that_reads_nothing_holds_up_neither_the_offers_nor_other_viewers():
    feeds = CameraFeeds(FeedLimits(max_fps=50, quality=95))
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (540, 960, 3), dtype=np.uint8)  # ~1 MB JPEGs fill socket buffers fast
    with WebServer(preview_view(feeds), WebConfig("127.0.0.1", 0)) as server:
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream/preview/enhanced HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # never read
        # Generous bounds: each ~1 MB picture is encoded on demand, slow on a loaded 2-core machine.
        reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        reader.request("GET", "/stream/preview/enhanced")
        resp = reader.getresponse()
        got = 0
        deadline = time.monotonic() + 60
        while got < 15 and time.monotonic() < deadline:
            feeds.offer(image_frame(noisy))
            line = resp.fp.readline()
            if line.startswith(b"Content-Length:"):
                resp.fp.read(int(line.split()[1]))
                got += 1
        assert got >= 15  # the reading viewer keeps getting pictures
        state = json.loads(get(server, "/api/state")[1])
        stalled_viewer = min(state["viewers"], key=lambda v: v["sent"])
        assert stalled_viewer["sent"] < got  # the stalled one is stuck on its own socket
        stalled.close()
        reader.close()


def test_preview_switches_need_the_control_header_and_serve_has_none():
    controls = PreviewControls()
    with WebServer(preview_view(controls=controls), WebConfig("127.0.0.1", 0)) as server:
        assert get(server, "/api/toggle/enhance", method="POST")[0] == 403  # a cross-site form cannot add it
        assert controls.enhance
        status, body, _ = get(server, "/api/toggle/enhance", {"X-Vidlle-Control": "1"}, "POST")
        assert status == 200 and json.loads(body) == {"enhance": False} and not controls.enhance
        assert get(server, "/api/toggle/overlay", {"X-Vidlle-Control": "1"}, "POST")[0] == 404  # no overlay model
        assert get(server, "/stream/elsewhere/enhanced")[0] == 404
    cfg = parse_config({"cameras": [{"name": "gate", "source": "testsrc:64x36@5", "output": "none"}]})
    with WebServer(ServeView(Service(cfg, host="threads")), WebConfig("127.0.0.1", 0)) as server:
        assert get(server, "/api/toggle/enhance", {"X-Vidlle-Control": "1"}, "POST")[0] == 404
        assert get(server, "/stream/gate/enhanced")[0] == 404  # not started: no feed yet
        assert b"<title>vidlle</title>" in get(server, "/")[1]


def image_frame(image: np.ndarray):
    from vidlle.frames import Frame

    return Frame(image, captured=time.perf_counter(), original=image)
