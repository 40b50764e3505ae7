"""What the page shows for each command: :class:`PreviewView` (``vidlle preview --http``) and
:class:`ServeView` (``vidlle serve --http``), and :func:`open_page`, which starts the server for one.

A view answers ``state()`` (JSON-ready rows, one per camera, with the keys of ``vidlle serve``'s
stats rows plus ``id``), ``feed(camera, kind)`` and ``toggle(name)``; the server redacts it.
"""

from __future__ import annotations

from collections.abc import Callable

from vidlle.web.feed import KINDS, CameraFeeds
from vidlle.web.server import WebConfig, WebServer


class PreviewView:
    """One source, original | enhanced, with the preview's switches.

    shown: the source as it may be printed (redacted); url: the source as given (scrubbed from
    everything the page says); feeds: the source's feeds; controls: the preview's
    :class:`~vidlle.io.preview.PreviewControls`; live_stats: the source's LiveStats or None;
    pipeline_stats: returns the pipeline's Stats (frames, capture -> written latency).
    """

    mode = "preview"
    camera_id = "preview"

    def __init__(self, shown: str, url: str, feeds: CameraFeeds, controls, live_stats=None,
                 pipeline_stats: Callable[[], object] | None = None, overlay_available: bool = False):
        self.shown = shown
        self.urls = [url]
        self.feeds = feeds
        self.controls = controls
        self.live_stats = live_stats
        self.pipeline_stats = pipeline_stats
        self.overlay_available = overlay_available

    def state(self) -> dict:
        live = self.live_stats
        stats = self.pipeline_stats() if self.pipeline_stats is not None else None
        row = {"id": self.camera_id, "name": self.shown, "source": self.shown,
               "state": live.state if live is not None else "playing",
               "status": live.status() if live is not None else "playing",
               "fps": round(live.fps_out if live is not None else (stats.fps if stats is not None else 0.0), 2),
               "fps_in": round(live.fps_in, 2) if live is not None else None,
               "frames": stats.frames if stats is not None else 0,
               "drops": live.drops if live is not None else 0,
               "reconnects": live.reconnects if live is not None else 0, "restarts": 0,
               "latency_ms": _round(stats.latencies.quantile_ms(0.5)) if stats is not None else None,
               "output": None, "last_error": live.last_error if live is not None else None}
        c = self.controls
        return {"mode": self.mode, "where": self.shown, "cameras": [row],
                "controls": {"enhance": c.enhance, "overlay": c.overlay, "overlay_available": self.overlay_available}}

    def feed(self, camera: str, kind: str):
        return self.feeds[kind] if camera == self.camera_id and kind in KINDS else None

    def toggle(self, name: str) -> bool | None:
        if name == "enhance" or (name == "overlay" and self.overlay_available):
            return self.controls.toggle(name)
        return None


class ServeView:
    """Every camera of a running :class:`~vidlle.scale.service.Service`; read-only."""

    mode = "serve"

    def __init__(self, service):
        self.service = service
        self.urls = [u for cam in service.config.cameras for u in (cam.source, cam.output) if u]

    def state(self) -> dict:
        data = self.service.snapshot()
        for row in data["cameras"]:
            row["id"] = row["name"]
        data["mode"] = self.mode
        return data

    def feed(self, camera: str, kind: str):
        if kind not in KINDS or camera not in self.service.views:
            return None
        return self.service.host.feed(camera, kind)

    def toggle(self, name: str) -> bool | None:
        return None  # read-only: nothing on the page changes a recording


def open_page(view, config: WebConfig, token_made: bool, say: Callable[[str], None]) -> WebServer:
    """Start the server for ``view`` and say where it is (with a made-up token, the only time it
    is shown)."""
    server = WebServer(view, config)
    url = server.start()
    if config.token is None:
        say(f"web view on {url} (this machine only)")
    elif token_made:
        say(f"web view on {url}?token={config.token} (token made for this run; set $VIDLLE_WEB_TOKEN to choose one)")
    else:
        say(f"web view on {url} (token from $VIDLLE_WEB_TOKEN: add ?token=...)")
    return server


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
