"""Image folders for training: any folder of images, decoded once and kept in memory."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from vidlle.apply import LUMA_601

_LUMA = np.array(LUMA_601, np.float32)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(folder: str | Path) -> list[Path]:
    """Sorted image files directly under ``folder`` (recursive), by suffix."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images under {folder}")
    return files


class ImageFolder(torch.utils.data.Dataset):
    """Square RGB crops of ``size`` pixels from a folder, as (3, size, size) float in [0, 1].

    Every image is resized (short side to ``size``) and centre-cropped once at start-up and held
    as uint8, so epochs cost no JPEG decoding. Random horizontal flips when ``augment``.
    """

    def __init__(self, folder: str | Path, size: int = 256, augment: bool = True, limit: int | None = None,
                 max_luma: float | None = None):
        files = list_images(folder)[:limit]
        self.augment = augment
        images = [self._load(p, size) for p in files]
        if max_luma is not None:
            # Keep the dark images only (mean Rec. 601 luma, 0..1): what the model is for; the
            # exposure gate, not the network, decides what happens to well-exposed frames.
            keep = [i for i, img in enumerate(images) if float((img @ _LUMA).mean()) / 255.0 <= max_luma]
            files, images = [files[i] for i in keep], [images[i] for i in keep]
        if not images:
            raise ValueError(f"no training images under {folder} (max_luma {max_luma})")
        self.files = files
        self.images = np.stack(images)

    @staticmethod
    def _load(path: Path, size: int) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read {path}")
        h, w = bgr.shape[:2]
        s = size / min(h, w)
        bgr = cv2.resize(bgr, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_AREA)
        h, w = bgr.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        return cv2.cvtColor(bgr[y : y + size, x : x + size], cv2.COLOR_BGR2RGB)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = self.images[i]
        if self.augment and torch.rand(()) < 0.5:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
