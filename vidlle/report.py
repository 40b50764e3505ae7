"""Run reports as JSON files (``--stats-json``): the record of a run, written atomically."""

from __future__ import annotations

import json
import time

from vidlle.io.atomic import write_bytes
from vidlle.pipeline import Stats


def write_json(path: str, data: dict) -> None:
    """Replace ``path`` atomically (a monitor never reads half a file); OutputError if it cannot."""
    write_bytes(path, json.dumps(data, indent=2, default=str).encode())


def stats_record(stats: Stats, what: str) -> dict:
    """One run's statistics as plain values: frames, times, fps, CPU per frame, busy seconds per
    stage, the enhancer (``what``), and for live sources their counters and latency (ms)."""
    first = None if stats.first_frame_at is None else time.time() - (time.perf_counter() - stats.first_frame_at)
    record = {"frames": stats.frames, "elapsed_s": stats.elapsed, "fps": stats.fps, "steady_fps": stats.steady_fps,
              "steady_cpu_ms": stats.steady_cpu_ms, "first_frame_time": first, "busy_s": stats.busy, "enhancer": what}
    if stats.live is not None:
        record["live"] = stats.live.snapshot()
        record["latency_ms"] = {"median": stats.latencies.quantile_ms(0.5), "p95": stats.latencies.quantile_ms(0.95)}
    return record
