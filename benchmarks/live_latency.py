"""Live latency: webcam-like source -> enhanced frame, in ms and in frames.

The source is vidlle's virtual camera (``testsrc:WxH@FPS``: FFmpeg's testsrc2, darkened,
released in real time by the ``realtime`` filter) read by the same LiveSource class, reader
thread and latest-frame slot as a V4L2 webcam. Frames go through the real Pipeline (the enhance
stage asks for the newest frame whenever it is free) into ``Enhancer(model).enhance_frames``.

Latency = time from the frame's decode in the reader thread (``Frame.captured``) to the moment
its enhanced picture is ready (transform returned), and to the sink (written). Camera exposure
and USB transfer happen before that and are not included (they are the same with or without
vidlle).

    python benchmarks/live_latency.py [--size 1280x720] [--fps 25] [--seconds 10] [--model curve]
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from vidlle.io.live import LiveSource
from vidlle.io.sinks import NullSink
from vidlle.pipeline import Pipeline


def measure(size: str, fps: float, seconds: float, transform, warmup: float = 1.0) -> dict:
    source = LiveSource(f"testsrc:{size}@{fps:g}")
    enhanced: list[float] = []
    started = [0.0]

    def timed(frames):
        out = transform(frames)
        now = time.perf_counter()
        if now - started[0] > warmup:  # model warm-up and connection start excluded
            enhanced.extend(now - f.captured for f in frames)
        return out

    pipe = Pipeline(source, timed, NullSink())
    threading.Timer(seconds + warmup, pipe.request_stop).start()
    started[0] = time.perf_counter()
    stats = pipe.run()
    live = source.stats.snapshot()
    frame_ms = 1000.0 / fps
    lat = np.array(enhanced) * 1000.0
    return {
        "frames": len(lat), "fps_out": len(lat) / seconds, "drops": live["drops"], "frames_in": live["frames_in"],
        "median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
        "median_frames": float(np.median(lat)) / frame_ms, "p95_frames": float(np.percentile(lat, 95)) / frame_ms,
        "written_median_ms": stats.latencies.quantile_ms(0.5), "handout_median_ms": live["latency_median_ms"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--model", default="curve")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--temporal", action=argparse.BooleanOptionalAction, default=True,
                    help="temporal smoothing + denoising, as `vidlle enhance` does for live sources")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()

    from vidlle.heap import keep_freed_buffers

    keep_freed_buffers()  # as the CLI does
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from vidlle.api import Enhancer

    enhancer = Enhancer(args.model, backend=args.backend, temporal=args.temporal)
    w, h = (int(v) for v in args.size.split("x"))
    enhancer.enhance(np.zeros((h, w, 3), np.uint8))  # load and warm up before the clock starts
    print(f"live latency: testsrc {args.size} @ {args.fps:g} fps, {args.seconds:g} s, {enhancer.describe()}")
    for name, transform in (("no enhancement", lambda fs: list(fs)), (f"enhance ({args.model})", enhancer.enhance_frames)):
        r = measure(args.size, args.fps, args.seconds, transform)
        print(f"  {name:18s} capture->enhanced median {r['median_ms']:6.1f} ms ({r['median_frames']:.2f} frames), "
              f"p95 {r['p95_ms']:6.1f} ms ({r['p95_frames']:.2f} frames) | out {r['fps_out']:.1f} fps, "
              f"{r['drops']} of {r['frames_in']} dropped | capture->written median {r['written_median_ms']:.1f} ms")


if __name__ == "__main__":
    main()
