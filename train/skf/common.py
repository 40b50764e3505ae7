"""Small pieces the two SKF training entry points share: device, seeding, progress, checkpoints."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when torch sees a GPU, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_segmenter_prior(weights: str | None, device: torch.device, brighten: bool = True):
    """(SemanticPrior on ``device``, path of the weights) from :func:`vidlle.models.segment.load_segmenter`."""
    from train.skf.modules import SemanticPrior
    from vidlle.models.segment import find_seg_weights, load_segmenter

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
