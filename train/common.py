"""What the training and evaluation entry points share: seeding, the commit a run was made at,
reading images, the predictor's input, and the command-line options every trainer has."""

from __future__ import annotations

import argparse
import random
import subprocess
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidlle.predictor import predictor_size

SEG_WEIGHTS_HELP = "ESPNetv2 .pth (default: $VIDLLE_SEG_WEIGHTS or the cache dir)"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str:
    """The checkout's HEAD commit (recorded with every run), or ``unknown``."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB; OSError when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def predictor_input(x: torch.Tensor, predict_size: int) -> torch.Tensor:
    """Downscale (N, 3, H, W) to the predictor's input size with area averaging (as cv2 INTER_AREA)."""
    h, w = predictor_size(x.shape[-2], x.shape[-1], predict_size)
    return x if (h, w) == tuple(x.shape[-2:]) else F.interpolate(x, size=(h, w), mode="area")


def add_run_options(ap: argparse.ArgumentParser, *, iters: int, size: int, lr: float, save_every: int,
                    size_help: str, export_help: str) -> None:
    """The options of every trainer: run folder, export, length, batch, crop, learning rate, seed,
    resume, checkpoint interval and the segmenter's weights (defaults differ per trainer)."""
    ap.add_argument("--out", type=Path, required=True, help="run folder: checkpoints (last.pt) and log")
    ap.add_argument("--export", type=Path, help=export_help)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=size, help=size_help)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--save-every", type=int, default=save_every)
    ap.add_argument("--seg-weights", help=SEG_WEIGHTS_HELP)


def add_local_option(ap: argparse.ArgumentParser) -> None:
    """``--local`` of the models that share the apply step (curve, SKF student)."""
    ap.add_argument("--local", type=float, default=0.5,
                    help="weight of the local map against its frame mean in the apply step (model config)")
