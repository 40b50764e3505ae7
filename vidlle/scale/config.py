"""``vidlle serve`` configuration: a YAML (or JSON) file -> one frozen :class:`CameraConfig` each.

    defaults:                       # any camera key; each camera may override it
      output: rec/{name}/%Y%m%d-%H%M%S.mkv
      segment_seconds: 600
      num_cpus: 1
    cameras:
      - name: gate
        source: rtsp://viewer:${GATE_PASSWORD}@10.0.0.5/stream1
      - name: yard
        source: testsrc:640x360@15
        output: rtsp://nvr.local:8554/{name}-enhanced
      - name: lobby
        source: webcam:0
        output: none
        overlay: seg

Everything is checked here, before any camera starts, and every problem is one line naming the
file, the camera and the key (:class:`ConfigError`). Relative output paths are relative to the
config file's folder. ``${VAR}`` in ``source`` and ``output`` is replaced by the environment
variable (keep passwords out of the file); an unset variable is an error. A source or rtsp://
output keeps its ``${VAR}`` until the camera opens it (:meth:`CameraConfig.source_url`): the
expanded secret stays on the node that runs the camera.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import string
import time
from dataclasses import dataclass
from pathlib import Path

from vidlle.backends import BACKENDS
from vidlle.errors import ConfigError, VidlleError, one_line
from vidlle.extras import require_torch
from vidlle.io.encode import VIDEO_SUFFIXES
from vidlle.io.livespec import resolve
from vidlle.io.redact import redact
from vidlle.io.plan import is_live, is_publish
from vidlle.models import get_spec, load_model
from vidlle.scale import SCALE_EXTRA
from vidlle.settings import YAML, EncodeConfig, EnhancerConfig, LiveConfig, RunConfig, check_value, setting, settings_of

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_GPU_SHARE = 0.1  # a CUDA camera reserves a tenth of a GPU unless num_gpus says (docs/capacity.md)
# A service outlives camera reboots: it waits for a camera that is not up yet, where a one-off
# `vidlle enhance` fails at once (LiveConfig's default).
SERVE_LIVE = LiveConfig(wait_for_source=True)


@dataclass(frozen=True)
class CameraConfig:
    """One camera of ``vidlle serve``: where frames come from, what enhances them, where they go.

    name: unique, letters/digits/``_.-`` (used in file names and tables).
    source: live spec, as ``vidlle enhance`` takes it: ``rtsp://...``, ``http(s)://...``,
        ``webcam:N``, ``/dev/videoN``, ``testsrc[:WxH][@FPS]``.
    output: ``file`` pattern (absolute; ``{name}`` and strftime fields already allowed),
        ``rtsp://`` URL to publish to, or None (enhance only: stats, no output).
    segment_seconds: file outputs: start a new file at every multiple of this many seconds of
        wall-clock time (like an NVR: 600 -> files start at :00, :10, ...); None = one file per run.
    enhancer, encode, live, run: the settings of :mod:`vidlle.settings`; in the file each of their
        fields is a key of its own (``model``, ``crf``, ``read_timeout``, ...), with the same
        defaults as ``vidlle enhance`` except ``wait_for_source`` (on: :data:`SERVE_LIVE`).
    num_cpus, num_gpus: Ray resources reserved for the camera's actor (num_gpus is fractional:
        0.1 = ten cameras share a GPU; defaults to 0.1 when ``device`` is CUDA, else 0).
    max_restarts: times Ray (or the in-process runner) restarts a crashed camera; -1 = forever.
    max_task_retries: Ray retries of calls to a restarting actor (stats, stop); -1 = forever.
    log: file (absolute) that keeps the traceback of each failure of the camera's pipeline, on the
        machine that runs it; written only when something fails; None = not kept.
    """

    name: str = setting(dataclasses.MISSING, "Unique camera name: letters, digits, '_', '.', '-' (it names files).", where=(YAML,))
    source: str = setting(dataclasses.MISSING, "Live source: rtsp://..., http(s)://..., webcam:N, /dev/videoN, "
                                "testsrc[:WxH][@FPS].", where=(YAML,))
    output: str | None = setting(None, "File pattern ({name}, strftime fields), rtsp:// URL, or none.",
                                 where=(YAML,))
    segment_seconds: float | None = setting(None, "File outputs: a new file at every multiple of this many "
                                                  "seconds of wall-clock time.", where=(YAML,))
    enhancer: EnhancerConfig = EnhancerConfig()
    encode: EncodeConfig = EncodeConfig()
    live: LiveConfig = SERVE_LIVE
    run: RunConfig = RunConfig()
    num_cpus: float = setting(1.0, "CPUs Ray reserves for the camera's actor.", low=0, where=(YAML,))
    num_gpus: float = setting(0.0, "GPUs Ray reserves (fractional; 0.1 when device is CUDA).", low=0,
                              where=(YAML,))
    max_restarts: int = setting(-1, "Restarts of a crashed camera; -1 = forever.", where=(YAML,))
    max_task_retries: int = setting(-1, "Ray retries of calls to a restarting actor; -1 = forever.",
                                    where=(YAML,))
    log: str | None = setting("logs/{name}.log", "File that keeps the tracebacks of the camera's failures "
                                                 "({name}; relative to the config's folder), or none.", where=(YAML,))

    @property
    def output_kind(self) -> str:
        """``file``, ``rtsp`` or ``none``."""
        if self.output is None:
            return "none"
        return "rtsp" if is_publish(self.output) else "file"

    def __repr__(self) -> str:  # never the credentials a URL may hold
        return f"CameraConfig(name={self.name!r}, source={self.shown_source!r}, output={self.shown_output!r})"

    def source_url(self) -> str:
        """``source`` with ``${VAR}`` replaced from this process's environment (the node's, under Ray)."""
        return expand_env(self.source)

    def output_target(self) -> str | None:
        """``output`` with ``${VAR}`` replaced here (an rtsp:// URL keeps them until used)."""
        return None if self.output is None else expand_env(self.output)

    @property
    def shown_source(self) -> str:
        return redact(self.source)

    @property
    def shown_output(self) -> str:
        if self.output is None:
            return "none"
        return redact(self.output)

    def live_config(self) -> LiveConfig:
        # Recordings keep frames (a buffer absorbs jitter); relaying or stats-only keep latency low.
        return self.live.for_output(recording=self.output_kind == "file")


@dataclass(frozen=True)
class ServiceConfig:
    """The whole file: its path (for messages) and the cameras, in file order."""

    path: str
    cameras: tuple[CameraConfig, ...]


# Every key of a camera: the camera's own fields and those of the settings it carries (group
# None = the camera's own). Defaults, choices, ranges and types come from the fields.
_GROUPS = {"enhancer": EnhancerConfig, "encode": EncodeConfig, "live": LiveConfig, "run": RunConfig}
_FIELDS: dict[str, tuple[str | None, dataclasses.Field]] = {
    **{f.name: (None, f) for f, _ in settings_of(CameraConfig, YAML)},
    **{f.name: (group, f) for group, cls in _GROUPS.items() for f, _ in settings_of(cls, YAML)},
}
_KEYS = sorted(_FIELDS)
_TOP_KEYS = ("defaults", "cameras")


def load_config(path: str | Path) -> ServiceConfig:
    """Read and check ``path`` (``.yaml``/``.yml`` needs PyYAML; ``.json`` does not)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading YAML needs PyYAML: {SCALE_EXTRA} (or write the file as .json)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, base_dir=path.resolve().parent, origin=str(path))


def parse_config(data, base_dir: str | Path = ".", origin: str = "config") -> ServiceConfig:
    """Check the loaded document ``data`` (dict) and build the cameras; paths relative to ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'cameras:' (and optionally 'defaults:')")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level key {unknown[0]!r} (known: {', '.join(_TOP_KEYS)})")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{origin}: 'defaults' must be a mapping of camera keys")
    for key in ("name", "source"):
        if key in defaults:
            raise ConfigError(f"{origin}: defaults: {key!r} is per camera, not a default")
    _check_keys(defaults, f"{origin}: defaults")
    cameras = data.get("cameras")
    if not isinstance(cameras, list) or not cameras:
        raise ConfigError(f"{origin}: 'cameras' must be a non-empty list of cameras")
    built: list[CameraConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(cameras):
        where = f"{origin}: cameras[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with name and source")
        name = entry.get("name")
        if isinstance(name, str):
            where = f"{origin}: camera {name!r}"
        _check_keys(entry, where)
        cam = _camera({**defaults, **entry}, where, Path(base_dir), explicit=set(entry))
        if cam.name in seen:
            raise ConfigError(f"{where}: duplicate camera name")
        seen.add(cam.name)
        built.append(cam)
    _check_output_clashes(built, origin)
    return ServiceConfig(path=origin, cameras=tuple(built))


def _check_keys(entry: dict, where: str) -> None:
    for key in entry:
        if key not in _FIELDS:
            close = [k for k in _KEYS if k.startswith(str(key)[:3])]
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(_KEYS)})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def _camera(values: dict, where: str, base_dir: Path, explicit: set) -> CameraConfig:
    for key in ("name", "source"):
        if values.get(key) in (None, ""):
            raise ConfigError(f"{where}: missing {key!r}")
    kw = {}
    for key, value in values.items():
        kw[key] = _typed(key, value, where)
    name = kw["name"]
    if not NAME.match(name):
        raise ConfigError(f"{where}: name must be 1-64 letters, digits, '_', '.' or '-' (it names files)")
    # Checked expanded, kept as written: ${VAR} is expanded where the camera runs (CameraConfig.
    # source_url), so the secret in it is neither shipped to Ray nodes nor held by the config.
    source = _expand_env(kw["source"], where, "source")
    if not is_live(source):
        raise ConfigError(f"{where}: source {redact(source)!r} is not a live source "
                          "(rtsp://..., http(s)://..., webcam:N, /dev/videoN, testsrc[:WxH][@FPS]); "
                          "recorded files go through `vidlle enhance` (--ray for many)")
    try:
        live = dataclasses.replace(SERVE_LIVE, **_group(kw, "live"))
        resolve(source, live)
    except VidlleError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    output = kw.get("output")
    if isinstance(output, str) and output.strip().lower() in ("", "none", "null"):
        output = None
    if output is not None:
        output = _format_name(output, name, where)
        if is_publish(_expand_env(output, where, "output")):  # a URL: expanded where it is used, as the source
            if kw.get("segment_seconds") is not None and "segment_seconds" in explicit:
                raise ConfigError(f"{where}: segment_seconds applies to file outputs, not to {output.split('://')[0]}://")
            kw["segment_seconds"] = None  # a default for the file outputs of other cameras
        else:
            output = _expand_env(output, where, "output")
            path = Path(output).expanduser()
            if not path.is_absolute():
                path = base_dir / path
            output = str(path)
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise ConfigError(f"{where}: output {output!r} must end in a video extension "
                                  f"({', '.join(sorted(VIDEO_SUFFIXES))}), be rtsp://..., or be none")
            try:
                time.strftime(output)
            except ValueError as exc:
                raise ConfigError(f"{where}: output pattern {output!r}: {exc}") from None
            if kw.get("segment_seconds") is not None and "%" not in output:
                raise ConfigError(f"{where}: segment_seconds needs a time in the output pattern, "
                                  "e.g. rec/{name}/%Y%m%d-%H%M%S.mkv")
    elif kw.get("segment_seconds") is not None and "segment_seconds" in explicit:
        raise ConfigError(f"{where}: segment_seconds applies to file outputs; this camera's output is none")
    else:
        kw["segment_seconds"] = None
    kw["output"] = output
    log = _get(kw, "log")
    if log is not None and log.strip().lower() not in ("", "none", "null"):
        path = Path(_expand_env(_format_name(log, name, where), where, "log")).expanduser()
        kw["log"] = str(path if path.is_absolute() else base_dir / path)
    else:
        kw["log"] = None
    seg = kw.get("segment_seconds")
    if seg is not None and seg < 1:
        raise ConfigError(f"{where}: segment_seconds must be at least 1")
    _check_model(kw, where, base_dir)
    device = _get(kw, "device")
    if not (device == "cpu" or re.match(r"^cuda(:\d+)?$", device)):
        raise ConfigError(f"{where}: device must be cpu, cuda or cuda:N")
    if "num_gpus" not in kw and device.startswith("cuda"):
        kw["num_gpus"] = DEFAULT_GPU_SHARE
    if _get(kw, "num_gpus") > 1 and kw["num_gpus"] != int(kw["num_gpus"]):
        raise ConfigError(f"{where}: num_gpus above 1 must be a whole number (Ray's rule)")
    for key in ("max_restarts", "max_task_retries"):
        if _get(kw, key) < -1:
            raise ConfigError(f"{where}: {key} must be -1 (forever) or >= 0")
    own = {k: v for k, v in kw.items() if _FIELDS[k][0] is None}
    return CameraConfig(**own, enhancer=EnhancerConfig(**_group(kw, "enhancer")),
                        encode=EncodeConfig(**_group(kw, "encode")), live=live, run=RunConfig(**_group(kw, "run")))


def _get(kw: dict, key: str):
    """The camera's value of ``key``: given, or its field's default."""
    return kw[key] if key in kw else _FIELDS[key][1].default


def _group(kw: dict, group: str) -> dict:
    """The values of ``kw`` that belong to settings group ``group`` (enhancer, encode, live, run)."""
    return {k: v for k, v in kw.items() if _FIELDS[k][0] == group}


def _check_model(kw: dict, where: str, base_dir: Path) -> None:
    try:
        get_spec(_get(kw, "model"))
    except VidlleError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    backend = _get(kw, "backend")
    if backend != "auto" and backend not in BACKENDS:
        raise ConfigError(f"{where}: unknown backend {backend!r} (auto, {', '.join(BACKENDS)})")
    for key in ("weights", "seg_weights"):
        if kw.get(key) is not None:
            p = Path(kw[key]).expanduser()
            p = p if p.is_absolute() else base_dir / p
            if not p.is_file():
                raise ConfigError(f"{where}: {key} {str(p)!r} not found")
            kw[key] = str(p)
    if kw.get("weights") is not None:
        _check_weights(_get(kw, "model"), kw["weights"], where)
    if kw.get("overlay") == "seg" and kw.get("seg_weights") is None:
        try:  # $VIDLLE_SEG_WEIGHTS or the cache dir, resolved here: every camera gets the same file
            require_torch("the segmentation overlay (overlay: seg)")
            # Here, not at the top: the segmenter's module imports torch, which serve's default
            # path (and a core install) does not have.
            from vidlle.models.segment import find_seg_weights

            kw["seg_weights"] = str(find_seg_weights(None))
        except VidlleError as exc:
            raise ConfigError(f"{where}: overlay seg: {exc}") from None


def _check_weights(model: str, weights: str, where: str) -> None:
    """Load a camera's own weights file once here: a bad file fails before any camera starts."""
    try:
        load_model(model, weights)
    except Exception as exc:  # noqa: BLE001 - whatever torch.load raises, one line
        raise ConfigError(f"{where}: weights {weights!r} cannot be loaded as {model}: {one_line(exc)}") from None


def _typed(key: str, value, where: str):
    """``value`` converted to the key's field type and checked (:func:`vidlle.settings.check_value`)."""
    try:
        return check_value(_FIELDS[key][1], value, key)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def expand_env(text: str) -> str:
    """``text`` with ``${VAR}`` replaced by the environment's value; ConfigError if one is unset."""
    return _expand_env(text, "camera", "source or output")


def _expand_env(text: str, where: str, key: str) -> str:
    def sub(m: re.Match) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise ConfigError(f"{where}: {key} uses ${{{m.group(1)}}}, which is not set in the environment")
        return value

    return _ENV.sub(sub, text)


def _format_name(pattern: str, name: str, where: str) -> str:
    """Replace ``{name}`` (the only placeholder); braces elsewhere are an error, not a surprise."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: output {pattern!r}: {exc}") from None
    bad = [f for f in fields if f != "name"]
    if bad:
        raise ConfigError(f"{where}: output {pattern!r}: unknown placeholder {{{bad[0]}}} (only {{name}})")
    return pattern.format(name=name)


def _check_output_clashes(cameras: list[CameraConfig], origin: str) -> None:
    """Two cameras must not write the same files (or publish to the same URL)."""
    seen: dict[str, str] = {}
    for cam in cameras:
        if cam.output is None:
            continue
        if cam.output in seen:
            raise ConfigError(f"{origin}: cameras {seen[cam.output]!r} and {cam.name!r} have the same output "
                              f"{cam.shown_output!r} (use {{name}} in the pattern)")
        seen[cam.output] = cam.name
