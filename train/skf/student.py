"""Distil the SKF student from a teacher (or train it directly on pairs: ``--no-distill``).

    python -m train.skf.student --teacher runs/skf_teacher/last.pt --out runs/skf_student --iters 20000
    python -m train.skf.student --no-distill --out runs/skf_student_direct --iters 20000
    python -m train.skf.student --teacher runs/skf_teacher_plain/last.pt --out runs/skf_student_plainT --iters 20000
    python -m train.skf.student --teacher runs/skf_teacher/last.pt --out runs/skf_student --resume --iters 30000
    python -m train.skf.student --out runs/skf_student --export vidlle/models/weights/skf.pt

The student (:class:`vidlle.models.skf.SKFStudent`) sees each dark crop downscaled to its
predictor size, predicts the low-resolution selector map and is applied to the full crop by the
reference apply step (:meth:`vidlle.models.skf.SKFStudent.apply`, exposure gate included), exactly as at inference. Loss:

    L = w_gt * Charbonnier(out, ref)                          (the pairs)
      + w_kd * Charbonnier(out, teacher_out)                  (output distillation)
      + w_feat * FeatKD(adapter(student bottleneck), teacher decoder features at stride 4)
      + w_sch * L_SCH(out, ref, masks)                        (SCH on the student, teacher's masks)

``masks`` are the frozen ESPNetv2's classes of the reference (the masks the teacher's own SCH
term used; ``--mask-source teacher`` segments the teacher's output instead, for unpaired data).
``--no-distill`` drops the two teacher terms and needs no teacher (the ablation "same student,
directly on the pairs"); distilling from a ``--plain`` teacher run is the ablation "teacher
without SE/SCH/SA". The 1x1 adapter is training-only: ``--export`` writes the shipped-weights
format ``{"config", "state_dict"}`` of the student alone, plus its JSON training record.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from train.common import add_local_option, add_run_options, predictor_input, seed_everything
from train.skf.common import (
    Progress,
    add_skf_options,
    load_resume,
    load_segmenter_prior,
    pick_device,
    rng_state,
    run_iterations,
    run_record,
    save_checkpoint,
)
from train.skf.data import (
    DEFAULT_DATA,
    batches,
    pair_source,
    psnr,
    split_files,
    validation_pairs,
)
from train.skf.losses import (
    charbonnier,
    feature_distillation,
    sch_loss,
    segment_masks,
)
from train.skf.teacher import load_teacher, validate
from train.recipes import TRAIN_RECIPES
from vidlle.exposure import frame_strength
from vidlle.models.skf import SKFConfig, SKFStudent, bank_from_logits, logits_from_bank

# Teacher features matched by the student's bottleneck: both at stride 4 of their own input.
TEACHER_FEATURE = "d4"


def strengths(small: torch.Tensor) -> torch.Tensor:
    """(N,) apply strengths of predictor inputs (N, 3, h, w), as the product's exposure gate."""
    values = [frame_strength(x) for x in small.detach().float().cpu().numpy()]
    return torch.tensor(values, dtype=small.dtype, device=small.device)


def enhance(student: SKFStudent, dark: torch.Tensor):
    """Student forward as at inference (exposure gate included): (out (N, 3, H, W), s, features)."""
    small = predictor_input(dark, student.config.predict_size)
    s, feats = student.features(small)
    return student.apply(dark, s, strengths(small)), s, feats


def init_from(student: SKFStudent, path: Path) -> None:
    """Start from earlier student weights; a per-channel (3, K, L-1) bank becomes the one shared
    bank by averaging its channels' curves (the network layers load as they are)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    state = dict(blob["state_dict"] if "state_dict" in blob else blob["model"])
    logits = state["bank_logits"]
    if logits.shape[0] != 1:
        state["bank_logits"] = logits_from_bank(bank_from_logits(logits.float()).mean(dim=0, keepdim=True))
    student.load_state_dict(state, strict=True)


def export(ckpt_path: Path, dest: Path) -> None:
    """Write the shipped-weights format ({config, state_dict} of the student only) + JSON record."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "skf-student":
        raise SystemExit(f"{ckpt_path} is not an SKF student checkpoint")
    student = SKFStudent(SKFConfig(**ckpt["config"]))
    student.load_state_dict(ckpt["model"], strict=True)  # fails loudly on a mismatch
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": ckpt["config"], "state_dict": student.state_dict()}, dest)
    dest.with_suffix(".json").write_text(json.dumps(ckpt["record"], indent=2) + "\n")
    print(f"exported {ckpt_path} -> {dest} ({dest.stat().st_size} bytes)")


def load_student(path: str | Path) -> SKFStudent:
    """An exported ({config, state_dict}) or training checkpoint -> student in eval mode (CPU)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    state = blob["state_dict"] if "state_dict" in blob else blob["model"]
    student = SKFStudent(SKFConfig(**blob["config"]))
    student.load_state_dict(state, strict=True)
    return student.eval()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, help="teacher checkpoint (OUT/last.pt of train.skf.teacher)")
    ap.add_argument("--no-distill", action="store_true", help="ablation: train on the pairs only, no teacher")
    add_run_options(ap, iters=20000, size=384, lr=1e-3, save_every=500,
                    size_help="training crop size (the student sees it downscaled)",
                    export_help="only export OUT/last.pt to this weights file")
    add_skf_options(ap)
    ap.add_argument("--width", type=int, default=SKFConfig.width)
    ap.add_argument("--predict-size", type=int, default=SKFConfig.predict_size)
    ap.add_argument("--knots", type=int, default=SKFConfig.knots)
    add_local_option(ap)
    ap.add_argument("--init", type=Path, help="start from these student weights (shipped or checkpoint)")
    ap.add_argument("--recipes", default=",".join(TRAIN_RECIPES),
                    help="darkening recipes of train.recipes to train on (comma list)")
    ap.add_argument("--w-gt", type=float, default=1.0)
    ap.add_argument("--w-kd", type=float, default=1.0, help="output distillation")
    ap.add_argument("--w-feat", type=float, default=0.1, help="feature distillation")
    ap.add_argument("--w-sch", type=float, default=0.05, help="SCH on the student (0: no segmenter needed)")
    ap.add_argument("--w-tv", type=float, default=0.0, help="smoothness of the selector map (total variation)")
    ap.add_argument("--mask-source", choices=("target", "teacher"), default="target")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.export:
        export(args.out / "last.pt", args.export)
        return 0
    if args.no_distill == (args.teacher is not None):
        ap.error("give exactly one of --teacher PATH and --no-distill")
    if args.mask_source == "teacher" and args.no_distill:
        ap.error("--mask-source teacher needs a teacher")
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = pick_device(args.device)
    w_kd, w_feat = (0.0, 0.0) if args.no_distill else (args.w_kd, args.w_feat)

    # The segmenter: for the masks of SCH, and for the features of a semantic teacher (shared).
    teacher_meta = None
    if args.teacher:
        teacher_meta = torch.load(args.teacher, map_location="cpu", weights_only=False)
        if teacher_meta.get("kind") != "skf-teacher":
            raise SystemExit(f"{args.teacher} is not an SKF teacher checkpoint")
    teacher_semantic = bool(teacher_meta and teacher_meta["config"]["semantic"])
    prior, seg_path = (None, None)
    if args.w_sch > 0 or teacher_semantic:
        brighten = teacher_meta["record"]["seg_brighten"] if teacher_semantic else True
        prior, seg_path = load_segmenter_prior(args.seg_weights, device, brighten)
    teacher = load_teacher(args.teacher, device, prior=prior) if args.teacher else None
    del teacher_meta

    config = SKFConfig(width=args.width, predict_size=args.predict_size, knots=args.knots, local=args.local)
    student = SKFStudent(config)
    if args.init:
        init_from(student, args.init)
    student = student.to(device)
    adapter = None
    params = list(student.parameters())
    if teacher is not None:
        adapter = nn.Conv2d(4 * config.width, teacher.net.feature_channels[TEACHER_FEATURE], 1).to(device)
        params += list(adapter.parameters())
    optimizer = torch.optim.Adam(params, lr=args.lr)

    folders = args.data or [DEFAULT_DATA]
    train_files, held = split_files(folders, args.holdout_every)
    args.out.mkdir(parents=True, exist_ok=True)
    start = 0
    if args.resume:
        ckpt = load_resume(args.out / "last.pt", device, config, SKFConfig)
        student.load_state_dict(ckpt["model"])
        if adapter is not None and ckpt.get("adapter"):
            adapter.load_state_dict(ckpt["adapter"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = ckpt["iter"]

    recipes = [r for r in args.recipes.split(",") if r]
    dataset, val, data_fields = pair_source(args, train_files, recipes)
    if val is None and args.val_images and held:
        val = validation_pairs(held, args.val_size, args.val_images)
    record = {
        **run_record(args, folders, train_files, held, device),
        **data_fields,
        "model": "skf",
        "config": asdict(config),
        "distilled": not args.no_distill,
        "init": str(args.init) if args.init else None,
        "recipes": recipes,
        "teacher": str(args.teacher) if args.teacher else None,
        "teacher_config": asdict(teacher.config) if teacher else None,
        # how the teacher itself was trained (its losses, steps, data), kept with the student
        "teacher_record": {k: v for k, v in teacher.info.items() if k != "segmenter_path"} if teacher else None,
        "losses": {"gt": args.w_gt, "kd": w_kd, "feat": w_feat, "sch": args.w_sch, "tv": args.w_tv,
                   "mask_source": args.mask_source, "sch_bins": args.sch_bins},
        "segmenter": seg_path.name if seg_path else None,
    }
    name = "student" + (" (no distill)" if args.no_distill else "")
    progress = Progress(name, start, args.iters, args.out / "log.jsonl", quiet=args.quiet)
    if val is not None and teacher is not None and start == 0:
        progress.note(0, teacher_val_psnr=validate(lambda d: teacher(d)[0], *val, device),
                      input_psnr=psnr(val[0], val[1]))

    def save(it: int) -> None:
        record.update(iters=it, final_loss_ema=progress.ema)
        save_checkpoint(args.out / "last.pt", {
            "kind": "skf-student", "config": asdict(config), "model": student.state_dict(),
            "adapter": adapter.state_dict() if adapter is not None else None,
            "optimizer": optimizer.state_dict(), "iter": it, "rng": rng_state(), "record": record})

    def step(dark: torch.Tensor, ref: torch.Tensor, it: int):
        out, s, feats = enhance(student, dark)
        gt = charbonnier(out, ref)
        loss = args.w_gt * gt
        parts = {"gt": float(gt.detach())}
        t_out = None
        if teacher is not None:
            t_out, t_feats = teacher(dark)
            kd = charbonnier(out, t_out)
            fkd = feature_distillation(adapter(feats["bottleneck"]), t_feats[TEACHER_FEATURE])
            loss = loss + w_kd * kd + w_feat * fkd
            parts.update(kd=float(kd.detach()), feat=float(fkd.detach()))
        if args.w_sch > 0:
            masks = segment_masks(prior.logits(t_out if args.mask_source == "teacher" else ref))
            sch = sch_loss(out, ref, masks, bins=args.sch_bins, size=args.sch_size)
            loss = loss + args.w_sch * sch
            parts["sch"] = float(sch.detach())
        if args.w_tv > 0:
            tv = (s[..., 1:, :] - s[..., :-1, :]).pow(2).mean() + (s[..., :, 1:] - s[..., :, :-1]).pow(2).mean()
            loss = loss + args.w_tv * tv
            parts["tv"] = float(tv.detach())
        return loss, parts, None

    def validate_fn() -> dict:
        return {"val_psnr": validate(lambda d: enhance(student, d)[0], *val, device)}

    loader = batches(dataset, args.batch, start, args.iters, args.workers, pin=device.type == "cuda")
    run_iterations(name, loader, args, device, optimizer, params, student, step,
                   validate_fn if val is not None else None, save, progress, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
