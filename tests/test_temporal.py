"""Temporal processing through the product path: an Enhancer with temporal on over generated
clips, against the same Enhancer frame by frame. Stable maps, static noise averaged away, no
ghosts or colour trails behind moving things, light changes followed at once."""

from fractions import Fraction

import numpy as np
import pytest

from vidlle import Enhancer
from vidlle.frames import Frame
from vidlle.fused import native
from vidlle.temporal import TemporalConfig, TemporalState


def scene(i: int, rng, h=96, w=160, light=1.0, box_x=None, noise=1.5):
    """A dark static gradient (6..30 levels) with a brighter box moving across it; returns
    (frame (h, w, 3) uint8, the box's mask (h, w) bool)."""
    base = np.linspace(6, 30, w, dtype=np.float32)[None, :].repeat(h, 0) * light
    img = np.repeat(base[..., None], 3, axis=2)
    mask = np.zeros((h, w), bool)
    if box_x is not None:
        x = box_x(i)
        mask[30:60, x:x + 20] = True
        img[mask] = 70.0 * light
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask


def enhance_clip(frames, temporal: bool, **settings) -> tuple[list[np.ndarray], Enhancer]:
    """The frames through one Enhancer, in order. The spatial denoiser is off unless asked for:
    these tests are about the temporal stage, compared with the enhancer frame by frame."""
    enhancer = Enhancer("curve", temporal=temporal, **{"denoise": 0.0, **settings})
    return [enhancer.enhance(f) for f in frames], enhancer


def static_noise(outs, region):
    stack = np.stack([o[region].astype(np.float32) for o in outs])
    return float(np.abs(np.diff(stack, axis=0)).mean())


def test_static_noise_halved_and_no_ghost_behind_moving_box():
    rng = np.random.default_rng(0)
    data = [scene(i, rng, box_x=lambda i: 4 + 6 * i) for i in range(20)]
    frames = [f for f, _ in data]
    outs, _ = enhance_clip(frames, temporal=True)
    plain, _ = enhance_clip(frames, temporal=False)
    assert plain[5].mean() > 5 * frames[5].mean()  # the curve lifts (and amplifies the noise)
    still = (slice(70, 96), slice(None))  # below the box's path: never moves
    assert static_noise(outs[5:], still) < 0.5 * static_noise(plain[5:], still)
    # Where the box is now, and where it just was, the output follows the frame (no trail).
    for i in range(8, 20):
        now, before = data[i][1], data[i - 1][1]
        for region in (now, before & ~now):
            err = np.abs(outs[i][region].astype(float) - plain[i][region].astype(float)).mean()
            assert err / plain[i][region].mean() < 0.05, (i, err)


def test_light_step_is_followed_on_the_frame_it_happens():
    rng = np.random.default_rng(1)
    frames = [scene(i, rng, light=1.0 if i < 10 else 1.5)[0] for i in range(16)]
    outs, _ = enhance_clip(frames, temporal=True)
    plain, _ = enhance_clip(frames, temporal=False)
    # The step resets the state: that frame is taken as it comes (its own map, no blend), and
    # only that one (the next is blended again).
    assert np.array_equal(outs[10], plain[10]) and not np.array_equal(outs[11], plain[11])
    for i in range(10, 16):
        level, truth = outs[i].astype(float).mean(), plain[i].astype(float).mean()
        assert abs(level - truth) / truth < 0.02, i


def test_maps_are_smoothed_where_still_and_followed_where_changed():
    rng = np.random.default_rng(2)
    state = TemporalState()
    small = np.full((3, 16, 16), 0.2, np.float32)
    maps = [(-0.5 + 0.1 * rng.standard_normal((3, 16, 16))).astype(np.float32) for _ in range(30)]
    smoothed = [state.smooth_params(small, m) for m in maps]
    jitter_in = np.abs(np.diff(np.stack(maps[10:]), axis=0)).mean()
    jitter_out = np.abs(np.diff(np.stack(smoothed[10:]), axis=0)).mean()
    assert jitter_out < 0.5 * jitter_in
    # a local change of the input (something appeared; too small to be a light change) takes
    # the new map there at once, while still regions move only part of the way
    changed = small.copy()
    changed[:, :4, :4] = 0.35
    target = np.full((3, 16, 16), -0.9, np.float32)
    out = state.smooth_params(changed, target)
    assert np.allclose(out[:, :3, :3], -0.9, atol=1e-5)
    assert np.abs(out[:, 8:, 8:] - (-0.9)).min() > 0.1


def test_first_frame_is_the_plain_output_and_reset_forgets():
    rng = np.random.default_rng(3)
    frames = [scene(i, rng)[0] for i in range(3)]
    plain, _ = enhance_clip(frames, temporal=False)
    outs, enhancer = enhance_clip(frames[:2], temporal=True)
    assert np.array_equal(outs[0], plain[0])
    assert not np.array_equal(outs[1], plain[1])  # blended with the previous output
    enhancer.reset()
    assert np.array_equal(enhancer.enhance(frames[2]), plain[2])
    # A discontinuity (a live source reconnected) resets the state the same way.
    marked = [Frame(image=f, pts=i, time_base=Fraction(1, 25), index=i, discontinuity=i == 2)
              for i, f in enumerate(frames)]
    out = Enhancer("curve", temporal=True, denoise=0.0).enhance_frames(marked)
    assert np.array_equal(out[2].image, plain[2]) and not np.array_equal(out[1].image, plain[1])


def test_without_temporal_denoising_nothing_is_blended():
    # At strength 0 the curve passes every frame unchanged: only a blend could change them.
    rng = np.random.default_rng(3)
    frames = [scene(i, rng)[0] for i in range(4)]
    outs, _ = enhance_clip(frames, temporal=True, strength=0.0, temporal_config=TemporalConfig(denoise=False))
    assert all(np.array_equal(o, f) for o, f in zip(outs, frames))
    outs, _ = enhance_clip(frames, temporal=True, strength=0.0)
    assert np.array_equal(outs[0], frames[0]) and not np.array_equal(outs[1], frames[1])


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (2161, 3841, 3)])
def test_any_frame_size(shape):
    rng = np.random.default_rng(4)
    outs, _ = enhance_clip([rng.integers(0, 40, shape, dtype=np.uint8) for _ in range(3)], temporal=True,
                           denoise=1.0)
    assert all(o.shape == shape and o.dtype == np.uint8 for o in outs)


def test_temporal_denoising_starts_with_a_cumulative_mean():
    # After a reset the first frames are averaged with weights 1/2, 1/3, 1/4 ...: a still, noisy
    # scene is as clean after n frames as their mean (the plain recursive filter would keep
    # 0.83 of the noise after two frames, and drift in brightness while it settles). The scene
    # is well exposed, so the curve passes it unchanged and the temporal stage is all that acts.
    rng = np.random.default_rng(0)
    frames = [np.clip(80 + rng.normal(0, 6, (96, 128, 3)), 0, 255).astype(np.uint8) for _ in range(4)]
    plain, _ = enhance_clip(frames, temporal=False, denoise=1.0)
    assert all(np.array_equal(p, f) for p, f in zip(plain, frames))
    outs, _ = enhance_clip(frames, temporal=True, denoise=1.0)
    for n, (frame, out) in enumerate(zip(frames, outs)):
        assert abs(out.mean() - frame.mean()) < 0.6
        assert out.std() == pytest.approx(frame.std() / np.sqrt(n + 1), rel=0.1)


def test_no_colour_trail_behind_iso_luminant_motion():
    # A blue block crossing a brown background of (almost) the same luminance, in the dark: a
    # gray-level motion test sees nothing and the recursive average would smear blue behind it.
    rng = np.random.default_rng(1)
    background, block = np.array([24, 20, 12], np.float32), np.array([14, 20, 34], np.float32)
    frames = []
    for i in range(12):
        img = np.broadcast_to(background, (64, 160, 3)).copy()
        x = 10 + 8 * i
        img[20:44, x:x + 24] = block
        frames.append(np.clip(img + rng.normal(0, 1, img.shape) + 0.5, 0, 255).astype(np.uint8))
    outs, _ = enhance_clip(frames, temporal=True)
    plain, _ = enhance_clip(frames, temporal=False)

    def colour(img, xs):
        return img[20:44, xs].astype(np.float32).mean(axis=(0, 1))

    vacated, inside = slice(x - 16, x), slice(x + 2, x + 22)  # where the block was 1-2 frames ago; where it is
    assert np.abs(colour(plain[-1], vacated) - colour(plain[-1], inside)).max() > 50  # what a trail would show
    assert np.abs(colour(outs[-1], vacated) - colour(plain[-1], vacated)).max() < 4
    assert np.abs(colour(outs[-1], inside) - colour(plain[-1], inside)).max() < 4


def test_a_batch_is_enhanced_as_its_frames_one_at_a_time():
    # With a light change inside the batch: the state resets on the frame that changed, not
    # before the batch's earlier frames are blended.
    rng = np.random.default_rng(5)
    frames = [scene(i, rng, light=1.0 if i < 5 else 1.5, box_x=lambda i: 4 + 6 * i)[0] for i in range(9)]
    single, _ = enhance_clip(frames, temporal=True, denoise=1.0)
    plain, _ = enhance_clip(frames, temporal=False, denoise=1.0)
    assert np.array_equal(single[5], plain[5])  # the light change reset the state there
    enhancer = Enhancer("curve", temporal=True)
    batched = enhancer.enhance_batch(frames[:4]) + enhancer.enhance_batch(frames[4:])
    assert all(np.array_equal(a, b) for a, b in zip(single, batched))


@pytest.mark.skipif(native() is None, reason="the C extension is not built here")
def test_numpy_path_agrees_with_the_compiled_pass(monkeypatch):
    # The same clip through the NumPy/OpenCV reference of the one pass (no C extension). A level
    # of difference can move a low-resolution pixel across a motion threshold, so a few pixels
    # may differ by more; nearly all are within one level on every frame.
    rng = np.random.default_rng(6)
    frames = [scene(i, rng, box_x=lambda i: 4 + 6 * i)[0] for i in range(10)]
    compiled, _ = enhance_clip(frames, temporal=True, denoise=1.0)
    monkeypatch.setattr("vidlle.apply.native", lambda: None)
    reference, _ = enhance_clip(frames, temporal=True, denoise=1.0)
    for a, b in zip(compiled, reference):
        diff = np.abs(a.astype(int) - b)
        assert np.mean(diff <= 1) > 0.999 and diff.mean() < 0.02


def test_still_scene_with_fresh_noise_does_not_flicker_through_the_enhancer():
    """A still dark scene whose sensor noise is new every frame (a night camera on a static yard):
    with temporal processing the output's mean brightness must wander no more than the per-frame
    enhancer's (no pumping from map smoothing, the denoiser's start or its rounding), while the
    static noise drops by at least half."""
    rng = np.random.default_rng(7)
    h, w = 96, 160
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([8 + 8 * xx / w, 8 + 6 * yy / h, 6 + 4 * (xx + yy) / (w + h)], axis=-1)
    base[30:60, 50:100] += 10  # a lit doorway
    frames = [np.clip(rng.poisson(base * 2) / 2 + rng.normal(0, 1.0, base.shape) + 0.5, 0, 255).astype(np.uint8)
              for _ in range(40)]
    wander, noise = {}, {}
    for temporal in (False, True):
        # the spatial denoiser off on both sides: this is about the temporal stage alone
        enhancer = Enhancer("curve", backend="torch", temporal=temporal, denoise=0.0)
        outs = [enhancer.enhance_frames([Frame(image=f, pts=i, time_base=Fraction(1, 25), index=i)])[0].image
                for i, f in enumerate(frames)]
        means = np.array([o.astype(np.float32).mean() for o in outs])
        wander[temporal] = float(means.std())  # over every frame: the start-up counts too
        noise[temporal] = static_noise(outs[5:], (slice(None), slice(None)))
    assert wander[True] <= wander[False], wander
    assert noise[True] <= 0.5 * noise[False], noise
