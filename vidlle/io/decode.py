"""Decode stage: a video file -> Frames (RGB uint8, pts and time base kept) + audio packets.

Audio packets are yielded untouched, in demux order, so the sink can copy them into the output.

Damage in the middle of a file is survived, not fatal: frames the decoder concealed are kept and
counted (``corrupt``), packets it rejects are skipped and counted (``skipped``), the demuxer is
resumed after a read error, and frames that never came out are counted (``missing``) for one
warning at the end. A file that simply stops early (truncated) is still an error.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
# isort: on
import av
import numpy as np

from vidlle.errors import DecodeError, InputError
from vidlle.frames import Frame, StreamInfo, check_frame_size
from vidlle.io.base import Source


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


class VideoFileSource(Source):
    """Frames of the first video stream of a file, every one of them, in order.

    Iterating yields :class:`Frame` (image (H, W, 3) uint8 RGB, pts/time_base as decoded) and
    ``av.Packet`` objects of the audio streams (to be copied by the sink).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.shown = str(self.path)
        self._container = None
        self._stream = None
        self._peeked: list = []
        self._items: Iterator | None = None
        self.decoded = 0
        self.corrupt = 0
        self.skipped = 0  # packets (or demuxer reads) that failed and were skipped
        self.missing = 0  # frames the stream declares that never decoded, when damage was skipped
        self.notes: list[str] = []

    def open(self) -> StreamInfo:
        self._container = open_input(self.path)
        if not self._container.streams.video:
            self.close()
            raise InputError(f"{self.path} has no video stream")
        stream = self._stream = self._container.streams.video[0]
        try:
            check_frame_size(stream.codec_context.width, stream.codec_context.height, str(self.path))
        except InputError:
            self.close()
            raise
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

    # Demuxer reads that may fail in a row before the file counts as unreadable (each failed
    # read still moves on, so this bounds the time spent in a damaged region, never loops).
    MAX_DEMUX_ERRORS = 64

    def _packets(self) -> Iterator:
        """Packets of the video and audio streams; a failed read is counted and demuxing resumes."""
        container, stream = self._container, self._stream
        failures = 0
        while True:
            try:
                for packet in container.demux(stream, *container.streams.audio):
                    failures = 0
                    yield packet
                return
            except av.FFmpegError as exc:
                failures += 1
                self.skipped += 1
                if failures > self.MAX_DEMUX_ERRORS:
                    raise DecodeError(f"{self.path}: unreadable data after frame {self.decoded}: {_reason(exc)}") from None

    def _demux(self) -> Iterator:
        self._first_rotation = 0
        for packet in self._packets():
            if packet.stream.type == "audio":
                if packet.size:
                    yield packet
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError:
                self.skipped += 1  # a broken packet: skipped, counted, reported once at the end
                continue
            for vf in frames:
                if self.decoded == 0:
                    self._first_rotation = int(round(vf.rotation or 0))
                if vf.is_corrupt:
                    self.corrupt += 1
                image = vf.to_ndarray(format="rgb24")
                if self.decoded == 0:
                    size = (vf.width, vf.height)
                elif (vf.width, vf.height) != size:
                    image = self._resized(image, size)
                yield Frame(image=image, pts=vf.pts, time_base=Fraction(vf.time_base) if vf.time_base else None,
                            index=self.decoded)
                self.decoded += 1

    def _resized(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A frame of another size than the first (the stream was reconfigured mid-file): scaled to
        the first frame's size, since one output stream has one size; said once per new size."""
        height, width = image.shape[:2]
        check_frame_size(width, height, str(self.path))
        note = (f"frame size changed from {size[0]}x{size[1]} to {width}x{height} at frame {self.decoded}; "
                f"such frames are resized to {size[0]}x{size[1]}")
        if not any(n.startswith(note.split(" at frame")[0]) for n in self.notes):
            self.notes.append(note)
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def damage(self) -> str | None:
        """One line on the damage survived (``23 broken packets skipped, 29 frames missing, 5
        frames concealed``), or None for a clean file."""
        parts = []
        if self.skipped:
            parts.append(f"{self.skipped} broken packet{'s' if self.skipped != 1 else ''} skipped")
        if self.missing:
            parts.append(f"{self.missing} frame{'s' if self.missing != 1 else ''} missing")
        if self.corrupt:
            parts.append(f"{self.corrupt} frame{'s' if self.corrupt != 1 else ''} concealed by the decoder")
        return ", ".join(parts) or None

    def __iter__(self) -> Iterator:
        while self._peeked:
            yield self._peeked.pop(0)
        yield from self._items
        expected = int(self._stream.frames or 0)
        if expected and self.decoded < expected and self.skipped:
            self.missing = expected - self.decoded  # lost to damage that was skipped: a warning
        elif expected and self.decoded < expected:
            raise DecodeError(
                f"{self.path} is truncated or corrupt: decoded {self.decoded} of {expected} frames"
            )

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
