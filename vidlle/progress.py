"""Progress bar and summary line on stderr (the pipeline reports, this module draws)."""

from __future__ import annotations

import sys

from vidlle.pipeline import Stats


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """``[#####.....]  120/300  40%  35.2 fps  ETA 0:00:05``, redrawn in place on a terminal.

    When stderr is not a terminal (logs, CI) a plain line is printed at most every ``log_every``
    seconds instead, so logs stay readable.
    """

    def __init__(self, stream=None, width: int = 28, log_every: float = 5.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self._last_log = -1e9
        self._drawn = False

    def __call__(self, stats: Stats) -> None:
        fps = stats.fps
        if stats.expected:
            frac = min(1.0, stats.frames / stats.expected)
            filled = int(frac * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            eta = (stats.expected - stats.frames) / fps if fps > 0 else 0.0
            line = f"[{bar}] {stats.frames}/{stats.expected} {frac:4.0%} {fps:6.1f} fps ETA {_clock(eta)}"
        else:
            line = f"{stats.frames} frames {fps:6.1f} fps {_clock(stats.elapsed)}"
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            self._drawn = True
        elif stats.elapsed - self._last_log >= self.log_every:
            self.stream.write(line + "\n")
            self._last_log = stats.elapsed
        self.stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def summary_line(stats: Stats, what: str, output: str) -> str:
    """One line: frames, wall time, fps, busy seconds per stage, backend, output path."""
    b = stats.busy
    return (
        f"vidlle: {stats.frames} frames in {stats.elapsed:.2f} s ({stats.fps:.1f} fps, "
        f"{stats.steady_fps:.1f} steady) | decode {b['decode']:.2f} s, enhance {b['enhance']:.2f} s, "
        f"encode {b['encode']:.2f} s | {what} -> {output}"
    )
