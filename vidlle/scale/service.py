"""``vidlle serve``: every camera of a config in its own Ray actor (or thread), a stats table.

Ray engine: one :class:`CameraActor` per camera, created with the camera's resources
(``num_cpus``, fractional ``num_gpus``) and Ray's restart options (``max_restarts``,
``max_task_retries``). A camera whose pipeline fails finalises its recording and ends its
process; Ray starts a new one (its constructor runs again: a new segment file). The driver
polls each actor for :meth:`~vidlle.scale.camera.CameraWorker.stats`, keeping at most one call
in flight per camera, so a camera that is restarting or waiting for resources never blocks the
others; a changed process id is how it counts restarts.

Threads engine (Ray not installed, or ``--engine threads``): the same
:class:`~vidlle.scale.camera.CameraWorker` per camera, in this process; a failed pipeline is
restarted in place after a backoff. One process shares the GIL and dies as a whole on a hard
crash: fine for a few cameras, not for a site.

Stopping (Ctrl-C, SIGTERM, ``--duration``) stops every camera and waits for its recording to be
finalised before returning.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vidlle.errors import ScaleError, one_line
from vidlle.heap import keep_freed_buffers
from vidlle.scale import SCALE_EXTRA, import_ray, init_ray, ray_available
from vidlle.scale.camera import CameraWorker
from vidlle.scale.config import CameraConfig, ServiceConfig

ENGINES = ("auto", "ray", "threads")
START_ALLOWANCE = 120.0  # seconds cameras may take to start before --duration counts anyway


# -- the Ray actor ------------------------------------------------------------------------------

class CameraActor:
    """Body of the Ray actor of one camera (made remote by :class:`Service`): hosts a CameraWorker."""

    def __init__(self, camera: CameraConfig):
        import ray

        with warnings.catch_warnings():  # Ray's property trips its own deprecation warning
            warnings.simplefilter("ignore")
            restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        _limit_threads(camera)
        self.camera = camera
        self.error: str | None = None
        try:
            self.worker = CameraWorker(camera, on_crash=_end_process, restarted=restarted).start()
        except Exception as exc:  # noqa: BLE001 - e.g. unreadable weights: a restart cannot fix it
            # Stay alive and say why (a raising constructor would only leave Ray's traceback); the
            # driver reports the camera failed and ends the actor.
            self.worker, self.error = None, one_line(exc)

    def stats(self) -> dict:
        if self.worker is None:
            return {"name": self.camera.name, "state": "failed", "pid": os.getpid(), "last_error": self.error}
        return self.worker.stats()

    def stop(self, timeout: float = 30.0) -> dict:
        if self.worker is None:
            return self.stats()
        return self.worker.stop(timeout)

    def inject_fault(self, kind: str = "raise") -> None:
        """Test hook. ``raise``: the pipeline fails as a bug would (recording finalised, process
        ends, Ray restarts it); ``exit``: the process dies at once, as on a segfault."""
        if kind == "exit":
            os._exit(1)
        if self.worker is not None:
            self.worker.inject_fault(kind)


def _end_process(worker, exc: BaseException) -> None:
    """A Ray actor's crash policy: say why, then end the process so that Ray restarts the actor
    (``os._exit``: an unexpected death; ``ray.actor.exit_actor`` would be final)."""
    print(f"vidlle: camera {worker.camera.name} failed: {worker.last_error}; ending its actor so Ray restarts it",
          file=sys.stderr, flush=True)
    os._exit(1)


def _limit_threads(camera: CameraConfig) -> None:
    """A camera gets the threads its CPUs allow (Ray sets OMP_NUM_THREADS, torch may not follow);
    its worker process keeps frame-sized buffers for reuse (:mod:`vidlle.heap`)."""
    keep_freed_buffers()
    try:
        import torch

        torch.set_num_threads(max(1, int(camera.num_cpus)))
    except Exception:  # noqa: BLE001 - an optimisation, never a reason to fail
        pass


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
            "last_error": self.error,
        }


# -- the service ---------------------------------------------------------------------------------

class Service:
    """All cameras of ``config``: :meth:`start`, :meth:`poll` (latest rows), :meth:`stop`.

    engine: ``ray`` (actors; join ``address`` or start Ray locally), ``threads`` (this process),
    or ``auto`` (Ray when installed). ``notes`` collects what the user should be told once.
    """

    def __init__(self, config: ServiceConfig, engine: str = "auto", address: str | None = None):
        if engine not in ENGINES:
            raise ScaleError(f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
        if engine == "auto":
            if address is not None:
                engine = "ray"
            else:
                engine = "ray" if ray_available() else "threads"
        if engine == "threads" and address is not None:
            raise ScaleError("--address joins a Ray cluster; it cannot be combined with --engine threads")
        self.config = config
        self.engine = engine
        self.address = address
        self.notes: list[str] = []
        self.views = {cam.name: CameraView(cam) for cam in config.cameras}
        self.handles: dict = {}  # name -> Ray actor handle or CameraWorker
        self.where = ""
        self._owns_ray = False
        self._inflight: dict = {}  # name -> (ObjectRef, sent at)
        self.started_at = time.time()

    # -- start ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.engine == "ray":
            self._start_ray()
        else:
            if not ray_available():
                self.notes.append(f"Ray is not installed: running {len(self.config.cameras)} camera(s) in this "
                                  f"process, one thread each; to scale out over cores and machines: {SCALE_EXTRA}")
            self._start_threads()
        self.started_at = time.time()

    def _start_threads(self) -> None:
        self.where = f"this process (pid {os.getpid()}), one thread per camera"
        try:
            for cam in self.config.cameras:
                self.handles[cam.name] = CameraWorker(cam).start()
        except BaseException:
            self.stop()
            raise

    def _start_ray(self) -> None:
        ray = import_ray()
        self._owns_ray = init_ray(self.address)
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
        self.where = (f"Ray {'cluster ' + self.address if self.address else 'local instance'} "
                      f"({cpus:g} CPU{'s' if cpus != 1 else ''}, {gpus:g} GPU{'s' if gpus != 1 else ''})")
        need_gpu = [c.name for c in self.config.cameras if c.num_gpus > 0]
        if need_gpu and gpus == 0:
            self.stop()
            raise ScaleError(f"camera {need_gpu[0]} asks for a GPU (device {self.config.camera(need_gpu[0]).device}, "
                             "num_gpus) but the Ray cluster has none")
        want_cpus = sum(c.num_cpus for c in self.config.cameras)
        if want_cpus > cpus:
            self.notes.append(f"the cameras reserve {want_cpus:g} CPUs but the cluster has {cpus:g}: some wait "
                              "(state 'starting') until CPUs free up; lower num_cpus or add nodes")
        remote = ray.remote(CameraActor)
        for cam in self.config.cameras:
            self.handles[cam.name] = remote.options(
                name=f"vidlle-camera-{cam.name}-{os.getpid()}", num_cpus=cam.num_cpus, num_gpus=cam.num_gpus,
                max_restarts=cam.max_restarts, max_task_retries=cam.max_task_retries,
            ).remote(cam)

    # -- readings ---------------------------------------------------------------------------------
    def poll(self, wait: float = 0.5) -> list[dict]:
        """Ask every camera for its stats (at most one call in flight each); the latest rows."""
        now = time.time()
        if self.engine == "threads":
            for name, worker in self.handles.items():
                self.views[name].update(worker.stats(), now)
        else:
            self._poll_ray(wait)
        return self.rows()

    def _poll_ray(self, wait: float) -> None:
        ray = import_ray()
        from ray import exceptions as rex

        unavailable = getattr(rex, "ActorUnavailableError", ())  # Ray >= 2.24; older ones wait instead

        for name, handle in self.handles.items():
            if name not in self._inflight and self.views[name].state not in ("failed",):
                self._inflight[name] = (handle.stats.remote(), time.time())
        refs = {ref: name for name, (ref, _) in self._inflight.items()}
        if not refs:
            return
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=wait)
        now = time.time()
        for ref in ready:
            name = refs[ref]
            del self._inflight[name]
            view = self.views[name]
            try:
                view.update(ray.get(ref), now)
                if view.state == "failed":  # it could not start (e.g. bad weights): free its resources
                    ray.kill(self.handles[name], no_restart=True)
            except unavailable:
                view.state = "restarting"
            except rex.RayActorError as exc:  # ActorDiedError too: restarts used up, or it cannot start
                view.state = "failed"
                view.error = _ray_error_line(exc)
        for name, (_, sent) in self._inflight.items():
            view = self.views[name]
            if now - sent > max(2.0, 4 * wait) and view.state not in ("failed",):
                view.state = "restarting" if view.pid is not None else "starting"

    def rows(self) -> list[dict]:
        return [self.views[c.name].row() for c in self.config.cameras]

    def snapshot(self) -> dict:
        """The stats as JSON-ready data (``--stats-json``)."""
        return {"time": time.time(), "uptime_s": round(time.time() - self.started_at, 1), "engine": self.engine,
                "where": self.where, "cameras": self.rows()}

    # -- stop -------------------------------------------------------------------------------------
    def stop(self, timeout: float = 60.0) -> list[dict]:
        """Stop every camera, wait for the recordings to be finalised; the final rows."""
        now = time.time()
        if self.engine == "threads":
            for name, worker in self.handles.items():
                self.views[name].update(worker.stop(timeout), now)
            self.handles.clear()
            return self.rows()
        if not self.handles:
            self._shutdown_ray()
            return self.rows()
        ray = import_ray()
        from ray.exceptions import RayActorError

        refs = {}
        for name, handle in self.handles.items():
            if self.views[name].state != "failed":
                refs[name] = handle.stop.remote(timeout=min(timeout, 30.0))
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout) if refs else ([], [])
        for name, ref in refs.items():
            view = self.views[name]
            if ref not in ready:
                view.state, view.error = "failed", "did not stop in time"
                continue
            try:
                view.update(ray.get(ref), time.time())
            except RayActorError as exc:
                view.state, view.error = "failed", _ray_error_line(exc)
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)
        self.handles.clear()
        self._inflight.clear()
        self._shutdown_ray()
        return self.rows()

    def _shutdown_ray(self) -> None:
        if self._owns_ray:
            import_ray().shutdown()
            self._owns_ray = False

    # -- the driver loop --------------------------------------------------------------------------
    def run(self, stats_every: float = 10.0, duration: float | None = None,
            report: Callable[[list[dict]], None] | None = None, event: Callable[[str], None] | None = None,
            stats_json: str | None = None) -> str:
        """Poll until every camera ended or failed, ``duration`` passed, or KeyboardInterrupt
        (propagated after :meth:`stop`). ``report`` gets the rows every ``stats_every`` seconds,
        ``event`` one line per state change. Returns why it ended: ``duration`` or ``cameras``.
        Stops the cameras before returning or raising.

        ``duration`` counts from when every camera has started (left ``starting``: loading its
        model, waiting for resources), at the latest from :data:`START_ALLOWANCE` s after start.
        """
        deadline = None
        next_report = time.time() + stats_every
        last_states: dict[str, tuple] = {}
        why = "cameras"
        try:
            while True:
                rows = self.poll(wait=min(1.0, stats_every / 2))
                for row in rows:
                    key = (row["state"], row["restarts"], row["reconnects"])
                    before = last_states.get(row["name"])
                    if event is not None and before is not None and key != before:
                        event(_event_line(row, before))
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
    return f"{name}: {state} -> {row['state']}{extra}"


def _ray_error_line(exc: BaseException) -> str:
    """Ray's actor errors as one short line (without its ``ray::...(pid=..., ip=...)`` details)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.split(", ray::")[0].split(" ray::")[0][:200]


def write_json(path: str, data: dict) -> None:
    """Replace ``path`` atomically (a monitor never reads half a file)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, p)


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
    return lines
