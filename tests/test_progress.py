"""The progress line: live runs show fps in/out, drops, latency, buffer and state, and print every
state change as its own line (on a terminal above the bar, which is then redrawn)."""

from __future__ import annotations

import io
import time

from vidlle.io.livestats import LiveStats
from vidlle.pipeline import Stats
from vidlle.progress import ProgressBar, live_line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _live_stats() -> Stats:
    live = LiveStats(shown="rtsp://***@cam/live", stall_after=1.0, read_timeout=5.0)
    live.state, live.capacity, live.buffered, live.drops, live.reconnects = "streaming", 50, 12, 3, 1
    now = time.perf_counter()
    live._frame_in(now - 2.0, 0, 12)  # the last frame came 2 s ago: stalled
    stats = Stats(live=live)
    stats.frames = 812
    for _ in range(5):
        stats.latencies.add(0.095)
    return stats


def test_live_line_has_every_field_and_the_state():
    line = live_line(_live_stats())
    fields = line.split(" | ")
    assert fields[0] == "812 frames" and fields[1].startswith("in ") and ", out " in fields[1]
    assert fields[2:6] == ["3 dropped", "latency 95 ms", "buffer 12/50", "1 reconnect"]
    assert fields[6] == "stalled 2 s" and fields[7].count(":") == 2


def test_state_changes_are_lines_above_the_redrawn_bar():
    stats = _live_stats()
    term = _Terminal()
    bar = ProgressBar(stream=term)
    bar(stats)  # the stall is noticed here: its line, then the bar
    bar(stats)  # nothing new: only the bar, redrawn in place
    stats.live._event("connection lost (timed out (no data for 5 s)); reconnecting, attempt 1 in 0.5 s")
    bar(stats)
    out = term.getvalue()
    stall = "vidlle: rtsp://***@cam/live: stalled (no video for 2."  # 2.0 s, or a little more on a busy machine
    lost = ("vidlle: rtsp://***@cam/live: connection lost (timed out (no data for 5 s)); "
            "reconnecting, attempt 1 in 0.5 s\n")
    assert out.startswith(stall)  # nothing drawn yet: no line to clear
    assert out.count("stalled (no video") == 1 and out.count("connection lost") == 1
    assert "\033[K" + lost in out  # the bar's line is cleared before the event is printed
    assert out.count("\r812 frames | ") == 3


def test_log_output_prints_the_line_at_each_change_and_every_few_seconds():
    stats = _live_stats()
    log = io.StringIO()
    bar = ProgressBar(stream=log, log_every=5.0)
    bar(stats)
    bar(stats)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("vidlle: rtsp://***@cam/live: stalled") and lines[1].startswith("812 frames | ")
    assert len(lines) == 2  # the second call had no change and came within 5 s


def test_summary_and_progress_lines_share_one_formatter():
    stats = _live_stats()
    stats.live.corrupt, stats.live.skipped = 2, 1
    progress = live_line(stats).split(" | ")
    summary = stats.live.line().split(", ")
    assert progress[1:-1] == stats.live.parts(stats.latencies.quantile_ms(0.5))
    assert "2 concealed, 1 skipped" in progress and "1 skipped" in summary and summary[-1] == progress[-2]



def test_the_rate_shows_from_one_second_on():
    # A backlog's clock starts when its first file reports, with a few frames already counted.
    stats = Stats(expected=150)
    stats.frames, stats.finished_at = 2, stats.started + 0.001  # the clock stands still at finished_at
    term = _Terminal()
    bar = ProgressBar(stream=term)
    bar(stats)
    assert term.getvalue().endswith("2/150   1%      - fps ETA -:--:--\033[K")
    stats.frames, stats.finished_at = 50, stats.started + 2.0
    bar(stats)
    assert " 50/150  33%   25.0 fps ETA 0:00:04\033[K" in term.getvalue()
