"""Still images: single files and folders, read and written with OpenCV (RGB in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vidlle.errors import EncodeError, InputError
from vidlle.frames import Frame, StreamInfo
from vidlle.io.atomic import write_bytes
from vidlle.io.base import Sink, Source

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; EXIF orientation applied; InputError if unreadable."""
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read {path} as an image (corrupt or unsupported)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB atomically (:func:`vidlle.io.atomic.write_bytes`): encoded in
    memory, then an exclusive temporary sibling synced and renamed into place."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in {".jpg", ".jpeg"} else []
    try:
        ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    except cv2.error as exc:
        ok = False
        reason = str(exc).strip().splitlines()[-1]
    else:
        reason = "encoder refused the image"
    if not ok:
        raise EncodeError(f"cannot write {path}: {reason}")
    write_bytes(path, data.tobytes())


def folder_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageSource(Source):
    """One image file, or every image of a folder, as Frames named after their files.

    skip_unreadable (folders): an image that cannot be read is skipped and listed in
    ``unreadable`` as (path, reason) instead of ending the run, so one corrupt file does not cost
    the others; the caller reports them and fails after the good ones are written.
    """

    def __init__(self, paths: list[Path], skip_unreadable: bool = False):
        self.paths = paths
        # a folder's images are named by the folder, one image by itself
        self.shown = str(paths[0] if len(paths) == 1 else paths[0].parent) if paths else "no images"
        self.skip_unreadable = skip_unreadable
        self.unreadable: list[tuple[Path, str]] = []

    def open(self) -> StreamInfo:
        if not self.paths:
            raise InputError("no images found")
        return StreamInfo(frames=len(self.paths))

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            try:
                image = read_image(path)
            except (InputError, OSError) as exc:
                if not self.skip_unreadable:
                    raise
                self.unreadable.append((path, str(exc) if isinstance(exc, InputError) else exc.strerror or str(exc)))
                continue
            yield Frame(image=image, index=i, name=path.name)

    def close(self) -> None:
        pass


class ImageSink(Sink):
    """Writes each Frame to one file (single image) or to ``folder/<frame.name>``.

    Files appear complete or not at all; ``abort`` removes those this run wrote (and the folder
    if this run created it), so a failed run leaves nothing behind.
    """

    def __init__(self, path: Path, folder: bool):
        self.path = Path(path)
        self.folder = folder
        self.written = 0
        self._created: list[Path] = []
        self._made_dir = False

    def open(self, info: StreamInfo) -> None:
        if self.folder and not self.path.exists():
            self.path.mkdir(parents=True)
            self._made_dir = True

    def write(self, frame: Frame) -> None:
        dest = self.path / frame.name if self.folder else self.path
        write_image(dest, frame.image)
        self._created.append(dest)
        self.written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        for p in self._created:
            p.unlink(missing_ok=True)
        if self._made_dir:
            try:
                self.path.rmdir()
            except OSError:
                pass
