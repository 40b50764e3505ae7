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

from vidlle.apply import Blend

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
        them were only half-averaged. 1.1 / 1.6 cut static noise by 77-82 % with ghosting under
        9 % on the real clip for both models (``python -m train.temporal_eval``; higher
        thresholds let the bright current models ghost more than 10 %: docs/temporal.md).
    blur: box size of the difference blur (odd, in motion-resolution pixels); larger detects
        faint motion better, but widens the un-averaged margin around moving objects.
    motion_scale: motion is judged on the frame's area-averaged copy at 1/motion_scale of its size
        (:class:`vidlle.predictor.ReducedCopies`; at 4 the quarter the predictor reads). 4 (blur 3, a
        12-pixel footprint) against 2 (blur 5, 10 pixels) on ``python -m train.temporal_eval``
        (curve): static noise -80 / -80 / -77 % instead of -82 % (street, still, starlight),
        ghosting 0.7 / 7.6 % instead of 1.8 / 9.0 %, at a quarter of the cost.
    spatial_shares: share of the spatial denoiser (:mod:`vidlle.denoise`) per motion class (still,
        in between, moving): moving regions get it fully, still ones are mostly denoised over time
        and keep more of their detail.
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
    blur: int = 3
    motion_scale: int = 4
    spatial_shares: tuple[float, float, float] = (0.75, 0.9, 1.0)


def _gray_histogram(small: np.ndarray) -> np.ndarray:
    gray = small.mean(axis=0)
    hist = np.bincount(np.minimum((gray * 16).astype(np.int32), 15).ravel(), minlength=16).astype(np.float64)
    return hist / hist.sum()


class TemporalState:
    """Per-stream temporal state; feed frames in display order. Not thread-safe.

    Per frame, in order (:meth:`vidlle.api.Enhancer.enhance_batch`): :meth:`smooth_params` on the
    predicted map; with ``denoise``, :meth:`plan` on the frame's reduced copy enhanced with that
    map, then :meth:`commit` of the full-resolution output, which the one pass blended by the
    plan. :meth:`reset` forgets everything (reconnects, seeks).
    """

    def __init__(self, config: TemporalConfig = TemporalConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._small = None  # previous predictor input, (3, h, w) float32
        self._hist = None
        self._params = None  # smoothed map, (3, h, w) float32
        self._prev = None  # last denoised frame, (H, W, 3) uint8
        self._prev_small = None  # the denoised picture at the motion resolution, (h, w, 3) float32
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
        # ~16k samples are plenty for eight medians; small frames use every pixel.
        step = max(1, int(np.ceil((diff.size / 16384) ** 0.5)))
        d = diff[::step, ::step].ravel()
        band = (level[::step, ::step].ravel() >> 5).astype(np.int32)
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

    def plan(self, small: np.ndarray, shape: tuple[int, ...]) -> Blend | None:
        """Classify motion and return how to blend this frame with the previous output.

        small: (h, w, 3) uint8 RGB, the frame's copy at 1/``motion_scale`` of its size
        (:class:`vidlle.predictor.ReducedCopies`) enhanced like the frame (motion is judged on a
        low-resolution copy: a blurred difference needs no more resolution, and at full
        resolution it would be the costliest part of the frame). shape: the full frame's shape.
        Returns None where the frame is to be taken as it is (first frame, new size, noise not
        yet known); then :meth:`commit` the output either way.

        Motion is the mean absolute change over R, G and B, divided by the noise level of the
        pixel's brightness band; the blend (:class:`~vidlle.apply.Blend`) has three weights
        (still / in between / moving) per low-resolution pixel.
        """
        c = self.config
        level = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # brightness band of the noise model
        small_f = small.astype(np.float32)
        if self._prev is None or self._prev.shape != tuple(shape) or self._prev_small.shape != small_f.shape:
            self._prev, self._prev_small = None, small_f
            return None
        # Mean absolute change over R, G, B, not the change of gray: a dark blue car on a
        # brown road at night barely changes luminance but must not leave a colour trail.
        change = cv2.transform(cv2.absdiff(small_f, self._prev_small), _CHANNEL_MEAN)
        diff = cv2.blur(change, (c.blur, c.blur))
        # The noise model changes slowly (gain, light level): refresh it every few frames.
        if self._noise is None or self._frames % 4 == 0:
            self._update_noise(diff, level)
        self._frames += 1
        if self._noise is None:
            self._prev_small = small_f
            return None
        ratio = diff / cv2.LUT(level, self._noise).reshape(diff.shape)
        # Class per low-resolution pixel: 0 still, 1 in between, 2 moving.
        classes = (ratio >= c.motion_low).view(np.uint8) + (ratio >= c.motion_high).view(np.uint8)
        # The first frames after a reset are averaged cumulatively (weight 1/2, 1/3, ... until
        # the recursive weight takes over): the plain recursive filter would start from one
        # noisy frame and take ~10 frames to settle, which shows as a brightness drift.
        still = max(c.still_weight, 1.0 / (self._frames + 1))
        weights = (still, max(c.between_weight, still), 1.0)
        # prev_small += weight * (small - prev_small), with OpenCV's vectorised ops (a NumPy
        # broadcast over (h, w, 1) x (h, w, 3) costs several times more at this size).
        table = np.zeros((1, 256), np.float32)
        table[0, :3] = weights
        weight = cv2.LUT(classes, table)
        step = cv2.multiply(cv2.subtract(small_f, self._prev_small), cv2.merge([weight, weight, weight]))
        self._prev_small = cv2.add(self._prev_small, step)
        return Blend(self._prev, classes, weights, c.spatial_shares)

    def commit(self, out: np.ndarray) -> None:
        """Remember this frame's output (H, W, 3) uint8: the next frame blends with it."""
        self._prev = out

