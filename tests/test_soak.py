"""The soak benchmark (benchmarks/soak.py), short: a flaky real RTSP camera (stalls, a restart,
each held until vidlle reported it) through the real `vidlle enhance` process: every outage is
one reconnect, and its memory, threads and fds stay flat."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support.servers import needs_rtsp

ROOT = Path(__file__).resolve().parents[1]


def _soak_module():
    spec = importlib.util.spec_from_file_location("vidlle_soak_benchmark", ROOT / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@needs_rtsp
def test_short_soak_is_flat_across_stalls_and_a_restart(tmp_path):
    soak = _soak_module()
    # 45 s of stream time sent at 5x real time: stalls at 12, 24 and 36 s, one camera restart at
    # 30 s. Each outage lasts until vidlle reported the connection lost (its 1 s read timeout),
    # then 4 s (stall) or 2 s (restart) of stream time more, so each one is exactly one reconnect.
    samples, summary = soak.soak(minutes=0.75, speed=5, size="160x90", stall_every=12, stall_for=4,
                                 restart_every=30, sample_every=3, out_dir=tmp_path, log=lambda line: None)
    assert summary["exit_code"] == 130  # stopped by SIGINT, recording finalised
    assert (summary["stalls"], summary["restarts"]) == (3, 1)
    assert summary["reconnects"] == 4, summary["last_line"]
    assert summary["recorded"] > 0.3 * summary["sent"]
    g = soak.growth(samples, warmup_min=0.25)
    assert g["thread_growth"] <= 0 and g["fd_growth"] <= 0, g
    assert g["rss_growth_pct"] <= 10, g  # short runs are noisier than the 30-minute one (<= 5 %)
