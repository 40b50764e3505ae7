"""The frame contract between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One video frame or image travelling through the pipeline.

    image: (H, W, 3) uint8 RGB.
    pts: presentation timestamp in ``time_base`` units, exactly as decoded (None for images).
    time_base: the source stream's time base (None for images).
    index: 0-based decode order.
    name: file name for images from a folder (None for video).
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    index: int = 0
    name: str | None = None

    def with_image(self, image: np.ndarray) -> "Frame":
        return replace(self, image=image)


@dataclass(frozen=True)
class StreamInfo:
    """What a sink needs to know about a source before the first frame.

    width, height: frame size in pixels (0 when sizes vary, e.g. an image folder).
    frames: expected frame count, or None if unknown.
    rate: average frame rate, or None.
    time_base: video time base, or None.
    rotation: display rotation in degrees counter-clockwise (0 if none).
    audio: the input's audio streams (PyAV stream objects) to pass through.
    """

    width: int = 0
    height: int = 0
    frames: int | None = None
    rate: Fraction | None = None
    time_base: Fraction | None = None
    rotation: int = 0
    audio: tuple = ()
