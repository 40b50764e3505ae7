"""Noise-aware spatial denoising: planned at low resolution, applied in the one full-resolution pass.

The curve lifts a dark pixel's noise with its signal: at a gain of 8 a sensor noise of 2 levels
becomes 16. So the denoising strength follows the gain each pixel gets (:mod:`vidlle.apply`) and
the noise level measured on the frame itself; where the gain is 1 (a well-exposed frame, or
strength 0) the pixel passes bit-exact.

* **Luma**: a guided filter (He et al.), self-guided, edge preserving. Its coefficients are
  computed on a reduced copy of the frame (He & Sun's "fast guided filter"): the half-size copy
  the predictor's quarter copy is made from, or for frames of 720 lines and more that quarter
  copy itself (:func:`guide_scale`). Per window ``a = var / (var + eps)``,
  ``b = mean * (1 - a)``, both box-averaged once more. At full resolution the filtered luma is
  ``a * Y + b`` (``a`` and ``b`` bilinearly upsampled): ~``b`` (the local mean) in flat regions,
  ~``Y`` across edges, where the window's variance is well above the noise's.
* **Chroma**: the colour of an amplified dark pixel is mostly noise (green/purple blotches) and
  the eye resolves colour far more coarsely than luma, so the chroma (R - Y, B - Y) is filtered
  harder, over a wider window of the same reduced copy: a guided filter with the (denoised)
  luma as guide, so that in flat regions it is the window's mean colour and across an edge it
  follows the luma (a plain blur would paint a lit face's colour onto the dark wall beside it).
* ``eps`` is ``eps_scale`` times the noise variance at the window's brightness, estimated per
  frame from that copy (median absolute deviation of the residual from a 3x3 mean, per
  brightness band: robust to the edges and texture that most windows of a frame do not hold).

A pixel with gain ``g`` takes ``alpha = strength * clamp((g - 1) / (full_gain - 1), 0, 1)`` of
the filtered luma and ``min(1, chroma * alpha)`` of the low-resolution chroma (:class:`DenoiseConfig`). With temporal
processing the motion class scales alpha (:class:`vidlle.temporal.TemporalConfig`
``spatial_shares``): still regions keep their detail and are denoised over time, moving regions
are denoised in space.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Rec. 601 luma weights (R, G, B), as the apply step's shadow-chroma blend.
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)
_BAND = 16  # levels per brightness band of the noise estimate
GUIDE_QUARTER_FROM = 720  # frame lines from which the guide is planned on the quarter copy
_MIN_SIDE = 4  # pixels of the copy below which no window fits (and OpenCV reads 1xN arrays as scalars)


@dataclass(frozen=True)
class DenoiseConfig:
    """Knobs of the spatial denoiser (defaults chosen on LOL v1's training pairs and the dark clips).

    strength: 0 turns the denoiser off (the pass is bit-exact as without it), 1 is the default,
        up to 2 denoises harder (it scales both alpha and eps).
    radius: box radius of the guided filter at the guide's resolution (1: a 3x3 window, 6x6
        full-resolution pixels on the half copy, 12x12 on the quarter copy).
    chroma_radius: box radius of the chroma filter at the guide's resolution (3: 7x7).
    eps_scale: eps over the window's noise variance: larger smooths more texture away.
    full_gain: gain at which a pixel is fully denoised (alpha ramps from gain 1 to here).
    chroma: alpha multiplier of the chroma filter (chroma noise shows first).
    sigma_floor: the least noise σ (levels, at the guide's resolution) eps assumes. Compressed dark video
        has almost no measurable noise left in its shadows, only the codec's flat blocks and
        banding one level apart, which the gain turns into steps of ten; a floor of about one
        level smooths those too.
    """

    strength: float = 1.0
    radius: int = 1
    chroma_radius: int = 3
    eps_scale: float = 4.0
    full_gain: float = 3.0
    chroma: float = 2.0
    sigma_floor: float = 2.0

    def __post_init__(self):
        if not 0.0 <= self.strength <= 2.0:
            raise ValueError(f"denoise strength {self.strength} is not in 0..2")
        if self.radius < 1 or self.chroma_radius < 1 or self.sigma_floor <= 0 or self.eps_scale <= 0 or self.full_gain <= 1 or self.chroma < 0:
            raise ValueError(f"invalid DenoiseConfig {self}")


@dataclass(frozen=True, eq=False)
class Guide:
    """The low-resolution half of the spatial denoiser, for one frame.

    coeffs: (6, h, w) float32 at the reduced copy's size: the luma's guided-filter ``a`` (0..1)
        and ``b`` (levels), then ``a``, ``b`` of R - Y and of B - Y against the luma (chroma =
        a * Y + b, levels). Full-resolution values come from bilinear upsampling (the geometry
        of cv2.resize INTER_LINEAR).
    strength, full_gain, chroma: as :class:`DenoiseConfig`.
    """

    coeffs: np.ndarray
    strength: float
    full_gain: float
    chroma: float


def noise_sigma(luma: np.ndarray, level: np.ndarray, floor: float = 0.35) -> np.ndarray:
    """Noise σ (levels) of a low-resolution luma image per brightness level, (256,) float32.

    luma: (h, w) float32 levels; level: (h, w) float32, the brightness each pixel's band is
    read at (the window mean); floor: the least σ returned. Bands with too few pixels borrow
    from their neighbours.
    """
    # ~16k samples are plenty for the band medians.
    step = max(1, int(np.ceil((luma.size / 16384) ** 0.5)))
    resid = cv2.absdiff(luma, cv2.blur(luma, (3, 3), borderType=cv2.BORDER_REFLECT))[::step, ::step].ravel()
    band = np.minimum(level[::step, ::step].ravel() * (1.0 / _BAND), 255 // _BAND).astype(np.int32)
    order = np.argsort(band, kind="stable")
    r, band = resid[order], band[order]
    edges = np.searchsorted(band, np.arange(256 // _BAND + 1))
    centres, values = [], []
    for b in range(256 // _BAND):
        if edges[b + 1] - edges[b] >= 32:
            centres.append(b * _BAND + _BAND / 2)
            # MAD -> σ of a Gaussian (1.4826), and the 3x3 mean's share of the residual (sqrt(9/8)).
            values.append(1.4826 * 1.0607 * float(np.median(r[edges[b]:edges[b + 1]])))
    if not values:
        return np.full(256, floor, np.float32)
    table = np.interp(np.arange(256), centres, values)
    return np.maximum(table, floor).astype(np.float32)


def guide_scale(height: int, width: int) -> int:
    """Scale of the reduced copy the guide is planned on (:class:`vidlle.predictor.ReducedCopies`):
    the half copy (2) up to ``GUIDE_QUARTER_FROM`` lines, the quarter copy (4) from there. Noise
    grain and codec blocks of large frames span more pixels (upscaled sensors, 16-pixel
    macroblocks), so a 1080p frame wants the wider window anyway, and its quarter copy is 4x
    cheaper to plan on."""
    return 4 if min(height, width) >= GUIDE_QUARTER_FROM else 2


def plan_denoise(copy: np.ndarray, config: DenoiseConfig) -> Guide | None:
    """The frame's :class:`Guide` from a reduced copy (at :func:`guide_scale`; (h, w, 3) uint8 RGB, the input,
    not enhanced), or None when the denoiser is off or the copy is too small to hold a window
    (a frame under 8 pixels a side: nothing there to filter)."""
    if config.strength <= 0.0 or min(copy.shape[:2]) < _MIN_SIDE:
        return None
    pixels = copy.astype(np.float32)
    luma = cv2.transform(pixels, _LUMA)
    size = (2 * config.radius + 1, 2 * config.radius + 1)
    border = cv2.BORDER_REFLECT
    mean = cv2.blur(luma, size, borderType=border)
    # OpenCV's element-wise ops: several times cheaper than NumPy's at this size (one core).
    var = cv2.max(cv2.subtract(cv2.blur(cv2.multiply(luma, luma), size, borderType=border),
                               cv2.multiply(mean, mean)), 0.0)
    sigma = noise_sigma(luma, mean, config.sigma_floor)
    # strength scales eps too: above 1 it smooths texture closer to the noise level away.
    eps_table = (config.eps_scale * config.strength) * np.square(sigma).reshape(1, 256)
    eps = cv2.LUT(cv2.convertScaleAbs(mean), eps_table)
    a = cv2.divide(var, cv2.add(var, eps))
    coeffs = np.empty((6,) + luma.shape, np.float32)
    coeffs[0] = cv2.blur(a, size, borderType=border)
    coeffs[1] = cv2.blur(cv2.subtract(mean, cv2.multiply(a, mean)), size, borderType=border)
    # Chroma: the same filter with the luma as guide, over a wider window. Where the window
    # holds an edge the chroma follows the luma across it (a dark background beside a lit face
    # keeps its own colour); in flat windows it is the window's mean chroma.
    wide = (2 * config.chroma_radius + 1, 2 * config.chroma_radius + 1)
    mean_w = cv2.blur(luma, wide, borderType=border)
    var_w = cv2.max(cv2.subtract(cv2.blur(cv2.multiply(luma, luma), wide, borderType=border),
                                 cv2.multiply(mean_w, mean_w)), 0.0)
    denom = cv2.add(var_w, cv2.LUT(cv2.convertScaleAbs(mean_w), eps_table))
    red, _, blue = cv2.split(pixels)
    for i, channel in ((2, red), (4, blue)):
        chroma = cv2.subtract(channel, luma)
        mean_c = cv2.blur(chroma, wide, borderType=border)
        cov = cv2.subtract(cv2.blur(cv2.multiply(luma, chroma), wide, borderType=border), cv2.multiply(mean_w, mean_c))
        slope = cv2.divide(cov, denom)
        coeffs[i] = cv2.blur(slope, wide, borderType=border)
        coeffs[i + 1] = cv2.blur(cv2.subtract(mean_c, cv2.multiply(slope, mean_w)), wide, borderType=border)
    return Guide(coeffs, config.strength, config.full_gain, config.chroma)


def upsample(coeffs: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, h, w) float32 -> (C, height, width) float32, bilinear (cv2 INTER_LINEAR geometry)."""
    if coeffs.shape[1:] == (height, width):
        return coeffs
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coeffs])


def denoise_pixels(pixels: np.ndarray, gain: np.ndarray, guide: Guide, spatial: np.ndarray | None = None
                   ) -> np.ndarray:
    """The full-resolution half (NumPy; the compiled pass does the same per pixel).

    pixels: (H, W, 3) float32 levels of the input; gain: (H, W) float32, the gain the apply step
    gives each pixel (from its undenoised brightness); spatial: None or (H, W) float32 in [0, 1],
    the motion class's share (temporal processing). Returns the denoised (H, W, 3) float32
    levels in [0, 255]; pixels whose gain is <= 1 are returned unchanged.
    """
    height, width = pixels.shape[:2]
    a, b, a_r, b_r, a_b, b_b = upsample(guide.coeffs, height, width)
    alpha = np.minimum(1.0, guide.strength * np.clip((gain - 1.0) / (guide.full_gain - 1.0), 0.0, 1.0))
    if spatial is not None:
        alpha = alpha * spatial
    alpha_c = np.minimum(1.0, guide.chroma * alpha)
    luma = cv2.transform(pixels, _LUMA)
    d_luma = alpha * (a * luma + b - luma)
    guide_luma = luma + d_luma  # the chroma's guide: the denoised luma
    d_r = alpha_c * (a_r * guide_luma + b_r - (pixels[..., 0] - luma))
    d_b = alpha_c * (a_b * guide_luma + b_b - (pixels[..., 2] - luma))
    # G - Y follows from R - Y and B - Y: the chroma of any colour has zero luma.
    d_g = -(0.299 * d_r + 0.114 * d_b) / 0.587
    out = pixels + np.stack([d_luma + d_r, d_luma + d_g, d_luma + d_b], axis=-1)
    return np.clip(out, 0.0, 255.0)
