"""What the user asked for: classify INPUT and OUTPUT, check them, build the source and sink.

Every check that can fail happens here, before any frame is decoded, so a bad command fails
fast with one clear line and nothing is created at the output path.
"""

from __future__ import annotations

from pathlib import Path

from vidlle.errors import InputError, InputNotFoundError, OutputError
from vidlle.io.images import IMAGE_SUFFIXES, ImageSink, ImageSource, folder_images

LIVE_PREFIXES = ("webcam:", "/dev/video", "rtsp://", "rtsps://", "http://", "https://", "udp://", "srt://")


def is_live(spec: str) -> bool:
    return spec.startswith(LIVE_PREFIXES)


def _probe_writable(path: Path) -> None:
    """Create and remove a file next to ``path``: the only check that is right for root too."""
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    probe = parent / f".{path.name}.vidlle-probe"
    try:
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_file_output(output: Path, overwrite: bool, allowed: set[str], kind: str) -> None:
    if output.is_dir():
        raise OutputError(f"output {output} is a folder, but the input is a single {kind}")
    if output.suffix.lower() not in allowed:
        shown = output.suffix or "(none)"
        raise OutputError(
            f"unknown output extension {shown} for {kind} output (use one of {', '.join(sorted(allowed))})"
        )
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists (use -y to overwrite)")
    _probe_writable(output)


def plan(input_spec: str, output_spec: str, overwrite: bool, encode_config=None):
    """Return (source, sink, kind) for ``vidlle enhance INPUT OUTPUT``; kind is video|image|folder.

    Raises InputError/InputNotFoundError/OutputError with a one-line message.
    """
    from vidlle.io.encode import VIDEO_SUFFIXES, EncodeConfig, VideoFileSink

    if is_live(input_spec):
        raise InputError(f"live sources ({input_spec.split(':')[0]}) are not supported by this version of vidlle")
    src = Path(input_spec)
    out = Path(output_spec)
    if not src.exists():
        raise InputNotFoundError(f"input not found: {src}")
    if out.exists() and src.resolve() == out.resolve():
        raise OutputError(f"output {out} is the input; choose another path")

    if src.is_dir():
        if out.suffix and not out.is_dir():
            raise OutputError(f"input {src} is a folder; the output must be a folder too, not {out}")
        images = folder_images(src)
        if not images:
            raise InputError(f"folder {src} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if out.exists() and not overwrite:
            clashes = [p.name for p in images if (out / p.name).exists()]
            if clashes:
                raise OutputError(f"{out / clashes[0]} already exists (use -y to overwrite)")
        if out.exists():
            _probe_writable(out / images[0].name)
        else:
            _probe_writable(out)
        return ImageSource(images), ImageSink(out, folder=True), "folder"

    if not src.is_file():
        raise InputError(f"{src} is not a regular file")
    if src.suffix.lower() in IMAGE_SUFFIXES:
        _check_file_output(out, overwrite, IMAGE_SUFFIXES, "image")
        return ImageSource([src]), ImageSink(out, folder=False), "image"

    from vidlle.io.decode import VideoFileSource

    _check_file_output(out, overwrite, VIDEO_SUFFIXES, "video")
    return VideoFileSource(src), VideoFileSink(out, encode_config or EncodeConfig()), "video"

