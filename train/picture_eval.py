"""Picture evaluation on real footage: what a night-camera user sees, per method.

    python -m train.picture_eval --out docs/eval/picture \\
        --method curve --method skf --method gamma --method clahe \\
        --method zero-dce++=published:data/official/zerodcepp.pth

Methods are ``train.evaluate``'s (``LABEL=KIND[:ARG]``; ``input`` is always the first row).
Every figure compares a method's output with its own input; no figure alone decides, and the
grids written next to the tables are there to be looked at.

* **Real clips** (``--videos``, default ../shared/data/video): every ``--every``-th frame,
  letterbox / pillarbox bars cropped (they would dilute every figure). Per clip: mean luma, global
  luma std and local contrast (7x7 RMS, :func:`train.metrics.local_contrast`), chroma
  (:func:`train.metrics.chroma_level`: mean |Cb-128|, |Cr-128|), clipped share (brightest channel
  >= 250, % of pixels) and the noise gain in flat dark regions. One before/after grid per clip.
* **Do no harm** (``--wellexposed``): PSNR(output, input) on well-exposed photographs (identical
  output counts as 60 dB), mean, minimum and share >= 30 dB.
* **Monochrome** (``--lowlight``, as gray): every dark-set image with R = G = B; the chroma of
  the output (must stay ~0).
* **Dark sets** (``--lowlight``): mean brightness per set (0..1) and noise gain.
* **Pairs by recipe** (the well-exposed images the SKF student held aside, every 4th): each
  :mod:`train.recipes` recipe darkens them (seeded); PSNR against the reference. ``crf`` and
  ``h264`` are held out from the student's training.

Writes ``picture.md``, ``picture.json`` and ``grid_<clip>.jpg`` (+ ``grid_photos.jpg``) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
import av
# isort: on
import numpy as np

from train import metrics
from train.data import list_images
from train.common import read_rgb
from train.evaluate import DEFAULT_SETS, SHARED, Sample, grid
from train.methods import Method, parse_method
from train.recipes import HELD_OUT_RECIPES, RECIPES, darken_with
from train.skf.data import split_files

PAIR_SEED = 5000


def crop_bars(frames: np.ndarray, level: int = 16) -> np.ndarray:
    """Crop rows/columns at the edges that stay below ``level`` in every frame: (N, H, W, 3)."""
    peak = frames.max(axis=(0, 3))
    rows, cols = np.flatnonzero(peak.max(axis=1) > level), np.flatnonzero(peak.max(axis=0) > level)
    if rows.size == 0 or cols.size == 0:
        return frames
    return frames[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def read_clip(path: Path, every: int) -> np.ndarray:
    """Every ``every``-th frame of a video as (N, H, W, 3) uint8 RGB, bars cropped."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % every == 0]
    return crop_bars(np.stack(frames))


def frame_figures(src: np.ndarray, out: np.ndarray) -> dict:
    noise = metrics.flat_dark_noise(src, out)
    return {"mean": float(metrics.luma(out).mean()), "std": metrics.luma_std(out),
            "local": metrics.local_contrast(out), "chroma": metrics.chroma_level(out),
            "clipped": metrics.clipped_share(out), "noise_gain": noise["gain"]}


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if np.isfinite(r[key])]
    return float(np.mean(values)) if values else float("nan")


def evaluate_clips(methods: dict[str, Method], videos: list[Path], every: int, out_dir: Path) -> dict:
    results: dict = {}
    for path in videos:
        frames = read_clip(path, every)
        clip = path.stem
        results[clip] = {}
        middle = len(frames) // 2
        shown: dict[str, dict[str, np.ndarray]] = {}
        for label, method in methods.items():
            t0 = time.time()
            outs = [method(f, f"{clip}/{i}") for i, f in enumerate(frames)]
            rows = [frame_figures(f, o) for f, o in zip(frames, outs)]
            results[clip][label] = {k: _mean(rows, k) for k in rows[0]}
            shown[label] = {clip: outs[middle]}
            print(f"{clip}: {label} {len(frames)} frames in {time.time() - t0:.0f} s", file=sys.stderr)
        # ~4000 px wide at most: a 2200-px-wide montage must not make a 13,000-px grid
        aspect = frames.shape[2] / frames.shape[1]
        image = grid([Sample(clip, frames[middle])], shown, height=min(240, int(4000 / (len(methods) * aspect))))
        cv2.imwrite(str(out_dir / f"grid_{clip}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 88])
    return results


def evaluate_photos(methods: dict[str, Method], wellexposed: Path, lowlight: Path, sets: list[str],
                    pairs: list[Path], recipes: list[str], out_dir: Path) -> dict:
    well = [Sample(f"well/{p.name}", read_rgb(p)) for p in list_images(wellexposed)]
    dark = [Sample(f"{s}/{p.name}", read_rgb(p)) for s in sets for p in list_images(lowlight / s)]
    refs = [read_rgb(p) for p in pairs]
    results: dict = {}
    shown: dict[str, dict[str, np.ndarray]] = {label: {} for label in methods}
    show_keys = {well[len(well) // 3].key, dark[0].key, "mono/" + dark[0].key}
    for label, method in methods.items():
        t0 = time.time()
        r: dict = {}
        psnrs = []
        for s in well:
            out = method(s.image, s.key)
            psnrs.append(min(60.0, metrics.psnr(out, s.image)) if not np.array_equal(out, s.image) else 60.0)
            if s.key in show_keys:
                shown[label][s.key] = out
        r["well_psnr_mean"], r["well_psnr_min"] = float(np.mean(psnrs)), float(np.min(psnrs))
        r["well_share_30"] = float(np.mean(np.array(psnrs) >= 30.0) * 100.0)
        mono_chroma, per_set = [], {}
        for s in dark:
            out = method(s.image, s.key)
            noise = metrics.flat_dark_noise(s.image, out)["gain"]
            per_set.setdefault(s.key.split("/")[0], []).append((metrics.mean_brightness(out), noise))
            gray = np.repeat(cv2.cvtColor(s.image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
            mono_out = method(gray, "mono/" + s.key)
            mono_chroma.append(metrics.chroma_level(mono_out))
            if s.key in show_keys:
                shown[label][s.key] = out
            if "mono/" + s.key in show_keys:
                shown[label]["mono/" + s.key] = mono_out
        r["mono_chroma"] = float(np.mean(mono_chroma))
        r["mono_chroma_max"] = float(np.max(mono_chroma))
        for name, vals in per_set.items():
            r[f"brightness_{name}"] = float(np.mean([b for b, _ in vals]))
        r["brightness_sets"] = float(np.mean([r[f"brightness_{name}"] for name in per_set]))
        r["noise_gain_sets"] = float(np.nanmean([n for vals in per_set.values() for _, n in vals]))
        for recipe in recipes:
            scores = []
            for i, ref in enumerate(refs):
                low = darken_with(recipe, ref, PAIR_SEED + i)
                scores.append(metrics.psnr(method(low, f"pairs-{recipe}/{i}"), ref))
            r[f"pairs_{recipe}"] = float(np.mean(scores))
        results[label] = r
        print(f"photos: {label} in {time.time() - t0:.0f} s", file=sys.stderr)
    samples = [s for s in well + dark if s.key in show_keys]
    samples += [Sample("mono/" + dark[0].key,
                       np.repeat(cv2.cvtColor(dark[0].image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2))]
    image = grid(samples, shown, height=200)
    cv2.imwrite(str(out_dir / "grid_photos.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    return results


def markdown(clips: dict, photos: dict, sets: list[str], recipes: list[str], command: str) -> str:
    def f(v, d=1):
        return "–" if not np.isfinite(v) else f"{v:.{d}f}"

    lines = [f"Command: `{command}`", ""]
    if clips:
        lines += ["### Real clips (every figure: mean over the sampled frames; bars cropped)", "",
                  "| clip | method | mean luma | luma std | local contrast | chroma | clipped % | noise gain |",
                  "|---|---|---|---|---|---|---|---|"]
        for clip, per in clips.items():
            for label, r in per.items():
                lines.append(f"| {clip} | {label} | {f(r['mean'])} | {f(r['std'])} | {f(r['local'], 2)} | "
                             f"{f(r['chroma'], 2)} | {f(r['clipped'], 2)} | {f(r['noise_gain'], 2)} |")
    if photos:
        lines += ["", "### Photos: do no harm, monochrome, dark sets", "",
                  "| method | well-exposed PSNR(out, in) mean / min dB | ≥ 30 dB | mono chroma mean / max | "
                  + " | ".join(f"brightness {s}" for s in sets) + " | brightness (mean of sets) | noise gain |",
                  "|---" * (6 + len(sets)) + "|"]
        for label, r in photos.items():
            lines.append(f"| {label} | {f(r['well_psnr_mean'])} / {f(r['well_psnr_min'])} | {f(r['well_share_30'], 0)} % | "
                         f"{f(r['mono_chroma'], 2)} / {f(r['mono_chroma_max'], 2)} | "
                         + " | ".join(f(r.get(f'brightness_{s}', float('nan')), 3) for s in sets)
                         + f" | {f(r['brightness_sets'], 3)} | {f(r['noise_gain_sets'], 2)} |")
        if recipes:
            lines += ["", "### Synthetic pairs by darkening recipe: PSNR dB against the reference "
                      f"(held out from the SKF student's training: {', '.join(HELD_OUT_RECIPES)})", "",
                      "| method | " + " | ".join(recipes) + " |", "|---" * (len(recipes) + 1) + "|"]
            for label, r in photos.items():
                lines.append(f"| {label} | " + " | ".join(f(r[f'pairs_{x}'], 2) for x in recipes) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", action="append", default=[], help="LABEL=KIND[:ARG], repeatable")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--videos", type=Path, default=SHARED / "video")
    ap.add_argument("--every", type=int, default=5, help="take every N-th frame of each clip")
    ap.add_argument("--wellexposed", type=Path, default=SHARED / "wellexposed")
    ap.add_argument("--lowlight", type=Path, default=SHARED / "lowlight")
    ap.add_argument("--sets", default=",".join(DEFAULT_SETS))
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma list; empty for no pairs")
    ap.add_argument("--holdout-every", type=int, default=4,
                    help="pairs: the well-exposed images the SKF split holds aside (as train.skf.student)")
    ap.add_argument("--no-clips", action="store_true")
    ap.add_argument("--no-photos", action="store_true")
    args = ap.parse_args(argv)

    methods: dict[str, Method] = dict([parse_method("input")])
    methods.update(parse_method(m) for m in args.method)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = [s for s in args.sets.split(",") if s]
    recipes = [r for r in args.recipes.split(",") if r]
    clips = {} if args.no_clips else evaluate_clips(
        methods, sorted(args.videos.glob("*.mp4")), args.every, args.out)
    pairs = split_files([args.wellexposed], args.holdout_every)[1]
    photos = {} if args.no_photos else evaluate_photos(
        methods, args.wellexposed, args.lowlight, sets, pairs, recipes, args.out)
    command = "python -m train.picture_eval " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(clips, photos, sets, recipes, command)
    (args.out / "picture.md").write_text(table)
    (args.out / "picture.json").write_text(json.dumps({"clips": clips, "photos": photos}, indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
