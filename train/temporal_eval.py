"""Temporal benchmark: flicker, static noise, ghosting and light-step settling, temporal on vs off.

    python -m train.temporal_eval [--video ../shared/data/video/starlight_submillilux_montage.mp4] [--model skf]

Clips:

* ``street`` — synthetic 640x360 night street (static lamp-lit background, a car crossing) with
  per-frame Poisson–Gaussian-like sensor noise; the clean frames are known, so "still" and
  "moving" pixels are exact.
* ``light-step`` — the same street with the lighting doubled from frame 20 (a lamp switched on).
* ``still`` — the street's first frame held still (a fixed camera, nothing moving) with fresh
  sensor noise every frame: temporal processing must not make its mean brightness wander more
  than per-frame enhancement does (flicker), and should remove most of the noise.
* ``starlight`` — the real sub-millilux clip from ../shared/data/video, darkened by
  :func:`train.degrade.darken_video` (one exposure/noise setting for the clip, fresh noise per
  frame); "still" is where the original clip's blurred frame difference is small.

Metrics, each for ``--no-temporal`` (per-frame enhancement) and ``--temporal``:

* flicker — mean |Δ| of the frame's mean brightness between consecutive frames (8-bit units);
* static noise — mean |Δ| of pixels between consecutive output frames where the input is still;
* ghosting — mean |temporal − per-frame| where the input moved, relative to per-frame brightness
  there (0.05 = 5 %);
* settle — frames after the light step until the temporal output's mean brightness is within 2 %
  of per-frame enhancement (and stays there).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
import av
# isort: on
import numpy as np

from train.degrade import darken_video
from vidlle import Enhancer
from vidlle.io.synth import night_frame
from vidlle.temporal import TemporalConfig

SHARED_VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "starlight_submillilux_montage.mp4"


def street(frames: int, light_step: int | None, seed: int, size=(360, 640), noise: float = 2.5,
           still: bool = False):
    """(noisy frames, clean frames) uint8 RGB; noise grows with signal like shot noise.

    still: every clean frame is the first one (nothing moves), only the noise is fresh.
    """
    rng = np.random.default_rng(seed)
    clean, noisy = [], []
    for i in range(frames):
        gain = 2.0 if light_step is not None and i >= light_step else 1.0
        base = night_frame(0 if still else i, size[0], size[1], rng, noise=0.0).astype(np.float32) * gain
        sigma = np.sqrt(noise ** 2 + 0.3 * base)
        clean.append(np.clip(base + 0.5, 0, 255).astype(np.uint8))
        noisy.append(np.clip(base + rng.normal(0, 1, base.shape) * sigma + 0.5, 0, 255).astype(np.uint8))
    return noisy, clean


def read_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def motion_masks(clean: list[np.ndarray], threshold: float) -> list[np.ndarray]:
    """Per frame i >= 1: True where the (clean or reference) input changed since frame i-1."""
    masks = [np.zeros(clean[0].shape[:2], bool)]
    for a, b in zip(clean, clean[1:]):
        d = cv2.blur(cv2.absdiff(a, b).max(axis=2).astype(np.float32), (5, 5))
        masks.append(cv2.dilate((d > threshold).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    return masks


def enhance_clip(frames, temporal: bool, model: str = "curve",
                 config: TemporalConfig = TemporalConfig()) -> list[np.ndarray]:
    enh = Enhancer(model, backend="torch", temporal=temporal, temporal_config=config)
    return [enh.enhance(f) for f in frames]


def measure(frames, masks, light_step=None, model: str = "curve", config: TemporalConfig = TemporalConfig()) -> dict:
    per = enhance_clip(frames, temporal=False, model=model)
    tem = enhance_clip(frames, temporal=True, model=model, config=config)
    still = [~m for m in masks]
    out = {}
    for name, outs in (("per-frame", per), ("temporal", tem)):
        means = np.array([o.mean() for o in outs])
        steady = [i for i in range(1, len(outs)) if light_step is None or i != light_step]
        flicker = float(np.mean(np.abs(np.diff(means))[[i - 1 for i in steady]]))
        noise = float(np.mean([np.abs(outs[i].astype(np.float32) - outs[i - 1])[still[i] & still[i - 1]].mean()
                               for i in steady if (still[i] & still[i - 1]).any()]))
        out[name] = {"flicker": flicker, "static_noise": noise}
    ghost = []
    for i in range(1, len(frames)):
        m = masks[i]
        if m.sum() > 50 and i != light_step:
            ghost.append(np.abs(tem[i].astype(np.float32) - per[i])[m].mean() / max(per[i][m].mean(), 1.0))
    out["temporal"]["ghosting"] = float(np.mean(ghost)) if ghost else float("nan")
    if light_step is not None:
        rel = [abs(t.mean() - p.mean()) / p.mean() for t, p in zip(tem, per)]
        settle = next(k for k in range(len(rel) - light_step) if all(r < 0.02 for r in rel[light_step + k:]))
        out["temporal"]["settle_frames"] = settle
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=SHARED_VIDEO)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="curve", help="registry model (curve, skf)")
    defaults = TemporalConfig()
    # The denoiser's knobs, for tuning them against these metrics (see TemporalConfig).
    ap.add_argument("--still-weight", type=float, default=defaults.still_weight)
    ap.add_argument("--motion-low", type=float, default=defaults.motion_low)
    ap.add_argument("--motion-high", type=float, default=defaults.motion_high)
    ap.add_argument("--between-weight", type=float, default=defaults.between_weight)
    args = ap.parse_args(argv)
    model = args.model
    config = replace(defaults, still_weight=args.still_weight, motion_low=args.motion_low,
                     motion_high=args.motion_high, between_weight=args.between_weight)

    results = {}
    noisy, clean = street(args.frames, None, args.seed)
    results["street"] = measure(noisy, motion_masks(clean, 2.0), model=model, config=config)
    noisy, clean = street(args.frames, 20, args.seed + 1)
    results["light-step"] = measure(noisy, motion_masks(clean, 2.0), light_step=20, model=model, config=config)
    noisy, clean = street(args.frames, None, args.seed + 2, still=True)
    results["still"] = measure(noisy, motion_masks(clean, 2.0), model=model, config=config)
    if args.video.exists():
        original = read_video(args.video)
        dark, params = darken_video(original, args.seed)
        results["starlight"] = measure(list(dark), motion_masks(original, 12.0), model=model, config=config)
        print(f"starlight darkened with {params}", file=sys.stderr)

    lines = ["| clip | flicker off → on | static noise off → on (change) | ghosting | settle (frames) |",
             "|---|---|---|---|---|"]
    for clip, r in results.items():
        off, on = r["per-frame"], r["temporal"]
        change = 100.0 * (on["static_noise"] / off["static_noise"] - 1.0)
        settle = on.get("settle_frames", "–")
        ghosting = "–" if np.isnan(on["ghosting"]) else f"{100 * on['ghosting']:.1f} %"  # nothing moves
        lines.append(f"| {clip} | {off['flicker']:.3f} → {on['flicker']:.3f} | {off['static_noise']:.2f} → "
                     f"{on['static_noise']:.2f} ({change:+.0f} %) | {ghosting} | {settle} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
