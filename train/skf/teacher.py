"""Train the SKF teacher on synthetic pairs (SE + SCH + SA, or the plain ablation).

    python -m train.skf.teacher --out runs/skf_teacher --iters 20000          # SKF teacher
    python -m train.skf.teacher --out runs/skf_teacher_plain --plain --iters 20000
    python -m train.skf.teacher --out runs/skf_teacher --iters 30000 --resume  # continue last.pt
    python -m train.skf.teacher --out runs/skf_teacher --export runs/skf_teacher.pt  # slim copy

Each iteration: a batch of (dark, reference) crops (:mod:`train.skf.data`); the frozen ESPNetv2
prior (:class:`train.skf.modules.SemanticPrior`) gives multi-scale features of the dark input for
the SE modules and class masks of the reference for the losses; the loss is

    L = Charbonnier(out, ref) + w_sch * L_SCH(out, ref, masks) + w_sa * L_SA(out, masks)

and the two SA discriminators get one update on the same batch (the SA term starts at
``--sa-start``, after the enhancer has learnt the exposure). ``--plain`` is the ablation teacher:
the same encoder-decoder without SE modules, trained with the reconstruction loss only (it never
loads the segmenter). CUDA is used when present (``--device``). ``OUT/last.pt`` is written every
``--save-every`` iterations and at the end; ``OUT/log.jsonl`` has every iteration's losses and the
validation PSNR on held-aside pairs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from train.common import add_run_options, seed_everything
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
    SemanticAdversarial,
    charbonnier,
    sch_loss,
    segment_masks,
)
from train.skf.modules import SemanticPrior, TeacherConfig, TeacherNet
from vidlle.errors import ModelError


class Teacher:
    """A trained teacher ready to run: network (+ its prior when semantic).

    __call__: dark (N, 3, H, W) in [0, 1] -> (out (N, 3, H, W), features dict). No gradients.
    """

    def __init__(self, net: TeacherNet, prior: SemanticPrior | None, info: dict):
        self.net, self.prior, self.info = net.eval(), prior, info
        self.config = net.config

    @torch.no_grad()
    def __call__(self, dark: torch.Tensor):
        sem = self.prior(dark)[0] if self.config.semantic else None
        return self.net(dark, sem)


def load_teacher(path: str | Path, device: torch.device | str = "cpu", seg_weights: str | None = None,
                 prior: SemanticPrior | None = None) -> Teacher:
    """Load ``OUT/last.pt`` of a teacher run. A semantic teacher needs the ESPNetv2 weights it was
    trained with (``seg_weights`` or the default search), or an existing ``prior`` to share."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "skf-teacher":
        raise ValueError(f"{path} is not an SKF teacher checkpoint")
    config = TeacherConfig(**ckpt["config"])
    net = TeacherNet(config)
    net.load_state_dict(ckpt["model"])
    net.to(device).requires_grad_(False)
    if config.semantic and prior is None:
        recorded = ckpt["record"].get("segmenter_path")
        try:
            prior, _ = load_segmenter_prior(seg_weights, torch.device(device), ckpt["record"]["seg_brighten"])
        except ModelError:
            if seg_weights is not None or not recorded or not Path(recorded).is_file():
                raise
            # Nothing configured on this machine: the file the teacher was trained with.
            prior, _ = load_segmenter_prior(recorded, torch.device(device), ckpt["record"]["seg_brighten"])
    return Teacher(net, prior if config.semantic else None, ckpt["record"])


@torch.no_grad()
def validate(run, darks: torch.Tensor, refs: torch.Tensor, device: torch.device, chunk: int = 4) -> float:
    """Mean PSNR of ``run(dark batch) -> out`` over the validation pairs."""
    outs = [run(darks[i : i + chunk].to(device)).float().cpu() for i in range(0, len(darks), chunk)]
    return psnr(torch.cat(outs), refs)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(ap, iters=20000, size=256, lr=2e-4, save_every=500, size_help="training crop size (pixels)",
                    export_help="only write OUT/last.pt without optimiser/discriminator state (what load_teacher needs)")
    add_skf_options(ap)
    ap.add_argument("--width", type=int, default=TeacherConfig.width)
    ap.add_argument("--heads", type=int, default=TeacherConfig.heads)
    ap.add_argument("--plain", action="store_true", help="ablation: no SE modules, no SCH, no SA (no segmenter)")
    ap.add_argument("--w-sch", type=float, default=0.05, help="weight of the SCH loss")
    ap.add_argument("--w-sa", type=float, default=0.01, help="weight of the SA loss")
    ap.add_argument("--sa-start", type=int, default=2000, help="iteration at which SA (and its discriminators) start")
    ap.add_argument("--seg-brighten", action=argparse.BooleanOptionalAction, default=True,
                    help="show the segmenter a gamma-brightened copy of the dark input (paper: raw input)")
    return ap


def export(ckpt_path: Path, dest: Path) -> None:
    """A slim teacher file: kind, config, weights and record (no optimiser or SA state)."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "skf-teacher":
        raise SystemExit(f"{ckpt_path} is not an SKF teacher checkpoint")
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: ckpt[k] for k in ("kind", "config", "model", "iter", "record")}, dest)
    print(f"exported {ckpt_path} -> {dest} ({dest.stat().st_size} bytes)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.export:
        export(args.out / "last.pt", args.export)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = pick_device(args.device)
    semantic = not args.plain
    w_sch, w_sa = (args.w_sch, args.w_sa) if semantic else (0.0, 0.0)

    prior, seg_path = (None, None)
    if semantic:
        prior, seg_path = load_segmenter_prior(args.seg_weights, device, args.seg_brighten)
    config = TeacherConfig(width=args.width, semantic=semantic, heads=args.heads,
                           sem_channels=prior.channels if prior else TeacherConfig.sem_channels)
    net = TeacherNet(config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    sa = SemanticAdversarial(prior.num_classes, device=device) if semantic and w_sa > 0 else None

    folders = args.data or [DEFAULT_DATA]
    train_files, held = split_files(folders, args.holdout_every)
    args.out.mkdir(parents=True, exist_ok=True)
    start = 0
    if args.resume:
        ckpt = load_resume(args.out / "last.pt", device, config, TeacherConfig)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if sa is not None and ckpt.get("sa"):
            sa.load_state_dict(ckpt["sa"])
        start = ckpt["iter"]

    dataset, val, data_fields = pair_source(args, train_files)
    if val is None and args.val_images and held:
        val = validation_pairs(held, args.val_size, args.val_images)
    record = {
        **run_record(args, folders, train_files, held, device),
        **data_fields,
        "model": "skf-teacher",
        "config": asdict(config),
        "losses": {"rec": "charbonnier", "sch": w_sch, "sa": w_sa, "sa_start": args.sa_start,
                   "sch_bins": args.sch_bins, "sch_size": args.sch_size},
        "segmenter": seg_path.name if seg_path else None,
        "segmenter_path": str(seg_path.resolve()) if seg_path else None,
        "seg_brighten": bool(args.seg_brighten),
    }
    progress = Progress("teacher" + (" (plain)" if args.plain else ""), start, args.iters, args.out / "log.jsonl",
                        quiet=args.quiet)

    def run(dark: torch.Tensor) -> torch.Tensor:
        sem = prior(dark)[0] if semantic else None
        return net(dark, sem)[0]

    def save(it: int) -> None:
        record.update(iters=it, final_loss_ema=progress.ema)
        save_checkpoint(args.out / "last.pt", {
            "kind": "skf-teacher", "config": asdict(config), "model": net.state_dict(),
            "optimizer": optimizer.state_dict(), "sa": sa.state_dict() if sa else None, "iter": it,
            "rng": rng_state(), "record": record})

    def step(dark: torch.Tensor, ref: torch.Tensor, it: int):
        out = run(dark)
        loss = charbonnier(out, ref)
        parts = {"rec": float(loss.detach())}
        use_sa = sa is not None and it >= args.sa_start
        masks = segment_masks(prior.logits(ref)) if (w_sch > 0 or use_sa) else None
        if w_sch > 0:
            sch = sch_loss(out, ref, masks, bins=args.sch_bins, size=args.sch_size)
            loss = loss + w_sch * sch
            parts["sch"] = float(sch.detach())
        if not use_sa:
            return loss, parts, None
        g, g_parts = sa.generator_loss(out, masks)
        parts.update(g_parts)
        # the discriminators update after the enhancer's step, on the same batch
        return loss + w_sa * g, parts, lambda: sa.d_step(out.detach(), ref, masks)

    def validate_fn() -> dict:
        return {"val_psnr": validate(run, *val, device), "input_psnr": psnr(val[0], val[1])}

    loader = batches(dataset, args.batch, start, args.iters, args.workers, pin=device.type == "cuda")
    run_iterations("teacher", loader, args, device, optimizer, list(net.parameters()), net, step,
                   validate_fn if val is not None else None, save, progress, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
