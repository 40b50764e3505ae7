"""The planner: classify INPUT and OUTPUT, check them, and choose the source and the sink.

:func:`plan` (``vidlle enhance``) returns a :class:`Plan`; :func:`open_source` (``vidlle
preview``) a source alone. Every check that can fail happens here, before any frame is decoded,
so a bad command fails fast with one clear line and nothing is created at the output path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vidlle.errors import InputError, InputNotFoundError, OutputError
from vidlle.io.base import Sink, Source
from vidlle.io.images import IMAGE_SUFFIXES, ImageSink, ImageSource, folder_images  # noqa: I001 - cv2 before av
from vidlle.io.decode import VideoFileSource
from vidlle.io.encode import VIDEO_SUFFIXES, RtspPublishSink, VideoFileSink
from vidlle.io.live import LiveSource
from vidlle.io.livespec import check_available
from vidlle.io.redact import URL, redact
from vidlle.settings import EncodeConfig, LiveConfig

LIVE_PREFIXES = ("webcam:", "/dev/video", "rtsp://", "rtsps://", "http://", "https://", "udp://", "srt://",
                 "testsrc")
PUBLISH_PREFIXES = ("rtsp://", "rtsps://")

Kind = Literal["video", "image", "folder", "live"]


@dataclass(frozen=True)
class Plan:
    """What ``vidlle enhance INPUT OUTPUT`` will run: the source, the sink, and what the input is
    (``kind``: video | image | folder | live)."""

    source: Source
    sink: Sink
    kind: Kind

    @property
    def consecutive(self) -> bool:
        """The frames follow each other in time (a video, a live source), so temporal processing
        applies; images (one, or a folder's) are unrelated pictures."""
        return self.kind in ("video", "live")


def _scheme_lower(spec: str) -> str:
    """``spec`` with a URL scheme in lower case (schemes are case-insensitive: RTSP:// is rtsp://)."""
    m = URL.match(spec)
    return f"{m[1].lower()}://{m[2]}" if m else spec


def is_live(spec: str) -> bool:
    """Webcam, stream URL or the virtual test camera (``testsrc[:WxH][@FPS]``)."""
    if spec.startswith("testsrc"):
        return spec == "testsrc" or spec.startswith(("testsrc:", "testsrc@"))
    return _scheme_lower(spec).startswith(LIVE_PREFIXES)


def is_publish(spec: str) -> bool:
    """OUTPUT is an RTSP URL to publish to."""
    return _scheme_lower(spec).startswith(PUBLISH_PREFIXES)


def _refuse_unknown_url(spec: str, what: str, known: str) -> None:
    """A ``scheme://`` spec that is none of ours (a typo such as rstp://) is an error that names
    the scheme, never a file path to look for (which would print the URL, password and all)."""
    m = URL.match(spec)
    if m is not None:
        error = InputError if what == "input" else OutputError
        raise error(f"{what} {redact(spec)}: unknown URL scheme {m[1]}:// (use {known})")


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


def plan(input_spec: str, output_spec: str, overwrite: bool, encode_config: EncodeConfig | None = None,
         live_config: LiveConfig | None = None, rtsp_transport: str = "tcp") -> Plan:
    """The :class:`Plan` for ``vidlle enhance INPUT OUTPUT``.

    Live inputs (webcam, stream URL, testsrc) get a :class:`~vidlle.io.live.LiveSource`
    (``live_config``: a :class:`~vidlle.settings.LiveConfig`; drop policy ``auto`` becomes
    ``buffer`` for a file, ``latest`` for publishing) and a video-file sink that keeps the
    recording on Ctrl-C or a fatal error (``keep_on_abort``). An ``rtsp://`` OUTPUT gets an
    :class:`~vidlle.io.encode.RtspPublishSink` (``rtsp_transport``), for live and file inputs.
    Raises InputError/InputNotFoundError/OutputError with a one-line message.
    """
    encode_config = encode_config or EncodeConfig()
    input_spec, output_spec = _scheme_lower(input_spec), _scheme_lower(output_spec)
    if not is_live(input_spec):
        _refuse_unknown_url(input_spec, "input", "rtsp://, rtsps://, http(s)://, udp:// or srt://")
    if not is_publish(output_spec):
        _refuse_unknown_url(output_spec, "output", "rtsp:// or rtsps:// to publish")
    if is_live(input_spec):
        return _plan_live(input_spec, output_spec, overwrite, encode_config, live_config, rtsp_transport)
    if is_publish(output_spec):
        src = Path(input_spec)
        if not src.exists():
            raise InputNotFoundError(f"input not found: {src}")
        if not src.is_file() or src.suffix.lower() in IMAGE_SUFFIXES:
            raise OutputError(f"only video can be published to {redact(output_spec)}; {src} is not a video file")
        return Plan(VideoFileSource(src), RtspPublishSink(output_spec, encode_config, transport=rtsp_transport), "video")
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
        return Plan(ImageSource(images, skip_unreadable=True), ImageSink(out, folder=True), "folder")

    if not src.is_file():
        raise InputError(f"{src} is not a regular file")
    if src.suffix.lower() in IMAGE_SUFFIXES:
        _check_file_output(out, overwrite, IMAGE_SUFFIXES, "image")
        return Plan(ImageSource([src]), ImageSink(out, folder=False), "image")

    _check_file_output(out, overwrite, VIDEO_SUFFIXES, "video")
    return Plan(VideoFileSource(src), VideoFileSink(out, encode_config), "video")


def _plan_live(input_spec: str, output_spec: str, overwrite: bool, encode_config: EncodeConfig,
               live_config: LiveConfig | None, rtsp_transport: str) -> Plan:
    live_config = live_config or LiveConfig()
    check_available(input_spec, live_config)  # malformed spec, missing /dev/videoN: fail before anything
    if is_publish(output_spec):
        source = LiveSource(input_spec, live_config.for_output(recording=False))
        return Plan(source, RtspPublishSink(output_spec, encode_config, transport=rtsp_transport), "live")
    out = Path(output_spec)
    if out.is_dir() or out.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(
            f"a live source is recorded to a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or published to "
            f"rtsp://..., not {out}"
        )
    _check_file_output(out, overwrite, VIDEO_SUFFIXES, "video")
    source = LiveSource(input_spec, live_config.for_output(recording=True))
    return Plan(source, VideoFileSink(out, encode_config, keep_on_abort=True), "live")


def open_source(spec: str, live_config: LiveConfig | None = None) -> Source:
    """The source of ``vidlle preview SOURCE``: a live source or a video file.

    Raises InputError/InputNotFoundError with a one-line message.
    """
    spec = _scheme_lower(spec)
    if not is_live(spec):
        _refuse_unknown_url(spec, "input", "rtsp://, rtsps://, http(s)://, udp:// or srt://")
    if is_live(spec):
        live_config = live_config or LiveConfig()
        check_available(spec, live_config)
        return LiveSource(spec, live_config.for_output(recording=False))
    src = Path(spec)
    if not src.exists():
        raise InputNotFoundError(f"input not found: {src}")
    if not src.is_file() or src.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"{src} is not a video file or live source (webcam:N, rtsp://..., testsrc)")
    return VideoFileSource(src)

