"""Fast full-resolution apply step for low-resolution parameter maps (CPU, numpy + OpenCV).

Every model predicts a low-resolution map (C, h, w) in [-1, 1] and owns a one-parameter family
of monotone tone curves ``T(m, v)`` (curve model: 8 quadratic steps; SKF student: a learned
bank). The apply step is **hue preserving**: one gain per pixel, computed on the pixel's
brightness, scales R, G and B alike.

1. The map is reduced to one channel (mean over its channels) and blended with its own frame
   mean: ``m = local * m + (1 - local) * mean(m)``. A fully local curve map lifts every dark
   region to the same level and flattens the picture to a grey haze; the model's ``local`` keeps
   the global contrast between regions while still lifting deep shadows more.
2. The brightness of a pixel is ``V = max(R, G, B)`` (the Retinex / LIME illumination estimate):
   scaling by ``T(V) / V`` maps the largest channel to ``T(V) <= 255``, so no channel ever clips
   and saturation and hue are kept exactly. Monochrome (IR) input stays monochrome.
3. A highlight shoulder caps every curve: ``T(v) <= 255 - SHOULDER * (255 - v)``. A learned or
   strongly lifting curve may reach white well below white (a lamp pool at 200 -> 255); under
   the cap only levels that were within ~15 of white can come out at 250 or more, so light
   sources and IR-lit foregrounds keep their shape instead of burning out.
4. Shadow chroma: the colour of a pixel a few levels above black is mostly compression error and
   sensor noise, and a gain of 10 would paint it as purple or green blotches. The scaled colour
   is blended towards its own luma by ``sat = 1 - (1 - V / (V + CHROMA_KNEE)) * (1 - 1 / gain)``:
   1 where nothing is amplified (gain <= 1) or the pixel is well above black, ~0.4 for a pixel
   at V = 4 lifted tenfold. Luma and hue are unchanged; only saturation drops.
5. The per-frame strength k (:mod:`vidlle.exposure`) blends the curve with the identity:
   ``V' = V + k * (T(m, V) - V)``; the output is ``round(RGB * V' / V)``. k = 0 returns the frame.

With temporal processing on, the same pass also blends the result with the previous output
(:class:`Blend`, planned by :mod:`vidlle.temporal`). One compiled pass does it all
(:mod:`vidlle.fused`); the OpenCV/NumPy path below is the fallback. The curves are tabulated once in a :class:`ToneTable`: ``table[i, v]`` is ``T(m_i, v)`` (float
output level) for input level ``v`` (0..255) and map value ``m_i`` on a grid of 4096 values over
[-1, 1]. Step 2's lookup is one bilinear upsample of the (pre-scaled) map plus one 2-D nearest
lookup, done by ``cv2.remap`` with V as x and the map as y. The grid spacing 2/4095 costs at most
0.13 levels (curve model, |dT/dm| <= 510 levels); the result is within 1 level of the reference
torch apply (:func:`vidlle.models.tone.hue_preserving_apply`; tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from vidlle.denoise import Guide, denoise_pixels
from vidlle.errors import FrameError
from vidlle.fused import native

TABLE_ROWS = 4096
# Slope of the highlight shoulder at white (see step 3 of the module doc); shared with the
# reference apply in vidlle.models.tone.
SHOULDER = 0.3
# Brightness (levels) at which shadow chroma keeps half of its amplified saturation (step 4).
CHROMA_KNEE = 12.0
# Rec. 601 luma weights (R, G, B): the exposure gate, the shadow-chroma blend and its references.
LUMA_601 = (0.299, 0.587, 0.114)
_LUMA = np.array([LUMA_601], np.float32)
_CHROMA_KEEP = (np.arange(256, dtype=np.float32) / (np.arange(256, dtype=np.float32) + CHROMA_KNEE)).reshape(1, 256)
# cv2.remap addresses destination coordinates with 16-bit integers internally.
_REMAP_MAX = 32000


@dataclass(frozen=True, eq=False)
class ToneTable:
    """Tabulated tone curves of one model.

    table: (rows, 256) float32 output levels in [0, 255], read-only; row i is the curve at map
        value ``-1 + 2 i / (rows - 1)``, column v its output for input level v.
    rows: grid size over the map's range [-1, 1].
    """

    table: np.ndarray
    rows: int

    def __post_init__(self):
        if self.table.shape != (self.rows, 256) or self.table.dtype != np.float32:
            raise ValueError(f"ToneTable: table {self.table.shape} {self.table.dtype} is not ({self.rows}, 256) float32")
        if self.rows >= _REMAP_MAX:
            raise ValueError(f"ToneTable: {self.rows} rows exceed cv2.remap's limit {_REMAP_MAX}")

    @classmethod
    def from_array(cls, table: np.ndarray) -> "ToneTable":
        """(rows, 256) float output levels in [0, 255] -> ToneTable (highlight shoulder applied)."""
        table = np.asarray(table)
        if table.ndim != 2 or table.shape[-1] != 256 or not np.issubdtype(table.dtype, np.floating):
            raise ValueError(f"ToneTable: expected (rows, 256) float levels, got {table.shape} {table.dtype}")
        levels = np.arange(256, dtype=np.float64)
        flat = np.minimum(np.clip(table, 0.0, 255.0), 255.0 - SHOULDER * (255.0 - levels))
        flat = np.ascontiguousarray(flat, dtype=np.float32)
        flat.setflags(write=False)
        return cls(flat, table.shape[0])


@lru_cache(maxsize=8)
def curve_table(steps: int, rows: int = TABLE_ROWS) -> np.ndarray:
    """(rows, 256) float32 levels: ``steps`` quadratic curve steps for each r on the grid and level."""
    r = np.linspace(-1.0, 1.0, rows)[:, None]
    x = np.broadcast_to(np.arange(256, dtype=np.float64) / 255.0, (rows, 256)).copy()
    for _ in range(steps):
        x += r * (x * x - x)
    table = np.clip(x * 255.0, 0, 255).astype(np.float32)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=8)
def curve_tone(steps: int, rows: int = TABLE_ROWS) -> ToneTable:
    """The curve model's :class:`ToneTable`."""
    return ToneTable.from_array(curve_table(steps, rows))


@dataclass(frozen=True, eq=False)
class Blend:
    """Temporal blend of an enhanced frame with the previous output, per low-resolution class.

    prev: (H, W, 3) uint8, the previous output frame (same size as the frame).
    classes: (h, w) uint8 in {0, 1, 2} (still, in between, moving); full-resolution pixel (y, x)
        takes the class at ``(y * h // H, x * w // W)``.
    weights: weight of the new frame per class; the previous output gets ``1 - weight``.
    shares: share of the spatial denoiser (the pass's ``guide``) per class: still regions are
        denoised over time and keep more of their detail.
    """

    prev: np.ndarray
    classes: np.ndarray
    weights: tuple[float, float, float]
    shares: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def per_pixel(self, values: tuple[float, float, float], height: int, width: int) -> np.ndarray:
        """(height, width) float32: each full-resolution pixel's class's value (still, in
        between, moving); classes above 2 count as moving, as in the compiled pass."""
        h, w = self.classes.shape
        rows, cols = (np.arange(height) * h) // height, (np.arange(width) * w) // width
        per_class = np.asarray(values, np.float32)[np.minimum(self.classes, 2)]
        return per_class[rows[:, None], cols[None, :]]


def blend_frames(frame: np.ndarray, blend: Blend) -> np.ndarray:
    """``round(w * frame + (1 - w) * prev)`` with w by class (NumPy; the compiled pass does the same).

    Rounds half to even: rounding halves up biases a recursive average upwards (+0.25 levels
    per frame at w = 1/2), which shows as a slow brightening of a still picture.
    """
    weight = blend.per_pixel(blend.weights, *frame.shape[:2])[..., None]
    mixed = weight * frame + (1.0 - weight) * blend.prev
    return np.minimum(np.rint(mixed), 255.0).astype(np.uint8)


def check_frame(frame) -> np.ndarray:
    """Raise FrameError unless ``frame`` is an HxWx3 uint8 array; returns it C-contiguous."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        desc = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise FrameError(f"expected an HxWx3 uint8 RGB frame, got {desc}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise FrameError(f"empty frame {frame.shape}")
    return np.ascontiguousarray(frame)


def luma_map(params: np.ndarray, local: float) -> np.ndarray:
    """(C, h, w) map -> (h, w) float32: channel mean, blended with its frame mean by ``local``."""
    m = np.asarray(params, dtype=np.float32).mean(axis=0)
    if local != 1.0:
        m = local * m + (1.0 - local) * float(m.mean())
    return np.ascontiguousarray(m, dtype=np.float32)


def _lookup(tone: ToneTable, levels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """T at (rows, levels), both (H, W) float32; cv2.remap in blocks under its size limit."""
    height, width = levels.shape
    out = np.empty((height, width), np.float32)
    for y0 in range(0, height, _REMAP_MAX):
        for x0 in range(0, width, _REMAP_MAX):
            ys, xs = slice(y0, y0 + _REMAP_MAX), slice(x0, x0 + _REMAP_MAX)
            out[ys, xs] = cv2.remap(tone.table, np.ascontiguousarray(levels[ys, xs]),
                                    np.ascontiguousarray(rows[ys, xs]),
                                    interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return out


def apply_params(frame: np.ndarray, params: np.ndarray, tone: ToneTable, strength: float = 1.0,
                 local: float = 1.0, blend: Blend | None = None, guide: Guide | None = None) -> np.ndarray:
    """Enhance ``frame`` with a low-resolution parameter map and a model's tone table.

    frame: (H, W, 3) uint8 RGB.
    params: (C, h, w) float32 in [-1, 1] (any C, h, w >= 1).
    strength: k in [0, 2]; 0 returns the frame unchanged, 1 is the model's curve.
    local: weight of the local map against its frame mean (the model's config).
    blend: blend the result with the previous output (temporal denoising), in the same pass.
    guide: the frame's spatial denoiser (:func:`vidlle.denoise.plan_denoise`), applied first,
        by the gain each pixel gets; with ``blend``, scaled by the blend's ``shares`` per motion
        class (still, in between, moving).
    Returns a new (H, W, 3) uint8 array, within 1 level of the reference torch apply (and of
    :func:`blend_frames` on it).
    """
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    # Map values -> table rows before upsampling: affine, so it commutes with bilinear resizing.
    rows = (luma_map(params, local) + 1.0) * ((tone.rows - 1) / 2.0)
    ext = native()
    if ext is not None:
        out = np.empty_like(frame)
        strength = max(0.0, float(strength))
        if blend is None:
            prev = classes = None
            cls_h = cls_w = 0
            weights = shares = (1.0, 1.0, 1.0)
        else:
            prev, classes = np.ascontiguousarray(blend.prev), np.ascontiguousarray(blend.classes, np.uint8)
            if prev.shape != frame.shape:
                raise ValueError(f"blend: previous frame {prev.shape} is not {frame.shape}")
            (cls_h, cls_w), weights, shares = classes.shape, blend.weights, blend.shares
        if guide is None:
            coeffs, dn = None, (0, 0, 0.0, 2.0, 0.0)
        else:
            coeffs = np.ascontiguousarray(guide.coeffs, np.float32)
            dn = (coeffs.shape[1], coeffs.shape[2], guide.strength, guide.full_gain, guide.chroma)
        ext.apply(frame, height, width, rows, rows.shape[0], rows.shape[1], tone.table, tone.rows, _CHROMA_KEEP,
                  strength, out, prev, classes, cls_h, cls_w, *weights, coeffs, *dn, *shares)
        return out
    spatial = blend.per_pixel(blend.shares, height, width) if guide is not None and blend is not None else None
    out = _apply_opencv(frame, rows, tone, strength, guide, spatial)
    return out if blend is None else blend_frames(out, blend)


def _apply_opencv(frame: np.ndarray, rows: np.ndarray, tone: ToneTable, strength: float,
                  guide: Guide | None = None, spatial: np.ndarray | None = None) -> np.ndarray:
    """The fallback of :func:`apply_params`; rows: (h, w) float32 table rows (low resolution);
    spatial: None or (H, W) float32, the denoiser's share per pixel (motion class)."""
    if strength <= 0.0:
        return frame.copy()
    height, width = frame.shape[:2]
    if rows.shape != (height, width):
        rows = cv2.resize(rows, (width, height), interpolation=cv2.INTER_LINEAR)

    def gain_of(v8: np.ndarray) -> np.ndarray:
        v = v8.astype(np.float32)
        t = _lookup(tone, v, rows)
        if strength != 1.0:
            t = np.clip(v + strength * (t - v), 0.0, 255.0)
        # V = 0 means R = G = B = 0, which any gain keeps black.
        return t / np.maximum(v, 1.0)

    r, g, b = cv2.split(frame)
    v8 = cv2.max(cv2.max(r, g), b)
    pixels = frame.astype(np.float32)
    gain = gain_of(v8)
    if guide is not None:
        # Denoise first (by the gain of the undenoised brightness), then tone the result.
        pixels = denoise_pixels(pixels, gain, guide, spatial)
        v8 = np.floor(pixels.max(axis=2) + 0.5).astype(np.uint8)
        gain = gain_of(v8)
    keep = cv2.LUT(v8, _CHROMA_KEEP)
    sat = 1.0 - (1.0 - keep) * np.maximum(1.0 - 1.0 / np.maximum(gain, 1e-6), 0.0)
    luma = cv2.transform(pixels, _LUMA)
    # out = gain * (luma + sat * (rgb - luma)) = rgb * (gain * sat) + luma * gain * (1 - sat)
    scale = gain * sat
    offset = (gain - scale) * luma
    out = cv2.multiply(pixels, cv2.merge([scale, scale, scale]))
    out += cv2.merge([offset, offset, offset])
    return cv2.convertScaleAbs(out)

