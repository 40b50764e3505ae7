"""Synthetic low-light pairs for SKF: well-exposed references darkened by :mod:`train.degrade`.

    python -m train.skf.data --holdout-dir runs/skf_holdout      # symlinks to the held-aside refs
    python -m train.evaluate --pairs runs/skf_holdout --sets '' --method ...

* Any folders of well-exposed images (default ``../shared/data/wellexposed``: CSun_Hays80 +
  CBSD68). Every ``holdout_every``-th image of each folder (sorted names, the 1st, 5th, 9th...)
  is held aside for evaluation and never trained on; :func:`split_files`.
* Training pairs (:class:`PairDataset`): a random crop (and flip) of a reference, darkened with a
  fresh draw of the documented recipe (:func:`train.degrade.darken`: exposure 2-5 stops under,
  Poisson-Gaussian sensor noise, 8-bit quantisation). Item ``k`` is a pure function of
  ``(seed, k)``: runs are reproducible with any number of loader workers and resume exactly.
* Validation pairs (:func:`validation_pairs`): centre crops of the held-aside references,
  darkened with :func:`train.degrade.darken_seeded` and seed ``1000 + i`` (the evaluation
  harness's default ``--pair-seed``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from train.common import read_rgb
from train.data import list_images
from train.degrade import DegradeConfig, darken, darken_seeded
from train.recipes import RECIPES

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wellexposed"
PAIR_SEED = 1000


def split_files(folders: Sequence[str | Path], holdout_every: int = 4) -> tuple[list[Path], list[Path]]:
    """(train, held_aside) image paths.

    Images are grouped by the directory that holds them (so each sub-collection is split on its
    own) and sorted; within a group every ``holdout_every``-th image, starting with the first, is
    held aside. ``holdout_every`` 0 holds nothing aside.
    """
    train, held = [], []
    for folder in folders:
        groups: dict[Path, list[Path]] = {}
        for path in list_images(folder):
            groups.setdefault(path.parent, []).append(path)
        for parent in sorted(groups):
            for i, path in enumerate(sorted(groups[parent])):
                (held if holdout_every and i % holdout_every == 0 else train).append(path)
    return train, held


def _fit_short_side(img: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Resize so the short side is within [lo, hi] (area down, cubic up); unchanged if it is."""
    h, w = img.shape[:2]
    short = min(h, w)
    target = min(max(short, lo), hi)
    if target == short:
        return img
    s = target / short
    size = (max(lo, round(w * s)), max(lo, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0


class PairDataset(torch.utils.data.Dataset):
    """Random (dark, reference) crop pairs, each a pure function of ``(seed, index)``.

    files: reference images; decoded once, short side brought into [size, max_side] and kept as
    uint8. Item ``k`` draws an image, a crop position, a flip and the darkening parameters and
    noise from ``numpy.random.default_rng([seed, k])``. Returns (dark, ref), each (3, size, size)
    float32 in [0, 1]. ``length`` is nominal: any index is valid (sampling with replacement).
    """

    def __init__(self, files: Sequence[Path], size: int = 256, seed: int = 0, max_side: int | None = None,
                 degrade: DegradeConfig = DegradeConfig(), length: int = 1 << 30,
                 recipes: Sequence[str] | None = None):
        if not files:
            raise ValueError("PairDataset needs at least one image")
        self.size, self.seed, self.degrade, self.length = size, seed, degrade, length
        # None: the documented sensor recipe with ``degrade``'s ranges; else one of the named
        # recipes of train.recipes, drawn per item.
        self.recipes = [RECIPES[name] for name in recipes] if recipes else None
        hi = max_side or 2 * size
        self.images = [_fit_short_side(read_rgb(Path(p)), size, hi) for p in files]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(k)])
        img = self.images[int(rng.integers(len(self.images)))]
        h, w = img.shape[:2]
        y, x = int(rng.integers(h - self.size + 1)), int(rng.integers(w - self.size + 1))
        ref = img[y : y + self.size, x : x + self.size]
        if rng.random() < 0.5:
            ref = ref[:, ::-1]
        ref = np.ascontiguousarray(ref)
        if self.recipes:
            dark = self.recipes[int(rng.integers(len(self.recipes)))](ref, rng)
        else:
            dark, _ = darken(ref, rng, self.degrade)
        return to_tensor(dark), to_tensor(ref)


def batches(dataset: PairDataset, batch: int, start: int, iters: int, workers: int = 0, pin: bool = False):
    """Loader over iterations ``start..iters-1``: iteration i gets items i*batch .. i*batch+batch-1."""
    sampler = torch.utils.data.BatchSampler(range(start * batch, iters * batch), batch, drop_last=True)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                                       persistent_workers=False)


def validation_pairs(files: Sequence[Path], size: int, count: int, seed: int = PAIR_SEED):
    """Fixed validation pairs: (dark, ref) tensors (count, 3, size, size).

    Reference i is the centre crop (short side resized to ``size``) of ``files[i]``; its dark
    version is ``darken_seeded(ref, seed + i)``.
    """
    darks, refs = [], []
    for i, path in enumerate(list(files)[:count]):
        img = _fit_short_side(read_rgb(Path(path)), size, size)
        h, w = img.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        ref = np.ascontiguousarray(img[y : y + size, x : x + size])
        dark, _ = darken_seeded(ref, seed + i)
        darks.append(to_tensor(dark))
        refs.append(to_tensor(ref))
    if not darks:
        raise ValueError("no validation images")
    return torch.stack(darks), torch.stack(refs)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR (dB) over a batch, after rounding both to 8 bits as the saved images would be."""
    a8, b8 = (torch.round(t.clamp(0, 1) * 255.0) for t in (a, b))
    mse = ((a8 - b8) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((10.0 * torch.log10(255.0 ** 2 / mse)).mean())


def make_holdout_dir(folders: Sequence[str | Path], dest: Path, holdout_every: int = 4) -> list[Path]:
    """Symlink the held-aside references into ``dest`` (flat; names prefixed by their folder)."""
    _, held = split_files(folders, holdout_every)
    dest.mkdir(parents=True, exist_ok=True)
    links = []
    for path in held:
        link = dest / f"{path.parent.name}__{path.name}"
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(path.resolve(), link)
        links.append(link)
    return links


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", help=f"reference folder(s) (default {DEFAULT_DATA})")
    ap.add_argument("--holdout-every", type=int, default=4)
    ap.add_argument("--holdout-dir", type=Path, required=True, help="write symlinks to the held-aside images here")
    args = ap.parse_args(argv)
    folders = args.data or [DEFAULT_DATA]
    train, _ = split_files(folders, args.holdout_every)
    links = make_holdout_dir(folders, args.holdout_dir, args.holdout_every)
    print(f"{len(train)} training references, {len(links)} held aside -> {args.holdout_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
