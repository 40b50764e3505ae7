"""What an enhanced recording costs on disk: `vidlle enhance` against a bare transcode of the same clip.

    python benchmarks/storage.py                          # the dark clips of ../shared/data/video
    python benchmarks/storage.py --clip night.mp4 --model skf --denoise 0 --denoise 1

Both sides encode with the same settings (libx264 veryfast crf 23, yuv420p, as
`benchmarks/throughput.py`): the bare side decodes and re-encodes the input as it is; vidlle
enhances it with its defaults (temporal on) and each ``--denoise`` strength asked for. Amplified
sensor noise is what x264 spends its bits on, so the size ratio is the denoiser's cost in disk
for a 24/7 camera; the CPU ms per frame of the whole process is printed too (x264 works harder on
a noisy picture). One run each; sizes are deterministic, the CPU figures are noisy on a shared
machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import resource
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import ENCODER, bare_transcode  # noqa: E402  (a sibling script, not a package)

SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
# The real clips whose mean brightness is night-dark (the others are exposed: vidlle leaves them).
DARK_CLIPS = ("c_dashcam_highway_night.mp4", "d_dark_yard_static_cam.mp4")


def enhance(src: Path, dst: Path, model: str, denoise: float) -> None:
    """Run `vidlle enhance` with defaults (+ model, denoise) in a child process."""
    cmd = [sys.executable, "-m", "vidlle", "enhance", str(src), str(dst), "-y", "--quiet", "--model", model,
           "--codec", ENCODER["codec"], "--crf", ENCODER["crf"], "--preset", ENCODER["preset"],
           "--denoise", str(denoise)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"storage: {' '.join(cmd)} failed: {proc.stderr.strip()[-400:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, action="append", default=[], help="video file (repeatable)")
    ap.add_argument("--model", default="curve")
    ap.add_argument("--denoise", type=float, action="append", default=[],
                    help="denoise strengths to record (repeatable; default: 1 = the default, and 0 = off)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    clips = args.clip or [SHARED_VIDEO / c for c in DARK_CLIPS if (SHARED_VIDEO / c).is_file()]
    if not clips:
        raise SystemExit("storage: no clips (give --clip, or run from a checkout beside ../shared)")
    strengths = args.denoise or [1.0, 0.0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidlle-storage-") as tmp_name:
        tmp = Path(tmp_name)
        for clip in clips:
            bare = bare_transcode(str(clip), str(tmp / "bare.mp4"))
            row = {"clip": clip.name, "frames": bare["frames"], "bare_bytes": (tmp / "bare.mp4").stat().st_size,
                   "bare_cpu_ms": bare["steady_cpu_ms"], "vidlle": {}}
            for s in strengths:
                # RUSAGE_CHILDREN accumulates over every child: the difference is this run's
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                dst = tmp / f"vidlle_{s:g}.mp4"
                enhance(clip, dst, args.model, s)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000.0 / bare["frames"]
                row["vidlle"][f"{s:g}"] = {"bytes": dst.stat().st_size, "cpu_ms": cpu}
                print(f"storage: {clip.name} --denoise {s:g}: {dst.stat().st_size / row['bare_bytes']:.2f}x",
                      file=sys.stderr, flush=True)
            rows.append(row)
    print(f"\nmodel {args.model}, defaults (temporal on); encoder {ENCODER['codec']} {ENCODER['preset']} "
          f"crf {ENCODER['crf']} on both sides")
    print("| clip | frames | bare transcode | " + " | ".join(f"vidlle --denoise {s:g}" for s in strengths) + " |")
    print("|---|---|---|" + "---|" * len(strengths))
    for r in rows:
        cells = [f"{v['bytes'] / 1e6:.2f} MB = {v['bytes'] / r['bare_bytes']:.2f}x, {v['cpu_ms']:.0f} ms/frame"
                 for v in r["vidlle"].values()]
        print(f"| {r['clip']} | {r['frames']} | {r['bare_bytes'] / 1e6:.2f} MB, {r['bare_cpu_ms']:.0f} ms/frame | "
              + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "encoder": ENCODER, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
