"""Synthetic low-light: the one darkening recipe every paired experiment uses.

A well-exposed sRGB photograph is turned into the frame a camera would have recorded with much
less light, following the "unprocessing" idea (Brooks et al., CVPR 2019: invert the camera's
processing to reach linear light, simulate the sensor there, process forward again) and the
Poisson–Gaussian sensor-noise model (Foi et al., IEEE TIP 2008; as used for low-light synthesis
by e.g. Wei et al., CVPR 2020 "A physics-based noise formation model"):

1. **sRGB → linear light** with the exact inverse sRGB transfer function (IEC 61966-2-1: linear
   segment below 0.04045, exponent 2.4 above), not a plain 2.2 gamma. Darkening must happen on
   photon counts, which are linear; scaling gamma-encoded values would crush shadows wrongly.
2. **Exposure**: multiply by ``k`` (default 0.03–0.25, i.e. 2–5 stops under), sampled
   log-uniformly because exposure is perceived in stops.
3. **Sensor noise** in linear space, per pixel and channel. A linear value ``y`` in [0, 1] is
   ``y * F`` expected photo-electrons, ``F`` being the electrons at white level (full-well
   capacity divided by the analogue gain: small ``F`` = high ISO). The sensor counts
   ``Poisson(F * y / g_c)`` electrons (shot noise) plus Gaussian read noise of ``r`` electrons
   rms, and the channel is then amplified digitally by ``g_c`` and divided by ``F``:

       y_noisy = g_c * (Poisson(F * y / g_c) + Normal(0, r^2)) / F
       E[y_noisy] = y,   Var[y_noisy] = g_c * y / F + (g_c * r / F)^2

   ``g_c`` is a small per-channel gain around 1 that mimics white-balance gains (a channel the
   sensor is less sensitive to is amplified more, so it carries more noise: colour noise). Noise
   is independent per pixel and channel (no Bayer mosaic/demosaic: a simplification).
4. **Clip** to [0, 1] in linear space (black level and saturation), **re-encode** with the sRGB
   transfer function and **quantise** to uint8 (rounding), like a camera writing 8-bit video.

All positive parameters are sampled log-uniformly from the ranges in :class:`DegradeConfig`; a
range with equal ends fixes the value. :func:`darken_video` samples them once per clip (a camera
does not change exposure or ISO every frame) and draws fresh noise for every frame.

Images are (H, W, 3) uint8 RGB (sRGB-encoded), as everywhere in vidlle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DegradeConfig",
    "srgb_to_linear",
    "linear_to_srgb",
    "sample_params",
    "add_sensor_noise",
    "apply_degradation",
    "darken",
    "darken_seeded",
    "darken_video",
]


@dataclass(frozen=True)
class DegradeConfig:
    """Ranges (low, high) of the darkening parameters, each sampled log-uniformly.

    Attributes:
        exposure: linear exposure scale k. Default (0.03, 0.25): 2 to 5 stops under; a mid-grey
            (sRGB 128) lands at sRGB 19–66, the range of the classic low-light test sets.
        full_well: photo-electrons at white level, F. Default (500, 8000): a small phone/webcam
            pixel at high ISO (~500 e- at white) to a larger sensor at moderate ISO.
        read_noise: Gaussian read noise r, electrons rms. Default (0.5, 3.0): modern CMOS sensors;
            it matters in the deepest shadows and at the smallest F.
            Together, at the middle exposure (k = 0.087) a mid-grey (sRGB 128 → about 37) gets an
            8-bit noise sigma of about 2 (F = 8000, r = 0.5) to 11 levels (F = 500, r = 3):
            from faint to heavy grain, as in real dark footage.
        channel_gain: per-channel (R, G, B independently) noise gain g_c around 1, mean
            preserving. Default (0.8, 1.25): uneven noise across channels (colour noise).
    """

    exposure: tuple[float, float] = (0.03, 0.25)
    full_well: tuple[float, float] = (500.0, 8000.0)
    read_noise: tuple[float, float] = (0.5, 3.0)
    channel_gain: tuple[float, float] = (0.8, 1.25)

    def __post_init__(self) -> None:
        for name in ("exposure", "full_well", "read_noise", "channel_gain"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi):
                raise ValueError(f"DegradeConfig.{name} must be a range 0 < low <= high, got {(lo, hi)}")
        if self.exposure[1] > 1:
            raise ValueError(f"DegradeConfig.exposure darkens: its values must be <= 1, got {self.exposure}")


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer function: encoded values in [0, 1] → linear light in [0, 1] (float64)."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(y: np.ndarray) -> np.ndarray:
    """sRGB transfer function: linear light in [0, 1] → encoded values in [0, 1] (float64)."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(np.maximum(y, 0.0031308), 1 / 2.4) - 0.055)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size)) if hi > lo else np.full(size or (), lo)


def sample_params(rng: np.random.Generator, config: DegradeConfig = DegradeConfig()) -> dict:
    """Draw one set of darkening parameters.

    Returns:
        ``{"exposure": k, "full_well": F, "read_noise": r, "channel_gain": (g_r, g_g, g_b)}``,
        plain Python floats.
    """
    return {
        "exposure": float(_log_uniform(rng, *config.exposure)),
        "full_well": float(_log_uniform(rng, *config.full_well)),
        "read_noise": float(_log_uniform(rng, *config.read_noise)),
        "channel_gain": tuple(float(g) for g in _log_uniform(rng, *config.channel_gain, size=3)),
    }


def add_sensor_noise(
    linear: np.ndarray,
    full_well: float,
    read_noise: float,
    channel_gain: tuple[float, float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Poisson–Gaussian sensor noise on a linear (H, W, 3) float image in [0, 1]; float64, unclipped.

    ``g_c * (Poisson(F * y / g_c) + Normal(0, r^2)) / F`` per pixel and channel c: mean y,
    variance ``g_c * y / F + (g_c * r / F)^2`` (module docstring).
    """
    g = np.asarray(channel_gain, dtype=np.float64)
    electrons = rng.poisson(np.clip(linear, 0.0, None) * (full_well / g)).astype(np.float64)
    electrons += rng.normal(0.0, read_noise, linear.shape)
    return electrons * (g / full_well)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image


def apply_degradation(image: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Darken one (H, W, 3) uint8 RGB frame with fixed ``params`` (from :func:`sample_params`).

    Only the noise is drawn from ``rng``. Returns (H, W, 3) uint8 RGB.
    """
    image = _check_image(image)
    linear = srgb_to_linear(image / 255.0) * params["exposure"]
    noisy = add_sensor_noise(linear, params["full_well"], params["read_noise"], params["channel_gain"], rng)
    encoded = linear_to_srgb(np.clip(noisy, 0.0, 1.0))
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def darken(
    image: np.ndarray, rng: np.random.Generator, config: DegradeConfig = DegradeConfig()
) -> tuple[np.ndarray, dict]:
    """Synthetic low-light version of a well-exposed (H, W, 3) uint8 RGB image.

    Returns:
        (dark (H, W, 3) uint8 RGB, params dict of what was sampled — see :func:`sample_params`).
    """
    image = _check_image(image)
    params = sample_params(rng, config)
    return apply_degradation(image, params, rng), params


def darken_seeded(
    image: np.ndarray, seed: int, config: DegradeConfig = DegradeConfig()
) -> tuple[np.ndarray, dict]:
    """:func:`darken` with a fresh ``np.random.default_rng(seed)``: the same seed gives the same output."""
    return darken(image, np.random.default_rng(seed), config)


def darken_video(
    frames: Iterable[np.ndarray], seed: int, config: DegradeConfig = DegradeConfig()
) -> tuple[Iterator[np.ndarray], dict]:
    """Darken a clip: parameters sampled once (now), fresh noise for every frame (lazily).

    Args:
        frames: (H, W, 3) uint8 RGB frames, any iterable (consumed lazily, one frame at a time).
        seed: the clip's seed; the same seed and frames give the same dark clip.

    Returns:
        (iterator of dark (H, W, 3) uint8 RGB frames in input order, params shared by all frames).
    """
    rng = np.random.default_rng(seed)
    params = sample_params(rng, config)

    def generate() -> Iterator[np.ndarray]:
        for frame in frames:
            yield apply_degradation(frame, params, rng)

    return generate(), params
