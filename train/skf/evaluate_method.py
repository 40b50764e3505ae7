"""The SKF ablations' own evaluation: per-class colour-histogram distance and PSNR on pairs.

The methods (``skf``: the student through the inference path; ``skf-teacher``: a teacher
checkpoint) are in :mod:`train.methods`, shared with ``python -m train.evaluate``.

The semantic ablation is judged by per-class colour-histogram distance as well as PSNR; the
harness has no such metric, so this module's CLI computes both on synthetic pairs::

    python -m train.skf.evaluate_method --pairs runs/skf_holdout --out runs/eval_skf_sch.json \
        --method skf=skf:runs/skf.pt --method plainT=skf:runs/skf_plainT.pt --method curve

(``--method`` as in ``train.evaluate``.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from train import metrics
from train.common import read_rgb
from train.data import list_images
from train.degrade import darken_seeded
from train.methods import parse_method
from train.skf.common import load_segmenter_prior
from train.skf.data import PAIR_SEED
from train.skf.losses import class_histograms, segment_masks
from vidlle.models.segment import class_names_for


# ----------------------------------------------------------------------------------------------
# Per-class SCH distance + PSNR on synthetic pairs
# ----------------------------------------------------------------------------------------------

def class_sch(out: np.ndarray, ref: np.ndarray, prior, bins: int = 64, size: int = 512,
              min_fraction: float = 0.01) -> dict[int, float]:
    """Per-class colour-histogram distance between ``out`` and ``ref`` ((H, W, 3) uint8).

    Classes come from the segmenter on the reference. Each class's histograms are normalised to
    its own area, so the distance (L1 summed over the 3 channels, 0..6) does not depend on the
    class's size. Images are area-downscaled to a long side of ``size`` first (the soft-binning
    tensor is 3 x H x W x bins). Returns {class index: distance} for classes covering at least
    ``min_fraction`` of the image.
    """
    def tensor(img):
        x = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        if size and max(x.shape[-2:]) > size:
            scale = size / max(x.shape[-2:])
            hw = (max(1, round(x.shape[-2] * scale)), max(1, round(x.shape[-1] * scale)))
            x = torch.nn.functional.interpolate(x, size=hw, mode="area")
        return x

    o, r = tensor(out), tensor(ref)
    with torch.no_grad():
        masks = segment_masks(prior.logits(r))
        area = masks.mean(dim=(2, 3))[0]  # (K,)
        h_o, h_r = class_histograms(o, masks, bins)[0], class_histograms(r, masks, bins)[0]  # (K, 3, B)
        dist = (h_o - h_r).abs().sum(dim=(1, 2)) / area.clamp_min(1e-12)
    return {int(k): float(dist[k]) for k in torch.nonzero(area >= min_fraction).flatten()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", action="append", required=True, help="LABEL=KIND[:ARG], repeatable")
    ap.add_argument("--pairs", type=Path, required=True, help="folder of well-exposed references")
    ap.add_argument("--pair-seed", type=int, default=PAIR_SEED)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seg-weights")
    ap.add_argument("--bins", type=int, default=64)
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    prior, _ = load_segmenter_prior(args.seg_weights, torch.device("cpu"))
    names = class_names_for(prior.num_classes)
    refs = [read_rgb(p) for p in list_images(args.pairs)[: args.limit]]
    darks = [darken_seeded(ref, args.pair_seed + i)[0] for i, ref in enumerate(refs)]
    results = {}
    for label, method in (parse_method(m) for m in args.method):
        psnrs, per_class = [], {}
        for i, (dark, ref) in enumerate(zip(darks, refs)):
            out = method(dark, f"pairs/{i}")
            psnrs.append(metrics.psnr(out, ref, min_mse=1e-10))
            for k, d in class_sch(out, ref, prior, args.bins).items():
                per_class.setdefault(names[k], []).append(d)
        results[label] = {
            "psnr": float(np.mean(psnrs)),
            "sch_mean": float(np.mean([d for ds in per_class.values() for d in ds])) if per_class else float("nan"),
            "sch_per_class": {c: {"mean": float(np.mean(ds)), "images": len(ds)} for c, ds in sorted(per_class.items())},
        }
        print(f"{label}: PSNR {results[label]['psnr']:.2f} dB, per-class SCH distance "
              f"{results[label]['sch_mean']:.3f} over {len(refs)} pairs")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
