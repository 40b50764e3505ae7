"""Pictures for the web page: the latest frame of a stream, compressed only while someone watches.

A :class:`Feed` is one stream of one camera (``enhanced`` or ``original``). The pipeline hands it
every frame with :meth:`Feed.offer`, which is O(1) and never waits: without a viewer it returns at
once (no copy, no encode, no thread); with one it keeps a reference to the newest frame in a
one-slot buffer. A single encoder thread per feed, started by the first viewer and ended when the
last one has been gone for ``lease`` seconds, scales the newest frame down to ``max_width`` and
JPEG-encodes it at most ``max_fps`` times a second. Every viewer reads that one shared JPEG: a
viewer that is slow to take pictures skips to the newest one (its own drops), so viewers never
slow the pipeline, the encoder or each other.

A viewer says it is there with :meth:`Feed.watch` (a lease it renews while connected), so the
same feed works for an HTTP handler in this process and for a driver that asks a Ray actor for
pictures now and then.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidlle.frames import Frame, StreamInfo
from vidlle.io.base import Sink
from vidlle.io.pacing import Pacer

KINDS = ("enhanced", "original")


@dataclass(frozen=True)
class FeedLimits:
    """What one watched feed may cost.

    max_fps: pictures encoded per second at most (the newest frame is taken each time).
    max_width: widest picture in pixels (scaled down with INTER_AREA, aspect kept).
    quality: JPEG quality, 1-100.
    lease: seconds a feed stays watched after the last :meth:`Feed.watch` call.
    """

    max_fps: float = 15.0
    max_width: int = 960
    quality: int = 75
    lease: float = 2.0


@dataclass(frozen=True)
class Picture:
    """One encoded picture. jpeg: the JPEG bytes; seq: 1, 2, ... within ``origin`` (a feed's
    identity: a restarted camera process starts a new origin); captured: wall-clock time
    (``time.time()``, seconds) when the source decoded the frame, or when it was offered for
    frames without a capture time; width, height: of the JPEG."""

    jpeg: bytes
    seq: int
    origin: str
    captured: float
    width: int
    height: int


def scale_to(image: np.ndarray, max_width: int) -> np.ndarray:
    """(H, W, 3) uint8 scaled down (never up) to at most ``max_width`` wide, aspect kept."""
    h, w = image.shape[:2]
    if w <= max_width:
        return image
    return cv2.resize(image, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, max_width: int, quality: int) -> tuple[bytes, int, int]:
    """(H, W, 3) uint8 **RGB** -> (JPEG bytes, width, height) after :func:`scale_to`."""
    small = scale_to(image, max_width)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for a {small.shape} picture")
    return data.tobytes(), small.shape[1], small.shape[0]


class Feed:
    """The latest picture of one stream (see the module docstring).

    Counters (plain ints, read from any thread): offered (frames seen while watched), encoded,
    encode_s (CPU-side seconds spent scaling and encoding).
    """

    def __init__(self, limits: FeedLimits = FeedLimits(), name: str = "feed"):
        self.limits = limits
        self.name = name
        self.origin = f"{os.getpid()}-{time.time_ns()}"
        self.offered = 0
        self.encoded = 0
        self.encode_s = 0.0
        self._watched_until = 0.0
        self._cond = threading.Condition()
        self._slot: tuple[np.ndarray, float] | None = None
        self._picture: Picture | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- viewers ----------------------------------------------------------------------------------
    def watch(self) -> None:
        """A viewer is here (renew the lease); starts the encoder thread if it is not running."""
        with self._cond:
            if self._closed:
                return
            self._watched_until = time.monotonic() + self.limits.lease
            if self._thread is None:
                self._thread = threading.Thread(target=self._encode_loop, name=f"vidlle-web-{self.name}",
                                                daemon=True)
                self._thread.start()

    @property
    def watched(self) -> bool:
        return time.monotonic() < self._watched_until

    def latest(self, origin: str | None = None, after: int = 0) -> Picture | None:
        """The newest picture if it is newer than (``origin``, ``after``), else None."""
        picture = self._picture
        if picture is None or (picture.origin == origin and picture.seq <= after):
            return None
        return picture

    def wait(self, after: int = 0, timeout: float = 1.0, origin: str | None = None) -> Picture | None:
        """Renew the lease and wait up to ``timeout`` s for a picture newer than ``after``."""
        self.watch()
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                picture = self.latest(origin if origin is not None else self.origin, after)
                if picture is not None:
                    return picture
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    # -- the pipeline's side ------------------------------------------------------------------------
    def offer(self, image: np.ndarray | None, captured: float | None = None) -> None:
        """The newest frame, (H, W, 3) uint8 RGB; ``captured`` a ``time.perf_counter()`` time.

        Returns at once: without a viewer it does nothing at all. The array is kept by reference
        until it is encoded, so callers must not write into it afterwards (pipeline frames are
        never written after they leave a stage)."""
        if image is None or time.monotonic() >= self._watched_until:
            return
        with self._cond:
            self._slot = (image, captured if captured is not None else time.perf_counter())
            self.offered += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._watched_until = 0.0
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    # -- the encoder thread ---------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        period = 1.0 / self.limits.max_fps
        next_at = 0.0
        while True:
            with self._cond:
                while self._slot is None and not self._closed and self.watched:
                    self._cond.wait(0.25)
                if self._closed or not self.watched:
                    self._thread, self._slot = None, None  # the next viewer starts a new thread
                    return
                wait = next_at - time.monotonic()
                if wait > 0:  # the rate cap: newer frames may replace the slot meanwhile
                    self._cond.wait(wait)
                    continue
                (image, captured), self._slot = self._slot, None
            t0 = time.perf_counter()
            jpeg, width, height = encode_jpeg(image, self.limits.max_width, self.limits.quality)
            now = time.perf_counter()
            self.encode_s += now - t0
            next_at = time.monotonic() + period
            with self._cond:
                seq = self._picture.seq + 1 if self._picture is not None else 1
                wall = time.time() - (now - captured)
                self._picture = Picture(jpeg, seq, self.origin, wall, width, height)
                self.encoded += 1
                self._cond.notify_all()


class CameraFeeds:
    """The two feeds of one camera, ``enhanced`` and ``original`` (``feeds[kind]``)."""

    def __init__(self, limits: FeedLimits = FeedLimits(), name: str = "camera"):
        self.limits = limits
        self.feeds = {kind: Feed(limits, f"{name}-{kind}") for kind in KINDS}

    def __getitem__(self, kind: str) -> Feed:
        return self.feeds[kind]

    def offer(self, enhanced: Frame | None, original: np.ndarray | None = None) -> None:
        """The newest enhanced frame and the picture it was made from (RGB); O(1) (see Feed.offer)."""
        if enhanced is None:
            return
        self.feeds["enhanced"].offer(enhanced.image, enhanced.captured)
        self.feeds["original"].offer(original if original is not None else enhanced.original, enhanced.captured)

    def close(self) -> None:
        for feed in self.feeds.values():
            feed.close()


def tee(transform: Callable[[Sequence[Frame]], list[Frame]],
        feeds: CameraFeeds) -> Callable[[Sequence[Frame]], list[Frame]]:
    """Wrap a pipeline transform so the last frame of every batch (and its input) also goes to
    ``feeds``; the output is unchanged. Unwatched, this adds two attribute reads per batch."""

    def run(frames: Sequence[Frame]) -> list[Frame]:
        out = transform(frames)
        if out:
            original = frames[-1].image if len(out) == len(frames) else None
            feeds.offer(out[-1], original)
        return out

    return run


class FeedSink(Sink):
    """A pipeline sink that only feeds the page (``vidlle preview --http``): frames carry their
    ``original`` (:func:`vidlle.io.preview.keep_original`). Frames of a file are paced at their
    own rate, live ones pass as they come (:class:`vidlle.io.base.Sink`)."""

    def __init__(self, feeds: CameraFeeds):
        self.feeds = feeds
        self.written = 0
        self._pacer: Pacer | None = None
        self._stop = threading.Event()

    def open(self, info: StreamInfo) -> None:
        self._pacer = None if info.live else Pacer()

    def write(self, item) -> None:
        if not isinstance(item, Frame):
            return  # audio packets: the page has no sound
        if self._pacer is not None:
            self._pacer.wait(item, self._stop)
        if item.captured is None:  # a file: count latency from when it is shown, not decoded
            item = replace(item, captured=time.perf_counter())
        self.feeds.offer(item)
        self.written += 1

    def close(self) -> None:
        self._stop.set()

    abort = close


class RelayFeed:
    """A feed whose pictures come from elsewhere (a camera in a Ray actor): ``fetch(origin, after)``
    returns the source feed's :meth:`Feed.latest` (and renews its lease there). Viewers here share
    one fetch at a time, at most one every ``interval`` seconds; a failed fetch (a restarting
    actor) is retried at the next one."""

    def __init__(self, fetch: Callable[[str | None, int], Picture | None], interval: float = 1 / 30):
        self._fetch = fetch
        self._interval = interval
        self._lock = threading.Lock()
        self._picture: Picture | None = None
        self._fetched_at = 0.0

    def wait(self, after: int = 0, timeout: float = 1.0, origin: str | None = None) -> Picture | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                picture = self._picture
                if picture is not None and not (picture.origin == origin and picture.seq <= after):
                    return picture
                if time.monotonic() - self._fetched_at >= self._interval:
                    self._fetched_at = time.monotonic()
                    try:
                        new = self._fetch(*((picture.origin, picture.seq) if picture else (None, 0)))
                    except Exception:  # noqa: BLE001 - the camera is restarting or busy: try again later
                        new = None
                    if new is not None:
                        self._picture = new
                        continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(self._interval, left))
