"""The spatial denoiser (vidlle/denoise.py) in the one full-resolution pass (vidlle/_fastapply.c)."""

import subprocess
import sys

import numpy as np
import pytest

from vidlle import Enhancer
from vidlle.apply import Blend, _apply_opencv, apply_params, blend_frames, curve_tone, luma_map
from vidlle.denoise import DenoiseConfig, noise_sigma, plan_denoise
from vidlle.fused import native
from vidlle.predictor import ReducedCopies


def dark_scene(shape=(96, 160), sigma=2.0, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) uint8 RGB: a dark brownish wall left, a slightly brighter one right (a
    vertical edge at the middle), Gaussian sensor noise of ``sigma`` levels per channel."""
    h, w = shape
    clean = np.zeros((h, w, 3), np.float32)
    clean[:, : w // 2] = (14, 10, 7)
    clean[:, w // 2 :] = (30, 26, 20)
    rng = np.random.default_rng(seed)
    noisy = np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)
    return noisy, clean.astype(np.uint8)


LIFT = np.full((3, 4, 6), -0.9, np.float32)  # a strong lift everywhere (gain ~5-8 at these levels)


def enhance(frame, strength=1.0, config=DenoiseConfig(), blend=None):
    guide = plan_denoise(ReducedCopies(frame).at(2), config)
    return apply_params(frame, LIFT, curve_tone(8), strength, 0.5, blend, guide)


def flat_noise(out: np.ndarray, shape) -> float:
    """Std of the luma over the left wall's interior (away from the edge and the borders)."""
    h, w = shape
    region = out[8 : h - 8, 8 : w // 2 - 12].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float(region.std())


def test_noise_in_lifted_flat_regions_drops_and_the_edge_stays():
    noisy, clean = dark_scene()
    plain = apply_params(noisy, LIFT, curve_tone(8), 1.0, 0.5)
    denoised = enhance(noisy)
    assert flat_noise(denoised, noisy.shape[:2]) < 0.5 * flat_noise(plain, noisy.shape[:2])
    # The step between the walls is not smeared: two columns either side of it differ at least
    # as much as in the clean lifted picture (a blur over the edge would halve it).
    ref = apply_params(clean, LIFT, curve_tone(8), 1.0, 0.5).astype(float).mean(axis=(0, 2))
    got = denoised.astype(float).mean(axis=(0, 2))
    w = noisy.shape[1]
    assert got[w // 2 + 1] - got[w // 2 - 2] > 0.9 * (ref[w // 2 + 1] - ref[w // 2 - 2])
    # Brightness is kept: denoising is no tone change (within ~1 %: the concave curve of a noisy
    # pixel averages a little lower than the curve of its mean).
    assert abs(denoised.mean() - plain.mean()) < 2.0


def test_chroma_noise_is_filtered_harder_than_luma():
    noisy, _ = dark_scene(sigma=3.0, seed=1)
    plain, denoised = apply_params(noisy, LIFT, curve_tone(8), 1.0, 0.5).astype(float), enhance(noisy).astype(float)

    def chroma_std(img):
        y = img @ np.array([0.299, 0.587, 0.114])
        return float((img[8:-8, 8:60, 0] - y[8:-8, 8:60]).std())

    assert chroma_std(denoised) < 0.35 * chroma_std(plain)


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_nothing_changes_where_nothing_is_lifted(strength):
    noisy, _ = dark_scene()
    guide = plan_denoise(ReducedCopies(noisy).at(2), DenoiseConfig())
    # strength 0: gain 1 everywhere; a map of +1 with strength 1: the curve darkens (gain <= 1).
    params = LIFT if strength == 0.0 else np.ones_like(LIFT)
    with_guide = apply_params(noisy, params, curve_tone(8), strength, 0.5, guide=guide)
    without = apply_params(noisy, params, curve_tone(8), strength, 0.5)
    assert np.array_equal(with_guide, without)
    if strength == 0.0:
        assert np.array_equal(with_guide, noisy)


def test_well_exposed_frame_passes_bit_exact_with_denoising_on():
    rng = np.random.default_rng(5)
    frame = np.clip(rng.normal(128, 40, (90, 120, 3)), 0, 255).astype(np.uint8)
    out = Enhancer("curve", denoise=1.0).enhance(frame)
    assert np.array_equal(out, frame)


def test_monochrome_stays_monochrome():
    noisy, _ = dark_scene(sigma=2.5, seed=2)
    gray = np.repeat(noisy[..., 1:2], 3, axis=2)
    out = enhance(gray, config=DenoiseConfig(strength=2.0))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out.mean() > gray.mean() + 10


def test_strength_zero_is_off_and_two_is_stronger():
    noisy, _ = dark_scene(seed=3)
    assert plan_denoise(ReducedCopies(noisy).at(2), DenoiseConfig(strength=0.0)) is None
    shape = noisy.shape[:2]
    weak = flat_noise(enhance(noisy, config=DenoiseConfig(strength=0.5)), shape)
    default = flat_noise(enhance(noisy), shape)
    strong = flat_noise(enhance(noisy, config=DenoiseConfig(strength=2.0)), shape)
    assert strong < default < weak


def test_noise_estimate_follows_the_noise():
    rng = np.random.default_rng(4)
    for sigma in (1.0, 4.0):
        luma = (40 + rng.normal(0, sigma, (200, 300))).astype(np.float32)
        est = noise_sigma(luma, np.full_like(luma, 40.0))[40]
        assert abs(est - sigma) < 0.2 * sigma


@pytest.mark.skipif(native() is None, reason="the C extension is not built here")
@pytest.mark.parametrize("shape", [(96, 160), (97, 161), (2, 2), (1, 5), (41, 7)])
@pytest.mark.parametrize("with_blend", [False, True])
def test_compiled_pass_matches_numpy_fallback(shape, with_blend):
    noisy, _ = dark_scene(shape, sigma=3.0, seed=6) if min(shape) > 2 else (
        np.random.default_rng(6).integers(0, 40, (*shape, 3), dtype=np.uint8), None)
    tone = curve_tone(8)
    params = np.random.default_rng(7).uniform(-1, 0, (3, 5, 7)).astype(np.float32)
    guide = plan_denoise(ReducedCopies(noisy).at(2), DenoiseConfig())
    blend = None
    if with_blend:
        prev = np.random.default_rng(8).integers(0, 120, noisy.shape, dtype=np.uint8)
        classes = np.random.default_rng(9).integers(0, 3, (max(1, shape[0] // 4), max(1, shape[1] // 4)), dtype=np.uint8)
        blend = Blend(prev, classes, (0.2, 0.5, 1.0), (0.3, 0.6, 1.0))
    compiled = apply_params(noisy, params, tone, 0.9, 0.5, blend, guide)
    rows = (luma_map(params, 0.5) + 1.0) * ((tone.rows - 1) / 2.0)
    spatial = None if blend is None else blend.per_pixel(blend.shares, *shape)
    fallback = _apply_opencv(noisy, rows, tone, 0.9, guide, spatial)
    if blend is not None:
        fallback = blend_frames(fallback, blend)
    diff = np.abs(compiled.astype(int) - fallback)
    # float order of operations differs; a brightness exactly at a rounding tie can pick the
    # neighbouring table column (a few levels at high gain): allow that for a handful of pixels.
    assert np.mean(diff <= 1) > 0.999 and diff.max() <= 4


def test_config_checks():
    with pytest.raises(ValueError):
        DenoiseConfig(strength=2.5)
    with pytest.raises(ValueError):
        DenoiseConfig(full_gain=1.0)


def test_cli_denoise_setting_range(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vidlle", "enhance", str(tmp_path / "x.png"), str(tmp_path / "y.png"),
                          "--denoise", "3"], capture_output=True, text=True)
    assert out.returncode == 2 and "denoise" in out.stderr.lower()


def test_denoise_is_a_camera_file_setting(tmp_path):
    from vidlle.scale.config import ConfigError, parse_config

    doc = {"cameras": [{"name": "yard", "source": "testsrc:64x48@5", "denoise": 0.5},
                       {"name": "gate", "source": "testsrc:64x48@5"}]}
    yard, gate = parse_config(doc, base_dir=tmp_path, origin="cams.yaml").cameras
    assert yard.enhancer.denoise == 0.5 and gate.enhancer.denoise == 1.0
    with pytest.raises(ConfigError, match="denoise"):
        parse_config({"cameras": [{"name": "a", "source": "testsrc", "denoise": 3}]}, base_dir=tmp_path)
