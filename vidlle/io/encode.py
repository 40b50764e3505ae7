"""Encode stage: Frames + audio packets -> a video file, written under a temporary name.

The output appears at its real path only when :meth:`VideoFileSink.close` succeeds; a failed or
interrupted run calls :meth:`VideoFileSink.abort`, which removes the temporary file -- except for
live recordings (``keep_on_abort=True``): they are never deleted, abort() finalises them (trailer
written, renamed into place) and ``kept`` says how many frames the file holds.

:class:`RtspPublishSink` pushes H.264 to an RTSP server (ANNOUNCE/RECORD, like ffmpeg's rtsp
muxer) so an NVR or media server can relay the enhanced feed.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
# isort: on
import av
import numpy as np

from vidlle.errors import EncodeError, OutputError
from vidlle.frames import Frame, StreamInfo
from vidlle.io.atomic import create_exclusive, publish
from vidlle.io.base import Sink
from vidlle.io.pacing import Pacer
from vidlle.io.redact import redact, scrub
from vidlle.settings import TRANSPORTS, EncodeConfig

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".flv"}
# Audio codecs to re-encode to, in order of preference, when a container cannot hold the
# input's audio codec as it is (e.g. PCM in MP4, AAC in WebM).
_AUDIO_FALLBACKS = ("aac", "libopus", "opus", "libvorbis", "libmp3lame")
# The muxer of each output suffix: the temporary file is opened through its descriptor
# (:func:`_descriptor_path`), a name FFmpeg cannot guess a format from.
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
           ".ts": "mpegts", ".flv": "flv"}
# FFmpeg's codec query (``supported_codecs``) answers only for muxers with a codec tag table; the
# MPEG-TS muxer has none and would seem to hold MPEG-1/2 alone. What it does map to a stream type:
_QUERY_BLIND = {".ts": {"h264", "hevc", "mpeg4", "mpeg1video", "mpeg2video", "aac", "mp2", "mp3", "ac3", "eac3", "opus"}}
# Live recordings in these are fragmented MP4: a killed process leaves a playable file.
_FRAGMENTED_SUFFIXES = {".mp4", ".m4v", ".mov"}
# Encoders that take x264-style -crf/-preset options.
_CRF_PRESET_CODECS = {"libx264", "libx264rgb", "libx265"}


def temporary_path(path: Path) -> Path:
    """Hidden sibling of ``path`` with the same suffix (so format guessing still works)."""
    return path.with_name(f".{path.stem}.vidlle-tmp{path.suffix}")


def _descriptor_path(fd: int, path: Path) -> str:
    """A name that opens exactly the file behind ``fd`` (Linux: /proc/self/fd/N), so nothing swapped
    in at ``path`` after its exclusive creation (e.g. a symbolic link) is written through."""
    proc = f"/proc/self/fd/{fd}"
    return proc if os.path.exists(proc) else str(path)


def even_padding(pix_fmt: str, height: int, width: int) -> tuple[int, int]:
    """Rows and columns to add so a chroma-subsampled format (4:2:0, 4:2:2) can hold the frame."""
    probe = 64  # any even size: the chroma plane's size relative to it gives the subsampling
    try:
        fmt = av.VideoFormat(pix_fmt, probe, probe)
    except (ValueError, av.FFmpegError):
        raise EncodeError(f"unknown pixel format {pix_fmt!r}") from None
    chroma = fmt.components[1] if len(fmt.components) > 1 else fmt.components[0]
    sub_w = probe // chroma.width if chroma.width else 1
    sub_h = probe // chroma.height if chroma.height else 1
    return (-height) % sub_h, (-width) % sub_w


def add_video_stream(out, cfg: EncodeConfig, info, pad: tuple[int, int], rate: Fraction, **x264_options: str):
    """The encoder stream both video sinks use: the frame size plus ``pad`` (rows, columns),
    ``cfg``'s codec and pixel format, crf/preset (and ``x264_options``) for the x264/x265 family.

    With a source time base the encoder works in it: pts pass through unchanged, so VFR stays VFR.
    """
    vs = out.add_stream(cfg.codec, rate=rate)
    vs.width = info.width + pad[1]
    vs.height = info.height + pad[0]
    vs.pix_fmt = cfg.pix_fmt
    if info.time_base:
        vs.time_base = info.time_base
        vs.codec_context.time_base = info.time_base
    if cfg.codec in _CRF_PRESET_CODECS:
        vs.options = {"crf": str(cfg.crf), "preset": cfg.preset, **x264_options}
    return vs


def check_encoder(codec: str) -> None:
    """Raise EncodeError unless this FFmpeg build has an encoder named ``codec``."""
    try:
        av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise EncodeError(f"unknown video encoder {codec!r}") from None


def rgb_to_i420(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, H and W even -> (H * 3 / 2, W) uint8 planar yuv420p (Y, U, V planes).

    BT.601 limited range, the matrix FFmpeg's swscale uses for untagged RGB: luma equal to it
    within one level. OpenCV's own I420 conversion point-samples chroma (aliasing on fine colour
    detail), so chroma comes from each 2x2 block's mean colour instead, like swscale's filter.
    """
    height, width = image.shape[:2]
    out = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
    block_mean = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    # Nearest upscaling makes every pixel of a block its mean, so the point sample is the mean.
    blocks = cv2.resize(block_mean, (width, height), interpolation=cv2.INTER_NEAREST)
    out[height:] = cv2.cvtColor(blocks, cv2.COLOR_RGB2YUV_I420)[height:]
    return out


def video_frame(frame: Frame, pad: tuple[int, int], index: int, pix_fmt: str = "rgb24") -> "av.VideoFrame":
    """PyAV frame for ``frame``: edge-padded by ``pad`` (rows, cols) for 4:2:0; its own pts, or
    ``index`` when it has none (images).

    pix_fmt: the encoder's pixel format. yuv420p frames are converted here (:func:`rgb_to_i420`,
    ~5 ms per 720p frame with PyAV's copy-in, against ~8 ms for handing PyAV an rgb24 frame to
    convert): on a two-core machine that CPU comes straight out of the encoder's share. Other
    formats go to PyAV as rgb24 and the encoder converts them.
    """
    image = frame.image
    if any(pad):
        image = cv2.copyMakeBorder(image, 0, pad[0], 0, pad[1], cv2.BORDER_REPLICATE)
    if pix_fmt == "yuv420p":
        vf = av.VideoFrame.from_ndarray(rgb_to_i420(image), format="yuv420p")
    else:
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
    if frame.pts is not None:
        vf.pts, vf.time_base = frame.pts, frame.time_base
    else:
        vf.pts = index
    return vf


class VideoFileSink(Sink):
    """Writes enhanced frames (and copied/re-encoded audio) to ``path`` via a temporary file.

    The temporary file (:func:`temporary_path`) is created exclusively (:mod:`vidlle.io.atomic`)
    and locked (``flock``) while this sink writes it. One found at open time is either being
    written by another run (locked: OutputError, one line) or left by a run that died (kill -9,
    OOM, power loss): that one is renamed aside to ``NAME.interrupted-<its time>.EXT`` and a note
    says so, so a rerun never destroys it. A symbolic link there is refused, never followed.

    keep_on_abort: a live recording -- abort() finalises the file instead of deleting it (when
    at least one frame was written) and sets ``kept`` to the number of frames it holds. If the
    final rename fails, the file is kept under its temporary name and ``kept_path`` says where.
    Live MP4/MOV recordings are fragmented (a fragment per second), so the file stays playable
    up to the last second written even if the process is killed.
    """

    def __init__(self, path: Path, config: EncodeConfig = EncodeConfig(), keep_on_abort: bool = False):
        self.path = Path(path)
        self.config = config
        self.keep_on_abort = keep_on_abort
        self.kept: int | None = None
        self.kept_path: Path | None = None
        self.tmp = temporary_path(self.path)
        self._fd: int | None = None  # our temporary file, created and locked by open()
        self._out = None
        self._video = None
        self._audio: dict = {}  # input stream index -> (output stream, decoder or None)
        self._pad = (0, 0)
        self.written = 0
        self.notes: list[str] = []

    def open(self, info: StreamInfo) -> None:
        cfg = self.config
        check_encoder(cfg.codec)
        self._fd = self._claim_temporary()
        options = {}
        if self.keep_on_abort and self.path.suffix.lower() in _FRAGMENTED_SUFFIXES:
            options = {"movflags": "frag_keyframe+delay_moov+default_base_moof", "frag_duration": "1000000"}
        try:
            out = self._out = av.open(_descriptor_path(self._fd, self.tmp), "w",
                                      format=_MUXERS.get(self.path.suffix.lower()), options=options)
        except av.FFmpegError as exc:
            self._release(remove=True)
            raise EncodeError(f"cannot create {self.path}: {exc}") from None
        if not self._holds(cfg.codec):
            raise EncodeError(f"a {self.path.suffix} file cannot hold {cfg.codec} video; choose another --codec")
        self._pad = even_padding(cfg.pix_fmt, info.height, info.width)
        if any(self._pad):
            self.notes.append(
                f"padded {info.width}x{info.height} to {info.width + self._pad[1]}x{info.height + self._pad[0]} "
                f"(edge pixels repeated) because {cfg.pix_fmt} needs even sizes"
            )
        vs = self._video = add_video_stream(out, cfg, info, self._pad, info.rate or Fraction(25))
        if info.rotation:
            vs.set_display_rotation(info.rotation)
        for stream in info.audio:
            self._add_audio(stream)

    def _claim_temporary(self) -> int:
        """Create and lock our temporary file; a leftover of a dead run is renamed aside first."""
        for _ in range(2):
            try:
                fd = create_exclusive(self.tmp)
            except FileExistsError:
                self._set_aside_leftover()
                continue
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours, just created: cannot be held
            return fd
        raise OutputError(f"cannot write {self.path}: {self.tmp} keeps reappearing")

    def _set_aside_leftover(self) -> None:
        if self.tmp.is_symlink():
            raise OutputError(f"{self.tmp} is a symbolic link; vidlle does not write through links (remove it)")
        try:
            fd = os.open(self.tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return  # gone meanwhile: create it again
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {self.tmp}: {exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(f"another vidlle run is writing {self.path} (its temporary file {self.tmp} "
                                  "is in use)") from None
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(os.fstat(fd).st_mtime))
            aside = self.path.with_name(f"{self.path.stem}.interrupted-{stamp}{self.path.suffix}")
            n = 0
            while aside.exists() or aside.is_symlink():
                n += 1
                aside = self.path.with_name(f"{self.path.stem}.interrupted-{stamp}-{n}{self.path.suffix}")
            try:
                os.rename(self.tmp, aside)
            except OSError as exc:
                raise OutputError(f"cannot keep the interrupted earlier file {self.tmp} aside: "
                                  f"{exc.strerror or exc}; move it away, then run again") from None
        finally:
            os.close(fd)
        self.notes.append(f"an earlier run to {self.path} was interrupted; its file {self.tmp.name} "
                          f"({os.path.getsize(aside)} bytes) was kept as {aside}")

    def _release(self, remove: bool) -> None:
        """Close (and unlock) our temporary file; ``remove``: delete it too."""
        if self._fd is None:
            return
        if remove:
            self.tmp.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def _holds(self, codec: str) -> bool:
        """Whether the output container can hold ``codec`` (an encoder or codec name)."""
        names = {codec, _codec_id_name(codec)}
        return bool(names & (set(self._out.supported_codecs) | _QUERY_BLIND.get(self.path.suffix.lower(), set())))

    def _add_audio(self, stream) -> None:
        out = self._out
        name = stream.codec_context.name
        if self._holds(name):
            self._audio[stream.index] = (out.add_stream_from_template(stream), None)
            return
        for target in _AUDIO_FALLBACKS:
            if self._holds(target):
                try:
                    ostream = out.add_stream(target, rate=stream.codec_context.sample_rate)
                except (av.FFmpegError, ValueError):
                    continue
                ostream.layout = stream.codec_context.layout
                self._audio[stream.index] = (ostream, stream.codec_context)
                self.notes.append(f"audio stream {stream.index}: {name} re-encoded to {target} ({self.path.suffix} cannot hold {name})")
                return
        raise EncodeError(f"a {self.path.suffix} file can hold neither {name} audio nor any re-encodable format")

    def write(self, item) -> None:
        try:
            if isinstance(item, Frame):
                self._write_frame(item)
            else:
                self._write_audio(item)
        except av.FFmpegError as exc:
            raise EncodeError(f"encoding {self.path} failed: {_reason(exc)}") from None

    def _write_frame(self, frame: Frame) -> None:
        vf = video_frame(frame, self._pad, self.written, self.config.pix_fmt)
        for packet in self._video.encode(vf):
            self._out.mux(packet)
        self.written += 1

    def _write_audio(self, packet) -> None:
        entry = self._audio.get(packet.stream.index)
        if entry is None:
            return
        ostream, decoder = entry
        if decoder is None:
            packet.stream = ostream
            self._out.mux(packet)
            return
        for frame in decoder.decode(packet):
            frame.pts = None  # let the encoder's resampler re-time the samples
            for p in ostream.encode(frame):
                self._out.mux(p)

    def close(self) -> None:
        """Flush encoders, finish the container and move it to the final path."""
        try:
            self._finish()
            self._put_in_place()
        except OSError as exc:
            self.abort()
            if self.kept_path is not None:
                return  # a recording: kept under its temporary name, kept_message() says where
            raise OutputError(f"cannot finish {self.path}: {exc.strerror or exc}") from None
        except EncodeError:
            self.abort()
            raise

    def _finish(self) -> None:
        """Flush the encoders and write the container's trailer (the file is complete after it)."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            for ostream, decoder in self._audio.values():
                if decoder is not None:
                    for frame in decoder.decode(None):
                        frame.pts = None
                        for p in ostream.encode(frame):
                            self._out.mux(p)
                    for p in ostream.encode():
                        self._out.mux(p)
            self._out.close()
        except av.FFmpegError as exc:
            raise EncodeError(f"finishing {self.path} failed: {_reason(exc)}") from None
        self._out = None

    def _put_in_place(self) -> None:
        """Sync the temporary file and rename it to ``path`` (OSError if that fails)."""
        publish(self._fd, self.tmp, self.path)
        self._release(remove=False)

    def abort(self) -> None:
        """Drop everything written so far (nothing is left at the output path).

        With ``keep_on_abort`` and frames written: finalise the file instead and keep it -- at
        ``path``, or under its temporary name when it cannot be renamed (``kept_path``).
        """
        if self.keep_on_abort and self._fd is not None and self.written > 0:
            if self._out is not None:
                try:
                    self._finish()
                except Exception as exc:  # noqa: BLE001 - a recording is never deleted
                    self.notes.append(f"{self.path} could not be finalised cleanly ({exc}); kept as written")
                    self._close_quietly()
            try:
                self._put_in_place()
                self.kept_path = self.path
            except OSError as exc:
                self.notes.append(f"could not rename the recording to {self.path} ({exc.strerror or exc})")
                self.kept_path = self.tmp
                self._release(remove=False)
            self.kept = self.written
            return
        self._close_quietly()
        self._release(remove=True)

    def _close_quietly(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - the run already failed; cleanup must go on
                pass
            self._out = None

    def kept_message(self) -> str | None:
        """``kept 1234 frames in rec.mkv`` after abort() finalised a live recording, else None."""
        if self.kept is None:
            return None
        return f"kept {self.kept} frame{'s' if self.kept != 1 else ''} in {self.kept_path or self.path}"


class RtspPublishSink(Sink):
    """Publishes enhanced frames to an RTSP server (ANNOUNCE + RECORD), e.g. mediamtx or an NVR.

    Video only (H.264 through libx264 by default), low latency: ``tune=zerolatency`` (no
    B-frames, no lookahead, frames leave the encoder at once) and a keyframe every
    ``keyint_seconds`` so a viewer joining later starts within that time. The connection is
    made in :meth:`open`, before any frame is processed, so a wrong URL fails at once.
    File sources are paced to real time from their pts (like ``ffmpeg -re``); live sources are
    sent as they arrive. Credentials in ``url`` are never printed.
    """

    def __init__(self, url: str, config: EncodeConfig = EncodeConfig(), transport: str = "tcp",
                 timeout: float = 10.0, keyint_seconds: float = 1.0):
        if transport not in TRANSPORTS:
            raise OutputError(f"unknown RTSP transport {transport!r} (use {' or '.join(TRANSPORTS)})")
        self.url = url
        self.shown = redact(url)
        self.config = config
        self.transport = transport
        self.timeout = timeout
        self.keyint_seconds = keyint_seconds
        self.written = 0
        self._out = None
        self._video = None
        self._pad = (0, 0)
        self._pacer = None
        self._stop = threading.Event()

    def _error(self, what: str, exc: Exception) -> str:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return f"{what} {self.shown}: {scrub(reason, self.url)}"

    def open(self, info: StreamInfo) -> None:
        cfg = self.config
        check_encoder(cfg.codec)
        rate = info.rate or Fraction(25)
        try:
            out = self._out = av.open(self.url, "w", format="rtsp", timeout=self.timeout,
                                      container_options={"rtsp_transport": self.transport})
        except av.FFmpegError as exc:
            raise OutputError(self._error("cannot publish to", exc)) from None
        self._pad = even_padding(cfg.pix_fmt, info.height, info.width)
        vs = self._video = add_video_stream(out, cfg, info, self._pad, rate, tune="zerolatency")
        vs.codec_context.gop_size = max(1, round(float(rate) * self.keyint_seconds))
        self._pacer = None if info.live else Pacer()
        try:
            out.start_encoding()  # connects: ANNOUNCE, SETUP, RECORD
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(self._error("cannot publish to", exc)) from None

    def write(self, item) -> None:
        if not isinstance(item, Frame):
            return  # audio is not published
        if self._pacer is not None:
            self._pacer.wait(item, self._stop)
        vf = video_frame(item, self._pad, self.written, self.config.pix_fmt)
        try:
            for packet in self._video.encode(vf):
                self._out.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise EncodeError(self._error("publishing to", exc) + f" (after {self.written} frames)") from None
        self.written += 1

    def close(self) -> None:
        """Flush the encoder and end the session (TEARDOWN)."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            self._out.close()
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise EncodeError(self._error("finishing the stream to", exc)) from None
        self._out = None

    def abort(self) -> None:
        self._stop.set()
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
            self._out = None


def _reason(exc: Exception) -> str:
    """An FFmpeg error without the file name it carries (ours is /proc/self/fd/N: meaningless)."""
    return getattr(exc, "strerror", None) or str(exc)


def _codec_id_name(encoder: str) -> str:
    """Codec (format-level) name of an encoder, e.g. libopus -> opus."""
    try:
        return av.Codec(encoder, "w").canonical_name
    except (av.FFmpegError, ValueError):
        return encoder
