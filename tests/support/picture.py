"""Colour helpers shared by the picture tests."""

from __future__ import annotations

import numpy as np


def hue_sat(rgb) -> tuple[float, float]:
    """Hue angle (degrees) and chroma / luma of one RGB colour (BT.601 Cb, Cr)."""
    r, g, b = (float(c) for c in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb, cr = 0.564 * (b - y), 0.713 * (r - y)
    return float(np.degrees(np.arctan2(cr, cb))), float(np.hypot(cb, cr) / max(y, 1e-9))
