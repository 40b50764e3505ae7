"""The settings model: every setting of an enhancement run, with its default, choices and help.

Four frozen dataclasses hold what a run is configured by:

- :class:`EnhancerConfig`: which model runs where and how (model, weights, backend, device,
  precision, temporal processing, strength, spatial denoising, segmentation overlay).
- :class:`EncodeConfig`: the video encoder of file and RTSP outputs.
- :class:`LiveConfig`: how a live source (webcam, RTSP/HTTP stream) is opened and kept alive.
- :class:`RunConfig`: how the pipeline runs (the model's batch).

Each user-facing field is declared with :func:`setting`, which stores its help text and, where it
has them, its choices, its numeric range and its command-line flag. Everything that exposes the
settings is derived from these fields, so a default, a choice or a help text is written once:
the click options of ``vidlle enhance`` and ``vidlle preview`` (:mod:`vidlle.options`), the
camera file of ``vidlle serve`` (:mod:`vidlle.scale.config`, one key per field) and a backlog's
per-file settings (:mod:`vidlle.scale.backlog`). :func:`check_value` is the one validation of a
value read from a file; the dataclasses' own checks guard the Python API.

This module imports nothing heavy: the command line reads it to build ``--help``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, replace
from typing import Any

from vidlle.errors import InputError

# Surfaces a setting is offered on: the command line (``vidlle enhance`` / ``preview``) and the
# camera file of ``vidlle serve``.
CLI, YAML = "cli", "yaml"

TRANSPORTS = ("tcp", "udp")
DROP_POLICIES = ("auto", "buffer", "latest")
OVERLAYS = ("none", "seg")
PRECISIONS = ("fp32", "fp16")

# Frame rate assumed for sizing the live buffer when a stream does not declare a plausible one.
_FALLBACK_FPS = 30.0
_MAX_BUFFERED = 1200  # frames: a hard memory bound whatever buffer_seconds x rate says


@dataclass(frozen=True)
class Setting:
    """What a field says about itself to the command line and the camera file.

    help: one sentence for ``--help`` and docs. choices: the allowed strings. low, high: the
    allowed range of a number (inclusive; None = open); positive: above 0. flag: the command-line option when it
    is not ``--<field-name>`` (e.g. ``--timeout`` for ``read_timeout``; click passes the value
    under the field's name either way). path: the value names a file. auto: the
    word that stands for None (``--strength auto``). where: the surfaces offering it.
    The flag, choices, range and help are what ``--help`` shows; the camera file's key is the
    field's name.
    """

    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    positive: bool = False
    flag: str | None = None
    path: bool = False
    auto: str | None = None
    where: tuple[str, ...] = (CLI, YAML)


def setting(default, help: str, **meta) -> Any:
    """A dataclass field with a default and its :class:`Setting` (see there for ``meta``)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(help, **meta)})


def settings_of(cls, where: str) -> list[tuple[dataclasses.Field, Setting]]:
    """The fields of dataclass ``cls`` offered on surface ``where`` (CLI or YAML), in order."""
    out = []
    for f in dataclasses.fields(cls):
        s = f.metadata.get("setting")
        if s is not None and where in s.where:
            out.append((f, s))
    return out


def check_value(field: dataclasses.Field, value, key: str | None = None):
    """``value`` (read from a file) converted to ``field``'s type and checked against its
    :class:`Setting`; ValueError with a one-line message naming ``key`` otherwise."""
    key = key or field.name
    s: Setting = field.metadata["setting"]
    kind = str(field.type)
    optional = "None" in kind
    if value is None or (s.auto is not None and value == s.auto):
        if optional:
            return None
        raise ValueError(f"{key} must not be empty")
    if "bool" in kind:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, not {value!r}")
        return value
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be a whole number, not {value!r}")
        _check_range(s, value, key)
        return value
    if kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be {'auto or ' if s.auto else ''}a number, not {value!r}")
        _check_range(s, value, key)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {value!r}")
    if s.choices and value not in s.choices:
        raise ValueError(f"{key} must be one of {', '.join(s.choices)}")
    return value


def _check_range(s: Setting, value: float, key: str) -> None:
    if (s.positive or (s.low is not None and s.low > 0)) and value <= 0:
        raise ValueError(f"{key} must be positive")
    if (s.low is not None and value < s.low) or (s.high is not None and value > s.high):
        lo = "" if s.low is None else f"{s.low:g}"
        hi = "" if s.high is None else f"{s.high:g}"
        auto = f"{s.auto} or a number in " if s.auto else ""
        raise ValueError(f"{key} must be {auto}{lo}..{hi}" if hi else f"{key} must be {auto}>= {lo}")


# -- the configs -------------------------------------------------------------------------

@dataclass(frozen=True)
class EnhancerConfig:
    """Which model runs where, and how (:meth:`vidlle.api.Enhancer.from_config`).

    temporal is on by default here because the commands enhance video; they turn it off for
    images and image folders (unrelated pictures). ``Enhancer(...)`` called directly defaults
    to temporal off (its frames may be unrelated).
    """

    model: str = setting("curve", "Model from the registry (see `vidlle info`).")
    weights: str | None = setting(None, "Weights file instead of the shipped one.", path=True)
    backend: str = setting("auto", "auto or a backend listed by `vidlle info`.")
    device: str = setting("cpu", "cpu, cuda, cuda:N.")
    precision: str = setting("fp32", "Inference precision of the parameter predictor.", choices=PRECISIONS)
    temporal: bool = setting(True, "Video: stabilise the curve across frames and denoise still regions.")
    strength: float | None = setting(
        None, "How much to enhance: auto (per frame from its exposure: night frames fully, well-exposed frames "
              "not at all) or a fixed 0..2 (0 = off, 1 = the model's curve).", low=0.0, high=2.0, auto="auto")
    denoise: float = setting(
        1.0, "Spatial denoising where the picture is lifted (it follows each pixel's gain and the frame's "
             "measured noise): 0 = off, 1 = default, up to 2 = stronger.", low=0.0, high=2.0)
    overlay: str = setting("none", "Blend an ESPNetv2 segmentation (people, vehicles, ...) over the enhanced frames.",
                           choices=OVERLAYS)
    seg_weights: str | None = setting(
        None, "ESPNetv2 weights for --overlay seg [default: $VIDLLE_SEG_WEIGHTS or the cache dir].", path=True)


@dataclass(frozen=True)
class EncodeConfig:
    """Video encoder settings of file and RTSP outputs; pix_fmt is the encoded pixel format."""

    codec: str = setting("libx264", "Video encoder.")
    crf: int = setting(23, "Quality (lower is better).", low=0, high=63)
    preset: str = setting("veryfast", "Encoder speed preset.")
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class LiveConfig:
    """How a live source is opened and kept alive.

    transport: RTSP lower transport, ``tcp`` (default: works through NAT/firewalls, no packet
        loss) or ``udp`` (lowest latency on a clean LAN).
    open_timeout: seconds allowed for connecting and reading the stream header.
    read_timeout: seconds without a packet before the connection counts as stalled.
    backoff_initial, backoff_max: reconnect delays double from the first to the cap (seconds).
    max_reconnects: consecutive failed reconnect attempts before giving up; None = forever.
    wait_for_source: keep retrying when the very first connection fails (cameras that boot
        after the recorder); by default a first failure is an immediate error.
    drop_policy: ``latest`` keeps only the newest frame (lowest latency; stale ones dropped,
        counted); ``buffer`` queues up to ``buffer_seconds`` of video and drops only on overflow,
        evenly; ``auto`` = ``buffer`` for recordings, ``latest`` otherwise (see
        :meth:`for_output`; a LiveSource given ``auto`` directly uses ``latest``).
    buffer_seconds: length of the ``buffer`` queue in seconds of video at the stream's frame
        rate (memory: about 1.4 MB per buffered 720p frame, 3.1 MB at 1080p, 12.4 MB at 4K).
    buffer_mb: the same queue's bound in megabytes of decoded frames (whichever is smaller wins).
    stall_after: seconds without a frame before the state reads ``stalled`` (at least three
        frame intervals of the stream, at most half of ``read_timeout``, after which the
        connection is given up).
    video_size, framerate, input_format: V4L2 options (e.g. ``1280x720``, ``30``, ``mjpeg``).
    """

    transport: str = setting("tcp", "RTSP transport for rtsp:// inputs and outputs.", choices=TRANSPORTS,
                             flag="--rtsp-transport")
    open_timeout: float = setting(10.0, "Live input: seconds allowed for connecting and reading the stream header.",
                                  positive=True, where=(YAML,))
    read_timeout: float = setting(5.0, "Live input: seconds without data before it counts as stalled and is "
                                       "reconnected.", low=0.5, high=600, flag="--timeout")
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    max_reconnects: int | None = setting(None, "Live input: give up after N failed reconnect attempts in a row "
                                               "[default: never].", low=0, flag="--reconnect")
    wait_for_source: bool = setting(False, "Live input: keep retrying when the first connection fails (camera "
                                           "still booting).")
    drop_policy: str = setting(
        "auto", "Live input: buffer = queue --buffer-seconds of video and drop only when it overflows (evenly, "
                "counted); latest = always take the newest frame (lowest latency); auto = buffer when recording "
                "to a file, latest for a window or rtsp:// output.", choices=DROP_POLICIES)
    buffer_seconds: float = setting(2.0, "Live input, --drop-policy buffer: seconds of video the queue holds.",
                                    low=0.1, high=60)
    buffer_mb: float = setting(1024.0, "Live input, --drop-policy buffer: most megabytes of decoded frames the "
                                       "queue holds, whatever --buffer-seconds says (a 4K frame is ~12 MB).",
                               low=16, high=65536)
    stall_after: float = 1.0
    video_size: str | None = setting(None, "Webcam capture size, e.g. 1280x720.")
    framerate: str | None = setting(None, "Webcam capture rate, e.g. 30.")
    input_format: str | None = setting(None, "Webcam pixel format, e.g. mjpeg or yuyv422.")

    def __post_init__(self):
        if self.transport not in TRANSPORTS:
            raise InputError(f"unknown RTSP transport {self.transport!r} (use {' or '.join(TRANSPORTS)})")
        if self.open_timeout <= 0 or self.read_timeout <= 0:
            raise InputError("live timeouts must be positive")
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise InputError("reconnect backoff must satisfy 0 < initial <= cap")
        if self.max_reconnects is not None and self.max_reconnects < 0:
            raise InputError("max_reconnects must be >= 0 (or None for forever)")
        if self.drop_policy not in DROP_POLICIES:
            raise InputError(f"unknown drop policy {self.drop_policy!r} (use {', '.join(DROP_POLICIES)})")
        if not 0 < self.buffer_seconds <= 60:
            raise InputError("the live buffer must hold between 0 and 60 seconds of video")
        if not 16 <= self.buffer_mb <= 65536:
            raise InputError("the live buffer must be allowed between 16 and 65536 MB")
        if self.stall_after <= 0:
            raise InputError("stall_after must be positive")

    def for_output(self, recording: bool) -> "LiveConfig":
        """This config with ``auto`` decided: ``buffer`` when the frames are recorded to a file
        (keep them), ``latest`` when they are watched or relayed (a window, RTSP: keep latency low)."""
        if self.drop_policy != "auto":
            return self
        return replace(self, drop_policy="buffer" if recording else "latest")

    @property
    def latest_frame(self) -> bool:
        """The one-slot, newest-frame policy (``latest``, and ``auto`` left undecided)."""
        return self.drop_policy != "buffer"

    def capacity(self, fps: float | None, frame_bytes: int | None = None) -> int:
        """Frames the ``buffer`` policy holds at ``fps`` frames/s of ``frame_bytes`` each (1 for ``latest``)."""
        if self.latest_frame:
            return 1
        rate = fps if fps is not None and 1.0 <= fps <= 240.0 else _FALLBACK_FPS
        frames = min(_MAX_BUFFERED, math.ceil(self.buffer_seconds * rate))
        if frame_bytes:
            frames = min(frames, int(self.buffer_mb * 2**20 // frame_bytes))
        return max(2, frames)

    def backoff(self, failures: int) -> float:
        """Delay before reconnect attempt number ``failures + 1`` (0 failures -> the initial delay)."""
        return min(self.backoff_max, self.backoff_initial * 2.0 ** max(0, failures))


@dataclass(frozen=True)
class RunConfig:
    """How the pipeline runs one stream (:class:`vidlle.pipeline.PipelineConfig`)."""

    batch: int = setting(1, "Most frames per model call (frames already decoded are batched).", low=1, high=64)
