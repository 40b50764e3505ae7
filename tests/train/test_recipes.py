import numpy as np
import pytest

from train import metrics
from train.recipes import HELD_OUT_RECIPES, RECIPES, TRAIN_RECIPES, darken_with


def _photo(h: int = 61, w: int = 87) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([80 + 120 * x / w, 60 + 150 * y / h, 200 - 100 * x / w], axis=-1) + rng.normal(0, 5, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_darkens_keeps_shape_and_is_seeded(name):
    ref = _photo()  # odd size on purpose: the H.264 recipe pads and crops back
    a, b, c = darken_with(name, ref, 3), darken_with(name, ref, 3), darken_with(name, ref, 4)
    assert a.shape == ref.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert metrics.mean_brightness(a) < 0.6 * metrics.mean_brightness(ref)


def test_train_and_held_out_recipes_are_disjoint():
    assert set(TRAIN_RECIPES).isdisjoint(HELD_OUT_RECIPES)
    assert set(TRAIN_RECIPES) | set(HELD_OUT_RECIPES) == set(RECIPES)
    with pytest.raises(ValueError, match="unknown recipe"):
        darken_with("fog", _photo(), 0)


def test_illuminant_recipe_tints_the_picture():
    ref = np.full((32, 32, 3), 180, np.uint8)
    tinted = [darken_with("illuminant", ref, s) for s in range(6)]
    # a grey card under a coloured lamp is not grey: R and B differ by more than noise
    assert max(abs(float(t[..., 0].mean()) - float(t[..., 2].mean())) for t in tinted) > 3


def test_picture_metrics():
    gray = np.repeat(_photo()[..., :1], 3, axis=2)
    assert metrics.chroma_level(gray) < 1e-9 and metrics.chroma_level(_photo()) > 2
    flat = np.full((20, 20, 3), 100, np.uint8)
    assert metrics.luma_std(flat) < 1e-9 and metrics.local_contrast(flat) < 1e-3
    checker = np.zeros((20, 20, 3), np.uint8)
    checker[::2, ::2] = 200
    assert metrics.local_contrast(checker) > 50 and metrics.luma_std(checker) > 50
    lamps = flat.copy()
    lamps[:5] = 255
    assert metrics.clipped_share(lamps) == pytest.approx(25.0) and metrics.clipped_share(flat) == 0.0
