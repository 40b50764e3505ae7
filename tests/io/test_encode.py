"""The encode stage's own RGB -> yuv420p conversion agrees with FFmpeg's."""

from fractions import Fraction

import numpy as np
import pytest

# isort: off
from vidlle.io.encode import even_padding, video_frame  # imports cv2 before av
# isort: on
import av

from vidlle.frames import Frame


def _planes(vf: "av.VideoFrame", height: int, width: int):
    arr = vf.to_ndarray()
    y = arr[:height]
    chroma = arr[height:].reshape(2, height // 2, width // 2)
    return y.astype(int), chroma.astype(int)


@pytest.mark.parametrize("size", [(96, 160), (97, 161)])
def test_yuv420p_frame_matches_ffmpeg_conversion(size):
    rng = np.random.default_rng(3)
    height, width = size
    # Smooth colour ramps plus noise: flat areas test the matrix, noise the chroma averaging.
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 127 // (width + height)], -1)
    image = np.clip(image + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
    pad = even_padding("yuv420p", height, width)
    frame = Frame(image=image, pts=7, time_base=Fraction(1, 25), index=0)

    ours = video_frame(frame, pad, 0, "yuv420p")
    reference = video_frame(frame, pad, 0, "rgb24").reformat(format="yuv420p")

    assert (ours.format.name, ours.width, ours.height) == ("yuv420p", width + pad[1], height + pad[0])
    assert (ours.pts, ours.time_base) == (7, Fraction(1, 25))
    y, c = _planes(ours, ours.height, ours.width)
    ry, rc = _planes(reference, ours.height, ours.width)
    assert np.abs(y - ry).max() <= 1
    # Chroma: both low-pass before subsampling (we take 2x2 block means, swscale's filter is a
    # little wider), so on noisy colour they differ by about a level; point sampling differs by ~5.
    assert np.abs(c - rc).mean() < 1.5 and np.abs(c - rc).max() <= 10


def test_rgb_path_for_other_pixel_formats():
    image = np.full((8, 10, 3), 77, np.uint8)
    vf = video_frame(Frame(image=image, pts=None, time_base=None, index=0), (0, 0), 5, "yuv444p")
    assert vf.format.name == "rgb24" and vf.pts == 5
    assert np.array_equal(vf.to_ndarray(), image)
