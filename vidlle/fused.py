"""The full-resolution work of a frame as one compiled pass (C, vidlle/_fastapply.c).

Per pixel the apply step (:mod:`vidlle.apply`) needs the upsampled map row, ``V = max(R, G, B)``,
a table lookup, a gain, the shadow-chroma blend and, with temporal processing on, the blend with
the previous output (:mod:`vidlle.temporal`). Written with OpenCV/NumPy that is about twenty
full-resolution passes (~26 ms per 720p frame on one core); the C loop reads the frame (and the
previous output) once and writes the result once, with the GIL released.

The extension is built by the package's own build (setup.py, plain C, no NumPy headers). Where
it was not built (no compiler) or ``VIDLLE_NO_NATIVE=1`` is set, :func:`native` returns None and
the NumPy/OpenCV path runs; the tests hold the two within 1 level.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import ModuleType


@lru_cache(maxsize=1)
def native() -> ModuleType | None:
    """The compiled module (its ``apply`` is documented in vidlle/_fastapply.c), or None."""
    if os.environ.get("VIDLLE_NO_NATIVE") == "1":
        return None
    try:
        from vidlle import _fastapply
    except ImportError:
        return None
    return _fastapply


def describe() -> str:
    """One line for `vidlle info`: which apply step runs."""
    if native() is not None:
        return "compiled (vidlle/_fastapply.c)"
    if os.environ.get("VIDLLE_NO_NATIVE") == "1":
        return "NumPy/OpenCV (VIDLLE_NO_NATIVE=1)"
    return "NumPy/OpenCV (the C extension was not built: reinstall with a C compiler for ~5x less CPU)"
