"""The contract every source and sink keeps: :class:`Source` and :class:`Sink`.

The :class:`~vidlle.pipeline.Pipeline` and the commands (:mod:`vidlle.run`, :mod:`vidlle.job`,
:mod:`vidlle.scale.camera`) use sources and sinks only through these members. Each is a
``typing.Protocol`` that the sources and sinks of :mod:`vidlle.io` (and the web view's
:class:`~vidlle.web.feed.FeedSink`) subclass explicitly: what a kind of source or sink does not
have (a file has no live counters, a window keeps no recording) it inherits as the default
here, so callers read every member of every source and sink without probing for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from vidlle.frames import Frame, StreamInfo
from vidlle.io.livestats import LiveStats


class Source(Protocol):
    """Where frames come from.

    ``open()`` -> :class:`~vidlle.frames.StreamInfo`, then iteration yields, in order,
    :class:`~vidlle.frames.Frame` (image (H, W, 3) uint8 RGB) and, for files with sound, audio
    packets (any other object: passed to the sink untouched); ``close()`` releases everything.

    shown: the input as messages name it (credentials redacted).
    latest_frame: the source keeps only its newest frame, so the pipeline takes one only when the
        enhance stage is ready for it (no read-ahead queue of stale frames; live ``latest`` policy).
    stats: a live source's counters (:class:`~vidlle.io.livestats.LiveStats`); None for files.
    notes: what the user should be told once at the end (e.g. frames resized to the first size).
    unreadable: (path, reason) of inputs skipped because they could not be read (a folder of
        images goes on without them; the run fails at the end).
    """

    shown: str = "input"
    latest_frame: bool = False
    stats: LiveStats | None = None
    notes: Sequence[str] = ()
    unreadable: Sequence[tuple[Path, str]] = ()

    def open(self) -> StreamInfo: ...

    def __iter__(self) -> Iterator[Frame | Any]: ...

    def close(self) -> None: ...

    def interrupt(self) -> None:
        """End the iteration now (it may be blocked waiting for a camera): the pipeline is stopping.
        Sources that never block need not: the pipeline's own stop ends their loop."""

    def finish(self) -> None:
        """Stop taking new input; the iteration ends after what is already buffered (a live
        recording's clean stop on Ctrl-C). Sources that buffer nothing have nothing to do."""

    def damage(self) -> str | None:
        """One line on damaged data survived (``3 broken packets skipped, ...``), None if none."""
        return None


class Sink(Protocol):
    """Where enhanced frames go.

    ``open(info)`` before the first item, ``write(item)`` for each Frame (and each audio packet,
    which a sink may drop), then exactly one of ``close()`` (finalise: the output appears at its
    path) or ``abort()`` (the run failed or was stopped: nothing half-written stays behind,
    unless ``keep_on_abort``).

    written: frames written so far.
    notes: what the user should be told once at the end (padding, re-encoded audio, ...).
    keep_on_abort: a live recording: ``abort()`` finalises and keeps what was written.
    segments: (path, frames) of each file finished so far, for sinks that write a series of files.
    """

    written: int = 0
    notes: Sequence[str] = ()
    keep_on_abort: bool = False
    segments: Sequence[tuple[str, int]] = ()

    def open(self, info: StreamInfo) -> None: ...

    def write(self, item: Frame | Any) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def kept_message(self) -> str | None:
        """``kept 1234 frames in rec.mkv`` once ``abort()`` kept a recording, else None."""
        return None
