"""Segmentation overlay on a real photo with the real ESPNetv2 weights."""

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CITY = SHARED / "weights" / "espnetv2" / "espnetv2_s_2.0_city_1024x512.pth"
PHOTO = SHARED / "data" / "wellexposed" / "CBSD68"

pytestmark = pytest.mark.skipif(not CITY.is_file(), reason="ESPNetv2 weights not in ../shared/weights")


@pytest.fixture(scope="module")
def overlay():
    from vidlle.overlay import OverlayConfig, SegmentationOverlay

    return SegmentationOverlay.load(str(CITY), OverlayConfig(every=3, size=256))


def street_photo():
    photos = sorted(PHOTO.glob("*.png"))
    if not photos:
        pytest.skip("no photos in ../shared/data/wellexposed")
    return cv2.cvtColor(cv2.imread(str(photos[0])), cv2.COLOR_BGR2RGB)


def test_overlay_blends_palette_colours_and_reuses_labels(overlay, monkeypatch):
    frame = street_photo()
    out = overlay(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    labels = cv2.resize(overlay.segment(frame), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)
    # where a class with a visible alpha was found, the pixel moved towards its palette colour
    a = overlay.alpha[labels][..., None]
    expected = frame * (1 - a) + overlay.palette[labels] * a
    body = np.s_[frame.shape[0] // 2:, frame.shape[1] // 2:]  # away from the legend
    assert np.abs(out[body].astype(float) - expected[body]).mean() < 1.0
    assert (a > 0).mean() > 0.5
    # segmenter runs every 3rd frame only
    calls = []
    real = overlay.segment
    monkeypatch.setattr(overlay, "segment", lambda f: calls.append(1) or real(f))
    for _ in range(6):
        overlay(frame)
    assert len(calls) == 2


def test_overlay_disabled_is_identity_and_enhancer_applies_it(overlay):
    from vidlle import Enhancer

    frame = (street_photo() // 4).astype(np.uint8)
    overlay.enabled = False
    assert overlay(frame) is frame
    overlay.enabled = True
    plain = Enhancer("curve", backend="torch").enhance(frame)
    drawn = Enhancer("curve", backend="torch", overlay=overlay).enhance(frame)
    assert drawn.shape == plain.shape and np.abs(drawn.astype(int) - plain).mean() > 2.0
