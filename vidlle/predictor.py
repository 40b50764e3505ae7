"""What the parameter predictor sees of a frame: a downscaled copy, aspect kept.

Every model predicts its low-resolution parameters from the frame shrunk so that its long side
is at most the model's ``predict_size``; the Enhancer, the engine export checks and the
benchmarks all feed the predictor through :func:`predictor_input`.
"""

from __future__ import annotations

import cv2
import numpy as np


def predictor_size(height: int, width: int, predict_size: int) -> tuple[int, int]:
    """(h, w) of the predictor's input for a ``height`` x ``width`` frame; aspect kept, never 0."""
    scale = min(1.0, predict_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def predictor_input(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1] at ``size`` = (h, w) (area resampling)."""
    h, w = size
    small = frame if (h, w) == frame.shape[:2] else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return small.transpose(2, 0, 1).astype(np.float32) * (1.0 / 255.0)
