"""Several ways to darken a well-exposed photograph: train on some, evaluate on held-out ones.

One synthetic recipe let a paired model learn the recipe instead of the task (a student scored
+6.9 dB over the curve model on its own recipe and +0.3 dB on another). Real night footage differs
in more than exposure and sensor noise: the camera's response curve, the colour of the light
(sodium and LED street lamps) and the codec. Each recipe here is a pure function of the image and
a ``numpy.random.Generator``; parameters are drawn per call. Images are (H, W, 3) uint8 sRGB.

* ``sensor`` — :func:`train.degrade.darken`: linear-light exposure (2-5 stops under) with
  Poisson-Gaussian sensor noise, sRGB transfer function (documented there).
* ``illuminant`` — as ``sensor`` but lit by a coloured lamp: the linear image is tinted by a
  sodium (orange), warm-LED or cool-LED illuminant of random strength before the exposure.
* ``jpeg`` — ``sensor`` followed by JPEG compression (quality 30-70; blocking and ringing).
* ``crf`` — a different camera: linearised with a power-law response of exponent 1.8-2.6, dark
  exposure, Gaussian noise added *after* the response (a camera that denoises in RAW leaves noise
  of roughly constant level in the encoded image, 1-5 levels), re-encoded with the same power law.
* ``h264`` — ``sensor`` followed by H.264 (libx264 through PyAV, CRF 28-36, 4:2:0): the
  compression a surveillance camera's stream carries.

:data:`TRAIN_RECIPES` train the SKF student; :data:`HELD_OUT_RECIPES` only evaluate it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
import av
# isort: on
import numpy as np

from train.degrade import _log_uniform, add_sensor_noise, darken, linear_to_srgb, srgb_to_linear

Recipe = Callable[[np.ndarray, np.random.Generator], np.ndarray]

# Linear-RGB tints, brightest channel 1 (relative spectral weight of the lamp per channel).
_ILLUMINANTS = {
    "sodium": (1.0, 0.62, 0.22),
    "warm_led": (1.0, 0.82, 0.62),
    "cool_led": (0.78, 0.9, 1.0),
}


def _to_uint8(encoded: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def sensor(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return darken(image, rng)[0]


def illuminant(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    names = sorted(_ILLUMINANTS)
    tint = np.asarray(_ILLUMINANTS[names[int(rng.integers(len(names)))]])
    strength = rng.uniform(0.4, 1.0)
    tint = 1.0 - strength * (1.0 - tint)
    linear = srgb_to_linear(image / 255.0) * tint * float(_log_uniform(rng, 0.03, 0.25))
    noisy = add_sensor_noise(linear, float(_log_uniform(rng, 500.0, 8000.0)), float(_log_uniform(rng, 0.5, 3.0)),
                             tuple(float(g) for g in _log_uniform(rng, 0.8, 1.25, size=3)), rng)
    return _to_uint8(linear_to_srgb(np.clip(noisy, 0.0, 1.0)))


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = sensor(image, rng)
    quality = int(rng.integers(30, 71))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(dark, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def crf(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gamma = rng.uniform(1.8, 2.6)
    linear = (image / 255.0) ** gamma * float(_log_uniform(rng, 0.03, 0.25))
    encoded = np.clip(linear, 0.0, 1.0) ** (1.0 / gamma)
    encoded = encoded + rng.normal(0.0, float(_log_uniform(rng, 1.0, 5.0)) / 255.0, encoded.shape)
    return _to_uint8(np.clip(encoded, 0.0, 1.0))


def h264(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = sensor(image, rng)
    height, width = dark.shape[:2]
    # 4:2:0 needs even sizes: pad by edge repetition, crop back after decoding.
    padded = cv2.copyMakeBorder(dark, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"crf": str(int(rng.integers(28, 37))), "preset": "veryfast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if len(decoded) != 1:
        raise RuntimeError(f"H.264 round trip gave {len(decoded)} frames")
    return np.ascontiguousarray(decoded[0].to_ndarray(format="rgb24")[:height, :width])


RECIPES: dict[str, Recipe] = {
    "sensor": sensor,
    "illuminant": illuminant,
    "jpeg": jpeg,
    "crf": crf,
    "h264": h264,
}
TRAIN_RECIPES = ("sensor", "illuminant", "jpeg")
HELD_OUT_RECIPES = ("crf", "h264")


def darken_with(name: str, image: np.ndarray, seed: int) -> np.ndarray:
    """Recipe ``name`` applied with ``np.random.default_rng(seed)`` (same seed, same output)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name](np.asarray(image), np.random.default_rng(seed))
