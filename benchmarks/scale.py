"""How many cameras fit: aggregate fps of 1, 2, 4 synthetic 720p streams, and per-frame CPU cost.

Part 1 (``streams``): the real ``vidlle serve`` machinery (:class:`vidlle.scale.service.Service`:
one Ray actor per camera, or threads without Ray) with N virtual cameras
(``testsrc:1280x720@25``: FFmpeg's testsrc2, darkened, released in real time) recording to
files (x264 veryfast, crf 23). After a warm-up, frames written and CPU seconds used are counted
over ``--seconds``: aggregate fps, per-stream fps, drops, and CPU ms per frame (the process CPU
time of each camera's actor, all its threads: capture, enhance, encode).

Part 2 (``costs``): the three stages of one stream, alone, on the synthetic noisy night clip at
720p and 1080p, in CPU ms per frame: H.264 decode (what an RTSP camera costs instead of the
test pattern), enhance (curve model + temporal, the default), encode (x264 veryfast crf 23 of
the *enhanced* frames, whose amplified noise costs more bits than the test pattern's clean ones).
docs/capacity.md turns these into streams per core.

    python benchmarks/scale.py [--streams 1,2,4] [--seconds 20] [--run-on auto|ray|threads] [--json out.json]
    python benchmarks/scale.py --only costs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def _load() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def run_streams(n: int, seconds: float, warmup: float, host: str, size: str, fps: int, cpus: float,
                output: str, device: str = "cpu") -> dict:
    from vidlle.scale.config import parse_config
    from vidlle.scale.service import Service

    with tempfile.TemporaryDirectory(prefix="vidlle-scale-bench-") as tmp:
        cams = [{"name": f"cam{i}", "source": f"testsrc:{size}@{fps}"} for i in range(n)]
        out = "rec/{name}.mkv" if output == "file" else "none"
        defaults = {"output": out, "num_cpus": min(1.0, cpus / n), "device": device}
        if device != "cpu":
            defaults["num_gpus"] = 1.0 / n  # every camera on the one GPU
        cfg = parse_config({"defaults": defaults, "cameras": cams}, base_dir=tmp)
        service = Service(cfg, host=host)
        service.start()
        try:
            deadline = time.time() + 180
            while True:
                rows = service.poll(wait=0.5)
                if all(r["state"] == "streaming" and r["frames"] > 0 for r in rows):
                    break
                if time.time() > deadline:
                    raise RuntimeError(f"streams did not start: {rows}")
                time.sleep(0.5)
            time.sleep(warmup)
            first = {r["name"]: r for r in service.poll(wait=2.0)}
            t0 = time.time()
            time.sleep(seconds)
            last = {r["name"]: r for r in service.poll(wait=2.0)}
            t1 = time.time()
        finally:
            service.stop()
    span = t1 - t0
    per = []
    for name, b in last.items():
        a = first[name]
        frames = b["frames"] - a["frames"]
        per.append({"name": name, "fps": frames / span, "drops_per_s": (b["drops"] - a["drops"]) / span,
                    "cpu_s": (b["cpu_s"] or 0) - (a["cpu_s"] or 0), "frames": frames,
                    "latency_ms": b["latency_ms"], "rss_mb": b.get("rss_mb")})
    frames = sum(p["frames"] for p in per)
    # Ray: one process per camera, so the sum is the cameras' CPU; threads: one shared process.
    cpu = sum(p["cpu_s"] for p in per) if service.host.name == "ray" else per[0]["cpu_s"]
    return {"streams": n, "host": service.host.name, "size": size, "source_fps": fps, "seconds": round(span, 1),
            "aggregate_fps": round(frames / span, 1), "per_stream_fps": [round(p["fps"], 1) for p in per],
            "drops_per_s": round(sum(p["drops_per_s"] for p in per), 1),
            "cores_busy": round(cpu / span, 2), "cpu_ms_per_frame": round(1000 * cpu / frames, 1) if frames else None,
            "latency_ms": [p["latency_ms"] for p in per], "rss_mb": [p["rss_mb"] for p in per], "device": device,
            "load": _load()}


def component_costs(size: str, frames: int = 60) -> dict:
    """CPU ms per frame of decode, enhance, encode for one stream (process CPU time, all threads)."""
    from fractions import Fraction

    import av

    from vidlle.api import Enhancer
    from vidlle.io.encode import rgb_to_i420
    from vidlle.io.synth import write_dark_clip

    width, height = {"720p": (1280, 720), "1080p": (1920, 1080)}[size]
    with tempfile.TemporaryDirectory(prefix="vidlle-cost-") as tmp:
        clip = Path(tmp) / "night.mp4"
        write_dark_clip(clip, width=width, height=height, frames=frames, fps=25, audio=False, crf=23)
        t = time.process_time()
        with av.open(str(clip)) as c:
            images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        decode = time.process_time() - t
        enh = Enhancer("curve", temporal=True)
        enh.enhance(images[0])  # warm-up (first call builds tables / sessions)
        t = time.process_time()
        out = [enh.enhance(img) for img in images]
        enhance = time.process_time() - t
        plain = Enhancer("curve", temporal=False)
        plain.enhance(images[0])
        t = time.process_time()
        for img in images:
            plain.enhance(img)
        enhance_plain = time.process_time() - t
        def encode_cpu(preset: str) -> float:
            t = time.process_time()
            with av.open(str(Path(tmp) / f"enc-{preset}.mkv"), "w") as o:
                s = o.add_stream("libx264", rate=25)
                s.width, s.height, s.pix_fmt = width, height, "yuv420p"
                s.options = {"crf": "23", "preset": preset}
                s.codec_context.time_base = Fraction(1, 25)
                for i, img in enumerate(out):
                    vf = av.VideoFrame.from_ndarray(rgb_to_i420(img), format="yuv420p")  # as io/encode does
                    vf.pts = i
                    for p in s.encode(vf):
                        o.mux(p)
                for p in s.encode():
                    o.mux(p)
            return time.process_time() - t

        encode = encode_cpu("veryfast")
        encode_ultrafast = encode_cpu("ultrafast")
    n = len(images)
    ms = {"decode": 1000 * decode / n, "enhance": 1000 * enhance / n, "encode": 1000 * encode / n}
    ms["total"] = sum(ms.values())
    ms["enhance_no_temporal"] = 1000 * enhance_plain / n
    ms["encode_ultrafast"] = 1000 * encode_ultrafast / n
    ms["total_no_temporal"] = ms["decode"] + ms["enhance_no_temporal"] + ms["encode"]
    return {"size": size, "frames": n, "backend": enh.backend.describe(), **{k: round(v, 1) for k, v in ms.items()},
            "streams_per_core_at_25fps": round(1000 / (25 * ms["total"]), 2),
            "streams_per_core_at_25fps_no_temporal": round(1000 / (25 * ms["total_no_temporal"]), 2), "load": _load()}


def testsrc_cost(size: str = "1280x720", fps: int = 25, seconds: float = 4.0) -> float:
    """CPU ms per frame of the virtual camera alone (generation + RGB conversion, nothing else)."""
    from vidlle.io.live import LiveSource

    src = LiveSource(f"testsrc:{size}@{fps}")
    src.open()
    t, c = time.time(), time.process_time()
    n0 = src.stats.frames_in
    for _ in src:
        if time.time() - t > seconds:
            break
    cpu, frames = time.process_time() - c, src.stats.frames_in - n0
    src.close()
    return round(1000 * cpu / max(1, frames), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=25, help="frame rate of each virtual camera")
    ap.add_argument("--run-on", dest="host", default="auto", choices=["auto", "ray", "threads"])
    ap.add_argument("--output", default="file", choices=["file", "none"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (part 1: where the cameras enhance)")
    ap.add_argument("--only", choices=["streams", "costs"])
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    from vidlle.heap import keep_freed_buffers

    keep_freed_buffers()  # as the CLI and the Ray workers do
    cpus = os.cpu_count() or 1
    print(f"machine: {platform.machine()}, {cpus} CPU cores, load {_load()} (1/5/15 min); "
          f"python {platform.python_version()}", flush=True)
    results: dict = {"cpus": cpus, "date": time.strftime("%Y-%m-%d"), "streams": [], "costs": []}
    if args.only in (None, "costs"):
        print("\nCPU ms per frame, one stream (temporal on = the default; off = --no-temporal / temporal: false):")
        print("| size | decode | enhance (temporal on / off) | encode veryfast (ultrafast) | total (on / off) | "
              "streams per core @25 fps (on / off) |")
        print("|---|---|---|---|---|---|")
        for size in ("720p", "1080p"):
            r = component_costs(size)
            results["costs"].append(r)
            print(f"| {size} | {r['decode']} | {r['enhance']} / {r['enhance_no_temporal']} | {r['encode']} "
                  f"({r['encode_ultrafast']}) | "
                  f"{r['total']} / {r['total_no_temporal']} | {r['streams_per_core_at_25fps']} / "
                  f"{r['streams_per_core_at_25fps_no_temporal']} |", flush=True)
        print(f"backend: {results['costs'][0]['backend']}")
        results["testsrc_720p_ms"] = testsrc_cost()
        print(f"virtual camera (testsrc:1280x720@25) alone: {results['testsrc_720p_ms']} CPU ms per frame "
              "(part 1's sources cost this instead of an H.264 decode)")
    if args.only in (None, "streams"):
        from vidlle.scale import init_ray, ray_available

        owns_ray = args.host != "threads" and ray_available() and init_ray()  # one instance for all runs
        print(f"\n{args.size} virtual cameras at {args.fps} fps, output {args.output}, {args.seconds:g} s each:")
        print("| streams | host | aggregate fps | per-stream fps | drops/s | cores busy | CPU ms/frame | "
              "MiB per camera | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n in [int(s) for s in args.streams.split(",")]:
            r = run_streams(n, args.seconds, args.warmup, args.host, args.size, args.fps, cpus, args.output,
                            args.device)
            results["streams"].append(r)
            rss = max((m for m in r["rss_mb"] if m is not None), default=None)
            print(f"| {n} | {r['host']} | {r['aggregate_fps']} | {', '.join(map(str, r['per_stream_fps']))} | "
                  f"{r['drops_per_s']} | {r['cores_busy']} | {r['cpu_ms_per_frame']} | {rss} | {r['load']} |",
                  flush=True)
        if owns_ray:
            import ray

            ray.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
