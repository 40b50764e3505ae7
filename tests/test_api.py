import numpy as np
import pytest

from vidlle import Enhancer
from vidlle.errors import BackendError, FrameError
from vidlle.io.synth import night_frame


@pytest.fixture(scope="module", params=["curve", "skf"])
def enhancer(request):
    """Both shipped models through the same API (the SKF student shares the apply step)."""
    return Enhancer(request.param)


def test_enhance_brightens_a_dark_frame(enhancer):
    dark = night_frame(3, 180, 320, np.random.default_rng(0))
    out = enhancer.enhance(dark)
    assert out.shape == dark.shape and out.dtype == np.uint8
    assert out.mean() > 2.5 * dark.mean()
    # order of brightness is kept: the lamp pool stays brighter than the sky
    assert out[60:80, 80:110].mean() > out[0:10, 250:320].mean()


def test_batch_equals_single_frames(enhancer):
    rng = np.random.default_rng(1)
    frames = [night_frame(i, 90, 160, rng) for i in range(3)] + [night_frame(0, 33, 17, rng)]
    batch = enhancer.enhance_batch(frames)
    for f, b in zip(frames, batch):
        assert np.array_equal(b, enhancer.enhance(f))


@pytest.mark.parametrize("shape", [(2, 2), (1, 1), (97, 161), (2160, 3840)])
def test_odd_tiny_and_4k_frames_are_enhanced(enhancer, shape):
    frame = np.full((*shape, 3), 20, np.uint8)
    out = enhancer.enhance(frame)
    assert out.shape == frame.shape
    assert out.mean() > 40


def test_bad_frames_raise_frame_error(enhancer):
    with pytest.raises(FrameError):
        enhancer.enhance(np.zeros((10, 10), np.uint8))
    with pytest.raises(FrameError):
        enhancer.enhance(np.zeros((0, 10, 3), np.uint8))


def test_unknown_backend_and_fp16_on_cpu_are_clear_errors():
    with pytest.raises(BackendError, match="unknown backend"):
        Enhancer("curve", backend="nope")
    with pytest.raises(BackendError, match="fp16"):
        Enhancer("curve", backend="torch", precision="fp16")


def test_skf_student_uses_its_own_learned_curves():
    curve, skf = Enhancer("curve"), Enhancer("skf")
    assert not np.allclose(curve.tone.table, skf.tone.table, atol=1.0)
    dark = night_frame(5, 120, 200, np.random.default_rng(3))
    assert not np.array_equal(curve.enhance(dark), skf.enhance(dark))
