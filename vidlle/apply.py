"""Fast full-resolution apply step for low-resolution parameter maps (CPU, numpy + OpenCV).

Every model predicts a low-resolution map (3, h, w) in [-1, 1] and maps each full-resolution
pixel level through a *tone curve chosen by the map at that pixel*. The reference apply steps
(:func:`vidlle.models.curve.apply_curve`: ``steps`` float iterations per pixel;
:func:`vidlle.models.skf.apply_bank`: a learned curve bank) are ~10x too slow at 1080p on two
cores. Here the curves are tabulated once in a :class:`ToneTable`: ``table[k, v]`` is the uint8
output for input level ``v`` (0..255) and map value ``r_k`` on a fine grid of 4096 values over
[-1, 1]. Applying it is one bilinear upsample of the (pre-scaled) map plus one 2-D nearest
lookup, done by ``cv2.remap`` with the pixel value as x and the map as y (SIMD, multithreaded).

Curve model: one table shared by the three channels. SKF student: one table per channel,
stacked to (3 * rows, 256); channel c's map is offset by ``c * rows`` before the upsample (the
offset is affine, so it commutes with bilinear resizing), and one remap still does all three.

Accuracy (curve model): |d out / d r| <= 510 (in uint8 units, 8 steps), so the grid spacing
2/4095 costs at most 0.13 levels; with the table's own rounding the result is within 1 of the
rounded reference (tested; the same test covers the SKF bank).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from vidlle.errors import FrameError

TABLE_ROWS = 4096
# cv2.remap addresses map coordinates with 16-bit integers internally.
_REMAP_MAX = 32000


@dataclass(frozen=True, eq=False)
class ToneTable:
    """Tabulated tone curves of one model.

    table: (channels * rows, 256) uint8, read-only; row ``c * rows + k`` is channel c's curve at
        map value ``-1 + 2 k / (rows - 1)``.
    rows: grid size over the map's range [-1, 1].
    channels: 1 (one table shared by R, G and B) or 3 (one per channel, in RGB order).
    """

    table: np.ndarray
    rows: int
    channels: int

    def __post_init__(self):
        if self.channels not in (1, 3) or self.table.shape != (self.channels * self.rows, 256):
            raise ValueError(f"ToneTable: table {self.table.shape} is not ({self.channels} * {self.rows}, 256)")
        if self.channels * self.rows >= _REMAP_MAX:
            raise ValueError(f"ToneTable: {self.channels * self.rows} rows exceed cv2.remap's limit {_REMAP_MAX}")

    @classmethod
    def from_array(cls, table: np.ndarray) -> "ToneTable":
        """(rows, 256) shared or (3, rows, 256) per-channel uint8 curves -> ToneTable."""
        table = np.asarray(table)
        if table.dtype != np.uint8 or table.ndim not in (2, 3) or table.shape[-1] != 256:
            raise ValueError(f"ToneTable: expected (rows, 256) or (3, rows, 256) uint8, got {table.shape} {table.dtype}")
        channels, rows = (1, table.shape[0]) if table.ndim == 2 else table.shape[:2]
        flat = np.ascontiguousarray(table.reshape(channels * rows, 256))
        flat.setflags(write=False)
        return cls(flat, rows, channels)


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


@lru_cache(maxsize=8)
def curve_tone(steps: int, rows: int = TABLE_ROWS) -> ToneTable:
    """The curve model's :class:`ToneTable` (shared by the three channels)."""
    return ToneTable.from_array(curve_table(steps, rows))


def check_frame(frame) -> np.ndarray:
    """Raise FrameError unless ``frame`` is an HxWx3 uint8 array; returns it C-contiguous."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        desc = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise FrameError(f"expected an HxWx3 uint8 RGB frame, got {desc}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise FrameError(f"empty frame {frame.shape}")
    return np.ascontiguousarray(frame)


def apply_params(frame: np.ndarray, params: np.ndarray, tone: ToneTable) -> np.ndarray:
    """Enhance ``frame`` with a low-resolution parameter map and a model's tone table.

    frame: (H, W, 3) uint8 RGB.
    params: (3, h, w) float32 in [-1, 1] (any h, w >= 1; RGB channel order).
    Returns (H, W, 3) uint8, within 1 level of the model's reference apply step.
    """
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    # Map values -> table rows (plus each channel's block offset) before upsampling: affine, so
    # it commutes with bilinear resizing and the full-resolution map needs no extra pass.
    rows = (np.asarray(params, dtype=np.float32).transpose(1, 2, 0) + 1.0) * ((tone.rows - 1) / 2.0)
    if tone.channels > 1:
        rows += np.arange(3, dtype=np.float32) * tone.rows
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
                tone.table,
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


def apply_curve_map(frame: np.ndarray, params: np.ndarray, steps: int) -> np.ndarray:
    """The curve model's apply: :func:`apply_params` with ``curve_tone(steps)``."""
    return apply_params(frame, params, curve_tone(steps))
