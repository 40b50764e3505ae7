"""The web view's HTTP server: one page, its JSON and a motion-JPEG stream per camera and picture.

Routes (all GET unless said):

- ``/``: the page (:mod:`vidlle.web.page`).
- ``/api/state``: the figures the page shows, as JSON (``vidlle serve``: the same rows as
  ``--stats-json``; a health check can poll it).
- ``/stream/CAMERA/enhanced`` and ``/stream/CAMERA/original``: ``multipart/x-mixed-replace``
  JPEGs (motion JPEG, which an ``<img>`` or VLC also plays); every part carries ``X-Captured``
  (wall-clock seconds when the frame was captured) and ``X-Seq``.
- POST ``/api/toggle/enhance|overlay``: the preview's switches (only where the view has them;
  ``vidlle serve`` is read-only). Needs the header ``X-Vidlle-Control: 1``, which a cross-site
  form cannot send.

Why the standard library's threading server: a handful of read-only viewers, each a blocking
stream in its own thread, is what it does well, and the page needs nothing else (no websockets,
no templates); a framework would be a dependency of every install for that. Each viewer's
thread blocks only on its own socket (with a timeout), so a stalled viewer ends its own stream.

Access: a loopback bind (``127.0.0.1``, the default) needs no token but only answers requests
addressed to a loopback name (no DNS rebinding); any other bind needs the token (query
``?token=``, the cookie the page sets from it, or ``Authorization: Bearer``). Every string of
the JSON passes through :mod:`vidlle.io.redact` with the views' source and output URLs, so no
credential reaches the page.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import re
import secrets
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from vidlle.errors import WebError
from vidlle.io.redact import redact, scrub
from vidlle.web.feed import KINDS, FeedLimits, Picture
from vidlle.web.page import PAGE

TOKEN_ENV = "VIDLLE_WEB_TOKEN"
BOUNDARY = "vidlleframe"
COOKIE = "vidlle_token"
SEND_TIMEOUT = 10.0  # seconds a viewer may leave a picture unread before its stream is closed
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


@dataclass(frozen=True)
class WebConfig:
    """Where the page is served and what watching may cost.

    host, port: the address to bind (``127.0.0.1`` by default; port 0 picks a free one).
    token: the access token (None: no token, allowed on loopback binds only).
    limits: rate, size and quality of the pictures (:class:`~vidlle.web.feed.FeedLimits`).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    limits: FeedLimits = field(default_factory=FeedLimits)


def parse_address(text: str) -> tuple[str, int]:
    """``8080`` -> (127.0.0.1, 8080); ``0.0.0.0:8080``, ``[::1]:8080``, ``host:8080`` as given."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise WebError(f"--http expects [HOST:]PORT (port 0-65535), got {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def web_config(address: str, limits: FeedLimits = FeedLimits(), environ=os.environ) -> tuple[WebConfig, bool]:
    """The config for ``--http ADDRESS``; and whether the token was made up here (to be shown once).

    Loopback: the token of ``$VIDLLE_WEB_TOKEN`` if set, else none. Any other address: that
    token, else a new random one."""
    host, port = parse_address(address)
    token = environ.get(TOKEN_ENV) or None
    made = False
    if token is None and not is_loopback(host):
        token, made = secrets.token_urlsafe(18), True
    return WebConfig(host, port, token, limits), made


class View(Protocol):
    """What the page shows: a preview (one source, switches) or a service (many cameras)."""

    mode: str
    urls: list[str]  # every source/output URL as configured: scrubbed from all the page says

    def state(self) -> dict: ...
    def feed(self, camera: str, kind: str): ...  # an object with wait(after, timeout, origin) or None
    def toggle(self, name: str) -> bool | None: ...  # None: no such switch


def clean(value, urls: list[str]):
    """``value`` (JSON-ready data) with every credential of ``urls`` and of any URL in its strings
    replaced (:func:`vidlle.io.redact.scrub` / :func:`~vidlle.io.redact.redact`)."""
    if isinstance(value, str):
        for url in urls:
            value = scrub(value, url)
        return _URL.sub(lambda m: redact(m.group(0)), value)
    if isinstance(value, dict):
        return {clean(k, urls): clean(v, urls) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, urls) for v in value]
    return value


@dataclass
class Viewer:
    """One open stream: what it watches, pictures sent, pictures it skipped (too slow to take them)."""

    camera: str
    kind: str
    since: float = field(default_factory=time.time)
    sent: int = 0
    skipped: int = 0


class WebServer:
    """Serves ``view`` at ``config``'s address in a thread: :meth:`start` (returns the URL), :meth:`stop`."""

    def __init__(self, view: View, config: WebConfig):
        self.view = view
        self.config = config
        self.viewers: dict[int, Viewer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    # -- lifetime ---------------------------------------------------------------------------------
    def start(self) -> str:
        if self.config.token is None and not is_loopback(self.config.host):
            raise WebError(f"refusing to serve {self.config.host} without an access token (set ${TOKEN_ENV})")
        handler = type("Handler", (_Handler,), {"app": self})
        server_class = _Server6 if ":" in self.config.host else _Server
        try:
            self._httpd = server_class((self.config.host, self.config.port), handler)
        except OSError as exc:
            raise WebError(f"cannot serve the web view on {self.config.host}:{self.config.port}: "
                           f"{exc.strerror or exc}") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="vidlle-web", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "[::]") else host
        return f"http://{shown}:{self.port}/"

    def stop(self) -> None:
        """Close every stream and the listening socket (within about a second)."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the handlers use --------------------------------------------------------------------
    def refusal(self, headers, query: dict) -> str | None:
        """Why a request is refused, or None: the token check (any bind with a token) or,
        tokenless on loopback, a Host header that is not a loopback name."""
        token = self.config.token
        if token is None:
            host = (headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            return None if is_loopback(host) else "vidlle: refused: not addressed to this machine\n"
        given = [*query.get("token", [])]
        auth = headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            given.append(auth[7:].strip())
        cookie = SimpleCookie(headers.get("Cookie") or "")
        if COOKIE in cookie:
            given.append(cookie[COOKIE].value)
        if any(hmac.compare_digest(g.encode(), token.encode()) for g in given):
            return None
        return "vidlle: this page needs its access token (?token=...)\n"

    def state(self) -> dict:
        data = self.view.state()
        with self._lock:
            viewers = [{"camera": v.camera, "kind": v.kind, "seconds": round(time.time() - v.since, 1),
                        "sent": v.sent, "skipped": v.skipped} for v in self.viewers.values()]
        data["viewers"] = viewers
        data["limits"] = {"max_fps": self.config.limits.max_fps, "max_width": self.config.limits.max_width}
        return clean(data, self.view.urls)

    def add_viewer(self, viewer: Viewer) -> int:
        with self._lock:
            key = id(viewer)
            self.viewers[key] = viewer
            return key

    def drop_viewer(self, key: int) -> None:
        with self._lock:
            self.viewers.pop(key, None)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a viewer's thread never keeps the process alive
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    app: WebServer
    protocol_version = "HTTP/1.1"
    server_version = "vidlle"
    sys_version = ""

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # the terminal belongs to the stats table

    # -- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path, query = self._parse()
        refused = self.app.refusal(self.headers, query)
        if refused:
            return self._text(HTTPStatus.UNAUTHORIZED, refused)
        if path in ("/", "/index.html"):
            extra = {}
            if self.app.config.token is not None and query.get("token"):
                extra["Set-Cookie"] = f"{COOKIE}={query['token'][0]}; HttpOnly; SameSite=Strict; Path=/"
            return self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8", extra)
        if path == "/api/state":
            body = json.dumps(self.app.state(), allow_nan=False, default=str).encode()
            return self._send(HTTPStatus.OK, body, "application/json")
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "stream" and parts[3] in KINDS:
            feed = self.app.view.feed(unquote(parts[2]), parts[3])
            if feed is not None:
                return self._stream(feed, unquote(parts[2]), parts[3])
        return self._text(HTTPStatus.NOT_FOUND, "vidlle: not found\n")

    def do_POST(self) -> None:  # noqa: N802
        path, query = self._parse()
        refused = self.app.refusal(self.headers, query)
        if refused:
            return self._text(HTTPStatus.UNAUTHORIZED, refused)
        if self.headers.get("X-Vidlle-Control") != "1":
            return self._text(HTTPStatus.FORBIDDEN, "vidlle: missing X-Vidlle-Control header\n")
        parts = path.split("/")
        if len(parts) == 4 and parts[1:3] == ["api", "toggle"]:
            value = self.app.view.toggle(parts[3])
            if value is not None:
                return self._send(HTTPStatus.OK, json.dumps({parts[3]: value}).encode(), "application/json")
        return self._text(HTTPStatus.NOT_FOUND, "vidlle: no such switch\n")

    # -- responses -------------------------------------------------------------------------------
    def _parse(self) -> tuple[str, dict]:
        url = urlsplit(self.path)
        return url.path, parse_qs(url.query)

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _stream(self, feed, camera: str, kind: str) -> None:
        """Motion JPEG until the viewer leaves or the server stops; the newest picture each time."""
        self.close_connection = True
        self.connection.settimeout(SEND_TIMEOUT)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        viewer = Viewer(camera, kind)
        key = self.app.add_viewer(viewer)
        origin, seq = None, 0
        try:
            while not self.app.stopping and not self._viewer_left():
                picture: Picture | None = feed.wait(after=seq, timeout=0.5, origin=origin)
                if picture is None:
                    continue
                if picture.origin == origin and seq:
                    viewer.skipped += picture.seq - seq - 1
                origin, seq = picture.origin, picture.seq
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n"
                        f"X-Captured: {picture.captured:.4f}\r\nX-Seq: {picture.seq}\r\n\r\n").encode()
                self.wfile.write(head + picture.jpeg + b"\r\n")
                self.wfile.flush()
                viewer.sent += 1
        except (OSError, ValueError):
            pass  # the viewer left or stalled past SEND_TIMEOUT: only its own stream ends
        finally:
            self.app.drop_viewer(key)

    def _viewer_left(self) -> bool:
        """Whether the viewer closed its side: a viewer that left must not keep the feed watched
        (and encoding) until the next write fails."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
