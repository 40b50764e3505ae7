"""The apply step as one compiled pass over the frame (Numba), with the OpenCV path as fallback.

:func:`vidlle.apply.apply_params` written with OpenCV/NumPy makes about fifteen full-resolution
passes (split, max, lookup, gain, chroma blend, multiply, convert): ~50 ms per 720p frame on one
core. The same arithmetic per pixel in one compiled loop reads the frame once and writes it once.
Numba is imported lazily, on the first frame; the compiled kernel is cached on disk next to this
module (``cache=True``), so later processes skip compilation. When Numba is missing or
``VIDLLE_NO_NUMBA=1`` is set, :func:`kernel` returns None and the OpenCV path runs; the tests
hold the two within 1 level.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable


def _build() -> Callable:
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
    def apply_kernel(frame, rows, table, keep, strength, out):  # pragma: no cover - compiled
        height, width = frame.shape[0], frame.shape[1]
        last = table.shape[0] - 1
        for y in numba.prange(height):
            for x in range(width):
                r = frame[y, x, 0]
                g = frame[y, x, 1]
                b = frame[y, x, 2]
                v = max(r, g, b)
                i = int(rows[y, x] + 0.5)
                i = 0 if i < 0 else (last if i > last else i)
                vf = float(v)
                t = table[i, v]
                if strength != 1.0:
                    t = vf + strength * (t - vf)
                    t = 0.0 if t < 0.0 else (255.0 if t > 255.0 else t)
                gain = t / (vf if vf > 1.0 else 1.0)
                amplified = 1.0 - 1.0 / gain if gain > 1.0 else 0.0
                sat = 1.0 - (1.0 - keep[v]) * amplified
                luma = 0.299 * r + 0.587 * g + 0.114 * b
                scale = gain * sat
                offset = (gain - scale) * luma
                o = scale * r + offset + 0.5
                out[y, x, 0] = 255 if o >= 255.0 else np.uint8(o)
                o = scale * g + offset + 0.5
                out[y, x, 1] = 255 if o >= 255.0 else np.uint8(o)
                o = scale * b + offset + 0.5
                out[y, x, 2] = 255 if o >= 255.0 else np.uint8(o)

    return apply_kernel


@lru_cache(maxsize=1)
def kernel() -> Callable | None:
    """The compiled kernel ``(frame, rows, table, keep, strength, out) -> None``, or None.

    frame: (H, W, 3) uint8 RGB; rows: (H, W) float32 table rows; table: (rows, 256) float32;
    keep: (256,) float32 shadow-chroma factors; strength: float; out: (H, W, 3) uint8, written.
    """
    if os.environ.get("VIDLLE_NO_NUMBA") == "1":
        return None
    try:
        return _build()
    except ImportError:
        return None
