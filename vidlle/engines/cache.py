"""Artefact cache: ONNX files and TensorRT engines under ``$VIDLLE_CACHE/engines``.

Default root: ``$VIDLLE_CACHE/engines``, else ``~/.cache/vidlle/engines``. Each artefact has a
JSON sidecar next to it (``<file>.json``)::

    {"format": 1, "kind": "engine", "key": {model, weights_sha256, precision, profile,
     tensorrt, compute_capability, onnx_sha256, ...}, "digest": sha256 of the key,
     "sha256": of the artefact file, "size": bytes, "created": ISO time, "vidlle": version,
     "extra": {gpu name, build seconds, verification metrics, ...}}

A file's *slot* (its name) is derived from a stable part of the key (model, short weights hash,
precision, profile, compute capability); everything else (TensorRT version, exporter version,
ONNX hash) is checked against the sidecar on every lookup. An artefact is used only when the
sidecar's full key equals the wanted key and the file's sha256 equals the sidecar's: a stale
(e.g. TensorRT upgraded), mismatched, truncated or corrupt artefact is rebuilt in place, never
used. Files and sidecars are written to temporary names and renamed; the sidecar goes last, so
a crash between the two leaves an artefact whose hash check fails (-> rebuilt).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vidlle.cachedir import cache_dir
from vidlle.version import __version__

SIDECAR_FORMAT = 1


def engines_dir() -> Path:
    """``engines/`` under the cache root (:mod:`vidlle.cachedir`)."""
    return cache_dir("engines")


@dataclass(frozen=True)
class ArtifactKey:
    """Everything an artefact depends on. ``slot`` names the file; ``fields`` are all checked.

    kind: "onnx" or "engine" (also the file suffix).
    slot: file stem, e.g. ``curve-1a2b3c4d5e6f-fp16-b1-64_h1-128_w1-128_opt1x72x128-sm90``.
    fields: JSON-serialisable dict; any change of any value means a different artefact.
    """

    kind: str
    slot: str
    fields: dict

    def digest(self) -> str:
        blob = json.dumps({"kind": self.kind, **self.fields}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.slot}.{self.kind}"


@dataclass(frozen=True)
class Entry:
    """One cached artefact as ``vidlle info`` lists it."""

    path: Path
    sidecar: dict | None
    problem: str | None  # None when the file matches its sidecar

    @property
    def key(self) -> dict:
        return (self.sidecar or {}).get("key", {})


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    # A fresh name in the same folder (then rename): permissions follow the umask, unlike mkstemp.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on ``path`` (POSIX); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class ArtifactCache:
    """A directory of artefacts with sidecars. Thread/process safe per slot (file lock)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else engines_dir()

    def path(self, key: ArtifactKey) -> Path:
        return self.root / key.filename

    @staticmethod
    def sidecar_path(path: Path) -> Path:
        return path.with_name(path.name + ".json")

    def check(self, key: ArtifactKey) -> str | None:
        """None if a valid artefact for ``key`` is cached, else why not (absent/stale/corrupt)."""
        path = self.path(key)
        side = self.sidecar_path(path)
        if not path.is_file():
            return "absent"
        try:
            meta = json.loads(side.read_text())
        except FileNotFoundError:
            return "no sidecar"
        except (OSError, ValueError) as exc:
            return f"unreadable sidecar ({exc})"
        if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
            return "sidecar of another format"
        old = meta.get("key") if isinstance(meta.get("key"), dict) else {}
        if meta.get("kind") != key.kind or old != key.fields or meta.get("digest") != key.digest():
            changed = sorted(k for k in set(old) | set(key.fields) if old.get(k) != key.fields.get(k))
            detail = ", ".join(f"{k}: {old.get(k)!r} -> {key.fields.get(k)!r}" for k in changed[:3])
            return f"stale ({detail or 'digest mismatch'})"
        try:
            size, digest = path.stat().st_size, file_sha256(path)
        except OSError as exc:
            return f"unreadable ({exc})"
        if size != meta.get("size") or digest != meta.get("sha256"):
            return "corrupt (size or sha256 differs from its sidecar)"
        return None

    def lookup(self, key: ArtifactKey) -> Path | None:
        return self.path(key) if self.check(key) is None else None

    def store(self, key: ArtifactKey, data: bytes, extra: dict | None = None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        side = self.sidecar_path(path)
        with contextlib.suppress(FileNotFoundError):
            side.unlink()  # an artefact without a sidecar is never used
        _atomic_write(path, data)
        meta = {"format": SIDECAR_FORMAT, "kind": key.kind, "key": key.fields, "digest": key.digest(),
                "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "vidlle": __version__, "extra": extra or {}}
        _atomic_write(side, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        return path

    def invalidate(self, key: ArtifactKey) -> None:
        """Remove the artefact and its sidecar (e.g. TensorRT refused to deserialize it)."""
        path = self.path(key)
        for p in (self.sidecar_path(path), path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def get_or_create(self, key: ArtifactKey, create: Callable[[], tuple[bytes, dict]],
                      on_rebuild: Callable[[str], None] | None = None) -> Path:
        """The valid cached artefact for ``key``, creating (or re-creating) it when needed.

        create: () -> (artefact bytes, sidecar extra). on_rebuild(reason) is told why a
        present artefact was replaced (stale/corrupt), not called for a plain miss.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / f".{key.slot}.lock"):
            problem = self.check(key)
            if problem is None:
                return self.path(key)
            if problem != "absent" and on_rebuild is not None:
                on_rebuild(problem)
            data, extra = create()
            return self.store(key, data, extra)

    def read_sidecar(self, path: Path) -> dict | None:
        try:
            return json.loads(self.sidecar_path(path).read_text())
        except (OSError, ValueError):
            return None

    def entries(self) -> list[Entry]:
        """Every artefact in the cache with its sidecar and whether the file still matches it."""
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or path.suffix not in (".onnx", ".engine") or not path.is_file():
                continue
            meta = self.read_sidecar(path)
            problem = None
            if meta is None:
                problem = "no readable sidecar"
            else:
                try:
                    if path.stat().st_size != meta.get("size") or file_sha256(path) != meta.get("sha256"):
                        problem = "corrupt (sha256 differs from its sidecar)"
                except OSError as exc:
                    problem = f"unreadable ({exc})"
            out.append(Entry(path, meta, problem))
        return out
