import numpy as np
import pytest

from vidlle.exposure import ExposureConfig, auto_strength, frame_exposure, frame_strength


def _small(level: float, h: int = 72, w: int = 128) -> np.ndarray:
    return np.full((3, h, w), level, np.float32)


def test_exposure_is_mean_luma():
    small = _small(0.2)
    small[0] = 0.5  # R up: luma 0.299 * 0.5 + 0.701 * 0.2
    assert frame_exposure(small) == pytest.approx(0.299 * 0.5 + 0.701 * 0.2, abs=1e-6)


def test_letterbox_and_pillarbox_bars_do_not_count():
    picture = _small(0.3, 54, 96)
    boxed = np.zeros((3, 72, 128), np.float32)
    boxed[:, 9:63, 16:112] = picture
    assert frame_exposure(boxed) == pytest.approx(0.3, abs=1e-6)
    # a dark noisy scene is not a bar: only near-black *flat* edge lines are cut
    rng = np.random.default_rng(0)
    dark = np.clip(rng.normal(0.02, 0.02, (3, 72, 128)), 0, 1).astype(np.float32)
    dark[:, 30:40, 50:60] = 0.6
    assert frame_exposure(dark) == pytest.approx(frame_exposure_uncut(dark), abs=1e-6)
    # a flat black sky around one lit window: at most a quarter of each side goes
    sky = _small(0.0)
    sky[:, 34:38, 62:66] = 0.9
    assert frame_exposure(sky) < 0.9 * 16 / (36 * 64) + 1e-6
    assert frame_exposure(np.zeros((3, 8, 8), np.float32)) == 0.0


def frame_exposure_uncut(small: np.ndarray) -> float:
    return float(np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), small, axes=1).mean())


def test_strength_is_full_for_night_none_for_well_exposed_and_monotone_between():
    c = ExposureConfig()
    assert auto_strength(0.02, c) == 1.0 and auto_strength(c.dark, c) == 1.0
    assert auto_strength(c.bright, c) == 0.0 and auto_strength(0.6, c) == 0.0
    levels = np.linspace(0, 1, 201)
    k = [auto_strength(float(m), c) for m in levels]
    assert all(a >= b for a, b in zip(k, k[1:]))
    # smooth: no jump between neighbouring exposures (a dusk fade must not pump)
    assert max(abs(a - b) for a, b in zip(k, k[1:])) < 0.1


def test_fixed_strength_overrides_and_bad_configs_fail():
    assert frame_strength(_small(0.6), ExposureConfig(strength=0.7)) == 0.7
    assert frame_strength(_small(0.6)) == 0.0
    with pytest.raises(ValueError):
        ExposureConfig(dark=0.5, bright=0.4)
    with pytest.raises(ValueError):
        ExposureConfig(strength=3.0)
