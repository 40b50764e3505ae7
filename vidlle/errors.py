"""The errors users see. The CLI prints each as one line, ``vidlle: error: <message>``, exit 1
(:class:`Interrupted`: ``vidlle: <message>``, exit 130).

Subclasses also inherit the matching builtin so callers of the Python API can
catch them the usual way (``except FileNotFoundError``). Every error vidlle raises for a user
is defined here; modules raise them, the CLI (:func:`vidlle.cli.main`) prints them.
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


class EngineError(BackendError):
    """Export, verification or engine build failed, or a cached artefact cannot be used."""


class FrameError(VidlleError, ValueError):
    """A frame passed to the Python API is not HxWx3 uint8."""


class LiveSourceError(InputError, ConnectionError):
    """A live source cannot be reached, sends no video, or was lost and not reconnected."""


class DisplayError(OutputError):
    """No window can be opened here (no display, unreachable X server, library conflict)."""


class ConfigError(VidlleError, ValueError):
    """The cameras file is unreadable or a value in it is wrong (one line: file, camera, key)."""


class ScaleError(VidlleError, RuntimeError):
    """Ray is missing, a cluster cannot be joined, or cameras/files failed."""


class WebError(VidlleError, OSError):
    """The web view cannot be served: a bad --http address, a port in use, a missing token."""


class Interrupted(VidlleError):
    """The run was stopped by Ctrl-C / SIGTERM; the sink was finalised or discarded cleanly."""


def one_line(exc: BaseException) -> str:
    """A failure as one line: vidlle's own errors as they are, others with their type."""
    lines = str(exc).strip().splitlines()
    msg = lines[0] if lines else ""
    if isinstance(exc, VidlleError) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
