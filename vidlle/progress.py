"""Progress bar and summary line on stderr (the pipeline reports, this module draws)."""

from __future__ import annotations

import sys

import click

from vidlle.pipeline import Stats


def say(message: str) -> None:
    """One ``vidlle: MESSAGE`` line on stderr: what every command tells its user besides the bar."""
    click.echo(f"vidlle: {message}", err=True)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


_MIN_RATE_SECONDS = 1.0


def _rate(fps: float) -> str:
    return f"{fps:6.1f} fps" if fps > 0 else "     - fps"


def live_line(stats: Stats) -> str:
    """Progress of a live run: ``812 frames | in 25.0 fps, out 24.8 fps | 3 dropped | latency 95 ms |
    buffer 2/50 | streaming | 0:00:33`` (state: streaming, stalled 3 s, reconnecting, attempt 2,
    next in 4 s, gave up ...). fps in: decoded from the camera; out: handed to the enhancer;
    latency: capture -> written (median of recent frames). The source's parts come from
    :meth:`vidlle.io.livestats.LiveStats.parts`."""
    return " | ".join([f"{stats.frames} frames", *stats.live.parts(stats.latencies.quantile_ms(0.5)), _clock(stats.elapsed)])


class ProgressBar:
    """``[#####.....]  120/300  40%  35.2 fps  ETA 0:00:05``, redrawn in place on a terminal.

    When stderr is not a terminal (logs, CI) a plain line is printed at most every ``log_every``
    seconds instead, so logs stay readable.

    Live runs (``stats.live`` set) show :func:`live_line` instead, and every state change of the
    source (connected, stalled, connection lost, reconnect attempts, corrupt data) as its own
    ``vidlle: ...`` line, at once, on a terminal or not.
    """

    def __init__(self, stream=None, width: int = 28, log_every: float = 5.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self._last_log = -1e9
        self._drawn = False

    def __call__(self, stats: Stats) -> None:
        # A rate over the first fraction of a second says nothing (a backlog's clock can start
        # with a few frames already counted: thousands of fps); it shows from one second on.
        fps = stats.fps if stats.elapsed >= _MIN_RATE_SECONDS else 0.0
        events = stats.live.poll_events() if stats.live is not None else []
        for event in events:
            # Above the bar: clear the line being redrawn, print the event; the bar follows.
            self.stream.write(("\r\033[K" if self._drawn else "") + f"vidlle: {event}\n")
            self._drawn = False
        if stats.live is not None:
            line = live_line(stats)
        elif stats.expected:
            frac = min(1.0, stats.frames / stats.expected)
            filled = int(frac * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            eta = _clock((stats.expected - stats.frames) / fps) if fps > 0 else "-:--:--"
            line = f"[{bar}] {stats.frames}/{stats.expected} {frac:4.0%} {_rate(fps)} ETA {eta}"
        else:
            line = f"{stats.frames} frames {_rate(fps)} {_clock(stats.elapsed)}"
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            self._drawn = True
        elif stats.elapsed - self._last_log >= self.log_every or events:
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
