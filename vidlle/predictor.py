"""The reduced copies of a frame and what the parameter predictor sees of it.

The low-resolution work of a frame reads area-averaged copies of it at integer scales: the
predictor's input is reduced from the quarter-size copy, the spatial denoiser plans on the half
or the quarter (:func:`vidlle.denoise.guide_scale`) and the temporal stage judges motion on the
copy at ``TemporalConfig.motion_scale`` (a quarter). :class:`ReducedCopies` makes each copy once
per frame, the quarter from the half: one full-resolution read for all three.

Every model predicts its low-resolution parameters from the frame shrunk so that its long side
is at most the model's ``predict_size``; the Enhancer, the engine export checks and the
benchmarks all feed the predictor through :func:`predictor_input`.
"""

from __future__ import annotations

import cv2
import numpy as np

# The predictor's input is reduced from the copy at this scale when the frame is large enough:
# two area steps give the one-step average up to that copy's uint8 rounding where the second
# factor is an integer, and close to it otherwise (the second step weighs the copy's pixels).
PREDICTOR_SCALE = 4


def predictor_size(height: int, width: int, predict_size: int) -> tuple[int, int]:
    """(h, w) of the predictor's input for a ``height`` x ``width`` frame; aspect kept, never 0."""
    scale = min(1.0, predict_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


class ReducedCopies:
    """One frame's area-averaged copies by integer scale, each made once. Not thread-safe.

    frame: (H, W, 3) uint8 RGB. :meth:`at` ``(scale)`` is the (H // scale, W // scale, 3) uint8
    copy (at least 1 x 1); ``at(1)`` is the frame itself.
    """

    def __init__(self, frame: np.ndarray):
        self.frame = frame
        self._copies = {1: frame}

    def at(self, scale: int) -> np.ndarray:
        """The copy at 1/``scale`` of the frame's size (cv2 INTER_AREA).

        An even scale above 2 is reduced 2x from the copy at half that scale (the quarter from
        the half): OpenCV's 2x area path is ~3x cheaper than its general 4x one (CPU time, 720p),
        for at most one level of extra rounding, and the half is wanted anyway.
        """
        copy = self._copies.get(scale)
        if copy is None:
            if scale < 1:
                raise ValueError(f"ReducedCopies: scale {scale} is not a positive integer")
            source = self.at(scale // 2) if scale > 2 and scale % 2 == 0 else self.frame
            height, width = self.frame.shape[:2]
            size = (max(1, width // scale), max(1, height // scale))
            copy = self._copies[scale] = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        return copy


def predictor_input(frame: np.ndarray | ReducedCopies, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1] at ``size`` = (h, w) (area resampling).

    frame: the frame, or its :class:`ReducedCopies` (the enhancer's, which its other steps read
    too). A frame at least ``PREDICTOR_SCALE`` times ``size`` both ways is reduced in two area
    steps, to that copy (integer factors, OpenCV's fast path) and then to ``size``.
    """
    copies = frame if isinstance(frame, ReducedCopies) else ReducedCopies(frame)
    h, w = size
    height, width = copies.frame.shape[:2]
    source = copies.at(PREDICTOR_SCALE) if height >= PREDICTOR_SCALE * h and width >= PREDICTOR_SCALE * w else copies.frame
    small = source if (h, w) == source.shape[:2] else cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
    return small.transpose(2, 0, 1).astype(np.float32) * (1.0 / 255.0)
