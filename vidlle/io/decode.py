"""Decode stage: a video file -> Frames (RGB uint8, pts and time base kept) + audio packets.

Audio packets are yielded untouched, in demux order, so the sink can copy them into the output.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from vidlle.errors import DecodeError, InputError
from vidlle.frames import Frame, StreamInfo


def open_input(path: Path):
    """av.open ``path`` for reading; InputError with a one-line reason on failure."""
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise InputError(f"cannot read {path} as video: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """FFmpeg's message without PyAV's errno/path decoration."""
    return getattr(exc, "strerror", None) or str(exc)


class VideoFileSource:
    """Frames of the first video stream of a file, every one of them, in order.

    Iterating yields :class:`Frame` (image (H, W, 3) uint8 RGB, pts/time_base as decoded) and
    ``av.Packet`` objects of the audio streams (to be copied by the sink).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._container = None
        self._stream = None
        self._peeked: list = []
        self._items: Iterator | None = None
        self.decoded = 0
        self.corrupt = 0

    def open(self) -> StreamInfo:
        self._container = open_input(self.path)
        if not self._container.streams.video:
            self.close()
            raise InputError(f"{self.path} has no video stream")
        stream = self._stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decode overlaps the other stages
        self._items = self._demux()
        # Decode up to the first frame now: its side data carries the display rotation, which
        # the sink must set before it writes anything.
        first = None
        for item in self._items:
            self._peeked.append(item)
            if isinstance(item, Frame):
                first = item
                break
        if first is None:
            self.close()
            raise InputError(f"{self.path} contains no video frames")
        rate = stream.average_rate or stream.guessed_rate
        return StreamInfo(
            width=first.image.shape[1],
            height=first.image.shape[0],
            frames=self._expected_frames(),
            rate=Fraction(rate) if rate else None,
            time_base=Fraction(stream.time_base),
            rotation=self._first_rotation,
            audio=tuple(self._container.streams.audio),
        )

    def _expected_frames(self) -> int | None:
        s = self._stream
        if s.frames:
            return int(s.frames)
        if s.duration and s.average_rate:
            return int(round(float(s.duration * s.time_base * s.average_rate)))
        if self._container.duration and s.average_rate:
            return int(round(self._container.duration / av.time_base * float(s.average_rate)))
        return None

    def _demux(self) -> Iterator:
        container, stream = self._container, self._stream
        self._first_rotation = 0
        try:
            for packet in container.demux(stream, *container.streams.audio):
                if packet.stream.type == "audio":
                    if packet.size:
                        yield packet
                    continue
                for vf in packet.decode():
                    if self.decoded == 0:
                        self._first_rotation = int(round(vf.rotation or 0))
                    if vf.is_corrupt:
                        self.corrupt += 1
                    image = vf.to_ndarray(format="rgb24")
                    yield Frame(image=image, pts=vf.pts, time_base=Fraction(vf.time_base) if vf.time_base else None,
                                index=self.decoded)
                    self.decoded += 1
        except av.FFmpegError as exc:
            raise DecodeError(f"{self.path}: corrupt video data after frame {self.decoded}: {_reason(exc)}") from None

    def __iter__(self) -> Iterator:
        while self._peeked:
            yield self._peeked.pop(0)
        yield from self._items
        expected = int(self._stream.frames or 0)
        if expected and self.decoded < expected:
            raise DecodeError(
                f"{self.path} is truncated or corrupt: decoded {self.decoded} of {expected} frames"
            )

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
