"""The frame contract between pipeline stages: :class:`Frame`, :class:`StreamInfo`, and
:class:`Latencies`, the window of capture -> output latencies of frames that carry ``captured``."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from vidlle.errors import InputError


@dataclass(frozen=True)
class Frame:
    """One video frame or image travelling through the pipeline.

    image: (H, W, 3) uint8 RGB.
    pts: presentation timestamp in ``time_base`` units, exactly as decoded (None for images).
    time_base: the source stream's time base (None for images).
    index: 0-based decode order (live sources: capture sequence number, so gaps are drops).
    name: file name for images from a folder (None for video).
    discontinuity: True on the first frame of each (re)connection of a live source: what came
        before is unrelated (temporal state must be reset). Always False for files.
    captured: ``time.perf_counter()`` when a live source decoded the frame (None for files);
        capture -> output latency is measured from it.
    original: the image as it left the source, (H, W, 3) uint8 RGB, when a stage needs the
        enhanced and the original picture together (the preview window); None otherwise.
        Set by :func:`vidlle.io.preview.keep_original`, carried through ``with_image``.
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    index: int = 0
    name: str | None = None
    discontinuity: bool = False
    captured: float | None = None
    original: np.ndarray | None = None

    def with_image(self, image: np.ndarray) -> "Frame":
        return replace(self, image=image)


# The largest frame vidlle accepts (pixels): 8192 x 8192, twice 8K UHD. One RGB copy of it is
# 192 MiB and a run holds several, so anything larger is refused up front with one line.
MAX_PIXELS = 8192 * 8192


def check_frame_size(width: int, height: int, what: str) -> None:
    """InputError (one line) when a ``width`` x ``height`` frame of ``what`` exceeds :data:`MAX_PIXELS`."""
    if width * height > MAX_PIXELS:
        raise InputError(f"{what}: frames of {width}x{height} are too large (at most {MAX_PIXELS // 2**20} "
                         "megapixels, e.g. 8192x8192)")


@dataclass(frozen=True)
class StreamInfo:
    """What a sink needs to know about a source before the first frame.

    width, height: frame size in pixels (0 when sizes vary, e.g. an image folder).
    frames: expected frame count, or None if unknown.
    rate: average frame rate, or None.
    time_base: video time base, or None.
    rotation: display rotation in degrees counter-clockwise (0 if none).
    audio: the input's audio streams (PyAV stream objects) to pass through.
    live: the source is live (camera, stream): frames arrive in real time, may be dropped, and
        the frame count is unknown; sinks must not pace, and recordings are kept on failure.
    """

    width: int = 0
    height: int = 0
    frames: int | None = None
    rate: Fraction | None = None
    time_base: Fraction | None = None
    rotation: int = 0
    audio: tuple = ()
    live: bool = False


class Latencies:
    """The latest ``window`` latencies (seconds) of live frames, from their ``captured`` time to
    a stage (handed out by the source: :class:`~vidlle.io.livestats.LiveStats`; written by the
    sink: :class:`~vidlle.pipeline.Stats`). One thread adds while others read."""

    def __init__(self, window: int = 512):
        self._values: collections.deque = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def quantile_ms(self, q: float = 0.5) -> float | None:
        """Quantile ``q`` (0..1, interpolated) of the window in milliseconds; None before any."""
        with self._lock:
            values = list(self._values)
        return float(np.quantile(values, q) * 1000.0) if values else None
