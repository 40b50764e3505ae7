"""Train the curve model without reference images.

    python -m train.curve --data DIR --out runs/curve --iters 3000
    python -m train.curve --data DIR --out runs/curve --resume          # continue from last.pt
    python -m train.curve --out runs/curve --export vidlle/models/weights/curve.pt

Each batch: crops of ``--size`` pixels are downscaled to the predictor's input size exactly as at
inference (long side ``predict_size``), the predicted map is applied to the full crop by the
reference apply step (hue preserving, one gain per pixel, the map blended with its frame mean by
``--local``), and the zero-reference losses are computed on the full crop. Only dark images
(mean luma <= ``--max-luma``) train the curve: at inference the exposure gate
(:mod:`vidlle.exposure`) leaves well-exposed frames alone, so the network need not learn it. The
colour-constancy term defaults to 0: a hue-preserving apply cannot change a hue, and the grey-world
prior was what coloured monochrome IR frames with the per-channel apply.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from train.common import add_local_option, add_run_options, git_commit, predictor_input, seed_everything
from train.data import ImageFolder
from train.losses import ZeroReferenceLoss, semantic_focal_loss
from vidlle.models import load_model
from vidlle.models.curve import CurveConfig, CurveNet
from vidlle.models.segment import find_seg_weights, load_segmenter


class SemanticGuidance:
    """SGZ's semantic term: a frozen ESPNetv2 segments the enhanced crop; focal loss on its confidence.

    The segmenter's weights never change (``requires_grad`` off, eval-mode batch norm); only the
    gradient with respect to its *input* reaches the curve model.
    """

    def __init__(self, weights: str | None, weight: float, device: torch.device, size: int, images: int):
        self.path = find_seg_weights(weights)
        self.segmenter, self.classes = load_segmenter(self.path, device=device)
        self.weight, self.size, self.images = weight, size, images

    def __call__(self, enhanced: torch.Tensor) -> torch.Tensor:
        # ESPNetv2 costs ~50x the curve model: on CPU the term is computed on the first
        # ``images`` crops of the batch, area-downscaled to ``size`` pixels (the focal term is a
        # per-pixel mean, so a subset and a smaller view estimate the same quantity).
        x = enhanced[: self.images]
        if self.size and self.size < x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return semantic_focal_loss(self.segmenter(x))


def train_step(model, criterion, batch, optimizer, predict_size: int, clip: float,
               semantic: SemanticGuidance | None = None):
    r = model(predictor_input(batch, predict_size))
    enhanced = model.apply(batch, r)
    loss, parts = criterion(enhanced, batch, r)
    if semantic is not None:
        sem = semantic(enhanced)
        loss = loss + semantic.weight * sem
        parts["sem"] = float(sem.detach())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return float(loss.detach()), parts


def export(ckpt_path: Path, dest: Path) -> None:
    """Write the shipped-weights format ({config, state_dict}) and its JSON training record."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": ckpt["config"], "state_dict": ckpt["model"]}, dest)
    dest.with_suffix(".json").write_text(json.dumps(ckpt["record"], indent=2) + "\n")
    print(f"exported {ckpt_path} -> {dest} ({dest.stat().st_size} bytes)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="folder of (low-light) training images")
    add_run_options(ap, iters=3000, size=256, lr=1e-3, save_every=250, size_help="training crop size",
                    export_help="only export OUT/last.pt to this weights file")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--width", type=int, default=CurveConfig.width)
    ap.add_argument("--curve-steps", type=int, default=CurveConfig.steps)
    ap.add_argument("--predict-size", type=int, default=CurveConfig.predict_size)
    add_local_option(ap)
    ap.add_argument("--max-luma", type=float, default=0.3,
                    help="train on images whose mean luma (0..1) is at most this; 1 for all")
    ap.add_argument("--sem-weight", type=float, default=0.1,
                    help="weight of SGZ's semantic loss (0 disables it and the segmenter)")
    ap.add_argument("--sem-size", type=int, default=0, help="segment a downscaled view (pixels; 0 = full crop)")
    ap.add_argument("--sem-images", type=int, default=0, help="segment only the first N crops of a batch (0 = all)")
    ap.add_argument("--exposure-level", type=float, default=0.6)
    ap.add_argument("--exposure-patch", type=int, default=16, help="side of the exposure loss's regions (pixels)")
    ap.add_argument("--init", type=Path, help="start from these curve weights (e.g. the shipped ones; their architecture overrides --width etc.)")
    ap.add_argument("--w-spa", type=float, default=1.0)
    ap.add_argument("--w-col", type=float, default=0.0)
    ap.add_argument("--w-exp", type=float, default=10.0)
    ap.add_argument("--w-tv", type=float, default=1600.0)
    args = ap.parse_args(argv)

    if args.export:
        export(args.out / "last.pt", args.export)
        return 0
    if args.data is None:
        ap.error("--data is required for training")

    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = CurveConfig(width=args.width, steps=args.curve_steps, predict_size=args.predict_size, local=args.local)
    if args.init:
        model, config = load_model("curve", args.init)
        config = CurveConfig(**{**asdict(config), "local": args.local})
        model.config = config
        model = model.train().to(device)
    else:
        model = CurveNet(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    criterion = ZeroReferenceLoss(w_spa=args.w_spa, w_col=args.w_col, w_exp=args.w_exp, w_tv=args.w_tv,
                                  exposure_level=args.exposure_level, exposure_patch=args.exposure_patch)
    semantic = SemanticGuidance(args.seg_weights, args.sem_weight, device, args.sem_size,
                                args.sem_images or args.batch) if args.sem_weight > 0 else None
    start = 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.resume:
        ckpt = torch.load(args.out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = ckpt["iter"]
        torch.set_rng_state(ckpt["rng"])

    dataset = ImageFolder(args.data, size=args.size, limit=args.limit, max_luma=args.max_luma)
    generator = torch.Generator().manual_seed(args.seed + start)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True, generator=generator)
    record = {
        "model": "curve",
        "config": asdict(config),
        "data": str(args.data),
        "images": len(dataset),
        "max_luma": args.max_luma,
        "crop": args.size,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "losses": {"spa": criterion.w_spa, "col": criterion.w_col, "exp": criterion.w_exp, "tv": criterion.w_tv,
                   "exposure_level": criterion.exposure_level, "exposure_patch": criterion.exposure_patch,
                   "sem": semantic.weight if semantic else 0.0},
        "segmenter": semantic.path.name if semantic else None,
        "semantic_view": {"size": args.sem_size, "images": args.sem_images or args.batch} if semantic else None,
        "init": str(args.init) if args.init else None,
        "device": str(device),
        "commit": git_commit(),
    }
    log = open(args.out / "log.jsonl", "a")
    it, t0, ema = start, time.time(), None
    while it < args.iters:
        for batch in loader:
            if it >= args.iters:
                break
            loss, parts = train_step(model, criterion, batch.to(device), optimizer, config.predict_size, 0.1, semantic)
            it += 1
            ema = loss if ema is None else 0.98 * ema + 0.02 * loss
            log.write(json.dumps({"iter": it, "loss": loss, **parts}) + "\n")
            if it % 10 == 0 or it == args.iters:
                rate = (it - start) / (time.time() - t0)
                eta = (args.iters - it) / max(rate, 1e-9)
                print(f"\rtrain {it}/{args.iters} loss {ema:.4f} {rate:.2f} it/s eta {eta/60:.1f} min", end="", file=sys.stderr, flush=True)
            if it % args.save_every == 0 or it == args.iters:
                record.update(iters=it, final_loss_ema=ema)
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iter": it,
                            "rng": torch.get_rng_state(), "config": asdict(config), "record": record},
                           args.out / "last.pt")
                log.flush()
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
