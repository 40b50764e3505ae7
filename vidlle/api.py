"""Enhancer: one stream's model + backend, frames in, enhanced frames out.

    from vidlle import Enhancer
    enh = Enhancer("curve")
    bright = enh.enhance(dark)              # (H, W, 3) uint8 RGB -> same shape and dtype
    brights = enh.enhance_batch([a, b, c])  # frames may differ in size

The model predicts low-resolution curve parameters from a downscaled copy of each frame; the
shared fast apply step (:mod:`vidlle.apply`) enhances the full-resolution frame with them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from vidlle.apply import apply_curve_map, check_frame
from vidlle.backends import create_backend
from vidlle.frames import Frame
from vidlle.models import get_spec, load_model
from vidlle.models.curve import predictor_size


@dataclass(frozen=True)
class EnhancerConfig:
    """Which model runs where. ``weights`` overrides the shipped weights file."""

    model: str = "curve"
    backend: str = "auto"
    device: str = "cpu"
    precision: str = "fp32"
    weights: str | None = None


class Enhancer:
    """Enhances frames of one stream, in order. Not thread-safe: one Enhancer per stream."""

    def __init__(self, model: str = "curve", backend: str = "auto", device: str = "cpu",
                 precision: str = "fp32", weights: str | None = None):
        self.config = EnhancerConfig(model, backend, device, precision, weights)
        self.spec = get_spec(model)
        module, self.model_config = load_model(model, weights)
        self.backend = create_backend(backend, module, device=device, precision=precision)

    def describe(self) -> str:
        return f"model {self.spec.name}, backend {self.backend.describe()}"

    def _predictor_input(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (3, h, w) float32 in [0, 1] at the predictor's size."""
        h, w = predictor_size(frame.shape[0], frame.shape[1], self.model_config.predict_size)
        small = frame if (h, w) == frame.shape[:2] else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return small.transpose(2, 0, 1).astype(np.float32) * (1.0 / 255.0)

    def predict_params(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Low-resolution curve maps, (3, h, w) float32 in [-1, 1], one per frame.

        Frames of the same size share one backend call (a batch).
        """
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, f in enumerate(frames):
            groups[f.shape[:2]].append(i)
        params: list = [None] * len(frames)
        for indices in groups.values():
            batch = np.stack([self._predictor_input(frames[i]) for i in indices])
            for i, p in zip(indices, self.backend.predict(batch)):
                params[i] = p
        return params

    def enhance_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Enhance frames ((H, W, 3) uint8 RGB each, sizes may differ); same shapes out."""
        frames = [check_frame(f) for f in frames]
        if not frames:
            return []
        params = self.predict_params(frames)
        steps = self.model_config.steps
        return [apply_curve_map(f, p, steps) for f, p in zip(frames, params)]

    def enhance(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one (H, W, 3) uint8 RGB frame."""
        return self.enhance_batch([frame])[0]

    def enhance_frames(self, frames: Sequence[Frame]) -> list[Frame]:
        """Pipeline form: Frames in decode order -> Frames with enhanced images, metadata kept."""
        images = self.enhance_batch([f.image for f in frames])
        return [f.with_image(img) for f, img in zip(frames, images)]
