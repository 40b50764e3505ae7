"""Temporal state: stable maps, motion-adaptive denoising, no ghosts, fast light-change following."""

import numpy as np
import pytest

from vidlle.temporal import TemporalConfig, TemporalState


def scene(i: int, rng, h=96, w=128, light=1.0, box_x=None, noise=6.0):
    """Gray-ish static gradient with a bright moving box; returns (frame uint8, moving mask)."""
    base = np.linspace(40, 160, w, dtype=np.float32)[None, :].repeat(h, 0) * light
    img = np.repeat(base[..., None], 3, axis=2)
    mask = np.zeros((h, w), bool)
    if box_x is not None:
        x = box_x(i)
        mask[30:60, x:x + 20] = True
        img[mask] = 250.0
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask


def run(frames, state):
    return [state.denoise(f) for f in frames]


def static_noise(outs, region):
    stack = np.stack([o[region].astype(np.float32) for o in outs])
    return float(np.abs(np.diff(stack, axis=0)).mean())


def test_static_noise_halved_and_no_ghost_behind_moving_box():
    rng = np.random.default_rng(0)
    data = [scene(i, rng, box_x=lambda i: 4 + 5 * i) for i in range(20)]
    frames = [f for f, _ in data]
    outs = run(frames, TemporalState())
    still = (slice(70, 96), slice(None))  # below the box's path: never moves
    assert static_noise(outs[5:], still) < 0.5 * static_noise(frames[5:], still)
    # Where the box is now, and where it just was, the output follows the input (no trail).
    for i in range(8, 20):
        now, before = data[i][1], data[i - 1][1]
        for region in (now, before & ~now):
            err = np.abs(outs[i][region].astype(float) - frames[i][region].astype(float)).mean()
            assert err / frames[i][region].mean() < 0.10, (i, err)


def test_light_step_is_followed_within_three_frames():
    rng = np.random.default_rng(1)
    frames = [scene(i, rng, light=1.0 if i < 10 else 1.5)[0] for i in range(16)]
    state = TemporalState()
    outs = []
    for f in frames:
        small = f[::8, ::8].transpose(2, 0, 1).astype(np.float32) / 255.0
        state.smooth_params(small, np.zeros_like(small))
        outs.append(state.denoise(f))
    truth = [f.astype(float).mean() for f in frames]
    # settled: within 2% of the input's level from the 3rd frame after the step on
    for i in range(12, 16):
        assert abs(outs[i].astype(float).mean() - truth[i]) / truth[i] < 0.02, i
    assert state.resets == 1


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
    assert state.resets == 0
    assert np.allclose(out[:, :3, :3], -0.9, atol=1e-5)
    assert np.abs(out[:, 8:, 8:] - (-0.9)).min() > 0.1


def test_disabled_denoise_is_identity_and_reset_forgets():
    rng = np.random.default_rng(3)
    f0, f1 = scene(0, rng)[0], scene(1, rng)[0]
    off = TemporalState(TemporalConfig(denoise=False))
    assert off.denoise(f1) is f1
    on = TemporalState()
    on.denoise(f0)
    assert not np.array_equal(on.denoise(f1), f1)
    on.reset()
    assert np.array_equal(on.denoise(f1), f1)


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (2161, 3841, 3)])
def test_any_frame_size(shape):
    state = TemporalState()
    rng = np.random.default_rng(4)
    for _ in range(3):
        out = state.denoise(rng.integers(0, 255, shape, dtype=np.uint8))
        assert out.shape == shape and out.dtype == np.uint8


def test_denoise_starts_with_a_cumulative_mean():
    # After a reset the first frames are averaged with weights 1/2, 1/3, 1/4 ...: a still, noisy
    # scene is as clean after n frames as their mean (the plain recursive filter would keep
    # 0.83 of the noise after two frames, and drift in brightness while it settles).
    rng = np.random.default_rng(0)
    frames = [np.clip(80 + rng.normal(0, 6, (96, 128, 3)), 0, 255).astype(np.uint8) for _ in range(4)]
    state = TemporalState()
    for n, frame in enumerate(frames):
        out = state.denoise(frame)
        assert abs(out.mean() - frame.mean()) < 0.6
        assert out.std() == pytest.approx(frame.std() / np.sqrt(n + 1), rel=0.1)


def test_denoise_leaves_no_colour_trail_behind_iso_luminant_motion():
    # A blue block crossing a brown background of (almost) the same luminance: a gray-level
    # motion test sees nothing and the recursive average would smear blue behind the block.
    rng = np.random.default_rng(1)
    background, block = np.array([120, 100, 60], np.float32), np.array([70, 100, 170], np.float32)
    state = TemporalState()
    for i in range(12):
        img = np.broadcast_to(background, (64, 160, 3)).copy()
        x = 10 + 8 * i
        img[20:44, x:x + 24] = block
        frame = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        out = state.denoise(frame)
    vacated = out[20:44, x - 16:x].astype(np.float32)  # where the block was one and two frames ago
    assert np.abs(vacated.mean(axis=(0, 1)) - background).max() < 8  # a trail would be ~35+ levels blue
    assert np.abs(out[20:44, x + 2:x + 22].astype(np.float32).mean(axis=(0, 1)) - block).max() < 8


def test_still_scene_with_fresh_noise_does_not_flicker_through_the_enhancer():
    """A still dark scene whose sensor noise is new every frame (a night camera on a static yard):
    with temporal processing the output's mean brightness must wander no more than the per-frame
    enhancer's (no pumping from map smoothing, the denoiser's start or its rounding), while the
    static noise drops by at least half."""
    from fractions import Fraction

    from vidlle.api import Enhancer
    from vidlle.frames import Frame

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
