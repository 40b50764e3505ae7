"""What the two SKF training entry points share: device, seeding, progress, checkpoints, the loop."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from train.common import git_commit
from train.skf.data import DEFAULT_DATA
from train.skf.losses import DEFAULT_BINS
from train.skf.modules import SemanticPrior
from vidlle.models.segment import find_seg_weights, load_segmenter


def add_skf_options(ap: argparse.ArgumentParser) -> None:
    """The options both SKF trainers (teacher, student) have beyond :func:`train.common.add_run_options`:
    reference data and its held-aside split, the SCH loss's histogram, validation, loader, device,
    threads, a wall-time budget and quiet logs."""
    ap.add_argument("--data", type=Path, action="append", help=f"reference folder(s), repeatable (default {DEFAULT_DATA})")
    ap.add_argument("--holdout-every", type=int, default=4, help="hold aside every N-th image per folder (0: none)")
    ap.add_argument("--real-pairs", type=Path,
                    help="captured pairs DIR/low/NAME + DIR/normal/NAME (e.g. LOL v1's dataset/train); "
                         "validation then runs on its held-aside pairs")
    ap.add_argument("--real-share", type=float, default=0.75, help="share of real pairs per batch with --real-pairs")
    ap.add_argument("--real-holdout-every", type=int, default=10, help="hold aside every N-th real pair (0: none)")
    ap.add_argument("--sch-bins", type=int, default=DEFAULT_BINS)
    ap.add_argument("--sch-size", type=int, default=0, help="compute SCH on a downscaled view (pixels; 0 = full crop)")
    ap.add_argument("--val-images", type=int, default=8, help="held-aside validation pairs (0: no validation)")
    ap.add_argument("--val-size", type=int, default=256)
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=0, help="data loader processes")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop (saving last.pt) after this much wall time; --resume continues (0: no limit)")
    ap.add_argument("--quiet", action="store_true")


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when torch sees a GPU, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_segmenter_prior(weights: str | None, device: torch.device, brighten: bool = True):
    """(SemanticPrior on ``device``, path of the weights) from :func:`vidlle.models.segment.load_segmenter`."""
    path = find_seg_weights(weights)
    segmenter, _ = load_segmenter(path, device=device)
    return SemanticPrior(segmenter, brighten=brighten).to(device), path


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic torch.save (a crash mid-write never leaves a truncated last.pt)."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Progress:
    """One updating stderr line (every ``every`` iterations) plus a JSON-lines log file."""

    def __init__(self, name: str, start: int, iters: int, log: Path, every: int = 10, quiet: bool = False):
        self.name, self.start, self.iters, self.every, self.quiet = name, start, iters, every, quiet
        self.t0 = time.time()
        self.ema: float | None = None
        self.log = open(log, "a")

    def update(self, it: int, loss: float, parts: dict) -> None:
        self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss
        self.log.write(json.dumps({"iter": it, "loss": loss, **parts}) + "\n")
        if not self.quiet and (it % self.every == 0 or it == self.iters):
            rate = (it - self.start) / max(time.time() - self.t0, 1e-9)
            eta = (self.iters - it) / max(rate, 1e-9)
            print(f"\r{self.name} {it}/{self.iters} loss {self.ema:.4f} {rate:.2f} it/s eta {eta / 60:.1f} min",
                  end="", file=sys.stderr, flush=True)

    def note(self, it: int, **values) -> None:
        """A line that stays (validation results), also logged."""
        self.log.write(json.dumps({"iter": it, **values}) + "\n")
        self.log.flush()
        if not self.quiet:
            text = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
            print(f"\r{self.name} {it}/{self.iters} {text}" + " " * 20, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.log.close()
        if not self.quiet:
            print(file=sys.stderr)


def cosine_lr(base: float, it: int, iters: int, floor: float = 0.1) -> float:
    """Cosine decay from ``base`` to ``floor * base`` over the run."""
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(it, iters) / max(iters, 1))))


def run_iterations(name: str, loader, args, device: torch.device, optimizer, params, module, step, validate_fn,
                   save, progress: Progress, start: int) -> int:
    """The loop both SKF entry points share; returns the last iteration reached.

    Per batch: cosine learning rate, ``step(dark, ref, it) -> (loss, parts, after)``, backward,
    gradient clipping to norm 1, optimiser step, then ``after()`` (None, or a callable returning
    more logged parts: the SA discriminators' update) and progress. ``validate_fn() -> dict`` is
    logged every ``args.val_every`` iterations and at the end (None: no validation), with
    ``module`` in eval mode; ``save(it)`` every ``args.save_every`` iterations, at the end, and
    when ``args.max_minutes`` of wall time have passed (the loop then stops: ``--resume``
    continues).
    """
    it, t_start = start, time.time()
    module.train()
    for dark, ref in loader:
        dark, ref = dark.to(device, non_blocking=True), ref.to(device, non_blocking=True)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(args.lr, it, args.iters)
        loss, parts, after = step(dark, ref, it)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if after is not None:
            parts.update(after())
        it += 1
        progress.update(it, float(loss.detach()), parts)
        if validate_fn is not None and (it % args.val_every == 0 or it == args.iters):
            module.eval()
            progress.note(it, **validate_fn())
            module.train()
        if it % args.save_every == 0 or it == args.iters:
            save(it)
        elif args.max_minutes and time.time() - t_start > 60 * args.max_minutes:
            save(it)
            progress.note(it, stopped=f"--max-minutes {args.max_minutes} reached; continue with --resume")
            break
    if it == start:  # nothing to do (already at --iters): keep last.pt as it is
        print(f"{name}: already at {start} >= --iters {args.iters}", file=sys.stderr)
    progress.close()
    return it


def run_record(args, folders, train_files, held, device: torch.device) -> dict:
    """The training-record fields both entry points write: data, split, optimiser, seed, where, commit."""
    return {
        "data": [str(f) for f in folders],
        "train_images": len(train_files),
        "held_aside": len(held),
        "holdout_every": args.holdout_every,
        "crop": args.size,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "device": str(device),
        "commit": git_commit(),
    }


def load_resume(path: Path, device: torch.device, config, config_cls) -> dict:
    """``OUT/last.pt`` for ``--resume``, after checking it was trained with ``config``; restores
    the RNG state (the caller loads the weights and optimiser and continues from ``["iter"]``)."""
    ckpt = torch.load(path, map_location=device, weights_only=False)
    if config_cls(**ckpt["config"]) != config:
        raise SystemExit(f"--resume: {path} was trained with {ckpt['config']}, not {asdict(config)}")
    set_rng_state(ckpt["rng"])
    return ckpt
