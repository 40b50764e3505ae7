"""``vidlle serve``: every camera of a config, run by a camera host, and a stats table.

:class:`Service` keeps the driver's view of each camera (:class:`CameraView`: its latest stats
and what it carried over restarts), runs the polling loop (periodic table, one line per state
change, ``--stats-json``, ``--duration``) and talks to the cameras only through a
:class:`~vidlle.scale.hosts.CameraHost`: Ray actors (``ray``) or threads of this process
(``threads``; ``auto`` picks Ray when it is installed).

Stopping (Ctrl-C, SIGTERM, ``--duration``) stops every camera and waits for its recording to be
finalised before returning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vidlle.errors import ScaleError
from vidlle.report import write_json
from vidlle.scale import ray_available
from vidlle.scale.config import CameraConfig, ServiceConfig
from vidlle.scale.hosts import HOSTS, CameraHost

START_ALLOWANCE = 120.0  # seconds cameras may take to start before --duration counts anyway


# -- driver-side view of one camera --------------------------------------------------------------

@dataclass
class CameraView:
    """What the driver knows about one camera: its latest stats and what it carried over restarts."""

    camera: CameraConfig
    stats: dict = field(default_factory=dict)
    state: str = "starting"
    restarts: int = 0
    pid: int | None = None
    seen_at: float | None = None
    error: str | None = None
    carried_frames: int = 0
    carried_files: list = field(default_factory=list)
    log: str | None = None  # the camera's log file, once a failure was written to it
    traceback: str | None = None  # of the latest failure

    def update(self, stats: dict, now: float) -> None:
        if self.pid is not None and stats.get("pid") != self.pid:
            self.restarts += 1  # a new process: Ray restarted the actor
            self._carry()
        elif self.pid is None and stats.get("restarted"):
            self.restarts += 1  # restarted before the first reply
        self.pid = stats.get("pid")
        self.stats = stats
        self.state = stats.get("state", "?")
        self.seen_at = now
        if stats.get("last_error"):
            self.error = stats["last_error"]
        if stats.get("log"):
            self.log = stats["log"]
        if stats.get("traceback"):
            self.traceback = stats["traceback"]

    def _carry(self) -> None:
        """The previous process's frames and files (its last reply) stay in the totals."""
        s = self.stats
        self.carried_frames += s.get("frames", 0)
        files = [f for f, _ in s.get("segments", [])]
        if s.get("output") and self.camera.output_kind == "file" and s["output"] not in files:
            files.append(s["output"])
        self.carried_files += [f for f in files if f not in self.carried_files]

    def row(self) -> dict:
        s = self.stats
        files = list(self.carried_files) + [f for f, _ in s.get("segments", []) if f not in self.carried_files]
        return {
            "name": self.camera.name, "state": self.state, "source": self.camera.shown_source,
            # as a user reads it (stalled 3 s, reconnecting, attempt 2, next in 4 s), unless the
            # driver knows better (restarting, failed)
            "status": s.get("status") if s.get("state") == self.state else self.state,
            "output_kind": self.camera.output_kind,
            "fps": s.get("fps", 0.0), "fps_in": s.get("fps_in", 0.0),
            "frames": self.carried_frames + s.get("frames", 0), "drops": s.get("drops", 0),
            "reconnects": s.get("reconnects", 0), "restarts": self.restarts + s.get("restarts", 0),
            "latency_ms": s.get("latency_ms"), "latency_p95_ms": s.get("latency_p95_ms"),
            "output": s.get("output") or (None if self.camera.output_kind == "file" else self.camera.shown_output),
            "files": files, "cpu_s": s.get("cpu_s"), "rss_mb": s.get("rss_mb"), "pid": self.pid,
            "last_error": self.error, "failures": s.get("failures", 0), "log": self.log, "traceback": self.traceback,
        }


# -- the service ---------------------------------------------------------------------------------

class Service:
    """All cameras of ``config``: :meth:`start`, :meth:`poll` (latest rows), :meth:`stop`.

    host: ``ray`` (actors; join ``address`` or start Ray locally), ``threads`` (this process),
    or ``auto`` (Ray when installed). ``notes`` collects what the user should be told once.
    """

    def __init__(self, config: ServiceConfig, host: str = "auto", address: str | None = None):
        if host != "auto" and host not in HOSTS:
            raise ScaleError(f"unknown camera host {host!r} (use auto, {', '.join(HOSTS)})")
        if host == "auto":
            host = "ray" if address is not None or ray_available() else "threads"
        if host == "threads" and address is not None:
            raise ScaleError("--address joins a Ray cluster; it cannot be combined with --run-on threads")
        self.config = config
        self.host: CameraHost = HOSTS[host](address)
        self.views = {cam.name: CameraView(cam) for cam in config.cameras}
        self.started_at = time.time()

    @property
    def notes(self) -> list[str]:
        """What the user should be told once (e.g. how to scale out)."""
        return self.host.notes

    @property
    def where(self) -> str:
        return self.host.where

    @property
    def handles(self) -> dict:
        """Camera name -> what runs it (Ray actor handle or CameraWorker)."""
        return self.host.handles

    # -- start, readings, stop --------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.host.start(self.config.cameras)
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()

    def poll(self, wait: float = 0.5) -> list[dict]:
        """Ask every camera for its stats (at most one call in flight each); the latest rows."""
        self.host.poll(self.views, wait)
        return self.rows()

    def stop(self, timeout: float = 60.0) -> list[dict]:
        """Stop every camera, wait for the recordings to be finalised; the final rows."""
        self.host.stop(self.views, timeout)
        return self.rows()

    def rows(self) -> list[dict]:
        return [self.views[c.name].row() for c in self.config.cameras]

    def snapshot(self) -> dict:
        """The stats as JSON-ready data (``--stats-json``). ``host``: ray or threads (also under its
        former key ``engine``, for readers of files written before the rename)."""
        host = self.host.name
        return {"time": time.time(), "uptime_s": round(time.time() - self.started_at, 1), "host": host,
                "engine": host, "where": self.where, "cameras": self.rows()}

    # -- the driver loop --------------------------------------------------------------------------
    def run(self, stats_every: float = 10.0, duration: float | None = None,
            report: Callable[[list[dict]], None] | None = None, event: Callable[[str], None] | None = None,
            stats_json: str | None = None, tracebacks: bool = False) -> str:
        """Poll until every camera ended or failed, ``duration`` passed, or KeyboardInterrupt
        (propagated after :meth:`stop`). ``report`` gets the rows every ``stats_every`` seconds,
        ``event`` one line per state change (and, with ``tracebacks``, each new failure's
        traceback after its line). Returns why it ended: ``duration`` or ``cameras``.
        Stops the cameras before returning or raising.

        ``duration`` counts from when every camera has started (left ``starting``: loading its
        model, waiting for resources), at the latest from :data:`START_ALLOWANCE` s after start.
        """
        deadline = None
        next_report = time.time() + stats_every
        last_states: dict[str, tuple] = {}
        shown: dict[str, str] = {}  # the traceback last shown per camera
        why = "cameras"
        try:
            while True:
                rows = self.poll(wait=min(1.0, stats_every / 2))
                for row in rows:
                    key = (row["state"], row["restarts"], row["reconnects"])
                    before = last_states.get(row["name"])
                    if event is not None and before is not None and key != before:
                        event(_event_line(row, before))
                    if event is not None and tracebacks and row["traceback"] and row["traceback"] != shown.get(row["name"]):
                        event(row["traceback"])
                        shown[row["name"]] = row["traceback"]
                    last_states[row["name"]] = key
                now = time.time()
                if now >= next_report:
                    next_report = now + stats_every
                    if report is not None:
                        report(rows)
                    if stats_json:
                        write_json(stats_json, self.snapshot())
                if all(r["state"] in ("failed", "ended") for r in rows):
                    break
                if duration is not None and deadline is None and (
                        all(r["state"] != "starting" for r in rows) or now - self.started_at > START_ALLOWANCE):
                    deadline = now + duration
                if deadline is not None and now >= deadline:
                    why = "duration"
                    break
                time.sleep(max(0.0, min(0.5, stats_every / 4)))
        finally:
            self.stop()
            if stats_json:
                write_json(stats_json, self.snapshot())
        return why


def _event_line(row: dict, before: tuple) -> str:
    state, restarts, reconnects = before
    name = row["name"]
    if row["restarts"] > restarts:
        why = f" ({row['last_error']})" if row.get("last_error") else ""
        return f"{name}: restarted (restart {row['restarts']}){why}, now {row['state']}"
    if row["reconnects"] > reconnects:
        return f"{name}: reconnected (reconnect {row['reconnects']}), {row['state']}"
    extra = f": {row['last_error']}" if row["state"] in ("reconnecting", "failed", "crashed") and row.get("last_error") else ""
    if row["state"] in ("failed", "crashed") and row.get("log"):
        extra += f" (traceback in {row['log']})"
    return f"{name}: {state} -> {row['state']}{extra}"


# -- the table -------------------------------------------------------------------------------------

def format_table(rows: list[dict]) -> list[str]:
    """The periodic per-camera table (state, fps, drops, reconnects, restarts, latency, output)."""
    head = ("camera", "state", "fps", "in fps", "frames", "drops", "reconn", "restarts", "latency", "output")
    body = []
    for r in rows:
        lat = "-" if r.get("latency_ms") is None else f"{r['latency_ms']:.0f} ms"
        out = r.get("output") or "-"
        if r["state"] in ("failed", "crashed", "restarting") and r.get("last_error"):
            out = f"{out}  ({r['last_error']})"
        body.append((r["name"], r.get("status") or r["state"], f"{r['fps']:.1f}", f"{r['fps_in']:.1f}", str(r["frames"]), str(r["drops"]),
                     str(r["reconnects"]), str(r["restarts"]), lat, out))
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) for i in range(len(head) - 1)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def fmt(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts + [cells[-1]])

    return [fmt(head)] + [fmt(b) for b in body]


def final_lines(rows: list[dict]) -> list[str]:
    """One line per camera after a stop: what was kept where."""
    lines = []
    for r in rows:
        files = [f for f in r.get("files", []) if Path(f).exists()]
        if files:
            where = files[0] if len(files) == 1 else f"{len(files)} files ({files[0]} ... {files[-1]})"
            lines.append(f"{r['name']}: {r['frames']} frames kept in {where}")
        elif r.get("output_kind") == "rtsp":
            lines.append(f"{r['name']}: {r['frames']} frames published to {r['output']}")
        elif r.get("output_kind") == "file":
            lines.append(f"{r['name']}: {r['frames']} frames, nothing recorded")
        else:
            lines.append(f"{r['name']}: {r['frames']} frames enhanced (output none)")
        if r["state"] == "failed":
            lines[-1] += f"; failed: {r.get('last_error') or 'unknown error'}"
            if r.get("log"):
                lines[-1] += f" (traceback in {r['log']})"
    return lines
