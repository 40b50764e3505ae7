"""How ``vidlle serve`` hosts its cameras (``--run-on``): one interface, two hosts.

A :class:`CameraHost` starts a :class:`~vidlle.scale.camera.CameraWorker` per camera, reads
their stats into the driver's :class:`~vidlle.scale.service.CameraView` of each camera, and stops
them (every recording finalised). The :class:`~vidlle.scale.service.Service` only talks to this
interface.

- :class:`RayHost`: one :class:`CameraActor` per camera, created with the camera's resources
  (``num_cpus``, fractional ``num_gpus``) and Ray's restart options (``max_restarts``,
  ``max_task_retries``). A camera whose pipeline fails finalises its recording and ends its
  process; Ray starts a new one (its constructor runs again: a new segment file). Stats calls
  are asynchronous, at most one in flight per camera, so a camera that is restarting or waiting
  for resources never blocks the others; a changed process id is how restarts are counted.
- :class:`ThreadHost`: the same worker per camera in this process; a failed pipeline is
  restarted in place after a backoff. One process shares the GIL and dies as a whole on a hard
  crash: fine for a few cameras, not for a site.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from abc import ABC, abstractmethod
from typing import Sequence

from vidlle.errors import ScaleError, one_line
from vidlle.extras import limit_torch_threads
from vidlle.heap import keep_freed_buffers
from vidlle.scale import SCALE_EXTRA, import_ray, init_ray, ray_available
from vidlle.scale.camera import CameraWorker
from vidlle.scale.config import CameraConfig
from vidlle.web.feed import RelayFeed


class CameraHost(ABC):
    """Hosts the cameras of a service. ``where`` says where they run (set by :meth:`start`);
    ``notes`` collects what the user should be told once; ``handles`` maps a camera's name to
    what runs it (a Ray actor handle or a CameraWorker)."""

    name = ""

    def __init__(self, address: str | None = None):
        self.address = address
        self.where = ""
        self.notes: list[str] = []
        self.handles: dict = {}

    @abstractmethod
    def start(self, cameras: Sequence[CameraConfig]) -> None:
        """Start every camera. On a failure the caller stops those already started (:meth:`stop`)."""

    @abstractmethod
    def poll(self, views: dict, wait: float) -> None:
        """Update each camera's view (``views[name].update(stats, now)``), waiting at most ``wait`` s."""

    @abstractmethod
    def stop(self, views: dict, timeout: float) -> None:
        """Stop every camera, wait up to ``timeout`` s for the recordings to be finalised, and
        record each camera's final stats in its view."""

    @abstractmethod
    def feed(self, name: str, kind: str):
        """Camera ``name``'s ``enhanced`` or ``original`` pictures for the web view: an object
        with ``wait(after, timeout, origin) -> Picture | None`` (:mod:`vidlle.web.feed`)."""


class ThreadHost(CameraHost):
    """Every camera in a thread of this process."""

    name = "threads"

    def start(self, cameras: Sequence[CameraConfig]) -> None:
        if not ray_available():
            self.notes.append(f"Ray is not installed: running {len(cameras)} camera(s) in this "
                              f"process, one thread each; to scale out over cores and machines: {SCALE_EXTRA}")
        self.where = f"this process (pid {os.getpid()}), one thread per camera"
        for cam in cameras:
            self.handles[cam.name] = CameraWorker(cam).start()

    def poll(self, views: dict, wait: float) -> None:
        now = time.time()
        for name, worker in self.handles.items():
            views[name].update(worker.stats(), now)

    def stop(self, views: dict, timeout: float) -> None:
        now = time.time()
        for name, worker in self.handles.items():
            views[name].update(worker.stop(timeout), now)
        self.handles.clear()

    def feed(self, name: str, kind: str):
        worker = self.handles.get(name)
        return worker.feeds[kind] if worker is not None else None


class RayHost(CameraHost):
    """One Ray actor per camera, on the cluster at ``address`` (else ``$RAY_ADDRESS``, else a new
    local instance, shut down again by :meth:`stop`)."""

    name = "ray"

    def __init__(self, address: str | None = None):
        super().__init__(address)
        self._owns_ray = False
        self._inflight: dict = {}  # name -> (ObjectRef, sent at)
        self._relays: dict = {}  # (name, kind) -> RelayFeed

    def start(self, cameras: Sequence[CameraConfig]) -> None:
        ray = import_ray()
        self._owns_ray = init_ray(self.address)
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
        self.where = (f"Ray {'cluster ' + self.address if self.address else 'local instance'} "
                      f"({cpus:g} CPU{'s' if cpus != 1 else ''}, {gpus:g} GPU{'s' if gpus != 1 else ''})")
        need_gpu = [c for c in cameras if c.num_gpus > 0]
        if need_gpu and gpus == 0:
            raise ScaleError(f"camera {need_gpu[0].name} asks for a GPU (device {need_gpu[0].enhancer.device}, "
                             "num_gpus) but the Ray cluster has none")
        want_cpus = sum(c.num_cpus for c in cameras)
        if want_cpus > cpus:
            self.notes.append(f"the cameras reserve {want_cpus:g} CPUs but the cluster has {cpus:g}: some wait "
                              "(state 'starting') until CPUs free up; lower num_cpus or add nodes")
        remote = ray.remote(CameraActor)
        for cam in cameras:
            self.handles[cam.name] = remote.options(
                name=f"vidlle-camera-{cam.name}-{os.getpid()}", num_cpus=cam.num_cpus, num_gpus=cam.num_gpus,
                max_restarts=cam.max_restarts, max_task_retries=cam.max_task_retries,
            ).remote(cam)

    def poll(self, views: dict, wait: float) -> None:
        ray = import_ray()
        from ray import exceptions as rex  # the optional extra, loaded with ray

        unavailable = getattr(rex, "ActorUnavailableError", ())  # Ray >= 2.24; older ones wait instead

        for name, handle in self.handles.items():
            if name not in self._inflight and views[name].state not in ("failed",):
                self._inflight[name] = (handle.stats.remote(), time.time())
        refs = {ref: name for name, (ref, _) in self._inflight.items()}
        if not refs:
            return
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=wait)
        now = time.time()
        for ref in ready:
            name = refs[ref]
            del self._inflight[name]
            view = views[name]
            try:
                view.update(ray.get(ref), now)
                if view.state == "failed":  # it could not start (e.g. bad weights): free its resources
                    ray.kill(self.handles[name], no_restart=True)
            except unavailable:
                view.state = "restarting"
            except rex.RayActorError as exc:  # ActorDiedError too: restarts used up, or it cannot start
                view.state = "failed"
                view.error = ray_error_line(exc)
        for name, (_, sent) in self._inflight.items():
            view = views[name]
            if now - sent > max(2.0, 4 * wait) and view.state not in ("failed",):
                view.state = "restarting" if view.pid is not None else "starting"

    def stop(self, views: dict, timeout: float) -> None:
        if not self.handles:
            self._shutdown()
            return
        ray = import_ray()
        from ray.exceptions import RayActorError  # the optional extra, loaded with ray

        refs = {}
        for name, handle in self.handles.items():
            if views[name].state != "failed":
                refs[name] = handle.stop.remote(timeout=min(timeout, 30.0))
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout) if refs else ([], [])
        for name, ref in refs.items():
            view = views[name]
            if ref not in ready:
                view.state, view.error = "failed", "did not stop in time"
                continue
            try:
                view.update(ray.get(ref), time.time())
            except RayActorError as exc:
                view.state, view.error = "failed", ray_error_line(exc)
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)
        self.handles.clear()
        self._inflight.clear()
        self._relays.clear()
        self._shutdown()

    def feed(self, name: str, kind: str):
        """A relay in this process that asks the camera's actor for its newest picture (only
        while a page watches; each call also renews the actor's lease on that feed)."""
        handle = self.handles.get(name)
        if handle is None:
            return None
        if (name, kind) not in self._relays:
            ray = import_ray()

            def fetch(origin, after):
                return ray.get(handle.web_picture.remote(kind, origin, after), timeout=2.0)

            self._relays[name, kind] = RelayFeed(fetch)
        return self._relays[name, kind]

    def _shutdown(self) -> None:
        if self._owns_ray:
            import_ray().shutdown()
            self._owns_ray = False


HOSTS: dict[str, type[CameraHost]] = {"ray": RayHost, "threads": ThreadHost}


def ray_error_line(exc: BaseException) -> str:
    """Ray's actor errors as one short line (without its ``ray::...(pid=..., ip=...)`` details)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.split(", ray::")[0].split(" ray::")[0][:200]


# -- the Ray actor ------------------------------------------------------------------------------

class CameraActor:
    """Body of the Ray actor of one camera (made remote by :class:`RayHost`): hosts a CameraWorker."""

    def __init__(self, camera: CameraConfig):
        ray = import_ray()
        with warnings.catch_warnings():  # Ray's property trips its own deprecation warning
            warnings.simplefilter("ignore")
            restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        _limit_threads(camera)
        self.camera = camera
        self.error: str | None = None
        try:
            self.worker = CameraWorker(camera, on_crash=_end_process, restarted=restarted,
                                       earlier_failures=_restarts_so_far(ray, restarted)).start()
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

    def web_picture(self, kind: str, origin: str | None, after: int):
        """The web view's newest ``kind`` picture if newer than (origin, after), else None; marks
        the feed watched for its lease (nothing is encoded in an actor nobody watches)."""
        if self.worker is None:
            return None
        feed = self.worker.feeds[kind]
        feed.watch()
        return feed.latest(origin, after)

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
    # Ray restarts an actor at once: a camera failing at start-up would loop as fast as it can
    # start. Waiting before the exit, as long as the in-process host backs off after the same
    # number of failures (1, 2, 4 ... 30 s), spaces the restarts.
    delay = CameraWorker.backoff(worker.failures)
    print(f"vidlle: camera {worker.camera.name} failed: {worker.last_error}; ending its actor so Ray restarts it "
          f"in {delay:g} s", file=sys.stderr, flush=True)
    time.sleep(delay)
    os._exit(1)


def _restarts_so_far(ray, restarted: bool) -> int:
    """How many times Ray has restarted this actor (each restart followed a failure).

    Ray keeps the count in its actor table; its reader is not public API, so any change there
    falls back to what the public flag says (restarted at least once)."""
    if not restarted:
        return 0
    try:
        from ray._private.state import actors

        return max(1, int(actors(actor_id=ray.get_runtime_context().get_actor_id())["NumRestarts"]))
    except Exception:  # noqa: BLE001 - only the back-off's length depends on it
        return 1


def _limit_threads(camera: CameraConfig) -> None:
    """A camera gets the threads its CPUs allow (Ray sets OMP_NUM_THREADS, torch may not follow);
    its worker process keeps frame-sized buffers for reuse (:mod:`vidlle.heap`). torch is limited
    only if this process has loaded it: the default runtime (onnxruntime, one thread) needs none,
    and importing it would cost every camera ~165 MB resident (docs/capacity.md)."""
    keep_freed_buffers()
    limit_torch_threads(int(camera.num_cpus))
