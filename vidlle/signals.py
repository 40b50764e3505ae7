"""Stop signals: Ctrl-C, SIGTERM (a service manager) and SIGHUP (the terminal closed) all stop a
command the same clean way.

Only the first one interrupts (as ``KeyboardInterrupt`` in the main thread): while the command
finalises its output, later ones are answered with a line instead of cutting the finalisation
short. ``python -m vidlle`` and the ``vidlle`` command install this before anything else is
imported, so a signal during start-up also ends in ``vidlle: interrupted`` and exit 130.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_stopping = False


def _on_stop_signal(signum, frame):
    global _stopping
    if _stopping:
        # os.write: a signal handler must not re-enter a buffered stream the main thread may be writing
        os.write(2, b"vidlle: still finalising the output, please wait (kill -9 would abandon it)\n")
        return
    _stopping = True
    raise KeyboardInterrupt


@contextmanager
def stop_signals_handled() -> Iterator[None]:
    """Handle the stop signals inside the block (main thread only); the previous handlers after it."""
    global _stopping
    _stopping = False
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)
