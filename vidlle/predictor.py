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


def quarter_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) (cv2 order) of a frame's quarter-size copy: the first of the two area
    reductions of :func:`predictor_input`, and the copy the temporal stage judges motion on."""
    return max(1, width // 4), max(1, height // 4)


def reduced_copies(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> its area averages at half size (H // 2, W // 2, 3) and quarter size
    (H // 4, W // 4, 3), uint8. The quarter comes from the half: OpenCV's 2x area path is ~3x
    cheaper than its general 4x one (CPU time, 720p), for at most one level of extra rounding.
    The spatial denoiser plans on the half copy; the predictor and the motion planner read the
    quarter."""
    height, width = frame.shape[:2]
    half = cv2.resize(frame, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    return half, cv2.resize(half, quarter_size(height, width), interpolation=cv2.INTER_AREA)


def quarter_copy(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H // 4, W // 4, 3) uint8: the quarter of :func:`reduced_copies`."""
    return reduced_copies(frame)[1]


def predictor_input(frame: np.ndarray, size: tuple[int, int], quarter: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1] at ``size`` = (h, w) (area resampling).

    A frame at least four times ``size`` both ways is reduced in two area steps, to
    :func:`quarter_size` (an integer factor, OpenCV's fast path) and then to ``size``: nested
    area averages are the one-step average up to the quarter copy's uint8 rounding, and the
    enhancer already has that copy (``quarter``, (H // 4, W // 4, 3) uint8) for motion.
    """
    h, w = size
    height, width = frame.shape[:2]
    if height >= 4 * h and width >= 4 * w:
        qw, qh = quarter_size(height, width)
        if quarter is None or quarter.shape[:2] != (qh, qw):
            quarter = quarter_copy(frame)
        frame = quarter
    small = frame if (h, w) == frame.shape[:2] else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return small.transpose(2, 0, 1).astype(np.float32) * (1.0 / 255.0)
