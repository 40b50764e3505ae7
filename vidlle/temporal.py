"""Temporal processing of one video stream: stable curve maps and motion-adaptive denoising.

Two different problems (both per stream; the :class:`~vidlle.api.Enhancer` owns one
:class:`TemporalState` per stream and feeds it frames in order):

* **Stability.** The predictor sees each frame alone, so its low-resolution curve map jitters with
  noise and content and the picture pumps. The map is averaged recursively, but only where the
  predictor's input stayed put: where the low-resolution frame changed (something moved, a lamp
  came on) the new map is taken as is, and a global light change or a scene cut resets the state,
  so a real change is followed on the frame it happens, never faded in.
* **Temporal noise.** The curve multiplies sensor noise in the dark several times and night cameras
  are mostly static, so the picture "boils". The enhanced frame is averaged recursively where the
  scene is still (weight ``still_weight`` for the new frame: the noise variance of a still pixel
  drops to ``k / (2 - k)`` of a single frame's) and not at all where it moves, so moving people and
  cars leave no trails. "Moving" is judged against the noise itself: the blurred frame difference
  is divided by a noise level estimated per brightness band (the curve amplifies dark pixels more
  than bright ones, so one global noise figure would either miss motion in bright areas or see
  motion everywhere in dark ones).

Everything here works on arrays the enhancer already has: the predictor input (3, h, w) float32 in
[0, 1], the predicted map (3, h, w) float32 in [-1, 1] and the enhanced frame (H, W, 3) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_BANDS = 8  # brightness bands of the noise model (32 levels each)
_CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, np.float32)  # cv2.transform: (h, w, 3) -> (h, w) mean


@dataclass(frozen=True)
class TemporalConfig:
    """Knobs of :class:`TemporalState` (defaults measured on night clips; see the README).

    map_weight: weight of a new curve map where the low-resolution input is steady.
    map_motion: change of the low-resolution gray input (0..1 units, after a 3x3 blur) at which the
        new map is taken fully; in between the weight ramps linearly.
    light_change: relative change of the frame's mean brightness that counts as a light change
        (lamp switched, iris/gain step): temporal state is reset on that frame.
    scene_cut: histogram distance (half L1 of 16-bin gray histograms, 0..1) that counts as a cut.
    denoise: run the motion-adaptive recursive filter on the enhanced frames.
    still_weight: weight of the new frame where the scene is still (smaller = stronger denoising,
        longer memory).
    between_weight: weight where the difference is between ``motion_low`` and ``motion_high``.
    motion_low, motion_high: blurred difference, in units of the local noise level, above which
        a pixel counts as possibly moving (``between_weight``) and as moving (no averaging). The
        noise level is the *median* difference, so a still pixel sits near 1: at 1.0 half of
        them were only half-averaged. 1.1 / 1.6 cut static noise by 82-83 % with ghosting under
        10 % on the real clip for both models (``python -m train.temporal_eval``); 1.3 / 1.7, tuned
        for the dimmer models of 0.1.0, let the brighter current ones ghost 11 %.
    blur: box size of the difference blur (odd); larger detects faint motion better, but widens
        the un-averaged margin around moving objects.
    """

    map_weight: float = 0.3
    map_motion: float = 0.03
    light_change: float = 0.12
    scene_cut: float = 0.3
    denoise: bool = True
    still_weight: float = 0.2
    between_weight: float = 0.5
    motion_low: float = 1.1
    motion_high: float = 1.6
    blur: int = 5


def _gray_histogram(small: np.ndarray) -> np.ndarray:
    gray = small.mean(axis=0)
    hist = np.bincount(np.minimum((gray * 16).astype(np.int32), 15).ravel(), minlength=16).astype(np.float64)
    return hist / hist.sum()


class TemporalState:
    """Per-stream temporal state; feed frames in display order. Not thread-safe.

    Use :meth:`smooth_params` on every frame's predicted map, apply the curve, then
    :meth:`denoise` on the enhanced frame. :meth:`reset` forgets everything (reconnects, seeks).
    """

    def __init__(self, config: TemporalConfig = TemporalConfig()):
        self.config = config
        self.resets = 0
        self.reset()

    def reset(self) -> None:
        self._small = None  # previous predictor input, (3, h, w) float32
        self._hist = None
        self._params = None  # smoothed map, (3, h, w) float32
        self._prev = None  # last denoised frame, (H, W, 3) uint8
        self._prev_small = None  # the denoised picture at half resolution, (h, w, 3) float32
        self._noise = None  # noise level per brightness level, (256,) float32
        self._frames = 0

    def _is_discontinuity(self, small: np.ndarray) -> bool:
        """True on a global light change or a scene cut between the previous input and ``small``."""
        c = self.config
        hist = _gray_histogram(small)
        prev_mean, mean = float(self._small.mean()), float(small.mean())
        light = abs(mean - prev_mean) / max(prev_mean, 0.02) > c.light_change
        cut = 0.5 * float(np.abs(hist - self._hist).sum()) > c.scene_cut
        self._hist = hist
        return light or cut

    def smooth_params(self, small: np.ndarray, params: np.ndarray) -> np.ndarray:
        """Stabilised curve map for this frame.

        small: predictor input (3, h, w) float32 in [0, 1]; params: predicted map (3, h, w)
        float32 in [-1, 1], same h, w. Returns (3, h, w) float32 in [-1, 1].
        """
        c = self.config
        small = np.asarray(small, np.float32)
        params = np.asarray(params, np.float32)
        if self._small is None or self._small.shape != small.shape:
            if self._small is not None:
                self.reset()
            self._hist = _gray_histogram(small)
        elif self._is_discontinuity(small):
            self.reset()
            self.resets += 1
            self._hist = _gray_histogram(small)
        if self._params is None:
            self._small, self._params = small, params.copy()
            return params
        change = cv2.blur(np.abs(small - self._small).mean(axis=0), (3, 3))
        weight = np.clip(c.map_weight + (1.0 - c.map_weight) * change / c.map_motion, c.map_weight, 1.0)
        self._params += weight[None] * (params - self._params)
        self._small = small
        return self._params.copy()

    def _update_noise(self, diff: np.ndarray, level: np.ndarray) -> None:
        """Re-estimate noise per brightness band from the blurred difference (subsampled).

        Most pixels of a surveillance frame are still, so the median difference per band is the
        noise; moving pixels only raise it a little (the estimate errs towards less denoising).
        """
        d = diff[::4, ::4].ravel()
        band = (level[::4, ::4].ravel() >> 5).astype(np.int32)
        order = np.argsort(band, kind="stable")
        d, band = d[order], band[order]
        edges = np.searchsorted(band, np.arange(_BANDS + 1))
        per_band = np.full(_BANDS, np.nan, np.float32)
        for b in range(_BANDS):
            if edges[b + 1] - edges[b] >= 32:
                per_band[b] = np.median(d[edges[b]:edges[b + 1]])
        if np.all(np.isnan(per_band)):
            return
        # Bands without pixels borrow from their neighbours; a floor keeps quantisation-only
        # (noise-free) content from looking like motion at every one-level change.
        centres = np.arange(_BANDS) * 32 + 16
        known = ~np.isnan(per_band)
        table = np.interp(np.arange(256), centres[known], per_band[known]).astype(np.float32)
        table = np.maximum(table, 0.35)
        self._noise = table if self._noise is None else 0.8 * self._noise + 0.2 * table

    def denoise(self, frame: np.ndarray) -> np.ndarray:
        """Motion-adaptive recursive average of enhanced frames.

        frame: (H, W, 3) uint8 RGB (the enhanced frame). Returns (H, W, 3) uint8 RGB.

        Motion is judged on a half-resolution copy, as the mean absolute change over R, G and B
        (a blurred difference needs no more resolution, and it is the costly part). The blend runs
        at full resolution in uint8 with three weights (still / in between / moving) because
        OpenCV's uint8 ``addWeighted`` and masked copies are several times cheaper than a
        per-pixel float blend; the rounding of a uint8 recursive average costs at most ~2 levels
        of bias where the picture is noise-free and static.
        """
        c = self.config
        if not c.denoise:
            return frame
        height, width = frame.shape[:2]
        half = (max(1, width // 2), max(1, height // 2))
        small = cv2.resize(frame, half, interpolation=cv2.INTER_AREA)
        level = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # brightness band of the noise model
        small_f = small.astype(np.float32)
        if self._prev is None or self._prev.shape != frame.shape:
            self._prev, self._prev_small = frame, small_f
            return frame
        # Mean absolute change over R, G, B, not the change of gray: a dark blue car on a
        # brown road at night barely changes luminance but must not leave a colour trail.
        change = cv2.transform(cv2.absdiff(small_f, self._prev_small), _CHANNEL_MEAN)
        diff = cv2.blur(change, (c.blur, c.blur))
        # The noise model changes slowly (gain, light level): refresh it every few frames.
        if self._noise is None or self._frames % 4 == 0:
            self._update_noise(diff, level)
        self._frames += 1
        if self._noise is None:
            self._prev, self._prev_small = frame, small_f
            return frame
        ratio = diff / cv2.LUT(level, self._noise).reshape(diff.shape)
        # Class per half-resolution pixel: 0 still, 1 in between, 2 moving.
        classes = (ratio >= c.motion_low).view(np.uint8) + (ratio >= c.motion_high).view(np.uint8)
        moving = (classes == 2).view(np.uint8)
        between = (classes == 1).view(np.uint8)
        # The first frames after a reset are averaged cumulatively (weight 1/2, 1/3, ... until
        # the recursive weight takes over): the plain recursive filter would start from one
        # noisy frame and take ~10 frames to settle, which shows as a brightness drift.
        still = max(c.still_weight, 1.0 / (self._frames + 1))
        between_w = max(c.between_weight, still)
        weight = np.array([still, between_w, 1.0], np.float32)[classes]
        self._prev_small += weight[..., None] * (small_f - self._prev_small)

        out = cv2.addWeighted(frame, still, self._prev, 1.0 - still, 0.0)
        if between.any():
            mask = cv2.resize(between, (width, height), interpolation=cv2.INTER_NEAREST)
            cv2.copyTo(cv2.addWeighted(frame, between_w, self._prev, 1.0 - between_w, 0.0), mask, out)
        if moving.any():
            cv2.copyTo(frame, cv2.resize(moving, (width, height), interpolation=cv2.INTER_NEAREST), out)
        self._prev = out
        return out
