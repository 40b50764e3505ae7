import numpy as np
import pytest
import torch

from vidlle.apply import ToneTable, apply_curve_map, apply_params, curve_table, curve_tone
from vidlle.errors import FrameError
from vidlle.models.curve import apply_curve


def reference(frame: np.ndarray, params: np.ndarray, steps: int) -> np.ndarray:
    """The reference formula in float64, rounded to uint8."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255.0
    r = torch.from_numpy(params)[None].double()
    y = apply_curve(x, r, steps)
    return (y.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize(
    "shape,map_shape",
    [((72, 128), (9, 16)), ((97, 161), (13, 21)), ((2, 2), (2, 2)), ((1, 1), (1, 1)), ((5, 300), (1, 40)),
     ((40, 11000), (2, 128))],  # last: wider than cv2.remap's 32k map limit when interleaved
)
def test_fast_apply_matches_reference_within_one_level(shape, map_shape):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    params = rng.uniform(-1, 1, (3, *map_shape)).astype(np.float32)
    out = apply_curve_map(frame, params, 8)
    diff = np.abs(out.astype(int) - reference(frame, params, 8))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert diff.max() <= 1


def test_fast_apply_4k_matches_reference_within_one_level():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    params = rng.uniform(-1, 0.2, (3, 72, 128)).astype(np.float32)
    diff = np.abs(apply_curve_map(frame, params, 8).astype(int) - reference(frame, params, 8))
    assert diff.max() <= 1


def test_table_is_identity_at_r_zero_and_brightens_for_negative_r():
    table = curve_table(8)
    mid = (table.shape[0] - 1) // 2  # r = 0 sits between two grid rows; both ~identity
    assert np.abs(table[mid].astype(int) - np.arange(256)).max() <= 1
    assert (table[0].astype(int) >= np.arange(256)).all()  # r = -1
    assert table[0, 20] > 120  # strongly brightens shadows
    assert (np.diff(table[0].astype(int)) >= 0).all()  # monotone: no tone inversion


def test_bad_frames_are_rejected():
    with pytest.raises(FrameError):
        apply_curve_map(np.zeros((4, 4), np.uint8), np.zeros((3, 1, 1), np.float32), 8)
    with pytest.raises(FrameError):
        apply_curve_map(np.zeros((4, 4, 3), np.float32), np.zeros((3, 1, 1), np.float32), 8)


def test_tone_table_shapes_and_validation():
    shared = curve_tone(8)
    assert shared.channels == 1 and shared.table.shape == (4096, 256) and not shared.table.flags.writeable
    per = ToneTable.from_array(np.stack([curve_table(8, 64)] * 3))
    assert per.channels == 3 and per.rows == 64 and per.table.shape == (192, 256)
    with pytest.raises(ValueError, match="uint8"):
        ToneTable.from_array(np.zeros((4, 256), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        ToneTable.from_array(np.zeros((4, 255), np.uint8))
    with pytest.raises(ValueError, match="remap"):
        ToneTable.from_array(np.zeros((3, 12000, 256), np.uint8))


def test_per_channel_tables_use_each_channels_own_curve():
    # three different curve families (1, 4 and 8 steps): channel c must follow table c exactly
    tables = np.stack([curve_table(1, 256), curve_table(4, 256), curve_table(8, 256)])
    tone = ToneTable.from_array(tables)
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    params = np.full((3, 1, 1), -0.5, np.float32)  # constant map: one table row per channel
    row = round((-0.5 + 1) * 255 / 2)
    out = apply_params(frame, params, tone)
    for c in range(3):
        assert np.array_equal(out[..., c], tables[c, row][frame[..., c]])
