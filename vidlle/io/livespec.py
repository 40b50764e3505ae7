"""What a live spec opens: ``webcam:N``, ``/dev/videoN``, ``rtsp://``, ``http(s)://``, ``udp://``,
``srt://`` and ``testsrc[:WxH][@FPS]`` resolved into PyAV's url, format and options, with a
redacted name for messages. No I/O but :func:`check_available`'s look for a webcam device."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from vidlle.errors import InputError, InputNotFoundError
from vidlle.io.redact import redact
from vidlle.settings import LiveConfig

_TESTSRC = re.compile(r"^testsrc(?::(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class LiveInput:
    """Resolved spec: ``url``/``format``/``options`` for ``av.open``; ``shown`` for messages."""

    spec: str = field(repr=False)  # both may hold credentials: never in a repr
    url: str = field(repr=False)
    format: str | None
    options: dict
    kind: str  # webcam | rtsp | stream | test
    shown: str


def testsrc_graph(width: int = 1280, height: int = 720, fps: float = 25) -> str:
    """lavfi graph of the virtual camera: a dark moving test pattern released in real time."""
    return (f"testsrc2=size={width}x{height}:rate={fps:g},"
            "lutyuv=y=val*0.15:u=128+(val-128)*0.3:v=128+(val-128)*0.3,realtime")


def resolve(spec: str, config: LiveConfig = LiveConfig()) -> LiveInput:
    """Turn a live spec into what PyAV opens. InputError for malformed specs (no I/O here)."""
    if spec.startswith("webcam:"):
        n = spec[len("webcam:"):]
        if not n.isdigit():
            raise InputError(f"{spec}: expected a camera number, e.g. webcam:0")
        return _v4l2(spec, f"/dev/video{int(n)}", config)
    if spec.startswith("/dev/video"):
        return _v4l2(spec, spec, config)
    m = _TESTSRC.match(spec)
    if m:
        w, h = (int(m.group(1)), int(m.group(2))) if m.group(1) else (1280, 720)
        fps = float(m.group(3)) if m.group(3) else 25.0
        if not (2 <= w <= 8192 and 2 <= h <= 8192 and 0 < fps <= 240):
            raise InputError(f"{spec}: size must be 2..8192 pixels a side and fps 1..240")
        return LiveInput(spec, testsrc_graph(w, h, fps), "lavfi", {}, "test", spec)
    scheme, sep, rest = spec.partition("://")
    if sep:  # schemes are case-insensitive; FFmpeg's protocol names are lower case
        spec = f"{scheme.lower()}://{rest}"
    parts = urlsplit(spec)
    shown = redact(spec)
    if parts.scheme not in ("rtsp", "rtsps", "http", "https", "udp", "srt") or not parts.hostname:
        raise InputError(f"{shown}: not a live source URL (expected rtsp://host/path, http(s)://..., webcam:N)")
    # A short probe keeps connecting quick (FFmpeg's default waits ~1 s); sizes are taken from
    # decoded frames, not from the probe.
    options = {"analyzeduration": "200000", "probesize": "32768"}
    kind = "stream"
    if parts.scheme.startswith("rtsp"):
        options["rtsp_transport"] = config.transport
        if config.latest_frame:
            # nobuffer: frames read while probing are not queued up as a stale burst (they are
            # discarded). Not when recording: those frames belong in the file, the buffer takes
            # the burst. Not for other URLs: one may serve a short file that the probe reads whole.
            options["fflags"] = "nobuffer"
        kind = "rtsp"
    return LiveInput(spec, spec, None, options, kind, shown)


def _v4l2(spec: str, device: str, config: LiveConfig) -> LiveInput:
    if not sys.platform.startswith("linux"):
        raise InputError(f"{spec}: webcams are read through V4L2, which needs Linux")
    options = {}
    if config.video_size:
        options["video_size"] = config.video_size
    if config.framerate:
        options["framerate"] = str(config.framerate)
    if config.input_format:
        options["input_format"] = config.input_format
    shown = spec if spec == device else f"{spec} ({device})"
    return LiveInput(spec, device, "v4l2", options, "webcam", shown)


def check_available(spec: str, config: LiveConfig = LiveConfig()) -> LiveInput:
    """:func:`resolve`, plus the checks that need no connection (a webcam's device node exists)."""
    live = resolve(spec, config)
    if live.kind == "webcam" and not Path(live.url).exists():
        raise InputNotFoundError(f"no camera at {live.url} ({spec}): is it plugged in and is the V4L2 driver loaded?")
    return live
