"""What ``vidlle enhance`` and ``vidlle preview`` do once their arguments are settings.

``enhance`` runs one input as an :class:`~vidlle.job.EnhanceJob` (plan, Enhancer, Pipeline),
``preview`` opens a source (:func:`vidlle.io.plan.open_source`) for a window or a web page; both
report on stderr: progress, notes, the summary line, and the one-line message of an interrupted
or failed run (which names a kept live recording). A backlog (a glob INPUT or ``--ray``) runs
every file through :mod:`vidlle.scale.backlog`, which runs each as the same EnhanceJob.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import click

# OpenCV before anything that loads PyAV: PyAV's bundled libxcb freezes OpenCV windows.
from vidlle.io.preview import PreviewControls, PreviewSink, keep_original  # noqa: I001
from vidlle.api import Enhancer
from vidlle.errors import InputError, Interrupted, ScaleError, VidlleError
from vidlle.io.redact import redact
from vidlle.io.plan import open_source
from vidlle.job import EnhanceJob, EnhanceSettings
from vidlle.pipeline import Pipeline, Stats
from vidlle.progress import ProgressBar, say, summary_line
from vidlle.report import stats_record, write_json
from vidlle.scale import import_ray
from vidlle.scale.backlog import failure_message, format_results, log_path, plan_jobs, run_ray, run_sequential
from vidlle.settings import EnhancerConfig, LiveConfig
from vidlle.web.feed import CameraFeeds, FeedLimits, FeedSink
from vidlle.web.server import web_config
from vidlle.web.views import PreviewView, open_page


def enhance(input: str, output: str, settings: EnhanceSettings, live: LiveConfig, quiet: bool = False,
            stats_json: str | None = None) -> None:
    """``vidlle enhance INPUT OUTPUT``: one video, image, folder or live source."""
    bar = None if quiet else ProgressBar()
    job = EnhanceJob(input, output, settings, live, progress=bar)
    sink, kind, enhancer, pipeline = job.plan.sink, job.plan.kind, job.enhancer, job.pipeline
    shown = redact(output)  # an rtsp:// OUTPUT may hold a password
    try:
        stats = job.run()
    except Interrupted:
        if bar:
            bar.finish()
        if not quiet:
            _notes(sink.notes)
        kept = sink.kept_message()
        if stats_json and kind == "live":  # Ctrl-C is how a live recording ends: its counters still count
            write_json(stats_json, stats_record(pipeline.stats, enhancer.describe()))
        if kind == "live":
            live_stats = pipeline.stats.live
            dropped = ""
            if live_stats is not None:  # queued frames are written first; what the time bound cut off shows here
                queued = max(0, live_stats.frames_in - live_stats.drops - pipeline.stats.frames)
                dropped = f" ({live_stats.drops} dropped, {queued} still queued)"
            raise Interrupted(f"interrupted after {pipeline.stats.frames} frames{dropped}; "
                              f"{kept or 'nothing recorded to ' + shown}") from None
        raise Interrupted(f"interrupted after {pipeline.stats.frames} frames; nothing written to {shown}") from None
    except VidlleError as exc:
        if bar:
            bar.finish()
        if not quiet:
            _notes(sink.notes)
        kept = sink.kept_message()
        if kept:  # a live recording survives a fatal error; say where, on the same line
            exc.args = (f"{exc}; {kept}",)
        raise
    if bar:
        bar.finish()
    if stats_json:
        write_json(stats_json, stats_record(stats, enhancer.describe()))
    unreadable = job.plan.source.unreadable
    if not quiet:
        _notes(job.notes())
        for warning in job.warnings():
            say(f"warning: {warning}")
        line = summary_line(stats, enhancer.describe(), shown)
        if stats.live is not None:
            lat = stats.latencies.quantile_ms(0.5)
            line += f" | live: {stats.live.line()}" + (f", capture->written {lat:.0f} ms" if lat is not None else "")
        click.echo(line, err=True)
    if unreadable:  # a folder: the good images are written, the run still fails
        names = ", ".join(p.name for p, _ in unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
        raise InputError(f"{len(unreadable)} of {len(unreadable) + stats.frames} images could not be read ({names}); "
                         f"the other {stats.frames} were written to {output}")


def _notes(notes: Iterable[str]) -> None:
    for note in dict.fromkeys(notes):
        say(f"note: {note}")


def preview(source: str, enhancer_config: EnhancerConfig, live: LiveConfig, max_width: int = 1920,
            http: str | None = None) -> None:
    """``vidlle preview SOURCE``: a window with the original and the enhanced picture, or with
    ``http`` (``[HOST:]PORT``) the same on a web page (:mod:`vidlle.web`) instead of a window."""
    page = web_config(http, FeedLimits(max_width=max_width // 2)) if http else None
    src = open_source(source, live)
    enhancer = Enhancer.from_config(enhancer_config)

    def on_change(name: str, on: bool) -> None:
        if name == "overlay" and enhancer.overlay is not None:
            enhancer.overlay.enabled = on

    controls = PreviewControls(overlay=enhancer.overlay is not None, on_change=on_change)
    shown = src.shown
    if page is not None:
        feeds = CameraFeeds(page[0].limits, name="preview")
        sink = FeedSink(feeds)
    else:
        sink = PreviewSink(title=f"vidlle - {shown}", controls=controls,
                           live_stats=src.stats, max_width=max_width)

    def state_lines(stats) -> None:  # the window shows the state; stderr keeps one line per change
        for event in stats.live.poll_events() if stats.live is not None else ():
            say(event)

    pipeline = Pipeline(src, keep_original(enhancer.enhance_frames, controls), sink, progress=state_lines)
    web = None
    if page is not None:
        view = PreviewView(shown, source, feeds, controls, src.stats, lambda: pipeline.stats,
                           overlay_available=enhancer.overlay is not None)
        web = open_page(view, *page, say)
    else:
        sink.on_quit = pipeline.request_stop
    try:
        stats = pipeline.run()
    except Interrupted:
        raise Interrupted(f"interrupted after {pipeline.stats.frames} frames") from None
    finally:
        if web is not None:
            web.stop()
    if web is not None:
        click.echo(summary_line(stats, enhancer.describe(), web.url), err=True)
    else:
        click.echo(summary_line(stats, enhancer.describe(), "window") + f" | {sink.status()}", err=True)


def enhance_backlog(input: str, output: str, settings: EnhanceSettings, use_ray: bool = False, quiet: bool = False,
                    stats_json: str | None = None, debug: bool = False) -> None:
    """``vidlle enhance GLOB FOLDER [--ray]``: every file as the single-file path does it; a
    table; ScaleError (exit 1) if any file failed. Each failure's traceback is appended to the
    backlog's log (named by the table and the error line); ``debug`` also prints it."""
    jobs = plan_jobs(input, output, settings.overwrite)
    log = log_path(output)
    if use_ray:
        import_ray()  # a missing extra fails before anything is said or started
    bar = None if quiet else ProgressBar()
    overall = Stats()

    def on_progress(frames: int, expected: int | None, files_done: int) -> None:
        if overall.expected is None and expected:  # the clock starts when the files do (not Ray's start-up)
            overall.started = time.perf_counter()
        overall.frames, overall.expected = frames, expected
        if bar:
            bar(overall)

    if not quiet:
        how = "as Ray tasks" if use_ray else "one after another (--ray: in parallel)"
        say(f"{len(jobs)} file{'s' if len(jobs) != 1 else ''} -> {output}, {how}")
    try:
        run = (run_ray if use_ray else run_sequential)(jobs, settings, on_progress=on_progress, log=log)
    finally:
        if bar:
            bar.finish()
    if stats_json:
        write_json(stats_json, run.as_dict())
    if not quiet:
        for line in format_results(run):
            click.echo(line, err=True)
        _notes(n for r in run.results for n in r.notes)
        for warning in (w for r in run.results for w in r.warnings):
            say(f"warning: {warning}")
    if debug:
        for r in run.failed:
            if r.traceback:
                say(f"traceback of {r.input}:")
                click.echo(r.traceback, err=True)
    failed = failure_message(run)
    if failed:
        raise ScaleError(failed)
