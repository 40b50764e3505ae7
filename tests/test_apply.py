import os
import shutil

import numpy as np
import pytest
import torch

from vidlle.apply import SHOULDER, Blend, ToneTable, apply_params, blend_frames, curve_table, curve_tone
from vidlle.errors import FrameError
from vidlle.models.curve import curve_steps
from vidlle.models.tone import hue_preserving_apply
from tests.support.picture import hue_sat


def curve_apply(frame: np.ndarray, params: np.ndarray, strength: float = 1.0, local: float = 1.0,
                blend: Blend | None = None) -> np.ndarray:
    """The apply step with the curve model's table (8 steps, as the shipped model)."""
    return apply_params(frame, params, curve_tone(8), strength, local, blend)


def reference(frame: np.ndarray, params: np.ndarray, steps: int, strength: float = 1.0, local: float = 1.0) -> np.ndarray:
    """The reference torch apply in float64, rounded to uint8."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255.0
    r = torch.from_numpy(params)[None].double()
    y = hue_preserving_apply(x, r, lambda m, v: curve_steps(v, m, steps), local, strength)
    return (y.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize(
    "shape,map_shape",
    [((72, 128), (9, 16)), ((97, 161), (13, 21)), ((2, 2), (2, 2)), ((1, 1), (1, 1)), ((5, 300), (1, 40)),
     ((40, 33000), (2, 128))],  # last: wider than cv2.remap's 32k destination limit
)
@pytest.mark.parametrize("strength,local", [(1.0, 1.0), (0.4, 0.5), (1.7, 0.25)])
def test_fast_apply_matches_reference_within_one_level(shape, map_shape, strength, local):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    params = rng.uniform(-1, 1, (3, *map_shape)).astype(np.float32)
    out = curve_apply(frame, params, strength, local)
    diff = np.abs(out.astype(int) - reference(frame, params, 8, strength, local))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert diff.max() <= 1


@pytest.mark.slow
def test_fast_apply_4k_matches_reference_within_one_level():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    params = rng.uniform(-1, 0.2, (3, 72, 128)).astype(np.float32)
    diff = np.abs(curve_apply(frame, params, 0.8, 0.5).astype(int) - reference(frame, params, 8, 0.8, 0.5))
    assert diff.max() <= 1


def test_monochrome_in_monochrome_out():
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (61, 83), dtype=np.uint8)
    frame = np.repeat(gray[..., None], 3, axis=2)
    params = rng.uniform(-1, 1, (3, 6, 8)).astype(np.float32)  # channels disagree on purpose
    out = curve_apply(frame, params, 1.0, 0.5)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out.mean() > frame.mean() + 5  # mostly brightening maps: it did enhance


def test_hue_and_saturation_of_a_colour_patch_are_kept():
    # A dark orange (sodium-lit) patch: brightening scales R, G, B by one gain; at V = 60 the
    # shadow-chroma blend takes off only a little saturation.
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[...] = (60, 30, 8)
    out = curve_apply(frame, np.full((3, 1, 1), -0.8, np.float32)).astype(float)
    assert out[..., 0].mean() > 120  # brightened a lot
    (h_in, s_in), (h_out, s_out) = hue_sat(frame[0, 0]), hue_sat(out[0, 0])
    assert abs(h_out - h_in) < 1.0 and 0.85 * s_in < s_out <= s_in * 1.01


def test_shadow_chroma_is_damped_only_where_amplified():
    # A pixel a few levels above black, lifted tenfold, loses most of its (noise) colour; the
    # same colour with no gain keeps all of it; luma follows the gain either way.
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[...] = (4, 2, 5)
    lifted = curve_apply(frame, np.full((3, 1, 1), -1.0, np.float32)).astype(float)
    same = curve_apply(frame, np.full((3, 1, 1), -1.0, np.float32), 0.0).astype(float)
    (h0, s0), (h1, s1), (_, s2) = hue_sat(frame[0, 0]), hue_sat(lifted[0, 0]), hue_sat(same[0, 0])
    assert s1 < 0.7 * s0 and s2 == pytest.approx(s0)
    assert lifted.mean() > 8 * frame.mean()


def test_saturated_colours_are_not_pushed_into_clipping():
    # A bright saturated red: per-channel curves would lift G and B towards R and wash it out;
    # one gain from max(R, G, B) keeps the ratios and can only bring R up to T(R) <= 255.
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[...] = (200, 60, 20)
    out = curve_apply(frame, np.full((3, 1, 1), -0.6, np.float32)).astype(float)
    t = min(curve_table(8)[round((-0.6 + 1) * 4095 / 2), 200], 255 - SHOULDER * 55)
    # R follows the curve, G and B keep their ratios to it (the shadow-chroma blend takes ~1 %
    # of the saturation at V = 200 lifted x1.2: within 2 levels)
    assert abs(out[0, 0, 0] - t) <= 2
    assert np.allclose(out[0, 0] / out[0, 0, 0], np.array([200, 60, 20]) / 200, atol=0.02)
    assert out[0, 0, 0] <= 255 and out[0, 0, 2] < out[0, 0, 1] < out[0, 0, 0]


def test_strength_zero_is_identity_and_strength_blends_towards_the_curve():
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (33, 45, 3), dtype=np.uint8)
    params = np.full((3, 3, 3), -0.7, np.float32)
    assert np.array_equal(curve_apply(frame, params, 0.0), frame)
    half, full = (curve_apply(frame, params, k).astype(float).mean() for k in (0.5, 1.0))
    assert frame.mean() < half < full


def test_local_blends_the_map_with_its_frame_mean():
    # Left half of the map brightens strongly, right half not at all. Fully local: the right
    # half of a flat frame is unchanged; local 0: both halves get the mean map.
    frame = np.full((20, 40, 3), 10, np.uint8)
    params = np.zeros((3, 1, 2), np.float32)
    params[:, :, 0] = -1.0
    loc = curve_apply(frame, params, 1.0, 1.0)
    glob = curve_apply(frame, params, 1.0, 0.0)
    assert loc[:, -1].mean() == 10 and loc[:, 0].mean() > 150
    assert np.ptp(glob) == 0 and 10 < glob.mean() < loc[:, 0].mean()


def test_table_is_identity_at_r_zero_and_brightens_for_negative_r():
    table = curve_table(8)
    mid = (table.shape[0] - 1) // 2  # r = 0 sits between two grid rows; both ~identity
    assert np.abs(table[mid] - np.arange(256)).max() <= 1
    assert (table[0] >= np.arange(256) - 1e-3).all()  # r = -1
    assert table[0, 20] > 120  # strongly brightens shadows
    assert (np.diff(table[0]) >= 0).all()  # monotone: no tone inversion


def test_bad_frames_are_rejected():
    with pytest.raises(FrameError):
        curve_apply(np.zeros((4, 4), np.uint8), np.zeros((3, 1, 1), np.float32))
    with pytest.raises(FrameError):
        curve_apply(np.zeros((4, 4, 3), np.float32), np.zeros((3, 1, 1), np.float32))


def test_tone_table_shapes_and_validation():
    tone = curve_tone(8)
    assert tone.table.shape == (4096, 256) and tone.table.dtype == np.float32 and not tone.table.flags.writeable
    assert ToneTable.from_array(curve_table(8, 64)).rows == 64
    with pytest.raises(ValueError, match="float"):
        ToneTable.from_array(np.zeros((4, 256), np.uint8))
    with pytest.raises(ValueError, match="256"):
        ToneTable.from_array(np.zeros((4, 255), np.float32))
    with pytest.raises(ValueError, match="remap"):
        ToneTable.from_array(np.zeros((33000, 256), np.float32))


def test_any_tone_table_is_looked_up_at_the_pixel_brightness():
    # An arbitrary monotone table (not the curve family): a constant map picks one row; every
    # pixel's luma is multiplied by that row's T(V) / V at its own V (gray pixels: exactly T(V)).
    levels = np.arange(256, dtype=np.float32)
    table = np.stack([np.sqrt(levels / 255.0) * 255.0] * 64)
    tone = ToneTable.from_array(table)
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    frame[:5] = frame[:5, :, :1]  # some gray rows
    out = apply_params(frame, np.zeros((3, 1, 1), np.float32), tone)
    v = frame.max(axis=2).astype(float)
    bound = 255.0 - SHOULDER * (255.0 - v)
    gain = np.minimum(table[0][v.astype(int)], bound) / np.maximum(v, 1)
    luma = lambda a: a.astype(float) @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    assert np.abs(luma(out) - gain * luma(frame)).max() <= 1.0
    assert np.abs(out[:5, :, 0].astype(float) - np.rint(np.minimum(table[0][frame[:5, :, 0]], bound[:5]))).max() <= 1


def test_highlight_shoulder_keeps_lamps_from_burning_out():
    # The strongest curve (r = -1) sends 200 to white; under the shoulder only levels within
    # ~15 of white may reach 250.
    frame = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    out = curve_apply(frame, np.full((3, 1, 1), -1.0, np.float32))[0, :, 0].astype(int)
    assert (np.diff(out) >= 0).all()
    assert out[200] <= 255 - SHOULDER * 55 + 1 and out[200] < 250
    assert (out[:235] < 250).all() and out[255] == 255
    assert out[30] > 120  # shadows are still lifted hard


def _native():
    from vidlle import fused

    ext = fused.native()
    if ext is None:
        pytest.skip("the C apply step is not built (no compiler at install, or VIDLLE_NO_NATIVE=1)")
    return ext


def test_native_apply_is_built_where_a_compiler_exists():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the package runs its NumPy/OpenCV apply")
    if os.environ.get("VIDLLE_NO_NATIVE") == "1":
        pytest.skip("VIDLLE_NO_NATIVE=1 turns the compiled apply off")
    from vidlle import fused

    assert fused.native() is not None, "setup.py did not build vidlle/_fastapply.c: `pip install -e .` again"
    assert fused.describe().startswith("compiled")


@pytest.mark.parametrize("strength,local", [(1.0, 0.5), (0.37, 1.0), (1.8, 0.0), (0.0, 0.5)])
@pytest.mark.parametrize("shape,map_shape", [((123, 211), (9, 13)), ((7, 5), (7, 5)), ((1, 301), (2, 3))])
def test_compiled_and_opencv_paths_agree_within_one_level(monkeypatch, strength, local, shape, map_shape):
    ext = _native()
    rng = np.random.default_rng(9)
    frame = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    frame[: max(1, shape[0] // 6)] = rng.integers(0, 6, (max(1, shape[0] // 6), shape[1], 3))  # deep shadows
    params = rng.uniform(-1, 1, (3,) + map_shape).astype(np.float32)
    monkeypatch.setattr("vidlle.apply.native", lambda: ext)
    compiled = curve_apply(frame, params, strength, local)
    monkeypatch.setattr("vidlle.apply.native", lambda: None)
    fallback = curve_apply(frame, params, strength, local)
    assert np.abs(compiled.astype(int) - fallback).max() <= 1
    if strength == 0.0:
        assert np.array_equal(compiled, frame)


@pytest.mark.parametrize("shape,classes_shape", [((120, 200), (60, 100)), ((121, 201), (60, 100)), ((3, 3), (1, 1))])
def test_compiled_blend_matches_numpy_blend(monkeypatch, shape, classes_shape):
    ext = _native()
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    prev = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    classes = rng.integers(0, 3, classes_shape).astype(np.uint8)
    blend = Blend(prev, classes, (0.2, 0.5, 1.0))
    params = rng.uniform(-1, 1, (3, 4, 6)).astype(np.float32)
    monkeypatch.setattr("vidlle.apply.native", lambda: ext)
    fused = curve_apply(frame, params, 0.8, 0.5, blend)
    plain = curve_apply(frame, params, 0.8, 0.5)
    reference = blend_frames(plain, blend)
    assert np.abs(fused.astype(int) - reference).max() <= 1
    full = classes[(np.arange(shape[0]) * classes_shape[0]) // shape[0]][:, (np.arange(shape[1]) * classes_shape[1]) // shape[1]]
    moving, still = full == 2, full == 0
    assert np.array_equal(fused[moving], plain[moving])  # moving pixels take the new frame as is
    if not still.any():
        return
    expected = np.rint(0.2 * plain[still].astype(np.float64) + 0.8 * prev[still])
    assert np.abs(fused[still] - expected).max() <= 1


def test_compiled_apply_rejects_wrong_buffer_sizes():
    ext = _native()
    frame = np.zeros((4, 4, 3), np.uint8)
    rows = np.zeros((2, 2), np.float32)
    table = np.zeros((8, 256), np.float32)
    keep = np.ones(256, np.float32)
    no_guide = (None, 0, 0, 0.0, 2.0, 0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="out"):
        ext.apply(frame, 4, 4, rows, 2, 2, table, 8, keep, 1.0, np.zeros((4, 3, 3), np.uint8), None, None, 0, 0, 1, 1, 1,
                  *no_guide)
    with pytest.raises(ValueError, match="frame"):
        ext.apply(frame, 5, 4, rows, 2, 2, table, 8, keep, 1.0, np.zeros((5, 4, 3), np.uint8), None, None, 0, 0, 1, 1, 1,
                  *no_guide)
    with pytest.raises(ValueError, match="guide"):
        ext.apply(frame, 4, 4, rows, 2, 2, table, 8, keep, 1.0, np.zeros((4, 4, 3), np.uint8), None, None, 0, 0, 1, 1, 1,
                  np.zeros((4, 2, 2), np.float32), 2, 2, 1.0, 3.0, 2.0, 1.0, 1.0, 1.0)
