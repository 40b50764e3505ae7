"""Files that appear complete or not at all: an exclusive temporary sibling, synced, renamed into place.

Every output file (video, image, JSON report) is written under a hidden temporary name next to
its final path and renamed over it only when complete. The temporary file is created with
``O_EXCL | O_NOFOLLOW``: a file or a planted symbolic link already there is never truncated or
written through, so two runs aimed at one output cannot corrupt each other and a link cannot
redirect the write. Before the rename the data and then the folder entry are flushed to disk
(``fsync``), so a power loss right after a run leaves the old file or the new one, not an empty one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from vidlle.errors import OutputError

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def create_exclusive(path: Path) -> int:
    """Create ``path`` (which must not exist, not even as a dangling link); its descriptor.

    Raises FileExistsError when anything is there, OSError for other failures.
    """
    return os.open(path, _CREATE, 0o644)


def publish(fd: int, tmp: Path, path: Path) -> None:
    """Flush ``fd`` (the open temporary file ``tmp``) to disk, rename it to ``path``, flush the folder.

    Raises OSError when the rename fails; ``tmp`` is then still there, complete.
    """
    os.fsync(fd)
    os.replace(tmp, path)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk; best effort where folders cannot be opened."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself is synced
    finally:
        os.close(dfd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically through a uniquely named exclusive temporary sibling.

    OutputError (one line) when it cannot be written; nothing is left behind then.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.vidlle-tmp-{secrets.token_hex(4)}{path.suffix}")
    try:
        fd = create_exclusive(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        publish(fd, tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # a stop signal mid-write (the fsync widens the window): no leftover either
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
