"""Failure logs: the traceback of each failure of a camera (``vidlle serve``) or of a backlog's file
(``vidlle enhance GLOB OUT``), appended to a text file that outlives the run.

The one-line error a user sees rarely tells a bug's cause; the traceback does, so it is kept -- with
every URL in it redacted (camera URLs hold passwords). Each entry is::

    --- 2026-12-07 10:31:02 HEADING
    Traceback (most recent call last):
      ...
"""

from __future__ import annotations

import os
import time
import traceback

from vidlle.io.redact import redact_text


def failure_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (with its causes) as text, every URL in it redacted."""
    return redact_text("".join(traceback.format_exception(exc)).rstrip())


def append_failure(log: str, heading: str, text: str) -> None:
    """Append one entry (``--- <local time> heading``, then ``text``) to the file ``log``, making its
    folder if missing. Raises OSError: callers decide what a log that cannot be written means (never
    the reason the work itself stops)."""
    entry = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {heading}\n{text}\n"
    folder = os.path.dirname(log)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(entry)
