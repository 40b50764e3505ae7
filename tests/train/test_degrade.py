"""Tests for train/degrade.py: determinism, darkness, the Poisson–Gaussian noise statistics, clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.degrade import (
    DegradeConfig,
    add_sensor_noise,
    apply_degradation,
    darken,
    darken_seeded,
    darken_video,
    linear_to_srgb,
    sample_params,
    srgb_to_linear,
)
from train.metrics import mean_brightness

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _fixed(exposure, full_well, read_noise, gain=(1.0, 1.0)):
    return DegradeConfig(
        exposure=(exposure, exposure),
        full_well=(full_well, full_well),
        read_noise=(read_noise, read_noise),
        channel_gain=gain,
    )


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    path = DATA / "wellexposed" / "CBSD68" / "101085.png"
    if path.is_file():
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    # Fallback: a smooth synthetic scene with edges, so the tests run without shared data.
    y, x = np.mgrid[0:160, 0:240]
    img = np.stack([x / 240 * 255, y / 160 * 255, (x + y) % 64 * 4], axis=-1)
    return img.astype(np.uint8)


def test_srgb_transfer_roundtrip_and_known_values():
    v = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-12)
    assert srgb_to_linear(0.5) == pytest.approx(0.21404, abs=1e-5)  # sRGB mid-grey is ~21% linear
    assert srgb_to_linear(0.04045) == pytest.approx(0.04045 / 12.92)


def test_darken_is_deterministic_for_a_seed(photo):
    a, pa = darken_seeded(photo, 7)
    b, pb = darken_seeded(photo, 7)
    assert a.dtype == np.uint8 and a.shape == photo.shape
    assert np.array_equal(a, b) and pa == pb
    c, pc = darken(photo, np.random.default_rng(7))
    assert np.array_equal(a, c) and pa == pc


def test_different_seeds_differ(photo):
    a, pa = darken_seeded(photo, 1)
    b, pb = darken_seeded(photo, 2)
    assert not np.array_equal(a, b)
    assert pa["exposure"] != pb["exposure"]
    # Same parameters, different noise draw: still different pixels.
    params = sample_params(np.random.default_rng(0))
    x = apply_degradation(photo, params, np.random.default_rng(1))
    y = apply_degradation(photo, params, np.random.default_rng(2))
    assert not np.array_equal(x, y)


def test_params_are_within_the_configured_ranges():
    cfg = DegradeConfig()
    for seed in range(50):
        p = sample_params(np.random.default_rng(seed), cfg)
        assert cfg.exposure[0] <= p["exposure"] <= cfg.exposure[1]
        assert cfg.full_well[0] <= p["full_well"] <= cfg.full_well[1]
        assert cfg.read_noise[0] <= p["read_noise"] <= cfg.read_noise[1]
        assert len(p["channel_gain"]) == 3
        assert all(cfg.channel_gain[0] <= g <= cfg.channel_gain[1] for g in p["channel_gain"])
    with pytest.raises(ValueError):
        DegradeConfig(exposure=(0.5, 0.1))
    with pytest.raises(ValueError):
        DegradeConfig(full_well=(0.0, 10.0))


def test_output_is_darker_as_exposure_predicts(photo):
    base = mean_brightness(photo)
    ratios, exposures = [], []
    for seed in range(6):
        dark, p = darken_seeded(photo, seed)
        ratios.append(mean_brightness(dark) / base)
        exposures.append(p["exposure"])
    # 2–5 stops under: roughly exposure ** (1 / 2.4) of the sRGB brightness, less in the toe.
    assert all(0.1 < r < 0.65 for r in ratios), ratios
    assert np.argsort(ratios).tolist() == np.argsort(exposures).tolist()
    # Without noise the darkening is exactly the sRGB-linear scaling.
    dark, _ = darken_seeded(photo, 0, _fixed(0.1, 1e9, 1e-3))
    expect = np.rint(linear_to_srgb(srgb_to_linear(photo / 255.0) * 0.1) * 255)
    assert np.abs(dark.astype(float) - expect).max() <= 1


@pytest.mark.parametrize("gain", [(1.0, 1.0), (0.8, 1.25)])
def test_sensor_noise_matches_poisson_gaussian_model(gain):
    """In linear space: mean y, variance g y / F + (g r / F)^2, per channel."""
    full_well, read_noise = 1000.0, 3.0
    g = sample_params(np.random.default_rng(3), DegradeConfig(channel_gain=gain))["channel_gain"]
    rng = np.random.default_rng(0)
    for y in (0.002, 0.05):  # read-noise-dominated and shot-noise-dominated
        out = add_sensor_noise(np.full((200, 200, 3), y), full_well, read_noise, g, rng)
        for c in range(3):
            var = g[c] * y / full_well + (g[c] * read_noise / full_well) ** 2
            assert out[..., c].mean() == pytest.approx(y, abs=4 * np.sqrt(var / 40000))
            assert out[..., c].var() == pytest.approx(var, rel=0.03)


def test_flat_grey_output_variance_matches_model():
    """End to end on a flat grey frame: the 8-bit variance is the model's linear variance carried
    through the sRGB curve (delta method) plus the uniform quantisation variance 1/12."""
    level, k, full_well, read_noise = 200, 0.25, 4000.0, 2.0
    grey = np.full((256, 256, 3), level, np.uint8)
    dark, _ = darken_seeded(grey, 0, _fixed(k, full_well, read_noise))
    y = float(srgb_to_linear(level / 255.0)) * k
    var_lin = y / full_well + (read_noise / full_well) ** 2
    slope = 255 * 1.055 / 2.4 * y ** (1 / 2.4 - 1)  # d(8-bit sRGB)/d(linear) at y
    predicted = slope**2 * var_lin + 1 / 12
    assert dark.astype(float).var() == pytest.approx(predicted, rel=0.03)
    assert dark.mean() == pytest.approx(255 * float(linear_to_srgb(y)), abs=0.3)


def test_channel_gain_gives_uneven_channel_noise():
    grey = np.full((128, 128, 3), 128, np.uint8)
    dark, _ = darken_seeded(
        grey,
        0,
        DegradeConfig(
            exposure=(0.1, 0.1), full_well=(1000, 1000), read_noise=(1, 1), channel_gain=(0.8, 1.25)
        ),
    )
    stds = dark.reshape(-1, 3).astype(float).std(axis=0)
    assert stds.max() / stds.min() > 1.05


def test_darken_video_fixes_parameters_per_clip_with_fresh_noise(photo):
    frames = [photo] * 4
    it, params = darken_video(iter(frames), seed=5)
    out = list(it)
    assert len(out) == 4 and all(f.shape == photo.shape and f.dtype == np.uint8 for f in out)
    # Same exposure on every frame: same brightness (up to noise)...
    means = [f.mean() for f in out]
    assert max(means) - min(means) < 0.1
    # ...and the very parameters apply_degradation would use: same statistics as a fresh draw.
    single = apply_degradation(photo, params, np.random.default_rng(99))
    assert abs(single.mean() - np.mean(means)) < 0.1
    # Fresh noise per frame.
    assert not np.array_equal(out[0], out[1]) and not np.array_equal(out[1], out[2])
    # Deterministic per seed; a different seed gives another clip.
    again, params2 = darken_video(frames, seed=5)
    assert params2 == params and all(np.array_equal(a, b) for a, b in zip(again, out, strict=True))
    _, params3 = darken_video(frames, seed=6)
    assert params3 != params


def test_darken_video_is_lazy():
    consumed = []

    def frames():
        for i in range(3):
            consumed.append(i)
            yield np.full((8, 8, 3), 100, np.uint8)

    it, _ = darken_video(frames(), seed=0)
    assert consumed == []
    next(it)
    assert consumed == [0]


def test_rejects_non_rgb_uint8():
    with pytest.raises(ValueError):
        darken_seeded(np.zeros((8, 8), np.uint8), 0)
    with pytest.raises(ValueError):
        darken_seeded(np.zeros((8, 8, 3), np.float32), 0)
