"""How much to enhance a frame: the exposure gate shared by every model.

A night camera runs 24/7: its daytime and dusk frames are already well exposed and must pass
(nearly) unchanged, while its night frames get the model's full enhancement. The models' tone
curves are trained on dark images and would lift the shadows of a good daytime frame too, so the
apply step blends each frame's curve with the identity by a per-frame *strength* k in [0, 1]
(output level ``v + k * (T(v) - v)``, see :mod:`vidlle.apply`):

* the frame's exposure is its mean luma (Rec. 601, 0..1) measured on the predictor's small copy,
  with letterbox / pillarbox bars left out (a 4:3 camera in a 16:9 file is not darker than the
  camera itself);
* k is 1 at or below ``dark``, 0 at or above ``bright``, and the square of a smoothstep in
  between, so a dusk frame gets part of the enhancement and the strength never jumps as the
  light changes. Squared because the trained curves lift deep shadows a lot: a daylight photo
  with a mean luma of 0.21 (a silhouette, a shaded courtyard) must get only a quarter of it.

The two thresholds are analytic and were chosen by measurement, not learned: well-exposed
photographs start at a mean luma of ~0.21 (CSun / CBSD68: median 0.42-0.47), the classic
low-light sets sit at 0.13-0.35 with many images in the overlap. Over a grid of (dark, bright,
shape) the chosen one keeps every well-exposed photo of CSun / CBSD68 above 22 dB PSNR against
itself for both shipped models while lifting the dark sets most (``docs/eval/picture.md``).
``python -m train.picture_eval`` reports what it does on real clips and photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidlle.apply import LUMA_601

_LUMA = np.array(LUMA_601, np.float32)
# A border row/column counts as a letterbox bar when it is near black and flat: bars are encoded
# black (16 in limited range decodes to ~0) with a little compression noise, while the dark parts
# of a night scene carry sensor noise. At most a quarter of each side is cut, so even a flat black
# night sky cannot shrink the picture to its one lit window.
_BAR_LEVEL = 0.06
_BAR_FLAT = 0.01
_BAR_MAX_SHARE = 0.25


@dataclass(frozen=True)
class ExposureConfig:
    """The exposure gate.

    dark: mean luma (0..1) at or below which the model works at full strength.
    bright: mean luma at or above which frames pass unchanged.
    strength: a fixed strength (0 = off, 1 = the model's full curve, up to 2) that replaces the
        automatic one; None = automatic.
    """

    dark: float = 0.14
    bright: float = 0.26
    strength: float | None = None

    def __post_init__(self):
        if not 0.0 <= self.dark < self.bright <= 1.0:
            raise ValueError(f"ExposureConfig needs 0 <= dark < bright <= 1, got {self.dark}, {self.bright}")
        if self.strength is not None and not 0.0 <= self.strength <= 2.0:
            raise ValueError(f"strength must be within 0..2, got {self.strength}")


def _bar_edges(peak: np.ndarray, spread: np.ndarray) -> slice:
    """The run of lines between the bars at either end: ``peak``/``spread`` per line (max, std)."""
    bar = (peak < _BAR_LEVEL) & (spread < _BAR_FLAT)
    limit = int(len(bar) * _BAR_MAX_SHARE)
    start = 0
    while start < limit and bar[start]:
        start += 1
    stop = len(bar)
    while len(bar) - stop < limit and bar[stop - 1]:
        stop -= 1
    return slice(start, stop)


def _content_slice(bright: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns inside letterbox / pillarbox bars; ``bright`` is (h, w) per-pixel max."""
    return (_bar_edges(bright.max(axis=1), bright.std(axis=1)),
            _bar_edges(bright.max(axis=0), bright.std(axis=0)))


def frame_exposure(small: np.ndarray) -> float:
    """Mean Rec. 601 luma in [0, 1] of the picture area of a predictor input.

    small: (3, h, w) float32 RGB in [0, 1] (the predictor's input). Bars are only cut from the
    edges, only where a whole row or column is near black and flat, and at most a quarter of
    each side.
    """
    small = np.asarray(small, np.float32)
    ys, xs = _content_slice(small.max(axis=0))
    picture = small[:, ys, xs]
    return float(np.tensordot(_LUMA, picture, axes=1).mean())


def auto_strength(exposure: float, config: ExposureConfig = ExposureConfig()) -> float:
    """Strength k in [0, 1] for a frame of mean luma ``exposure`` (squared smoothstep dark -> bright)."""
    t = min(1.0, max(0.0, (config.bright - exposure) / (config.bright - config.dark)))
    smooth = t * t * (3.0 - 2.0 * t)
    return smooth * smooth


def frame_strength(small: np.ndarray, config: ExposureConfig = ExposureConfig()) -> float:
    """The strength the apply step uses for this frame (the fixed one when configured)."""
    if config.strength is not None:
        return float(config.strength)
    return auto_strength(frame_exposure(small), config)
