"""What ``vidlle enhance`` and ``vidlle preview`` do once their arguments are settings.

Each function plans the source and the sink (:mod:`vidlle.io.sources`), builds the Enhancer from
its :class:`~vidlle.settings.EnhancerConfig`, runs the :class:`~vidlle.pipeline.Pipeline` and
reports on stderr: progress, notes, the summary line, and the one-line message of an
interrupted or failed run (which names a kept live recording). A backlog (a glob INPUT or
``--ray``) runs every file through :mod:`vidlle.scale.backlog`.
"""

from __future__ import annotations

import time
from dataclasses import replace

import click

# OpenCV before anything that loads PyAV: PyAV's bundled libxcb freezes OpenCV windows.
from vidlle.io.preview import PreviewControls, PreviewSink, keep_original  # noqa: I001
from vidlle.api import Enhancer
from vidlle.errors import InputError, Interrupted, ScaleError, VidlleError
from vidlle.io.redact import redact
from vidlle.io.sources import open_source, plan
from vidlle.pipeline import Pipeline, PipelineConfig, Stats
from vidlle.progress import ProgressBar, summary_line
from vidlle.report import stats_record, write_json
from vidlle.scale import import_ray
from vidlle.scale.backlog import (EnhanceSettings, failure_message, format_results, log_path, plan_jobs, run_ray,
                                  run_sequential)
from vidlle.settings import EncodeConfig, EnhancerConfig, LiveConfig
from vidlle.web.feed import CameraFeeds, FeedLimits, FeedSink
from vidlle.web.server import web_config
from vidlle.web.views import PreviewView, open_page


# Most seconds a live recording stopped by Ctrl-C spends writing the frames still queued.
DRAIN_SECONDS = 10.0


def say(message: str) -> None:
    """One ``vidlle: ...`` line on stderr."""
    click.echo(f"vidlle: {message}", err=True)


def enhance(input: str, output: str, enhancer_config: EnhancerConfig, encode: EncodeConfig, live: LiveConfig,
            batch: int = 1, overwrite: bool = False, quiet: bool = False, stats_json: str | None = None) -> None:
    """``vidlle enhance INPUT OUTPUT``: one video, image, folder or live source."""
    source, sink, kind = plan(input, output, overwrite, encode, live_config=live, rtsp_transport=live.transport)
    shown = redact(output)  # an rtsp:// OUTPUT may hold a password
    # Frames of a video are consecutive: temporal processing as asked; images are unrelated.
    temporal = enhancer_config.temporal and kind in ("video", "live")
    enhancer = Enhancer.from_config(replace(enhancer_config, temporal=temporal))
    bar = None if quiet else ProgressBar()
    # A recording stopped by Ctrl-C still writes the frames its buffer holds (bounded in time).
    drain = DRAIN_SECONDS if kind == "live" and getattr(sink, "keep_on_abort", False) else 0.0
    pipeline = Pipeline(source, enhancer.enhance_frames, sink, PipelineConfig(batch=batch, drain_seconds=drain),
                        progress=bar)
    try:
        stats = pipeline.run()
    except Interrupted:
        if bar:
            bar.finish()
        if not quiet:
            _notes(sink.notes)
        kept = getattr(sink, "kept_message", lambda: None)()
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
        kept = getattr(sink, "kept_message", lambda: None)()
        if kept:  # a live recording survives a fatal error; say where, on the same line
            exc.args = (f"{exc}; {kept}",)
        raise
    if bar:
        bar.finish()
    if stats_json:
        write_json(stats_json, stats_record(stats, enhancer.describe()))
    unreadable = getattr(source, "unreadable", [])
    if not quiet:
        _notes(enhancer.backend.notes + getattr(source, "notes", []) + sink.notes)
        damage = getattr(source, "damage", lambda: None)() if kind == "video" else None
        if damage:
            say(f"warning: corrupt video data in {input}: {damage}")
        for path, reason in unreadable:
            say(f"warning: skipped {path.name}: {reason}")
        line = summary_line(stats, enhancer.describe(), shown)
        if stats.live is not None:
            lat = stats.latency_ms(0.5)
            line += f" | live: {stats.live.line()}" + (f", capture->written {lat:.0f} ms" if lat is not None else "")
        click.echo(line, err=True)
    if unreadable:  # a folder: the good images are written, the run still fails
        names = ", ".join(p.name for p, _ in unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
        raise InputError(f"{len(unreadable)} of {len(unreadable) + stats.frames} images could not be read ({names}); "
                         f"the other {stats.frames} were written to {output}")


def _notes(notes: list[str]) -> None:
    for note in dict.fromkeys(notes):
        say(f"note: {note}")


def preview(source: str, enhancer_config: EnhancerConfig, live: LiveConfig, max_width: int = 1920,
            http: str | None = None) -> None:
    """``vidlle preview SOURCE``: a window with the original and the enhanced picture, or with
    ``http`` (``[HOST:]PORT``) the same on a web page (:mod:`vidlle.web`) instead of a window."""
    page = web_config(http, FeedLimits(max_width=max_width // 2)) if http else None
    src, kind = open_source(source, live)
    enhancer = Enhancer.from_config(enhancer_config)

    def on_change(name: str, on: bool) -> None:
        if name == "overlay" and enhancer.overlay is not None:
            enhancer.overlay.enabled = on

    controls = PreviewControls(overlay=enhancer.overlay is not None, on_change=on_change)
    shown = getattr(src, "shown", source)
    if page is not None:
        feeds = CameraFeeds(page[0].limits, name="preview")
        sink = FeedSink(feeds)
    else:
        sink = PreviewSink(title=f"vidlle - {shown}", controls=controls,
                           live_stats=getattr(src, "stats", None), max_width=max_width)

    def state_lines(stats) -> None:  # the window shows the state; stderr keeps one line per change
        for event in stats.live.poll_events() if stats.live is not None else ():
            say(event)

    pipeline = Pipeline(src, keep_original(enhancer.enhance_frames, controls), sink, progress=state_lines)
    web = None
    if page is not None:
        view = PreviewView(shown, source, feeds, controls, getattr(src, "stats", None), lambda: pipeline.stats,
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
        for note in dict.fromkeys(n for r in run.results for n in r.notes):
            say(f"note: {note}")
    if debug:
        for r in run.failed:
            if r.traceback:
                say(f"traceback of {r.input}:")
                click.echo(r.traceback, err=True)
    failed = failure_message(run)
    if failed:
        raise ScaleError(failed)
