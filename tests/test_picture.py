"""The picture contract, for every shipped model through the product path (Enhancer):
monochrome stays monochrome, hues are kept, well-exposed frames pass, dark frames are lifted
without blowing their highlights."""

import numpy as np
import pytest

from vidlle import Enhancer
from vidlle.io.synth import night_frame
from tests.support.picture import hue_sat

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=["curve", "skf"])
def model(request):
    return request.param


@pytest.fixture(scope="module")
def enhancer(model):
    return Enhancer(model, backend="torch")


def _well_exposed(h: int = 120, w: int = 200) -> np.ndarray:
    """A daylight-like frame: smooth colour gradients, mean luma ~0.45, texture."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 90 + 110 * x / w
    g = 70 + 120 * y / h
    b = 160 - 90 * (x + y) / (w + h)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_monochrome_in_monochrome_out(enhancer):
    dark = night_frame(3, 180, 320, np.random.default_rng(0))
    gray = np.repeat(dark.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    out = enhancer.enhance(gray)
    assert out.mean() > 2 * gray.mean()  # it was enhanced
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_well_exposed_frame_passes_unchanged(enhancer):
    frame = _well_exposed()
    out = enhancer.enhance(frame)
    assert np.abs(out.astype(int) - frame).max() <= 1


def test_dark_frame_is_lifted_with_contrast_and_no_new_clipping(enhancer):
    dark = night_frame(5, 180, 320, np.random.default_rng(1))
    out = enhancer.enhance(dark)
    luma = lambda a: a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    assert luma(out).mean() >= 25 > luma(dark).mean()
    assert luma(out).std() > luma(dark).std()
    clipped = lambda a: (a.max(axis=2) >= 250).mean() * 100  # noqa: E731
    assert clipped(out) <= clipped(dark) + 0.5


def test_hue_of_a_colour_patch_is_kept(enhancer):
    frame = np.full((90, 160, 3), 6, np.uint8)
    frame[30:60, 50:110] = (40, 22, 6)  # sodium-orange object in a dark scene
    out = enhancer.enhance(frame).astype(float)
    patch = out[40:50, 70:90].reshape(-1, 3).mean(axis=0)
    assert patch[0] > 60  # brightened
    (h_in, s_in), (h_out, s_out) = hue_sat((40, 22, 6)), hue_sat(patch)
    assert abs(h_out - h_in) < 2.0 and s_out > 0.75 * s_in  # same hue, most of the saturation


def test_strength_zero_is_a_pass_through_and_fixed_strength_brightens_well_exposed(model):
    dark = night_frame(2, 90, 160, np.random.default_rng(2))
    assert np.array_equal(Enhancer(model, backend="torch", strength=0.0).enhance(dark), dark)
    frame = _well_exposed()
    forced = Enhancer(model, backend="torch", strength=1.0).enhance(frame)
    assert np.abs(forced.astype(int) - frame).mean() > 1  # the user asked for it: the curve runs
