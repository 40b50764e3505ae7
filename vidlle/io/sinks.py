"""Sinks that are not a codec of their own: nothing (stats only) and a recording rotated by time.

Both keep the sink contract (:class:`vidlle.io.base.Sink`). The codec sinks are in :mod:`vidlle.io.encode`
(video file, RTSP publish), :mod:`vidlle.io.images` and :mod:`vidlle.io.preview`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

from vidlle.frames import Frame, StreamInfo
from vidlle.io.base import Sink
from vidlle.io.encode import VideoFileSink, temporary_path
from vidlle.settings import EncodeConfig


class NullSink(Sink):
    """Output ``none``: frames are enhanced and counted, nothing is written."""

    def __init__(self):
        self.written = 0

    def open(self, info: StreamInfo) -> None:
        pass

    def write(self, item) -> None:
        if isinstance(item, Frame):
            self.written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def segment_path(pattern: str, when: float) -> Path:
    """The file a segment starting at ``when`` (time.time()) is recorded to (before de-duplication)."""
    return Path(time.strftime(pattern, time.localtime(when)))


def unique_path(path: Path) -> Path:
    """``path``, or ``stem-1.ext``, ``stem-2.ext``... when it (or its temporary file) exists:
    a restarted camera never overwrites a recording."""
    candidate, n = path, 0
    while candidate.exists() or temporary_path(candidate).exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class SegmentedFileSink(Sink):
    """A live recording split into files by wall-clock time.

    pattern: output path with strftime fields, filled with each segment's start time
        (:func:`segment_path`); encode: the encoder of every segment.
    segment_seconds: a new file starts when the wall clock passes the next multiple of it
        (aligned like an NVR's: 600 -> at :00, :10, ...); None = one file for the whole run.
    Each segment's pts start at 0 (the live source's pts are ms since its first frame).
    ``segments`` lists ``(path, frames)`` of finished files, ``current`` the file being written.
    """

    def __init__(self, pattern: str, encode: EncodeConfig = EncodeConfig(), segment_seconds: float | None = None,
                 clock: Callable[[], float] = time.time):
        self.pattern = pattern
        self.encode = encode
        self.segment_seconds = segment_seconds
        self.clock = clock
        self.notes: list[str] = []
        self.segments: list[tuple[str, int]] = []
        self.current: Path | None = None
        self.written = 0
        self._info: StreamInfo | None = None
        self._sink = None
        self._ends_at = math.inf
        self._pts0: int | None = None

    def open(self, info: StreamInfo) -> None:
        self._info = info  # a file is opened at the first frame, named after its time

    def _start_segment(self, now: float) -> None:
        path = unique_path(segment_path(self.pattern, now))
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = VideoFileSink(path, self.encode, keep_on_abort=True)
        sink.open(self._info)
        self._sink, self.current, self._pts0 = sink, path, None
        seg = self.segment_seconds
        self._ends_at = (math.floor(now / seg) + 1) * seg if seg else math.inf

    def _finish_segment(self, abort: bool = False) -> None:
        sink, self._sink = self._sink, None
        if sink is None:
            return
        try:
            if abort:
                sink.abort()  # keep_on_abort: finalised and kept (removed only if it holds no frame)
            else:
                sink.close()
        finally:
            self.notes += [n for n in sink.notes if n not in self.notes]
            if sink.written:
                self.segments.append((str(sink.path), sink.written))
            self.current = None

    def write(self, item) -> None:
        if not isinstance(item, Frame):
            return  # live sources carry no audio
        now = self.clock()
        if self._sink is not None and now >= self._ends_at:
            self._finish_segment()
        if self._sink is None:
            self._start_segment(now)
        if item.pts is not None:
            if self._pts0 is None:
                self._pts0 = item.pts
            item = dataclasses.replace(item, pts=item.pts - self._pts0)
        self._sink.write(item)
        self.written += 1

    def close(self) -> None:
        self._finish_segment()

    def abort(self) -> None:
        self._finish_segment(abort=True)
