"""Evaluation harness: score enhancement methods on real low-light sets and synthetic pairs.

    python -m train.evaluate --out docs/eval \\
        --method ours=curve --method gamma --method clahe \\
        --method zero-dce++=published:/work/data/official/zerodcepp.pth \\
        --method sgz=published:/work/data/official/sgz.pth \\
        --method other=dir:path/to/their/outputs

Methods (``LABEL=KIND[:ARG]``; LABEL defaults to KIND):

* ``input`` — the unprocessed image (reference row).
* ``curve[:WEIGHTS]`` — our curve model through the product path (``vidlle.Enhancer``, torch
  backend, LUT apply), shipped weights or a weights file.
* ``published:PTH`` — Zero-DCE++ / SGZ published weights (:mod:`train.official`).
* ``gamma`` — global gamma chosen per image so that mean luma becomes 0.5.
* ``clahe`` — CLAHE on L* of Lab (clip 2.0, 8x8 tiles).
* ``dir:FOLDER`` — already-enhanced outputs of any other method, found as
  ``FOLDER/<set>/<stem>.*`` (or ``FOLDER/<stem>.*``).

Data: the unpaired sets ``--lowlight/{DICM,LIME,MEF,NPE}``, synthetic pairs made from
``--pairs`` (well-exposed references) by :func:`train.degrade.darken_seeded` with seed
``--pair-seed + index`` (the recipe is documented there), and captured pairs ``--real-pairs``
(``DIR/low`` + ``DIR/normal``; LOL v1's eval15 split is the standard one, scored also after
scaling each output to the reference's mean gray, "GT-mean"). Metrics (:mod:`train.metrics`): NIQE
(lower is better), mean brightness, noise σ of the output in flat dark regions of the input (8-bit
units) and its gain over the input's, paired PSNR/SSIM and colour cast (mean |Δa*|, |Δb*| against the
reference), per-image time. Writes ``results.md``, ``results.json`` and ``grid.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from train import metrics
from train.common import read_rgb
from train.data import list_images
from train.degrade import darken_seeded
from train.methods import Method, parse_method

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_SETS = ("DICM", "LIME", "MEF", "NPE")

@dataclass
class Sample:
    """One evaluation image: ``key`` is ``set/filename``; ``ref`` is set for synthetic pairs."""

    key: str
    image: np.ndarray
    ref: np.ndarray | None = None


def load_sets(root: Path, sets: list[str], limit: int | None) -> list[Sample]:
    samples = []
    for name in sets:
        for path in list_images(root / name)[:limit]:
            samples.append(Sample(f"{name}/{path.name}", read_rgb(path)))
    return samples


def load_pairs(root: Path, seed: int, limit: int | None) -> list[Sample]:
    samples = []
    for i, path in enumerate(list_images(root)[:limit]):
        ref = read_rgb(path)
        dark, _ = darken_seeded(ref, seed + i)
        samples.append(Sample(f"pairs/{path.relative_to(root).as_posix()}", dark, ref))
    return samples


def load_real_pairs(root: Path, limit: int | None) -> list[Sample]:
    """Captured pairs ``root/low/NAME`` + ``root/normal/NAME`` (e.g. LOL v1's eval15 split)."""
    lows = list_images(root / "low")[:limit] if (root / "low").is_dir() else []
    samples = [Sample(f"real/{p.name}", read_rgb(p), read_rgb(root / "normal" / p.name))
               for p in lows if (root / "normal" / p.name).is_file()]
    if not samples:
        raise SystemExit(f"--real-pairs {root}: no low/NAME + normal/NAME pairs")
    return samples


def gt_mean(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``out`` scaled so that its mean gray matches the reference's (the "GT-mean" protocol of
    LOL papers: it scores structure and colour without the exposure choice)."""
    scale = metrics.mean_brightness(ref) / max(metrics.mean_brightness(out), 1e-6)
    return np.clip(np.rint(out.astype(np.float64) * scale), 0, 255).astype(np.uint8)


def score(sample: Sample, out: np.ndarray, seconds: float, with_niqe: bool) -> dict:
    noise = metrics.flat_dark_noise(sample.image, out)
    row = {
        "key": sample.key,
        "brightness": metrics.mean_brightness(out),
        "noise_sigma": noise["sigma_out"],
        "noise_gain": noise["gain"],
        "ms": 1000.0 * seconds,
    }
    if with_niqe:
        row["niqe"] = metrics.niqe(out)
    if sample.ref is not None:
        da, db = metrics.colour_cast(out, sample.ref)
        row.update(psnr=metrics.psnr(out, sample.ref), ssim=metrics.ssim(out, sample.ref), da=da, db=db)
        if sample.key.startswith("real/"):
            fair = gt_mean(out, sample.ref)
            row.update(psnr_gtmean=metrics.psnr(fair, sample.ref), ssim_gtmean=metrics.ssim(fair, sample.ref))
    return row


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
    return float(np.mean(values)) if values else float("nan")


def summarise(results: dict[str, dict[str, list[dict]]]) -> dict:
    """{method: {set: {metric: mean}}}"""
    return {
        m: {s: {k: _mean(rows, k) for k in ("niqe", "brightness", "noise_sigma", "noise_gain", "ms",
                                              "psnr", "ssim", "da", "db", "psnr_gtmean", "ssim_gtmean")}
            for s, rows in per_set.items()}
        for m, per_set in results.items()
    }


def markdown(summary: dict, sets: list[str], command: str) -> str:
    def fmt(v, digits=2):
        return "–" if not np.isfinite(v) else f"{v:.{digits}f}"

    methods = list(summary)
    lines = [f"Command: `{command}`"]
    if sets:
        lines += ["", "### NIQE (lower is better) on the real low-light sets", "",
                  "| method | " + " | ".join(sets) + " | mean | brightness | noise σ (gain) | ms/img |",
                  "|---" * (len(sets) + 5) + "|"]
    for m in methods if sets else ():
        per = summary[m]
        real = [per[s] for s in sets if s in per]
        niqe_vals = [per[s]["niqe"] for s in sets if s in per]
        lines.append(
            f"| {m} | " + " | ".join(fmt(per[s]["niqe"]) for s in sets if s in per)
            + f" | {fmt(float(np.mean(niqe_vals)))}"
            + f" | {fmt(np.mean([r['brightness'] for r in real]), 3)}"
            + f" | {fmt(np.nanmean([r['noise_sigma'] for r in real]))} ({fmt(np.nanmean([r['noise_gain'] for r in real]))}×)"
            + f" | {fmt(np.mean([r['ms'] for r in real]), 1)} |")
    # Paired groups: (group, heading, (column title, metric, digits) between PSNR/SSIM and the rest)
    paired = (
        ("pairs", "Synthetic pairs (well-exposed references darkened by `train.degrade`)",
         (("mean abs Δa*", "da", 2), ("mean abs Δb*", "db", 2))),
        ("real", "Real pairs (captured low / normal exposures)",
         (("GT-mean PSNR dB", "psnr_gtmean", 2), ("GT-mean SSIM", "ssim_gtmean", 3))),
    )
    for group, heading, extra in paired:
        if not any(group in summary[m] for m in methods):
            continue
        lines += ["", f"### {heading}", "",
                  "| method | PSNR dB | SSIM | " + " | ".join(t for t, _, _ in extra)
                  + " | brightness | noise σ (gain) | ms/img |", "|---" * (6 + len(extra)) + "|"]
        for m in methods:
            p = summary[m].get(group)
            if p:
                lines.append(f"| {m} | {fmt(p['psnr'])} | {fmt(p['ssim'], 3)} | "
                             + " | ".join(fmt(p[k], d) for _, k, d in extra)
                             + f" | {fmt(p['brightness'], 3)} | {fmt(p['noise_sigma'])} ({fmt(p['noise_gain'])}×)"
                             f" | {fmt(p['ms'], 1)} |")
    return "\n".join(lines) + "\n"


def grid(samples: list[Sample], outputs: dict[str, dict[str, np.ndarray]], height: int = 180) -> np.ndarray:
    """Rows: samples; columns: input then each method (thumbnails ``height`` px tall, labelled)."""
    rows = []
    for s in samples:
        tiles = []
        columns = [(m, outs[s.key]) for m, outs in outputs.items()]
        if "input" not in outputs:
            columns.insert(0, ("input", s.image))
        for label, img in columns:
            w = max(1, round(img.shape[1] * height / img.shape[0]))
            tile = cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", action="append", required=True, help="LABEL=KIND[:ARG], repeatable")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--lowlight", type=Path, default=SHARED / "lowlight")
    ap.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma list; empty for none")
    ap.add_argument("--pairs", type=Path, default=SHARED / "wellexposed", help="reference folder; 'none' to skip")
    ap.add_argument("--pair-seed", type=int, default=1000)
    ap.add_argument("--real-pairs", type=Path,
                    help="captured pairs DIR/low + DIR/normal, e.g. LOL v1's eval15 (dataset/test)")
    ap.add_argument("--limit", type=int, default=None, help="first N images per set (quick runs)")
    ap.add_argument("--pair-niqe", action="store_true", help="also NIQE on the synthetic pairs (slow)")
    ap.add_argument("--grid-per-set", type=int, default=1)
    ap.add_argument("--include", type=Path, action="append", default=[],
                    help="results.json of an earlier run on the same data: its methods join the table "
                         "(rows are listed first; images and seeds must match)")
    args = ap.parse_args(argv)

    methods = [parse_method(m) for m in args.method]
    sets = [s for s in args.sets.split(",") if s]
    samples = load_sets(args.lowlight, sets, args.limit)
    if str(args.pairs) != "none":
        samples += load_pairs(args.pairs, args.pair_seed, args.limit)
    if args.real_pairs:
        samples += load_real_pairs(args.real_pairs, args.limit)
    grid_keys = []
    for group in sets + (["pairs"] if str(args.pairs) != "none" else []) + (["real"] if args.real_pairs else []):
        grid_keys += [s.key for s in samples if s.key.startswith(group + "/")][: args.grid_per_set]

    results: dict[str, dict[str, list[dict]]] = {}
    grid_outputs: dict[str, dict[str, np.ndarray]] = {}
    for label, method in methods:
        per_set: dict[str, list[dict]] = {}
        grid_outputs[label] = {}
        t_label = time.time()
        for n, sample in enumerate(samples, 1):
            t0 = time.perf_counter()
            out = method(sample.image, sample.key)
            dt = time.perf_counter() - t0
            group = sample.key.split("/", 1)[0]
            per_set.setdefault(group, []).append(score(sample, out, dt, group not in ("pairs", "real") or args.pair_niqe))
            if sample.key in grid_keys:
                grid_outputs[label][sample.key] = out
            print(f"\r{label}: {n}/{len(samples)} {sample.key[:40]:40s}", end="", file=sys.stderr, flush=True)
        print(f"\r{label}: {len(samples)} images in {time.time() - t_label:.0f} s" + " " * 40, file=sys.stderr)
        results[label] = per_set

    summary = {}
    for earlier in args.include:
        summary.update(json.loads(earlier.read_text())["summary"])
    summary.update(summarise(results))
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m train.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(summary, sets, command)
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps({"summary": summary, "per_image": results}, indent=1))
    grid_samples = [s for s in samples if s.key in grid_keys]
    cv2.imwrite(str(args.out / "grid.png"), cv2.cvtColor(grid(grid_samples, grid_outputs), cv2.COLOR_RGB2BGR))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
