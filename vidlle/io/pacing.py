"""Real-time pacing: frames from a file leave at their pts rate, as ``ffmpeg -re`` does."""

from __future__ import annotations

import threading
import time

from vidlle.frames import Frame


class Pacer:
    """Sleeps so frames leave at their pts rate in wall-clock time (``ffmpeg -re``).

    Used by real-time sinks (preview window, RTSP publish) when the source is a file; a live
    source is already paced by its camera. A run that falls behind is not sped up to catch up
    by more than ``max_lag`` seconds (the schedule is moved instead).
    """

    def __init__(self, max_lag: float = 0.5):
        self.max_lag = max_lag
        self._origin: tuple[float, float] | None = None  # (wall, media seconds)

    def wait(self, frame: Frame, stop: threading.Event | None = None) -> None:
        if frame.pts is None or frame.time_base is None:
            return
        media = float(frame.pts * frame.time_base)
        now = time.perf_counter()
        if self._origin is None:
            self._origin = (now, media)
            return
        due = self._origin[0] + (media - self._origin[1])
        delay = due - now
        if delay < -self.max_lag:
            self._origin = (now, media)
        elif delay > 0:
            if stop is not None:
                stop.wait(min(delay, 5.0))
            else:
                time.sleep(min(delay, 5.0))
