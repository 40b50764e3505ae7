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
* Real pairs (:class:`RealPairDataset`): captured low/normal pairs, e.g. LOL v1's training split
  (``DIR/low/NAME`` with ``DIR/normal/NAME``): a random crop (and flip) of both, every
  ``holdout_every``-th pair (sorted names) held aside for validation (:func:`split_real_pairs`).
  :class:`MixedPairs` draws a real pair with probability ``real_share``, else a synthetic one.
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


def split_real_pairs(folder: str | Path, holdout_every: int = 10) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """(train, held_aside) lists of (low, normal) paths from ``folder/low`` and ``folder/normal``.

    Pairs match by file name; sorted by name, every ``holdout_every``-th pair starting with the
    first is held aside (0: none). SystemExit when the folder holds no pairs.
    """
    folder = Path(folder)
    lows = {p.name: p for p in list_images(folder / "low")} if (folder / "low").is_dir() else {}
    normals = {p.name: p for p in list_images(folder / "normal")} if (folder / "normal").is_dir() else {}
    names = sorted(set(lows) & set(normals))
    if not names:
        raise SystemExit(f"{folder}: no low/NAME + normal/NAME image pairs")
    train, held = [], []
    for i, name in enumerate(names):
        (held if holdout_every and i % holdout_every == 0 else train).append((lows[name], normals[name]))
    return train, held


class RealPairDataset(torch.utils.data.Dataset):
    """Random crops of captured (low, normal) pairs, each item a pure function of ``(seed, index)``.

    pairs: (low, normal) paths of the same scene and size. Item ``k`` draws a pair, a crop
    position and a flip from ``numpy.random.default_rng([seed, k])``; the same crop of both.
    Returns (dark, ref), each (3, size, size) float32 in [0, 1] (sampling with replacement).
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], size: int = 256, seed: int = 0, length: int = 1 << 30):
        if not pairs:
            raise ValueError("RealPairDataset needs at least one pair")
        self.size, self.seed, self.length = size, seed, length
        self.pairs = []
        for low, normal in pairs:
            a, b = read_rgb(Path(low)), read_rgb(Path(normal))
            if a.shape != b.shape:
                raise ValueError(f"{low} {a.shape} and {normal} {b.shape} differ in size")
            if min(a.shape[:2]) < size:  # upscale both alike (LOL is 600x400: never at sizes <= 400)
                s = size / min(a.shape[:2])
                dsize = (max(size, round(a.shape[1] * s)), max(size, round(a.shape[0] * s)))
                a, b = (cv2.resize(x, dsize, interpolation=cv2.INTER_CUBIC) for x in (a, b))
            self.pairs.append((a, b))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(k)])
        low, normal = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w = low.shape[:2]
        y, x = int(rng.integers(h - self.size + 1)), int(rng.integers(w - self.size + 1))
        crop = (slice(y, y + self.size), slice(x, x + self.size))
        low, normal = low[crop], normal[crop]
        if rng.random() < 0.5:
            low, normal = low[:, ::-1], normal[:, ::-1]
        return to_tensor(np.ascontiguousarray(low)), to_tensor(np.ascontiguousarray(normal))


class MixedPairs(torch.utils.data.Dataset):
    """Item ``k`` from ``real`` with probability ``real_share`` (drawn from ``(seed, k)``), else from
    ``synthetic`` (either may be None when the share makes it unused)."""

    def __init__(self, real, synthetic, real_share: float, seed: int = 0):
        if (real is None and real_share > 0) or (synthetic is None and real_share < 1):
            raise ValueError("MixedPairs: a source with a non-zero share is missing")
        self.real, self.synthetic, self.real_share, self.seed = real, synthetic, real_share, seed

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, k: int):
        pick_real = np.random.default_rng([self.seed, int(k), 7]).random() < self.real_share
        return (self.real if pick_real else self.synthetic)[k]


def real_validation_pairs(pairs: Sequence[tuple[Path, Path]], size: int, count: int):
    """Fixed validation pairs from held-aside real pairs: centre crops, (count, 3, size, size) each."""
    darks, refs = [], []
    for low, normal in list(pairs)[:count]:
        for img, dest in ((read_rgb(Path(low)), darks), (read_rgb(Path(normal)), refs)):
            img = _fit_short_side(img, size, size)
            h, w = img.shape[:2]
            y, x = (h - size) // 2, (w - size) // 2
            dest.append(to_tensor(np.ascontiguousarray(img[y : y + size, x : x + size])))
    if not darks:
        raise ValueError("no validation pairs")
    return torch.stack(darks), torch.stack(refs)


def pair_source(args, train_files: Sequence[Path], recipes: Sequence[str] | None = None):
    """(dataset, validation pairs or None, record fields) of a trainer's data options.

    ``--real-pairs DIR`` with ``--real-share`` p: real pairs (validation on the held-aside real
    pairs) mixed with the synthetic darkening of ``train_files``; without it, synthetic only.
    """
    synthetic = PairDataset(train_files, size=args.size, seed=args.seed, recipes=recipes) if (
        args.real_pairs is None or args.real_share < 1) else None
    if args.real_pairs is None:
        return synthetic, None, {"real_pairs": None}
    real_train, real_held = split_real_pairs(args.real_pairs, args.real_holdout_every)
    real = RealPairDataset(real_train, size=args.size, seed=args.seed)
    val = real_validation_pairs(real_held, args.val_size, args.val_images) if args.val_images and real_held else None
    fields = {"real_pairs": str(args.real_pairs), "real_train_pairs": len(real_train),
              "real_held_aside": [p[0].name for p in real_held], "real_share": args.real_share}
    return MixedPairs(real, synthetic, args.real_share, args.seed), val, fields


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
