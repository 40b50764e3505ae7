"""Process heap settings for frame-rate work: keep freed frame-sized buffers for reuse (glibc).

Every frame allocates a handful of multi-megabyte arrays (the decoded image, the apply step's
float maps, the denoiser's blends, the encoder's planes). glibc serves blocks above its mmap
threshold with fresh ``mmap`` calls and returns them to the kernel on free (or trims them off the
heap top), so each frame pays thousands of page faults on zero-filled pages. Measured on the
2-core machine at 720p: the enhance stage (predictor input, predictor, map smoothing, apply,
denoise; one thread) took 23-25 ms per frame instead of 32-36 ms once freed buffers stayed in
the heap, and a whole ``vidlle enhance`` run used ~5 ms less CPU per frame.

Raising ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` is process-wide, so only the entry points
that own their process call :func:`keep_freed_buffers` (the CLI, Ray workers); a program using
the :class:`~vidlle.api.Enhancer` API may call it too. It costs idle memory: up to
``trim_mb`` of freed heap stays mapped.

Freed memory is kept per malloc arena, and glibc gives new threads arenas of their own (up to
8 per core): the capture, decode, enhance and encode threads and x264's workers then each keep
their own frame-sized blocks, and how many arenas a run ends up with varies. ``M_ARENA_MAX``
caps that. Measured on the 2-core machine (docs/capacity.md): a 720p camera's Ray actor held
323-326 MiB in three runs with one arena, 325-399 MiB with glibc's default; the same CPU per
frame (the threads allocate a few large blocks per frame, too few to contend for the lock).
"""

from __future__ import annotations

import ctypes
import platform
from functools import cache

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


@cache  # process-wide settings: once per process is enough (Ray calls it per task)
def keep_freed_buffers(mmap_mb: int = 64, trim_mb: int = 512, arenas: int = 1) -> bool:
    """Serve blocks under ``mmap_mb`` from the heap and keep up to ``trim_mb`` of freed heap, in at
    most ``arenas`` malloc arenas (threads started before the call keep the arena they have).

    Returns True when applied; False where the C library is not glibc (nothing changes).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process, which has glibc loaded
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_mb << 20) == 1
    ok = mallopt(_M_ARENA_MAX, arenas) == 1 and ok
    return mallopt(_M_TRIM_THRESHOLD, trim_mb << 20) == 1 and ok
