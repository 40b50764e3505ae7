"""A backlog of recorded files: ``vidlle enhance 'recordings/*.mp4' out/ [--ray]``.

Every file goes through exactly what ``vidlle enhance IN OUT`` does with one file -- an
:class:`~vidlle.job.EnhanceJob` (the plan's checks, a sink with a temporary name renamed on
success, the Enhancer with the same settings, the Pipeline: every frame, pts kept, audio
copied; the same notes and warnings) -- as one Ray task per file (``--ray``: in parallel over the
cores of this machine or a cluster), or one after another in this process. A failing file is
reported in its result and never stops the others; its traceback is appended to the backlog's log
(:data:`LOG_NAME` in the output folder, see :mod:`vidlle.scale.failurelog`) by this process, the
only writer, as each result arrives.

Outputs keep each input's path relative to the inputs' common folder: ``rec/a/1.mp4`` and
``rec/b/1.mp4`` become ``out/a/1.mp4`` and ``out/b/1.mp4``.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import av

from vidlle.errors import InputError, InputNotFoundError, Interrupted, OutputError, ScaleError, one_line
from vidlle.extras import limit_torch_threads
from vidlle.heap import keep_freed_buffers
from vidlle.io.encode import VIDEO_SUFFIXES
from vidlle.io.plan import is_live
from vidlle.job import EnhanceJob, EnhanceSettings
from vidlle.scale import import_ray, init_ray
from vidlle.scale.failurelog import append_failure, failure_traceback

_GLOB_CHARS = set("*?[")
LOG_NAME = "vidlle-backlog.log"


@dataclass(frozen=True)
class FileJob:
    index: int
    input: str
    output: str


@dataclass(frozen=True)
class FileResult:
    """How one file went. status: ``ok`` or ``failed`` (``error`` says why, one line; ``traceback``
    is the failure's, URLs redacted; ``log`` the file it was appended to, once it was). notes and
    warnings: :meth:`vidlle.job.EnhanceJob.notes` and ``warnings`` (damaged data survived)."""

    input: str
    output: str
    status: str
    frames: int = 0
    expected: int | None = None
    seconds: float = 0.0
    fps: float = 0.0
    error: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    worker: str = ""
    traceback: str | None = None
    log: str | None = None


def is_backlog(spec: str) -> bool:
    """INPUT is a glob pattern (and not an existing path): several files, one output folder."""
    return bool(_GLOB_CHARS & set(spec)) and not Path(spec).exists()


def expand_inputs(spec: str) -> list[Path]:
    """The files a backlog INPUT names: a glob (``**`` allowed) or a folder's video files, sorted."""
    if is_backlog(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise InputNotFoundError(f"no files match {spec}")
        return files
    path = Path(spec)
    if not path.exists():
        raise InputNotFoundError(f"input not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise InputError(f"folder {path} contains no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return files
    return [path]


def log_path(output: str) -> str:
    """Where a backlog to OUTPUT keeps its failures' tracebacks: :data:`LOG_NAME` in the output
    folder (beside the output when one file goes to one file, as :func:`plan_jobs` decides)."""
    out = Path(output)
    folder = out.parent if out.suffix and not out.is_dir() else out
    return str(folder / LOG_NAME)


def plan_jobs(spec: str, output: str, overwrite: bool) -> list[FileJob]:
    """Inputs -> (input, output) pairs, checked before anything runs: OUTPUT is a folder (made
    if missing), no two inputs map to one output, no output exists unless ``overwrite``."""
    if is_live(spec):
        raise InputError(f"{spec} is a live source: a backlog is files (for cameras use `vidlle serve`)")
    files = expand_inputs(spec)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; for several inputs OUTPUT must be a folder")
    if not out.exists() and out.suffix and len(files) > 1:
        raise OutputError(f"for several inputs OUTPUT must be a folder, not {out}")
    if len(files) == 1 and out.suffix and not out.is_dir():  # one file to one file, as without --ray
        if out.exists() and not overwrite:
            raise OutputError(f"{out} already exists (use -y to overwrite)")
        return [FileJob(0, str(files[0]), str(out))]
    resolved = [f.resolve() for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in resolved]))
    jobs, seen = [], {}
    for i, (f, r) in enumerate(zip(files, resolved)):
        target = out / r.relative_to(root)
        if target.resolve() == r:
            raise OutputError(f"output {target} is the input {f}; choose another folder")
        if target in seen:
            raise OutputError(f"{seen[target]} and {f} would both be written to {target}")
        seen[target] = f
        if target.exists() and not overwrite:
            raise OutputError(f"{target} already exists (use -y to overwrite)")
        jobs.append(FileJob(i, str(f), str(target)))
    return jobs


def enhance_file(job: FileJob, settings: EnhanceSettings, report: Callable[[int, int, int | None], None] | None = None,
                 ) -> FileResult:
    """One file, exactly as ``vidlle enhance IN OUT``; never raises for the file's own problems.

    report(index, frames, expected) is called about twice a second while it runs.
    """
    t0 = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    one = None
    try:
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        progress = None if report is None else (lambda st: report(job.index, st.frames, st.expected))
        one = EnhanceJob(job.input, job.output, settings, progress=progress)
        stats = one.run()
    except Interrupted:
        raise  # Ctrl-C stops the backlog, not just this file (its output was discarded)
    except Exception as exc:  # noqa: BLE001 - one file's failure is its result, not the backlog's
        frames = one.pipeline.stats.frames if one is not None else 0
        return FileResult(job.input, job.output, "failed", frames=frames, seconds=time.perf_counter() - t0,
                          error=one_line(exc), worker=worker, traceback=failure_traceback(exc))
    return FileResult(job.input, job.output, "ok", frames=stats.frames, expected=stats.expected,
                      seconds=time.perf_counter() - t0, fps=stats.fps, notes=tuple(one.notes()),
                      warnings=tuple(one.warnings()), worker=worker)


def keep_traceback(result: FileResult, log: str | None) -> FileResult:
    """A failed ``result`` whose traceback was appended to ``log`` (None: not kept), with ``log`` set;
    if the log cannot be written, the error says so instead (the log never fails a file)."""
    if result.status == "ok" or result.traceback is None or log is None:
        return result
    try:
        append_failure(log, f"{result.input} failed (on {result.worker or 'a worker that died'}): {result.error}",
                       result.traceback)
    except OSError as exc:
        return replace(result, error=f"{result.error} (log {log} not written: {exc.strerror or exc})")
    return replace(result, log=log)


# -- runners ------------------------------------------------------------------------------------------

class _Progress:
    """Ray actor body: frames done per file, reported by the tasks, read by the driver."""

    def __init__(self):
        self.done: dict[int, tuple[int, int | None]] = {}

    def update(self, index: int, frames: int, expected: int | None) -> None:
        self.done[index] = (frames, expected)

    def read(self) -> dict:
        return dict(self.done)


def _ray_task(job: FileJob, settings: EnhanceSettings, progress) -> FileResult:
    keep_freed_buffers()  # a Ray worker process of ours (see vidlle.heap)
    limit_torch_threads(1)  # a worker that ran a torch job before; the default path never imports torch
    report = None
    if progress is not None:
        def report(index, frames, expected):
            progress.update.remote(index, frames, expected)
    return enhance_file(job, settings, report)


@dataclass
class BacklogRun:
    """Results in input order, wall time, and where it ran."""

    results: list[FileResult]
    seconds: float
    where: str

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status != "ok"]

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.results if r.status == "ok")

    def as_dict(self) -> dict:
        return {"where": self.where, "seconds": round(self.seconds, 3), "files": len(self.results),
                "failed": len(self.failed), "frames": self.frames,
                "fps": round(self.frames / self.seconds, 2) if self.seconds > 0 else 0.0,
                "results": [asdict(r) for r in self.results]}


def run_sequential(jobs: list[FileJob], settings: EnhanceSettings,
                   on_progress: Callable[[int, int | None, int], None] | None = None,
                   log: str | None = None) -> BacklogRun:
    """One file after another in this process. on_progress(frames_done, frames_expected, files_done);
    log: where failures' tracebacks are appended (None: not kept)."""
    t0 = time.perf_counter()
    results: list[FileResult] = []
    done_frames = 0
    expected_total = _expected_total(jobs)

    def report(_index, frames, _expected):
        if on_progress is not None:
            on_progress(done_frames + frames, expected_total, len(results))

    for job in jobs:
        try:
            r = keep_traceback(enhance_file(job, settings, report), log)
        except (Interrupted, KeyboardInterrupt):
            raise Interrupted(_interrupted(results, jobs)) from None
        results.append(r)
        done_frames += r.frames
        if on_progress is not None:
            on_progress(done_frames, expected_total, len(results))
    return BacklogRun(results, time.perf_counter() - t0, f"this process (pid {os.getpid()})")


def _interrupted(results: list[FileResult], jobs: list[FileJob]) -> str:
    ok = sum(r.status == "ok" for r in results)
    return (f"interrupted: {ok} of {len(jobs)} files were finished and are kept; the file(s) being enhanced "
            "were discarded, the rest not started")


def run_ray(jobs: list[FileJob], settings: EnhanceSettings,
            on_progress: Callable[[int, int | None, int], None] | None = None,
            address: str | None = None, num_cpus: float = 1.0, log: str | None = None) -> BacklogRun:
    """One Ray task per file (``num_cpus`` each; a quarter GPU each when ``settings.enhancer.device`` is
    CUDA), results in input order. A task whose worker dies is retried once, then reported. log: as
    :func:`run_sequential` (written here, by the driver, never by two tasks at once)."""
    ray = import_ray()
    owns = init_ray(address)
    progress = None
    try:
        resources = ray.cluster_resources()
        where = f"Ray ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs)"
        gpu = 0.25 if settings.enhancer.device.startswith("cuda") else 0
        if gpu and not resources.get("GPU"):
            raise ScaleError(f"--device {settings.enhancer.device} but the Ray cluster has no GPU")
        progress = ray.remote(_Progress).options(num_cpus=0).remote()
        task = ray.remote(_ray_task).options(num_cpus=num_cpus, num_gpus=gpu, max_retries=1)
        t0 = time.perf_counter()
        refs = {task.remote(job, settings, progress): job for job in jobs}
        results: dict[int, FileResult] = {}
        pending = list(refs)
        try:
            expected_total = _expected_total(jobs)  # read from the headers while the first files run
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                for ref in ready:
                    job = refs[ref]
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - the worker died (crash, OOM): that file failed
                        result = FileResult(job.input, job.output, "failed", error=f"worker died: {_first_line(exc)}",
                                            traceback=failure_traceback(exc))
                    results[job.index] = keep_traceback(result, log)
                if on_progress is not None:
                    live = ray.get(progress.read.remote())
                    frames = sum(r.frames for r in results.values()) + sum(
                        f for i, (f, _) in live.items() if i not in results)
                    on_progress(frames, expected_total, len(results))
        except KeyboardInterrupt:
            # Cancelling raises KeyboardInterrupt inside each running task: its pipeline stops and
            # discards its temporary file, as a single-file Ctrl-C does. Queued tasks never start.
            for ref in pending:
                ray.cancel(ref)
            ray.wait(pending, num_returns=len(pending), timeout=15)
            for ref, job in refs.items():  # some may have finished in the meantime
                if job.index not in results:
                    try:
                        results[job.index] = ray.get(ref, timeout=0)
                    except Exception:  # noqa: BLE001 - cancelled, still running, or failed: not finished
                        pass
            raise Interrupted(_interrupted(list(results.values()), jobs)) from None
        seconds = time.perf_counter() - t0
    finally:
        if progress is not None:
            ray.kill(progress)
        if owns:
            ray.shutdown()
    return BacklogRun([results[j.index] for j in jobs], seconds, where)


def _expected_total(jobs: list[FileJob]) -> int | None:
    """Frames the whole backlog holds, from the containers' headers (no decoding); None if unknown."""
    total = 0
    for job in jobs:
        try:
            with av.open(job.input) as c:
                s = c.streams.video[0] if c.streams.video else None
                n = int(s.frames) if s is not None and s.frames else 0
                if not n and s is not None and c.duration and s.average_rate:
                    n = round(c.duration / av.time_base * float(s.average_rate))
                total += n if s is not None else 1
        except Exception:  # noqa: BLE001 - a file that cannot be probed fails in its task, visibly
            continue
    return total or None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


# -- the report ------------------------------------------------------------------------------------------

def format_results(run: BacklogRun) -> list[str]:
    """The per-file table (file, frames, fps, status) and a totals line."""
    head = ("file", "frames", "fps", "status")
    rows = []
    for r in run.results:
        status = f"ok -> {r.output}" if r.status == "ok" else f"FAILED: {r.error}" + _log_note(r)
        rows.append((r.input, str(r.frames), f"{r.fps:.1f}" if r.status == "ok" else "-", status))
    w0 = max(len(head[0]), *(len(r[0]) for r in rows))
    w1 = max(len(head[1]), *(len(r[1]) for r in rows))
    w2 = max(len(head[2]), *(len(r[2]) for r in rows))
    lines = [f"{a.ljust(w0)}  {b.rjust(w1)}  {c.rjust(w2)}  {d}" for a, b, c, d in [head, *rows]]
    ok = len(run.results) - len(run.failed)
    fps = run.frames / run.seconds if run.seconds > 0 else 0.0
    lines.append(f"{ok} of {len(run.results)} files enhanced"
                 + (f", {len(run.failed)} failed" if run.failed else "")
                 + f"; {run.frames} frames in {run.seconds:.1f} s ({fps:.1f} fps overall) on {run.where}")
    return lines


def failure_message(run: BacklogRun) -> str | None:
    """The one error line when any file failed, else None."""
    if not run.failed:
        return None
    first = run.failed[0]
    more = f" (and {len(run.failed) - 1} more, see the table)" if len(run.failed) > 1 else ""
    return f"{len(run.failed)} of {len(run.results)} files failed: {first.input}: {first.error}{_log_note(first)}{more}"


def _log_note(result: FileResult) -> str:
    return f" (traceback in {result.log})" if result.log else ""

