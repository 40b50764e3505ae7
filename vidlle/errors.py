"""The errors users see. The CLI prints each as one line, ``vidlle: error: <message>``, exit 1.

Subclasses also inherit the matching builtin so callers of the Python API can
catch them the usual way (``except FileNotFoundError``).
"""


class VidlleError(Exception):
    """Base class of every error vidlle reports to a user."""


class InputError(VidlleError, ValueError):
    """The input cannot be read: wrong kind of file, corrupt, empty, zero frames."""


class InputNotFoundError(InputError, FileNotFoundError):
    """The input path does not exist."""


class OutputError(VidlleError, OSError):
    """The output cannot be written: exists without -y, unwritable, same as input, unknown type."""


class DecodeError(InputError):
    """Decoding failed part-way (truncated or corrupt stream)."""


class EncodeError(VidlleError, RuntimeError):
    """Encoding or muxing failed (codec not available, container does not accept the stream)."""


class ModelError(VidlleError, RuntimeError):
    """Unknown model name, missing or mismatched weights."""


class BackendError(VidlleError, RuntimeError):
    """Unknown or unavailable runtime (package not installed, device missing)."""


class FrameError(VidlleError, ValueError):
    """A frame passed to the Python API is not HxWx3 uint8."""
