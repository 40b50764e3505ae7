"""Counters and state of one live source (:class:`LiveStats`), read by the progress line, the
summary, the preview window, ``--stats-json`` and ``vidlle serve``'s table."""

from __future__ import annotations

import collections
import threading
import time

from vidlle.frames import Latencies


class LiveStats:
    """Counters and state of one live source, safe to read from any thread while it runs.

    frames_in: frames decoded; frames_out: frames handed to the consumer; drops: frames
    overwritten (``latest``) or thinned out of a full buffer (``buffer``) before they were
    taken; buffered / capacity: frames waiting now / the most that may wait; reconnects:
    connections re-established after a loss; attempts: reconnect attempts made (failed ones
    included), in all and ``outage_attempts`` since the connection was last up; corrupt: frames the decoder reported damaged (concealed, kept); skipped: packets
    it rejected (skipped); state: connecting | streaming | reconnecting | stopped |
    failed (gave up); latency: capture -> handed-out, seconds (last value and a window of recent ones).

    :meth:`status` refines ``state`` into what a user needs (stalled for how long, which attempt,
    the next one when); :meth:`poll_events` returns one line per change since the last call.
    """

    def __init__(self, window: int = 256, rate_window: float = 2.0, shown: str = "live source",
                 stall_after: float = 1.0, read_timeout: float = 5.0):
        self._lock = threading.Lock()
        self.shown = shown
        self.stall_after = stall_after
        self.read_timeout = read_timeout
        self.state = "connecting"
        self.frames_in = 0
        self.frames_out = 0
        self.drops = 0
        self.buffered = 0
        self.capacity = 1
        self.reconnects = 0
        self.attempts = 0
        self.outage_attempts = 0
        self.corrupt = 0
        self.skipped = 0
        self.last_error: str | None = None
        self.latency: float | None = None
        self.last_frame_at: float | None = None
        self.lost_at: float | None = None       # when the current outage began (last frame)
        self.next_attempt_at: float | None = None  # while waiting between reconnect attempts
        self.gave_up = False
        self.latencies = Latencies(window)  # capture -> handed out
        self._t_in: collections.deque = collections.deque()
        self._t_out: collections.deque = collections.deque()
        self._rate_window = rate_window
        self._events: collections.deque = collections.deque(maxlen=64)
        self._stall_reported = False
        self._stall_from = 0.0  # last frame before the reported stall
        self._damage_reported = (0, 0, -1e9)  # (corrupt, skipped, when) at the last damage line
        self.started = time.perf_counter()

    # updates (called by the source) -------------------------------------------------------
    def _frame_in(self, now: float, dropped: int, buffered: int) -> None:
        with self._lock:
            self.frames_in += 1
            self.drops += dropped
            self.buffered = buffered
            self._t_in.append(now)
            self._trim(self._t_in, now)
            if self._stall_reported and self.state == "streaming":
                # Back only at the second frame after a stall: a lone frame is usually the last
                # one FFmpeg flushes out of its parser as the read times out.
                if self.last_frame_at is not None and self.last_frame_at > self._stall_from:
                    self._events.append(f"{self.shown}: streaming again after a "
                                        f"{self.last_frame_at - self._stall_from:.1f} s stall")
                    self._stall_reported = False
            else:
                self._stall_reported = False
            self.last_frame_at = now

    def _frame_out(self, now: float, latency: float, buffered: int) -> None:
        with self._lock:
            self.frames_out += 1
            self.buffered = buffered
            self.latency = latency
            self._t_out.append(now)
            self._trim(self._t_out, now)
        self.latencies.add(latency)

    def _event(self, text: str) -> None:
        with self._lock:
            self._events.append(f"{self.shown}: {text}")

    def _trim(self, times: collections.deque, now: float) -> None:
        while times and times[0] < now - self._rate_window:
            times.popleft()

    # readings --------------------------------------------------------------------------------
    def _rate(self, times: collections.deque) -> float:
        now = time.perf_counter()
        with self._lock:
            self._trim(times, now)
            n = len(times)
        span = min(self._rate_window, now - self.started)
        return n / span if span > 0 else 0.0

    @property
    def fps_in(self) -> float:
        """Frames decoded per second over the last ~2 s."""
        return self._rate(self._t_in)

    @property
    def fps_out(self) -> float:
        """Frames handed out per second over the last ~2 s."""
        return self._rate(self._t_out)

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds since the last frame while the connection is up but silent (>= stall_after), else None."""
        now = time.perf_counter() if now is None else now
        last = self.last_frame_at
        if self.state != "streaming" or last is None or now - last < self.stall_after:
            return None
        return now - last

    def status(self, now: float | None = None) -> str:
        """What the source is doing, for a progress line: ``streaming``, ``stalled 3 s``,
        ``reconnecting, attempt 2, next in 4 s``, ``reconnecting, attempt 2``, ``gave up after 5
        attempts``, ``connecting``, ``stopped``."""
        now = time.perf_counter() if now is None else now
        state = self.state
        if state == "streaming":
            stalled = self.stalled_for(now)
            return "streaming" if stalled is None else f"stalled {stalled:.0f} s"
        if state == "reconnecting":
            due = self.next_attempt_at
            if due is not None:
                left = max(0.0, due - now)
                return f"reconnecting, attempt {self.outage_attempts + 1}, next in {left:.{1 if left < 10 else 0}f} s"
            return f"reconnecting, attempt {self.outage_attempts}"
        if state == "failed":
            n = self.outage_attempts
            return f"gave up after {n} attempt{'s' if n != 1 else ''}"
        return state

    def poll_events(self, now: float | None = None) -> list[str]:
        """State changes since the last call, one plain line each (credentials already redacted):
        connected, stalled, connection lost, each failed attempt with the next one's delay,
        reconnected, gave up, and corrupt data (at most one line per 10 s). Stalls are noticed
        here, by the caller's clock: the reader is blocked in a read while a camera is silent."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            events = list(self._events)
            self._events.clear()
            if not events and not self._stall_reported and self.stalled_for(now) is not None:
                self._stall_reported, self._stall_from = True, self.last_frame_at
                events.append(f"{self.shown}: stalled (no video for {now - self.last_frame_at:.1f} s; "
                              f"reconnecting if it stays silent for {self.read_timeout:g} s)")
            corrupt, skipped, when = self._damage_reported
            if (self.corrupt, self.skipped) != (corrupt, skipped) and now - when >= 10.0:
                self._damage_reported = (self.corrupt, self.skipped, now)
                events.append(f"{self.shown}: warning: corrupt video data: {self.corrupt} damaged frames concealed, "
                              f"{self.skipped} broken packets skipped so far")
        return events

    def snapshot(self) -> dict:
        """Everything as plain values (for a progress line, JSON stats, tests)."""
        return {
            "state": self.state, "status": self.status(), "frames_in": self.frames_in, "frames_out": self.frames_out,
            "drops": self.drops, "buffered": self.buffered, "capacity": self.capacity,
            "reconnects": self.reconnects, "attempts": self.attempts, "corrupt": self.corrupt, "skipped": self.skipped,
            "fps_in": round(self.fps_in, 2), "fps_out": round(self.fps_out, 2),
            "latency_ms": None if self.latency is None else round(self.latency * 1000.0, 1),
            "latency_median_ms": _round(self.latencies.quantile_ms(0.5)),
            "latency_p95_ms": _round(self.latencies.quantile_ms(0.95)),
            "last_error": self.last_error,
        }

    def parts(self, latency_ms: float | None = None) -> list[str]:
        """What a progress line shows of the source, in order: ``in 25.0 fps, out 24.9 fps``,
        ``3 dropped``, ``latency 41 ms`` (``latency_ms``, when known), ``buffer 12/50`` (buffer
        policy), ``2 concealed, 1 skipped`` (damaged data), ``1 reconnect``, and the state
        (:meth:`status`). The one formatter of the live progress line, the summary and the
        preview window's stats line."""
        parts = [f"in {self.fps_in:.1f} fps, out {self.fps_out:.1f} fps", f"{self.drops} dropped"]
        if latency_ms is not None:
            parts.append(f"latency {latency_ms:.0f} ms")
        if self.capacity > 1:
            parts.append(f"buffer {self.buffered}/{self.capacity}")
        if self.corrupt or self.skipped:
            parts.append(f"{self.corrupt} concealed, {self.skipped} skipped")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}")
        parts.append(self.status())
        return parts

    def line(self) -> str:
        """``in 25.0 fps, out 24.9 fps, 3 dropped, latency 41 ms, 1 reconnect, streaming``
        (:meth:`parts` with the source's own capture -> handed-out latency)."""
        return ", ".join(self.parts(self.latencies.quantile_ms(0.5)))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
