"""Fast full-resolution apply step for curve-parameter maps (CPU, numpy + OpenCV).

The reference (:func:`vidlle.models.curve.apply_curve`) upsamples the low-resolution map ``r``
bilinearly and runs ``steps`` float iterations per pixel: ~10x too slow at 1080p on two cores.
Here the curve is tabulated once: ``table[k, v]`` is the uint8 result of the whole recurrence
for input level ``v`` (0..255) and parameter ``r_k`` on a fine grid of 4096 values over [-1, 1].
Applying it is then one bilinear upsample of the (pre-scaled) map plus one 2-D nearest lookup,
done by ``cv2.remap`` with the pixel value as x and the map as y (both SIMD and multithreaded).

Accuracy: |d out / d r| <= 510 (in uint8 units, 8 steps), so the grid spacing 2/4095 costs at
most 0.13 levels; with the table's own rounding the result is within 1 of the rounded
reference (tested).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vidlle.errors import FrameError

TABLE_ROWS = 4096
# cv2.remap addresses map coordinates with 16-bit integers internally.
_REMAP_MAX = 32000


@lru_cache(maxsize=8)
def curve_table(steps: int, rows: int = TABLE_ROWS) -> np.ndarray:
    """(rows, 256) uint8: result of ``steps`` curve steps for each r on the grid and each level."""
    r = np.linspace(-1.0, 1.0, rows)[:, None]
    x = np.broadcast_to(np.arange(256, dtype=np.float64) / 255.0, (rows, 256)).copy()
    for _ in range(steps):
        x += r * (x * x - x)
    table = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    table.setflags(write=False)
    return table


def check_frame(frame) -> np.ndarray:
    """Raise FrameError unless ``frame`` is an HxWx3 uint8 array; returns it C-contiguous."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        desc = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise FrameError(f"expected an HxWx3 uint8 RGB frame, got {desc}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise FrameError(f"empty frame {frame.shape}")
    return np.ascontiguousarray(frame)


def apply_curve_map(frame: np.ndarray, params: np.ndarray, steps: int) -> np.ndarray:
    """Enhance ``frame`` with a low-resolution curve-parameter map.

    frame: (H, W, 3) uint8 RGB.
    params: (3, h, w) float32 in [-1, 1] (any h, w >= 1; RGB channel order).
    Returns (H, W, 3) uint8, within 1 level of the reference apply step.
    """
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    table = curve_table(steps)
    # Scale r to table rows before upsampling: linear, so it commutes with bilinear resizing.
    rows = (np.asarray(params, dtype=np.float32).transpose(1, 2, 0) + 1.0) * ((TABLE_ROWS - 1) / 2.0)
    if rows.shape[:2] != (height, width):
        rows = cv2.resize(rows, (width, height), interpolation=cv2.INTER_LINEAR)
    rows = rows.reshape(height, width, 3)
    out = np.empty_like(frame)
    if width * 3 < _REMAP_MAX:
        blocks = [(slice(None), frame.reshape(height, width * 3), rows.reshape(height, width * 3), out.reshape(height, width * 3))]
    else:  # very wide frames: one plane per channel keeps the maps under remap's limit
        blocks = [(c, frame[..., c], rows[..., c], None) for c in range(3)]
    for key, levels, r_rows, dest in blocks:
        for y0 in range(0, height, _REMAP_MAX):
            y1 = min(height, y0 + _REMAP_MAX)
            mapped = cv2.remap(
                table,
                levels[y0:y1].astype(np.float32),
                np.ascontiguousarray(r_rows[y0:y1]),
                interpolation=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_REPLICATE,
            )
            if dest is not None:
                dest[y0:y1] = mapped
            else:
                out[y0:y1, :, key] = mapped
    return out
