"""One camera of ``vidlle serve``: LiveSource -> Enhancer -> sink, run by the ordinary Pipeline.

:class:`CameraWorker` owns the three and runs the pipeline in a thread of its own, so whoever
hosts it (a Ray actor, or a thread of the serving process when Ray is absent) stays free to
answer :meth:`CameraWorker.stats` and :meth:`CameraWorker.stop`. Reconnecting a lost camera is
the LiveSource's job (backoff, ``discontinuity`` -> temporal reset); the worker only deals with
what the pipeline cannot survive (a bug, a publish target that went away, a camera given up
after ``max_reconnects``): it finalises the recording, then ``on_crash`` decides -- the Ray actor
exits its process so Ray restarts it (``max_restarts``); in-process, the worker restarts its own
pipeline after a backoff.

File outputs are recorded by :class:`~vidlle.io.sinks.SegmentedFileSink`: a new file at every multiple of
``segment_seconds`` of wall-clock time, each one written by a
:class:`~vidlle.io.encode.VideoFileSink` with ``keep_on_abort`` (temporary name, renamed when
finished; never deleted, finalised even when the pipeline fails).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from vidlle.api import Enhancer
from vidlle.errors import one_line
from vidlle.io.encode import RtspPublishSink
from vidlle.io.live import LiveSource
from vidlle.io.sinks import NullSink, SegmentedFileSink
from vidlle.pipeline import Pipeline, PipelineConfig
from vidlle.scale.config import CameraConfig
from vidlle.scale.failurelog import append_failure, failure_traceback
from vidlle.web.feed import CameraFeeds, tee


class CameraWorker:
    """One camera's pipeline, in a thread: ``start()``, ``stats()`` (any thread), ``stop()``.

    on_crash(worker, exc): called after the pipeline failed and the recording was finalised.
        Ray actors pass one that ends the process (Ray restarts the actor); None = restart the
        pipeline here, after a backoff, at most ``camera.max_restarts`` times (-1 = forever).
    """

    BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 30.0

    @classmethod
    def backoff(cls, failures: int) -> float:
        """Seconds to wait before the restart that follows the ``failures``-th failure (1, 2, 4 ... 30)."""
        return min(cls.BACKOFF_MAX, cls.BACKOFF_INITIAL * 2 ** (max(1, failures) - 1))

    def __init__(self, camera: CameraConfig, on_crash: Callable[["CameraWorker", BaseException], None] | None = None,
                 restarted: bool = False, earlier_failures: int = 0):
        self.camera = camera
        self.on_crash = on_crash
        self.state = "starting"
        self.last_error: str | None = None
        self.restarts = 0  # in-process restarts of the pipeline
        self.restarted = restarted  # this process replaces a crashed one (Ray restarted the actor)
        self.failures = earlier_failures  # failures of this camera so far, crashed processes included
        self.traceback: str | None = None  # of the latest failure, also appended to camera.log
        self.log_written = False
        self.segments: list[tuple[str, int]] = []
        self.frames = 0  # frames written by pipelines that ended
        self.started_at = time.time()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pipeline = None
        self._source = None
        self._sink = None
        self._running = False
        self._fault: str | None = None
        self._thread: threading.Thread | None = None
        self._cpu0 = time.process_time()
        self.enhancer = Enhancer.from_config(camera.enhancer)
        # the web view's pictures: nothing is encoded unless a page watches (vidlle.web.feed)
        self.feeds = CameraFeeds(name=camera.name)

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> "CameraWorker":
        self._thread = threading.Thread(target=self._run, name=f"vidlle-camera-{self.camera.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> dict:
        """Stop the pipeline, finalise the recording, return the final :meth:`stats`."""
        self._stop.set()
        with self._lock:
            pipeline, source = self._pipeline, self._source
        if pipeline is not None:
            pipeline.request_stop()
        if source is not None:
            source.close()  # also ends a first connect that is still being retried
        if self._thread is not None:
            self._thread.join(timeout)
        if self.state not in ("failed", "ended"):
            self.state = "stopped"
        return self.stats()

    def inject_fault(self, kind: str = "raise") -> None:
        """Test hook: the next enhanced frame raises inside the pipeline, as a bug would."""
        self._fault = kind

    # -- the pipeline -----------------------------------------------------------------------------
    def _transform(self, frames):
        if self._fault is not None:
            self._fault = None
            raise RuntimeError(f"injected fault in camera {self.camera.name} (test hook)")
        return self.enhancer.enhance_frames(frames)

    def _make_sink(self):
        cam = self.camera
        kind = cam.output_kind
        if kind == "none":
            return NullSink()
        if kind == "rtsp":
            return RtspPublishSink(cam.output_target(), cam.encode, transport=cam.live.transport)
        return SegmentedFileSink(cam.output, cam.encode, cam.segment_seconds)

    def _run_once(self) -> None:
        source = LiveSource(self.camera.source_url(), self.camera.live_config())
        sink = self._make_sink()
        pipeline = Pipeline(source, tee(self._transform, self.feeds), sink,
                            PipelineConfig(batch=self.camera.run.batch))
        with self._lock:
            if self._stop.is_set():
                return
            self._pipeline, self._source, self._sink, self._running = pipeline, source, sink, True
        self.enhancer.reset()
        self.state = "running"
        try:
            pipeline.run()
        finally:
            with self._lock:  # this run's counts move to the totals
                self._running = False
                self.frames += pipeline.stats.frames
                self.segments += sink.segments

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_once()
                self.state = "stopped" if self._stop.is_set() else "ended"  # a finite stream ended
                return
            except BaseException as exc:  # noqa: BLE001 - reported in stats, then the crash policy
                if self._stop.is_set():
                    break  # e.g. a first connect interrupted by stop(): not a failure
                self.last_error = one_line(exc)
                self.state = "crashed"
                self.failures += 1
                self._keep_traceback(exc)
                if self.on_crash is not None:
                    self.on_crash(self, exc)  # a Ray actor's process ends here
                    return
                limit = self.camera.max_restarts
                if limit != -1 and self.failures > limit:
                    self.state = "failed"
                    return
                self.restarts += 1
                self.state = "restarting"
                self._stop.wait(self.backoff(self.failures))
        if self.state != "failed":
            self.state = "stopped"

    def _keep_traceback(self, exc: BaseException) -> None:
        """The failure's traceback, for ``--debug`` and in the camera's log file (appended, on
        the machine that runs the camera): the one-line error alone rarely tells a bug's cause."""
        self.traceback = failure_traceback(exc)
        log = self.camera.log
        if log is None:
            return
        try:
            append_failure(log, f"camera {self.camera.name} failed (failure {self.failures}, pid {os.getpid()}): "
                                f"{self.last_error}", self.traceback)
            self.log_written = True
        except OSError as exc_log:  # the log is for diagnosis: never the reason a camera stops
            self.last_error = f"{self.last_error} (log {log} not written: {exc_log.strerror or exc_log})"

    # -- readings ---------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Plain values for the table and JSON (one camera):

        state: starting | connecting | streaming | reconnecting (the source's, while running) |
        crashed | restarting | failed | stopped | ended; status: the state as a user reads it
        (``stalled 3 s``, ``reconnecting, attempt 2, next in 4 s``; see LiveStats.status); fps / fps_in: frames enhanced / received
        per second (last ~2 s); frames: written; drops, reconnects: the source's counters;
        latency_ms / latency_p95_ms: capture -> written; output: the file being written (or the
        last one), the RTSP URL (redacted) or None; segments: [path, frames] of finished files;
        failures: pipeline failures of this camera so far, those of processes Ray replaced
        included (the back-off before the next restart grows with it: 1, 2, 4 ... 30 s);
        traceback: of the latest failure (None before any); log: the camera's log file once a
        failure was written to it, else None;
        cpu_s: CPU seconds of this process since the worker started; rss_mb: its resident memory
        (per camera under Ray: one process each; the whole process in threads mode).
        """
        with self._lock:
            pipeline, source, sink, running = self._pipeline, self._source, self._sink, self._running
            frames, segments = self.frames, list(self.segments)
        live = source.stats if source is not None else None
        state = self.state
        status = None
        if state == "running":
            state = live.state if live is not None else "starting"
            status = live.status() if live is not None else None
        if running and pipeline is not None:
            frames += pipeline.stats.frames
            segments += sink.segments
        lat = pipeline.stats.latencies.quantile_ms(0.5) if pipeline is not None else None
        p95 = pipeline.stats.latencies.quantile_ms(0.95) if pipeline is not None else None
        output = None
        if isinstance(sink, SegmentedFileSink):
            output = str(sink.current) if sink.current is not None else (segments[-1][0] if segments else None)
        elif sink is not None and not isinstance(sink, NullSink):
            output = self.camera.shown_output
        return {
            "name": self.camera.name, "state": state, "status": status or state, "pid": self.pid, "started": self.started_at,
            "frames": frames, "fps": round(live.fps_out, 2) if live else 0.0,
            "fps_in": round(live.fps_in, 2) if live else 0.0,
            "drops": live.drops if live else 0, "reconnects": live.reconnects if live else 0,
            "latency_ms": _round(lat), "latency_p95_ms": _round(p95),
            "restarts": self.restarts, "restarted": self.restarted, "failures": self.failures,
            "traceback": self.traceback, "log": self.camera.log if self.log_written else None,
            "output": output, "segments": [list(s) for s in segments],
            "last_error": self.last_error or (live.last_error if live else None),
            "cpu_s": round(time.process_time() - self._cpu0, 3), "rss_mb": _rss_mb(),
        }


def _rss_mb() -> float | None:
    """Resident memory of this process now, in MiB (Linux), else its peak; None if unknown."""
    try:
        with open("/proc/self/statm") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        try:
            import resource

            return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        except (ImportError, OSError):
            return None


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
