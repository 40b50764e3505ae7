"""The one folder where vidlle keeps what it can rebuild or fetch again.

``$VIDLLE_CACHE`` if set, else ``~/.cache/vidlle``. Each kind of file has its folder under it:
``engines/`` (ONNX exports and TensorRT engines, :mod:`vidlle.engines.cache`) and ``weights/``
(segmentation weights the user put there, :func:`vidlle.models.segment.find_seg_weights`).
Every cache asks :func:`cache_dir` for its folder, so one variable moves them all.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "VIDLLE_CACHE"


def cache_root() -> Path:
    """``$VIDLLE_CACHE`` (``~`` expanded) or ``~/.cache/vidlle``; it may not exist yet."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vidlle"


def cache_dir(kind: str) -> Path:
    """The folder of one kind of cached file (``engines``, ``weights``) under :func:`cache_root`."""
    return cache_root() / kind
