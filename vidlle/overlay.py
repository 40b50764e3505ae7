"""Segmentation overlay: ESPNetv2 labels alpha-blended over enhanced frames, with a legend.

At night what an operator looks for are people and vehicles, so those classes ("things") are
drawn strongly and the rest ("stuff": road, building, sky, ...) faintly. ESPNetv2 costs far more
than the curve model on a CPU, so it runs on a downscaled copy every ``every``-th frame and the
label map is reused in between (labels move a little behind fast objects; the picture itself is
never delayed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidlle.extras import require_torch


# Classes an operator cares about, in both label sets (Cityscapes and PASCAL VOC names).
THINGS = {"person", "rider", "car", "truck", "bus", "train", "motorcycle", "motorbike", "bicycle",
          "dog", "cat", "horse"}


@dataclass(frozen=True)
class OverlayConfig:
    """every: segment every N-th frame; size: long side (pixels) the segmenter sees;
    thing_alpha / stuff_alpha: blend strength of the two class groups; legend: draw one."""

    every: int = 5
    size: int = 512
    thing_alpha: float = 0.55
    stuff_alpha: float = 0.2
    legend: bool = True


def overlay_for(kind: str, seg_weights: str | None = None) -> "SegmentationOverlay | None":
    """The overlay an ``--overlay`` choice asks for: None for ``none``, the ESPNetv2 overlay for
    ``seg`` (weights: ``seg_weights``, ``$VIDLLE_SEG_WEIGHTS`` or the cache dir)."""
    if kind == "none":
        return None
    if kind != "seg":
        raise ValueError(f"unknown overlay {kind!r} (choose none or seg)")
    return SegmentationOverlay.load(seg_weights)


class SegmentationOverlay:
    """Callable (H, W, 3) uint8 RGB -> (H, W, 3) uint8 RGB with the segmentation blended in.

    Holds per-stream state (the last label map); ``enabled`` switches it off without unloading.
    """

    def __init__(self, model, classes: tuple[str, ...], config: OverlayConfig = OverlayConfig()):
        self.model, self.classes, self.config = model, classes, config
        from vidlle.models.segment import palette_for  # torch, as load()

        self.palette = palette_for(len(classes))
        alpha = np.array([config.thing_alpha if c in THINGS else config.stuff_alpha for c in classes], np.float32)
        alpha[[i for i, c in enumerate(classes) if c in ("background", "void", "unlabeled")]] = 0.0
        self.alpha = alpha
        self.enabled = True
        self._labels = None
        self._count = 0

    @classmethod
    def load(cls, weights: str | None = None, config: OverlayConfig = OverlayConfig()) -> "SegmentationOverlay":
        """Find and load ESPNetv2 (``--seg-weights``, ``$VIDLLE_SEG_WEIGHTS`` or the cache dir)."""
        # ESPNetv2 is a torch model: imported here, so enhancing without the overlay never loads torch.
        require_torch("the segmentation overlay (--overlay seg)")
        from vidlle.models.segment import load_segmenter

        model, classes = load_segmenter(weights)
        return cls(model, classes, config)

    def segment(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (h, w) uint8 class indices at the segmenter's working size."""
        import torch

        height, width = frame.shape[:2]
        scale = min(1.0, self.config.size / max(height, width))
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        small = frame if (h, w) == (height, width) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None].float().div_(255.0)
        with torch.inference_mode():
            return self.model(x)[0].argmax(0).to(torch.uint8).numpy()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return frame
        if self._labels is None or self._count % self.config.every == 0:
            self._labels = self.segment(frame)
        self._count += 1
        height, width = frame.shape[:2]
        labels = cv2.resize(self._labels, (width, height), interpolation=cv2.INTER_NEAREST)
        colour = self.palette[labels]
        weight = self.alpha[labels]
        out = cv2.blendLinear(frame, colour, 1.0 - weight, weight)
        if self.config.legend:
            self._draw_legend(out, np.unique(self._labels))
        return out

    def _draw_legend(self, image: np.ndarray, present: np.ndarray) -> None:
        """Swatch + name of each present class with a visible colour, things first, top-left."""
        shown = sorted((int(i) for i in present if self.alpha[i] > 0), key=lambda i: (self.classes[i] not in THINGS, i))
        scale = max(0.35, min(image.shape[:2]) / 900.0)
        step = int(22 * scale / 0.5)
        for row, i in enumerate(shown[:10]):
            y = 6 + row * step
            if y + step > image.shape[0]:
                break
            colour = tuple(int(c) for c in self.palette[i])
            cv2.rectangle(image, (6, y), (6 + step - 4, y + step - 4), colour, -1)
            org = (10 + step, y + step - 8)
            cv2.putText(image, self.classes[i], org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(image, self.classes[i], org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
