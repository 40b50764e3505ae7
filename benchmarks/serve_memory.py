"""Resident memory of `vidlle serve`: the driver and each camera's process, at 720p.

Runs the real command (``python -m vidlle serve``) on a cameras file of N virtual cameras
(``testsrc:1280x720@15``, recording to ``rec/{name}.mkv``, ``num_cpus`` 1/N), samples every
second the driver's resident memory (``/proc/PID/statm``) and each camera's own figure from
``--stats-json`` (``rss_mb``: its actor's process under Ray, the whole process in threads mode),
and prints the median of the samples taken from ``--settle`` seconds on, with each camera's CPU
ms per written frame over the same window (``cpu_s`` and ``frames`` of the stats: the price of a
memory setting shows there).

Resident memory counts the shared libraries (NumPy, OpenCV, FFmpeg, onnxruntime, Ray's own) in
full in every process. Where a camera's process is on this machine (its ``pid`` readable under
/proc), the proportional share (PSS: shared pages divided among the processes mapping them) and
the private memory (USS: pages no other process maps) are sampled too, from
``/proc/PID/smaps_rollup``: what one more camera really adds lies between the two.

    python benchmarks/serve_memory.py [--run-on ray|threads] [--cameras 2] [--duration 40] [--settle 25]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mib(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def shared_split_mib(pid: int) -> tuple[float, float] | None:
    """(PSS, USS) of process ``pid`` in MiB from /proc/PID/smaps_rollup, or None if unreadable."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name in ("Pss", "Private_Clean", "Private_Dirty"):
                    fields[name] = int(rest.split()[0]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    if len(fields) != 3:
        return None
    return fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def measure(run_on: str, cameras: int, duration: float, settle: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="vidlle-serve-mem-") as tmp:
        cfg = Path(tmp) / "cameras.yaml"
        lines = ["defaults:", "  output: rec/{name}.mkv", f"  num_cpus: {1 / cameras:g}", "cameras:"]
        lines += [f"  - name: cam{i}\n    source: testsrc:1280x720@15" for i in range(cameras)]
        cfg.write_text("\n".join(lines) + "\n")
        stats = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "vidlle", "serve", str(cfg), "--run-on", run_on, "--duration", str(duration),
               "--stats-every", "1", "--stats-json", str(stats), "-q"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        driver: list[float] = []
        per_camera: dict[str, list[float]] = {}
        split: dict[str, list[tuple[float, float]]] = {}
        first: dict[str, dict] = {}
        last: dict[str, dict] = {}
        first_streaming = None
        while proc.poll() is None:
            time.sleep(1.0)
            try:
                rows = json.loads(stats.read_text())["cameras"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if first_streaming is None and rows and all(r.get("state") == "streaming" for r in rows):
                first_streaming = time.monotonic()
            if first_streaming is None or time.monotonic() - first_streaming < settle:
                continue
            own = rss_mib(proc.pid)
            if own is not None:
                driver.append(own)
            for r in rows:
                if r.get("rss_mb") is not None:
                    per_camera.setdefault(r["name"], []).append(r["rss_mb"])
                pss_uss = shared_split_mib(r["pid"]) if r.get("pid") and r["pid"] != proc.pid else None
                if pss_uss is not None:
                    split.setdefault(r["name"], []).append(pss_uss)
                if r.get("cpu_s") is not None and r.get("state") == "streaming":
                    first.setdefault(r["name"], r)
                    last[r["name"]] = r
        err = proc.stderr.read()
        if proc.returncode != 0 or not driver:
            raise SystemExit(f"serve failed (exit {proc.returncode}, {len(driver)} samples):\n{err[-2000:]}")
    return {"run_on": run_on, "cameras": cameras, "samples": len(driver),
            "driver_mib": round(statistics.median(driver), 1),
            "camera_mib": {k: round(statistics.median(v), 1) for k, v in sorted(per_camera.items())},
            "camera_pss_mib": {k: round(statistics.median(p for p, _ in v), 1) for k, v in sorted(split.items())},
            "camera_uss_mib": {k: round(statistics.median(u for _, u in v), 1) for k, v in sorted(split.items())},
            "cpu_ms_per_frame": {k: round(1000 * (last[k]["cpu_s"] - first[k]["cpu_s"])
                                          / max(1, last[k]["frames"] - first[k]["frames"]), 1) for k in sorted(last)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-on", default="ray", choices=("ray", "threads"))
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--settle", type=float, default=25.0, help="seconds of streaming before sampling")
    args = ap.parse_args()
    print(json.dumps(measure(args.run_on, args.cameras, args.duration, args.settle)))


if __name__ == "__main__":
    main()
