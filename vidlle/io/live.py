"""Live sources: webcams (V4L2), RTSP / HTTP(S) / UDP / SRT streams and a virtual test camera.

A :class:`LiveSource` is used by the pipeline exactly like a video file source (``open() ->
StreamInfo``, iterate :class:`~vidlle.frames.Frame`, ``close()``), but:

- **Drop policy** (:data:`DROP_POLICIES`). A reader thread owns the PyAV container and decodes
  continuously into a buffer the consumer takes frames from:

  - ``latest`` (preview windows, RTSP publishing): a one-slot buffer, the consumer always takes
    the newest frame; latency is one enhancement, and every frame overwritten before it was
    taken is counted in ``stats.drops``.
  - ``buffer`` (recording to a file): a bounded queue of ``buffer_seconds`` of video absorbs the
    consumer's jitter, so a recorder that keeps up on average keeps every frame. Only when the
    queue is full is a frame dropped (counted), and then the one whose loss leaves the smallest
    hole in time (:func:`thin_one`): a sustained overload thins the recording evenly (every
    other frame at worst) instead of cutting seconds out of it.
  - ``auto``: ``buffer`` when recording to a file, ``latest`` otherwise (:meth:`LiveConfig.for_output`).
- **Timestamps.** pts come from the wall clock (``time.perf_counter()`` at decode), in
  milliseconds (:data:`TIME_BASE` = 1/1000) since the first frame: strictly increasing across
  reconnects, so a recording is a valid VFR file whose gaps show outages as they happened.
- **Faults.** Connect and read timeouts (a stalled camera never hangs the process), reconnect
  with exponential backoff and a cap, the first frame of every connection flagged
  ``discontinuity=True`` (temporal state must be reset). A source that cannot be opened at all
  fails at once with a one-line :class:`LiveSourceError` (unless ``wait_for_source``).
  Broken data mid-stream is survived: frames the decoder concealed are counted
  (``stats.corrupt``), packets it rejected are skipped and counted (``stats.skipped``), and
  only ``read_timeout`` seconds without one decodable frame count as a lost connection.
- **State.** :class:`LiveStats` says what the camera is doing (:meth:`LiveStats.status`:
  ``streaming``, ``stalled 3 s``, ``reconnecting, attempt 2, next in 4 s``, ``gave up ...``) and
  queues one line per change (:meth:`LiveStats.poll_events`) for the command line to print.
- **Credentials** in URLs never reach a message: every message goes through :func:`redact`.

Specs (``vidlle enhance SPEC ...`` / ``vidlle preview SPEC``; resolved by :mod:`vidlle.io.livespec`): ``webcam:N`` and ``/dev/videoN``
(Linux V4L2 through PyAV's ``v4l2`` demuxer; ``video_size``, ``framerate``, ``input_format``
passed when configured), ``rtsp://`` / ``rtsps://`` (``rtsp_transport`` tcp|udp), ``http(s)://``,
``udp://``, ``srt://``, and ``testsrc[:WxH][@FPS]``: a virtual camera (FFmpeg's ``testsrc2``,
darkened, paced to real time by the ``realtime`` filter) that needs no hardware.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction

# isort: off
import cv2  # before av: when PyAV's bundled libxcb loads first, OpenCV windows freeze
import av
# isort: on

from vidlle.errors import InputError, LiveSourceError
from vidlle.frames import Frame, StreamInfo, check_frame_size
from vidlle.io.base import Source
from vidlle.io.livespec import resolve
from vidlle.io.livestats import LiveStats
from vidlle.io.redact import redact, scrub
from vidlle.settings import DROP_POLICIES, TRANSPORTS, LiveConfig

TIME_BASE = Fraction(1, 1000)

_POLL = 0.1


# -- the source --------------------------------------------------------------------------------

@dataclass
class _Captured:
    frame: av.VideoFrame
    captured: float
    seq: int
    discontinuity: bool


@dataclass
class _Shared:
    """State shared by the reader thread and the consumer, guarded by ``cond``."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    buf: collections.deque = field(default_factory=collections.deque)
    error: BaseException | None = None
    ended: bool = False  # a finite stream (a file served over HTTP) reached its end
    first: threading.Event = field(default_factory=threading.Event)


def thin_one(buf: collections.deque) -> int:
    """Drop the frame of a full buffer whose loss leaves the smallest hole in time; its index.

    buf: :class:`_Captured` items in capture order (at least 3). Never the oldest (it is next
    out) nor the newest (it just came in). Repeated under a sustained overload this removes
    every other frame before it removes two in a row, so a recording plays at a lower but even
    rate instead of jumping. A dropped frame's ``discontinuity`` mark moves to its successor
    (temporal state must still be reset there).
    """
    times = [item.captured for item in buf]
    # Span a frame's removal would leave: from its predecessor to its successor.
    best = min(range(1, len(times) - 1), key=lambda i: (times[i + 1] - times[i - 1], i))
    gone = buf[best]
    del buf[best]
    if gone.discontinuity:
        buf[best].discontinuity = True
    return best


class LiveSource(Source):
    """Frames of a live source, taken by the drop policy of its config (see the module docstring).

    Iterating yields :class:`Frame`: image (H, W, 3) uint8 RGB at the size of the first frame
    (later frames of another size, e.g. after a camera reconfigured, are resized to it),
    pts in ms from the wall clock (time_base 1/1000), index = capture sequence number,
    ``discontinuity`` on the first frame of each connection, ``captured`` = perf_counter().

    The pipeline reads ``latest_frame`` (take a frame only when the next stage is ready) and
    calls :meth:`interrupt` to end iteration when a run stops. ``config.drop_policy`` ``auto``
    is ``latest`` here: callers that record decide it first (:meth:`LiveConfig.for_output`).
    """

    def __init__(self, spec: str, config: LiveConfig = LiveConfig()):
        self.spec = spec
        self.config = config
        self.input = resolve(spec, config)
        self.shown = self.input.shown
        self.latest_frame = config.latest_frame
        # A stall shows before the read timeout ends the connection, however short that is.
        self.stats = LiveStats(shown=self.shown, stall_after=min(config.stall_after, config.read_timeout / 2),
                               read_timeout=config.read_timeout)
        self.rate: Fraction | None = None
        self._size: tuple[int, int] | None = None
        self._capacity = config.capacity(None)  # sized again from the stream's rate at connect
        self.stats.capacity = self._capacity
        self._shared = _Shared()
        self._stop = threading.Event()       # reader: leave as soon as possible
        self._interrupted = threading.Event()  # consumer: iteration ends
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._last_pts = -1
        self._phase, self._phase_started = "connect", time.perf_counter()
        self._finite = False

    # -- public contract ------------------------------------------------------------------------
    def open(self) -> StreamInfo:
        """Connect and wait for the first frame; LiveSourceError (one line) if that fails."""
        if self._thread is not None:
            raise RuntimeError("LiveSource.open() called twice")
        self._thread = threading.Thread(target=self._reader, name="vidlle-live-reader", daemon=True)
        self._thread.start()
        cfg = self.config
        # The reader's own timeouts end a failed first connect; this deadline only guards
        # against calls FFmpeg cannot interrupt (e.g. a hanging DNS lookup).
        allowed = cfg.open_timeout + cfg.read_timeout + 5.0
        deadline = None if cfg.wait_for_source else time.perf_counter() + allowed
        sh = self._shared
        try:
            while not sh.first.wait(_POLL):
                if deadline is not None and time.perf_counter() > deadline:
                    raise LiveSourceError(f"no video from {self.shown} within {allowed:.0f} s")
        except BaseException:  # the deadline, or Ctrl-C while a camera is being retried
            self.close()
            raise
        if not sh.buf:
            self.close()
            raise sh.error or LiveSourceError(f"no video from {self.shown}")
        with sh.cond:
            first = sh.buf[-1].frame
        self._size = (first.width, first.height)
        return StreamInfo(width=first.width, height=first.height, frames=None, rate=self.rate,
                          time_base=TIME_BASE, live=True)

    def __iter__(self):
        sh = self._shared
        while True:
            with sh.cond:
                while not sh.buf and sh.error is None and not sh.ended and not self._interrupted.is_set():
                    sh.cond.wait(_POLL)
                if self._interrupted.is_set():
                    return
                if not sh.buf:
                    if sh.error is not None:
                        raise sh.error
                    self.stats.state = "stopped"
                    return  # a finite stream ended
                item = sh.buf.popleft()
                left = len(sh.buf)
            yield self._hand_out(item, left)

    def interrupt(self) -> None:
        """End iteration now (the pipeline is stopping); the reader keeps running until close()."""
        self._interrupted.set()
        with self._shared.cond:
            self._shared.cond.notify_all()

    def finish(self) -> None:
        """Stop capturing; iteration ends once the frames already buffered are taken (a
        recording's clean stop: the queue is written, nothing new is read)."""
        self._stop.set()
        self._end()

    def close(self) -> None:
        """Stop the reader. Never blocks for long: a reader stuck in a stalled read leaves by
        itself within ``read_timeout`` and closes its own container."""
        self.interrupt()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        self.stats.state = "stopped"

    # -- consumer side ----------------------------------------------------------------------------
    def _hand_out(self, item: _Captured, buffered: int) -> Frame:
        image = item.frame.to_ndarray(format="rgb24")
        if self._size and (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        pts = round((item.captured - self._t0) * 1000.0)
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        now = time.perf_counter()
        self.stats._frame_out(now, now - item.captured, buffered)
        return Frame(image=image, pts=pts, time_base=TIME_BASE, index=item.seq,
                     discontinuity=item.discontinuity, captured=item.captured)

    # -- reader thread --------------------------------------------------------------------------
    def _reader(self) -> None:
        cfg, stats = self.config, self.stats
        failures = 0  # consecutive reconnect attempts that produced no frame
        ever = False
        try:
            while not self._stop.is_set():
                stats.next_attempt_at = None
                stats.state = "reconnecting" if ever else "connecting"
                if ever:
                    stats.attempts += 1
                    stats.outage_attempts += 1
                got = False
                self._phase, self._phase_started = "connect", time.perf_counter()
                try:
                    container = self._connect()
                    self._phase = "read"
                    try:
                        for frame in self._decode(container):
                            if not got:  # a new connection: its size may be new too
                                check_frame_size(frame.width, frame.height, self.shown)
                                self._size_buffer(frame)
                            self._publish(frame, discontinuity=not got)
                            if not got:
                                got = True
                                self._connected(frame, again=ever)
                                ever = True
                                failures = 0
                                self._shared.first.set()
                        reason = "the stream ended"
                    finally:
                        _close_quietly(container)
                    if self._finite and got:
                        self._end()
                        return
                except InputError as exc:  # LiveSourceError, or frames too large to take
                    reason = str(exc)
                except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
                    reason = self._reason(exc)
                if self._stop.is_set():
                    break
                stats.last_error = reason
                if not ever and not cfg.wait_for_source:
                    self._fail(LiveSourceError(f"cannot open {self.shown}: {reason}"))
                    return
                if not got:
                    failures += 1
                if cfg.max_reconnects is not None and failures >= cfg.max_reconnects:
                    what = f"lost {self.shown}" if ever else f"cannot open {self.shown}"
                    stats.gave_up, stats.state = True, "failed"
                    stats._event(f"gave up after {failures} reconnect attempts ({reason})")
                    self._fail(LiveSourceError(f"{what} ({reason}); gave up after {failures} reconnect attempts"))
                    return
                delay = cfg.backoff(failures - 1 if failures else 0)
                following = stats.outage_attempts + 1
                if got:
                    stats.lost_at = stats.last_frame_at
                    stats._event(f"connection lost ({reason}); reconnecting, attempt {following} in {delay:g} s")
                elif ever:
                    stats._event(f"reconnect attempt {stats.outage_attempts} failed ({reason}); "
                                 f"attempt {following} in {delay:g} s")
                else:
                    stats._event(f"cannot connect yet ({reason}); retrying in {delay:g} s")
                stats.state = "reconnecting" if ever else "connecting"
                stats.next_attempt_at = time.perf_counter() + delay
                self._stop.wait(delay)
        except BaseException as exc:  # noqa: BLE001 - a reader bug must reach the consumer, not vanish
            self._fail(exc)
        finally:
            stats.next_attempt_at = None
            if not stats.gave_up:
                stats.state = "stopped"
            self._shared.first.set()

    def _connected(self, frame: av.VideoFrame, again: bool) -> None:
        """First frame of a connection: counters, state, and the line that says so."""
        stats = self.stats
        if again:
            stats.reconnects += 1
            outage = f" after {time.perf_counter() - stats.lost_at:.1f} s" if stats.lost_at is not None else ""
            stats._event(f"streaming again{outage} (reconnect {stats.reconnects}, attempt {stats.outage_attempts})")
        else:
            rate = f" at {float(self.rate):.3g} fps" if self.rate else ""
            stats._event(f"streaming {frame.width}x{frame.height}{rate}")
        stats.lost_at = None
        stats.outage_attempts = 0
        stats.state = "streaming"

    def _connect(self):
        live, cfg = self.input, self.config
        container = av.open(live.url, "r", format=live.format, options=dict(live.options),
                            timeout=(cfg.open_timeout, cfg.read_timeout))
        if not container.streams.video:
            _close_quietly(container)
            raise LiveSourceError(f"{self.shown} has no video stream")
        stream = container.streams.video[0]
        # Slice threads only: frame threading would hold frames back by one per thread.
        stream.thread_type = "SLICE"
        if self.rate is None:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.rate = Fraction(rate) if rate else None
            fps = float(self.rate) if self.rate else None
            if fps is not None and 0.1 <= fps <= 240:
                # A slow camera (1 fps sub-stream) is not stalled between two of its frames.
                self.stats.stall_after = min(max(cfg.stall_after, 3.0 / fps), cfg.read_timeout / 2)
        # A URL that serves a finished file (it has a duration; live streams have none) is
        # played at its own pace, and its end is the end: no reconnect loop over it.
        self._finite = live.kind == "stream" and container.duration is not None
        return container

    def _size_buffer(self, frame: av.VideoFrame) -> None:
        """The buffer holds seconds of video (its length in frames follows the camera's rate),
        and at most ``buffer_mb`` of decoded frames (a 4K camera's frames are 12 MB each)."""
        fps = float(self.rate) if self.rate else None
        frame_bytes = sum(plane.buffer_size for plane in frame.planes)
        with self._shared.cond:
            self._capacity = self.stats.capacity = self.config.capacity(fps, frame_bytes)

    def _decode(self, container):
        """Decoded frames of one connection. Broken data is survived (see the module docstring):
        a packet the decoder rejects is skipped and counted; LiveSourceError once nothing
        decodable came for ``read_timeout`` seconds (garbage flowing is as good as silence)."""
        stream = container.streams.video[0]
        stats, limit = self.stats, self.config.read_timeout
        origin = None  # (perf_counter, media seconds) of the first frame, for finite streams
        decodable = time.perf_counter()  # when the last frame came out of the decoder
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            try:
                frames = packet.decode()
            except av.ExitError:
                raise  # the read timeout fired inside the decoder's read: a stall, not damage
            except av.FFmpegError as exc:
                stats.skipped += 1
                stats.last_error = f"corrupt video data: {self._reason(exc)}"
                frames = []
            if not frames:
                if time.perf_counter() - decodable > limit:
                    raise LiveSourceError(f"no decodable video for {limit:g} s ({stats.last_error or 'no frames'})")
                continue
            decodable = time.perf_counter()
            for frame in frames:
                if frame.is_corrupt:
                    stats.corrupt += 1  # the decoder concealed the damage; the frame is kept
                if self._finite and frame.time is not None:
                    if origin is None:
                        origin = (time.perf_counter(), frame.time)
                    delay = origin[0] + (frame.time - origin[1]) - time.perf_counter()
                    if delay > 0 and self._stop.wait(min(delay, 5.0)):
                        return
                yield frame

    def _end(self) -> None:
        sh = self._shared
        with sh.cond:
            sh.ended = True
            sh.cond.notify_all()
        sh.first.set()

    def _publish(self, frame: av.VideoFrame, discontinuity: bool) -> None:
        now = time.perf_counter()
        sh = self._shared
        with sh.cond:
            if sh.ended:  # decoded while finish() stopped the capture: the recording has ended without it
                return
            if self._t0 is None:
                self._t0 = now
            buf = sh.buf
            buf.append(_Captured(frame, now, self.stats.frames_in, discontinuity))
            dropped = 0
            while len(buf) > self._capacity:
                dropped += 1
                if self._capacity == 1:  # latest frame: the stale one goes
                    gone = buf.popleft()
                    buf[0].discontinuity |= gone.discontinuity  # the reset marker survives its frame
                else:
                    thin_one(buf)
            self.stats._frame_in(now, dropped, len(buf))
            sh.cond.notify_all()

    def _fail(self, exc: BaseException) -> None:
        sh = self._shared
        with sh.cond:
            sh.error = exc
            sh.cond.notify_all()
        self.stats.last_error = str(exc)
        sh.first.set()

    def _reason(self, exc: BaseException) -> str:
        connecting = getattr(self, "_phase", "read") == "connect"
        # PyAV's interrupt callback fired. While probing the stream FFmpeg reports it as
        # "invalid data" instead, so a connect that failed after the whole allowance is one too.
        if connecting and (isinstance(exc, av.ExitError)
                           or time.perf_counter() - self._phase_started >= 0.95 * self.config.open_timeout):
            return f"timed out connecting (no video within {self.config.open_timeout:g} s)"
        if isinstance(exc, av.ExitError):
            return f"timed out (no data for {self.config.read_timeout:g} s)"
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return scrub(text, self.input.url)


def _close_quietly(container) -> None:
    try:
        container.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to keep
        pass
