"""Preview window: original | enhanced side by side, keys, and a stats line.

The window lives in its own GUI thread (every OpenCV HighGUI call happens there), fed through a
one-slot buffer: :meth:`PreviewSink.write` never waits for the screen, and a slow display only
skips repaints. Keys: ``q``/Esc quit, space toggles enhancement, ``o`` toggles the overlay
(flags in :class:`PreviewControls`, which the transform wrapper and the caller read).

The sink needs the original picture next to the enhanced one: :func:`keep_original` wraps the
pipeline's transform so each output Frame carries ``original`` (the input image); the Frame
contract is otherwise unchanged.

Import order matters: this module imports OpenCV *before* PyAV. PyAV wheels bundle their own
libxcb; when PyAV is loaded first, OpenCV's Qt window livelocks in ``imshow`` (PyAV issues
#978/#1050). :meth:`PreviewSink.open` refuses with a clear error when PyAV was imported first.
"""

from __future__ import annotations

# isort: off
import cv2  # must precede anything that imports av (see the module docstring)
# isort: on
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from vidlle.errors import DisplayError
from vidlle.frames import Frame, StreamInfo
from vidlle.io.base import Sink
from vidlle.io.pacing import Pacer

_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class PreviewControls:
    """What the keys change. ``on_change(name, value)`` is called after each toggle.

    enhance: show the enhanced picture (space); when off the transform is skipped.
    overlay: draw the segmentation overlay (``o``); the caller decides what that means.
    quit: set by ``q``/Esc or by closing the window.
    """

    enhance: bool = True
    overlay: bool = False
    quit: threading.Event = field(default_factory=threading.Event)
    on_change: Callable[[str, bool], None] | None = None

    def toggle(self, name: str) -> bool:
        value = not getattr(self, name)
        setattr(self, name, value)
        if self.on_change is not None:
            self.on_change(name, value)
        return value


def keep_original(transform: Callable[[Sequence[Frame]], list[Frame]],
                  controls: PreviewControls | None = None) -> Callable[[Sequence[Frame]], list[Frame]]:
    """Wrap a pipeline transform so every output Frame carries its input image as ``original``.

    With ``controls.enhance`` off the transform is skipped (the picture passes unchanged); the
    first frame after it is switched back on is flagged ``discontinuity`` so temporal state is
    not blended with a stale past.
    """
    state = {"was_off": False}

    def run(frames: Sequence[Frame]) -> list[Frame]:
        if controls is not None and not controls.enhance:
            state["was_off"] = True
            return [replace(f, original=f.image) for f in frames]
        if state["was_off"] and frames:
            frames = [replace(frames[0], discontinuity=True), *frames[1:]]
            state["was_off"] = False
        out = transform(frames)
        if len(out) != len(frames):
            return list(out)
        return [o if o.original is not None else replace(o, original=f.image) for f, o in zip(frames, out)]

    return run


# -- display checks ------------------------------------------------------------------------------

def _x_display_reachable(display: str) -> bool:
    """Whether an X server answers at ``display`` (``:0``, ``unix:1``, ``host:10.0``)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    if host.startswith("/"):  # launchd-style socket path (macOS XQuartz)
        return os.path.exists(display)
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in (path, "\0" + path):  # filesystem, then Linux abstract namespace
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect(address)
                    return True
            except OSError:
                continue
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def display_problem(probe: bool = True) -> str | None:
    """Why no preview window can be opened here, or None when one can.

    Linux: OpenCV's Qt window needs an X server (XWayland on Wayland): DISPLAY must be set and
    reachable. ``probe`` also opens and closes a window in a child process first, because Qt
    aborts the whole process (no exception) when it cannot talk to the server.
    """
    if sys.platform.startswith("linux"):
        display = os.environ.get("DISPLAY", "")
        if not display:
            if os.environ.get("WAYLAND_DISPLAY"):
                return "no X display: WAYLAND_DISPLAY is set but OpenCV windows need XWayland (DISPLAY is not set)"
            return "no display available (DISPLAY is not set); write to a file or rtsp:// URL instead"
        if not _x_display_reachable(display):
            return f"cannot connect to the X display {display}"
    if "av" in sys.modules and "cv2" in sys.modules:
        order = list(sys.modules)
        if order.index("av") < order.index("cv2"):
            return ("PyAV was imported before OpenCV in this process, which freezes OpenCV windows; "
                    "import vidlle.io.preview (or cv2) before av")
    if sys.platform.startswith("linux"):
        if probe:
            code = "import cv2; cv2.namedWindow('vidlle-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
            try:
                done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=20)
            except subprocess.TimeoutExpired:
                return f"opening a window on {display} timed out"
            if done.returncode != 0:
                return f"cannot open a window on {display} ({_last_line(done.stderr)})"
    return None


def _last_line(data: bytes) -> str:
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "window system refused"


# -- drawing -------------------------------------------------------------------------------------

def compose(enhanced: np.ndarray, original: np.ndarray | None, status: str = "",
            max_width: int = 1920, labels: tuple[str, str] = ("original", "enhanced")) -> np.ndarray:
    """The window's picture: (H', W', 3) uint8 **BGR**, original | enhanced side by side
    (enhanced alone when ``original`` is None), scaled down to ``max_width``, with a status
    strip below. Inputs are (H, W, 3) uint8 RGB."""
    panels = [original, enhanced] if original is not None else [enhanced]
    names = list(labels) if original is not None else [labels[1]]
    h, w = enhanced.shape[:2]
    panels = [p if p.shape[:2] == (h, w) else cv2.resize(p, (w, h)) for p in panels]
    picture = np.concatenate(panels, axis=1)
    scale = min(1.0, max_width / picture.shape[1])
    if scale < 1.0:
        picture = cv2.resize(picture, (max(1, int(picture.shape[1] * scale)), max(1, int(picture.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
    picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    panel_w = picture.shape[1] // len(panels)
    text_scale = max(0.35, min(0.8, panel_w / 900))
    thickness = 1 if text_scale < 0.6 else 2
    for i, name in enumerate(names):
        _text(picture, name, (i * panel_w + 8, int(22 * text_scale / 0.6)), text_scale, thickness)
    strip_h = max(14, int(28 * text_scale / 0.6))
    strip = np.zeros((strip_h, picture.shape[1], 3), np.uint8)
    if status:
        _text(strip, status, (8, strip_h - strip_h // 3), text_scale * 0.9, 1)
    return np.concatenate([picture, strip], axis=0)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, thickness: int) -> None:
    cv2.putText(img, text, org, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


# -- the sink ------------------------------------------------------------------------------------

class PreviewSink(Sink):
    """Shows frames in a window (pipeline sink: open/write/close/abort).

    controls: key state (a fresh :class:`PreviewControls` by default).
    live_stats: the source's ``LiveStats`` for the stats line (fps in, drops, latency), or None.
    on_quit: called (from the GUI thread) when the user quits, e.g. ``pipeline.request_stop``.
    Frames of a file source are shown at their own pace (pts); live frames as they come.
    """

    def __init__(self, title: str = "vidlle preview", controls: PreviewControls | None = None,
                 live_stats=None, on_quit: Callable[[], None] | None = None, max_width: int = 1920,
                 probe: bool = True):
        self.title = title
        self.controls = controls or PreviewControls()
        self.live_stats = live_stats
        self.on_quit = on_quit
        self.max_width = max_width
        self.probe = probe
        self.written = 0
        self.shown = 0
        self.notes: list[str] = []
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._pacer = None
        self._out_times: list[float] = []

    # -- sink contract ------------------------------------------------------------------------
    def open(self, info: StreamInfo) -> None:
        problem = display_problem(self.probe)
        if problem:
            raise DisplayError(f"cannot open a preview window: {problem}")
        if not info.live:
            self._pacer = Pacer()
        _quiet_qt_fonts()
        self._thread = threading.Thread(target=self._gui, name="vidlle-preview", daemon=True)
        self._thread.start()
        self._ready.wait(20.0)
        if self._error:
            self._thread.join(2.0)
            raise DisplayError(f"cannot open a preview window: {self._error}")

    def write(self, item) -> None:
        if not isinstance(item, Frame):
            return
        if self._pacer is not None:
            self._pacer.wait(item, self._stop)
        with self._cond:
            self._slot = item
            self._cond.notify_all()
        self.written += 1
        now = time.perf_counter()
        self._out_times = [t for t in self._out_times if t > now - 2.0] + [now]

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    abort = close

    # -- stats -----------------------------------------------------------------------------------
    def status(self) -> str:
        """``in 25.0 fps, out 24.9 fps, 3 dropped, latency 41 ms | enhance on, overlay off``."""
        if self.live_stats is not None:
            head = self.live_stats.line()
        else:
            now = time.perf_counter()
            recent = [t for t in self._out_times if t > now - 2.0]
            span = (now - recent[0]) if len(recent) > 1 else 0.0
            head = f"out {(len(recent) - 1) / span if span > 0 else 0.0:.1f} fps, {self.written} frames"
        c = self.controls
        return f"{head} | enhance {'on' if c.enhance else 'off'}, overlay {'on' if c.overlay else 'off'}"

    # -- GUI thread ------------------------------------------------------------------------------
    def _gui(self) -> None:
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
            cv2.waitKey(1)
        except cv2.error as exc:
            self._error = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
            self._ready.set()
            return
        self._ready.set()
        try:
            last, drawn_at = None, 0.0
            while not self._stop.is_set():
                with self._cond:
                    frame, self._slot = self._slot, None
                if frame is not None:
                    last = frame
                # Repaint for a new frame, or twice a second so the stats line stays current.
                if last is not None and (frame is not None or time.perf_counter() - drawn_at > 0.5):
                    labels = ("original", "enhanced" if self.controls.enhance else "enhancement off")
                    cv2.imshow(self.title, compose(last.image, last.original, self.status(), self.max_width, labels))
                    drawn_at = time.perf_counter()
                    self.shown += frame is not None
                key = cv2.waitKey(15) & 0xFF
                if key in (ord("q"), ord("Q"), 27):
                    self._quit()
                elif key == ord(" "):
                    self.controls.toggle("enhance")
                elif key in (ord("o"), ord("O")):
                    self.controls.toggle("overlay")
                if last is not None and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    self._quit()  # closed with the window manager's button
        except cv2.error as exc:
            self.notes.append(f"preview window failed: {exc}")
            self._quit()
        finally:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass

    def _quit(self) -> None:
        if not self.controls.quit.is_set():
            self.controls.quit.set()
            if self.on_quit is not None:
                self.on_quit()
        self._stop.set()


def _quiet_qt_fonts() -> None:
    """OpenCV's Qt ships no fonts and warns on every window; point it at the system's."""
    if "QT_QPA_FONTDIR" in os.environ:
        return
    for d in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if os.path.isdir(d):
            os.environ["QT_QPA_FONTDIR"] = d
            return
