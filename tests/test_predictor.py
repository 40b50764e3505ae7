"""A frame's reduced copies and the predictor's input (vidlle/predictor.py)."""

import cv2
import numpy as np
import pytest

from vidlle.predictor import ReducedCopies, predictor_input


@pytest.mark.parametrize("shape", [(720, 1280), (97, 161), (3, 5), (1, 1)])
def test_copies_at_each_scale_are_area_averages_made_once(shape):
    frame = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    copies = ReducedCopies(frame)
    assert copies.at(1) is frame
    for scale in (2, 3, 4):
        copy = copies.at(scale)
        assert copy.shape == (max(1, shape[0] // scale), max(1, shape[1] // scale), 3) and copy.dtype == np.uint8
        assert copies.at(scale) is copy  # made once, whichever step asks first
        direct = cv2.resize(frame, copy.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(copy.astype(int) - direct).max() <= 1
    # the quarter is the half reduced once more (OpenCV's cheap 2x path)
    half = copies.at(2)
    assert np.array_equal(copies.at(4), cv2.resize(half, copies.at(4).shape[1::-1], interpolation=cv2.INTER_AREA))


def test_scale_below_one_is_refused():
    with pytest.raises(ValueError):
        ReducedCopies(np.zeros((4, 4, 3), np.uint8)).at(0)


@pytest.mark.parametrize("shape,size", [((720, 1280), (72, 128)), ((97, 161), (77, 128)), ((2, 2), (2, 2))])
def test_predictor_input_reads_the_copies(shape, size):
    # smooth content, as pictures are (on per-pixel noise a non-integer second step weighs the
    # quarter copy's pixels, not the frame's, at its edges)
    coarse = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_LINEAR)
    copies = ReducedCopies(frame)
    x = predictor_input(copies, size)
    assert x.shape == (3, *size) and x.dtype == np.float32
    assert np.array_equal(x, predictor_input(frame, size))
    # two area steps (via the quarter when the frame is large enough) against one: uint8 rounding
    one_step = cv2.resize(frame, size[::-1], interpolation=cv2.INTER_AREA).transpose(2, 0, 1) / 255.0
    assert np.abs(x - one_step).max() <= 2.5 / 255.0
