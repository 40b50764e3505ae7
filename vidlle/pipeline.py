"""Threads and bounded queues: source -> enhance -> sink, overlapping all three.

Knows nothing about models or codecs: it gets a source and a sink that keep the contract of
:class:`vidlle.io.base.Source` and :class:`vidlle.io.base.Sink` (this module does not import
them: the pipeline stays below the codecs), and a transform (list of Frames -> list of Frames,
in order). Items that are not Frames (e.g. audio packets) pass the transform untouched and in
order.

Failure anywhere sets one stop event: every stage leaves its loop within ~0.1 s, the sink is
aborted (nothing left at the output path) and the first error is raised in the caller's thread.

What the pipeline does with the source's members beyond ``open``, iteration and ``close``:

- ``latest_frame``: the source keeps only its newest frame, so the pipeline takes a frame only
  when the enhance stage is ready for one (no read-ahead queue of stale frames): latency is one
  enhancement, not a queue of them. ``batch`` is then effectively 1.
- ``interrupt()``: called when the run stops, so :meth:`Pipeline.request_stop` and Ctrl-C
  return promptly even while a live source waits for a camera.
- ``stats``: a live source's counters (drops, reconnects, ...), exposed as ``Stats.live``.
- ``finish()``: with ``PipelineConfig.drain_seconds`` > 0, Ctrl-C calls it and lets the stages
  write the frames the source still holds (for at most that long) before the sink is
  finalised: a recording keeps its queued seconds.

Frames that carry ``captured`` (a perf_counter() time) get their capture -> sink latency
recorded in ``Stats.latencies`` (:class:`~vidlle.frames.Latencies`).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from vidlle.errors import Interrupted
from vidlle.frames import Frame, Latencies

_END = object()
_POLL = 0.1


@dataclass(frozen=True)
class PipelineConfig:
    """queue_size: items buffered between stages (fewer when ``queue_size`` frames would take
    more than ``queue_bytes``: 8K frames are ~100 MB each); batch: most frames per transform call;
    drain_seconds: on Ctrl-C, how long a source with ``finish()`` may take to write its queued
    frames before the sink is finalised (0: stop at once)."""

    queue_size: int = 8
    batch: int = 1
    drain_seconds: float = 0.0
    queue_bytes: int = 256 * 2**20  # each queue holds at most this much of RGB frames (big frames: fewer)


@dataclass
class Stats:
    """Progress and per-stage busy time (seconds spent working, not waiting)."""

    expected: int | None = None
    frames: int = 0
    started: float = field(default_factory=time.perf_counter)
    first_frame_at: float | None = None
    finished_at: float | None = None
    # Process CPU time (all threads, time.process_time()) at the first frame and at the end.
    first_frame_cpu: float | None = None
    finished_cpu: float | None = None
    busy: dict = field(default_factory=lambda: {"decode": 0.0, "enhance": 0.0, "encode": 0.0})
    live: object | None = None  # the source's LiveStats (vidlle.io.livestats) for live sources
    latencies: Latencies = field(default_factory=Latencies)  # capture -> written (live sources only)

    @property
    def now(self) -> float:
        return self.finished_at if self.finished_at is not None else time.perf_counter()

    @property
    def elapsed(self) -> float:
        return self.now - self.started

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def steady_fps(self) -> float:
        """Frames per second after the first output frame (excludes start-up and warm-up)."""
        if self.first_frame_at is None or self.frames < 2:
            return self.fps
        span = self.now - self.first_frame_at
        return (self.frames - 1) / span if span > 0 else 0.0

    @property
    def steady_cpu_ms(self) -> float | None:
        """Process CPU milliseconds (every thread, encoder included) per frame after the first
        one, once the run has finished: unlike fps, barely moved by other tenants of the machine."""
        if self.first_frame_cpu is None or self.finished_cpu is None or self.frames < 2:
            return None
        return (self.finished_cpu - self.first_frame_cpu) / (self.frames - 1) * 1000.0


class _StageThread(threading.Thread):
    """A stage's thread that says itself when it has ended (``done``).

    Not ``is_alive()``/``join()``: in CPython up to 3.12, a ``join()`` cut short by Ctrl-C in the
    main thread can mark a thread that is still running as stopped, and finalising the output
    while the encode stage still writes to it loses frames or deadlocks the encoder.
    """

    def __init__(self, body: Callable[[], None], name: str):
        super().__init__(target=self._body, name=name, daemon=True)
        self.stage_body, self.done = body, threading.Event()

    def _body(self) -> None:
        try:
            self.stage_body()
        finally:
            self.done.set()

    def running(self) -> bool:
        return not self.done.is_set()


class Pipeline:
    def __init__(self, source, transform: Callable[[Sequence[Frame]], list[Frame]], sink,
                 config: PipelineConfig = PipelineConfig(),
                 progress: Callable[[Stats], None] | None = None, progress_interval: float = 0.5):
        self.source, self.transform, self.sink = source, transform, sink
        self.config = config
        self.progress = progress
        self.progress_interval = progress_interval
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.stats = Stats()
        self._q_in: queue.Queue = queue.Queue(config.queue_size)
        self._q_out: queue.Queue = queue.Queue(config.queue_size)
        # Latest-frame sources: the enhance stage asks for each frame (see the module docstring).
        self._latest = source.latest_frame
        self._want = threading.Event()

    def request_stop(self) -> None:
        """Finish the run early from any thread (a preview window's q key, a service stopping):
        stages stop, and run() finalises the sink normally and returns the stats."""
        self.stop.set()
        self.source.interrupt()

    # -- queue helpers that give up as soon as the run is stopping --------------------------
    def _put(self, q: queue.Queue, item) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue):
        while not self.stop.is_set():
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue
        return _END

    def _stage(self, body: Callable[[], None]) -> Callable[[], None]:
        def run():
            try:
                body()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.errors.append(exc)
                self.stop.set()
        return run

    # -- stages ------------------------------------------------------------------------------
    def _read(self) -> None:
        it = iter(self.source)
        busy = self.stats.busy
        while not self.stop.is_set():
            if self._latest:
                while not self._want.wait(_POLL):
                    if self.stop.is_set():
                        return
                self._want.clear()
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                break
            finally:
                busy["decode"] += time.perf_counter() - t0
            if not self._put(self._q_in, item):
                return
        self._put(self._q_in, _END)

    def _enhance(self) -> None:
        busy = self.stats.busy
        pending: list[Frame] = []

        def flush() -> bool:
            if not pending or self.stop.is_set():
                return not self.stop.is_set()
            batch = pending[:]
            pending.clear()
            t0 = time.perf_counter()
            out = self.transform(batch)
            busy["enhance"] += time.perf_counter() - t0
            return all(self._put(self._q_out, f) for f in out)

        while True:
            if pending:
                # Batch only what is already waiting: never hold a frame back for company.
                try:
                    item = self._q_in.get_nowait()
                except queue.Empty:
                    if not flush():
                        return
                    continue
            else:
                if self._latest:
                    self._want.set()
                item = self._get(self._q_in)
            if isinstance(item, Frame):
                pending.append(item)
                if len(pending) >= self.config.batch and not flush():
                    return
                continue
            if not flush():
                return
            if item is _END:
                break
            if not self._put(self._q_out, item):
                return
        self._put(self._q_out, _END)

    def _write(self) -> None:
        stats = self.stats
        while True:
            item = self._get(self._q_out)
            if item is _END:
                return
            t0 = time.perf_counter()
            self.sink.write(item)
            stats.busy["encode"] += time.perf_counter() - t0
            if isinstance(item, Frame):
                stats.frames += 1
                if stats.first_frame_at is None:
                    stats.first_frame_at = time.perf_counter()
                    stats.first_frame_cpu = time.process_time()
                if item.captured is not None:
                    stats.latencies.add(time.perf_counter() - item.captured)

    # -- driver -------------------------------------------------------------------------------
    def run(self) -> Stats:
        """Run to the end. Raises the first stage error, or Interrupted on KeyboardInterrupt."""
        info = self.source.open()
        if info.width and info.height:
            size = max(2, min(self.config.queue_size, self.config.queue_bytes // (info.width * info.height * 3)))
            self._q_in, self._q_out = queue.Queue(size), queue.Queue(size)
        self.stats = Stats(expected=info.frames, live=self.source.stats if info.live else None)
        threads: list[_StageThread] = []
        try:
            self.sink.open(info)
            threads = [
                _StageThread(self._stage(body), name=f"vidlle-{name}")
                for name, body in (("decode", self._read), ("enhance", self._enhance), ("encode", self._write))
            ]
            for t in threads:
                t.start()
            next_report = time.perf_counter()
            while any(t.running() for t in threads):
                threads[-1].done.wait(_POLL)
                if self.errors:
                    break
                if self.stop.is_set():
                    self.source.interrupt()
                if self.progress and time.perf_counter() >= next_report:
                    self.progress(self.stats)
                    next_report = time.perf_counter() + self.progress_interval
        except KeyboardInterrupt:
            try:
                self._drain(threads)
            except KeyboardInterrupt:
                pass  # a second Ctrl-C (Python's default handler): stop draining, still finalise
            self._shutdown(threads)
            raise Interrupted("interrupted") from None
        except BaseException:
            self._shutdown(threads)
            raise
        if self.errors:
            self._shutdown(threads)
            raise self.errors[0]
        try:
            self.sink.close()
        except BaseException:
            self.sink.abort()
            raise
        finally:
            self.source.close()
        self.stats.finished_at = time.perf_counter()
        self.stats.finished_cpu = time.process_time()
        if self.progress:
            self.progress(self.stats)
        return self.stats

    def _drain(self, threads: list[_StageThread]) -> None:
        """Ctrl-C with ``drain_seconds`` > 0: the source ``finish()``es and the frames it holds go
        through, within ``drain_seconds``, unless a stage already failed."""
        if self.config.drain_seconds <= 0 or not threads or self.errors:
            return
        self.source.finish()
        deadline = time.perf_counter() + self.config.drain_seconds
        while any(t.running() for t in threads) and not self.errors and time.perf_counter() < deadline:
            threads[-1].done.wait(_POLL)
            if self.progress:
                self.progress(self.stats)

    def _shutdown(self, threads: list[_StageThread]) -> None:
        self.stop.set()
        self.source.interrupt()
        try:
            for t in threads:
                t.done.wait(5.0)
        finally:  # even if interrupted while waiting: the sink is finalised or discarded
            try:
                self.sink.abort()
            finally:
                self.source.close()
