"""Command line: parse -> config -> pipeline. Errors become one line and an exit code.

Exit codes: 0 ok; 1 runtime error (``vidlle: error: ...``); 2 usage error; 130 interrupted.
"""

from __future__ import annotations

import signal
import sys

import click

from vidlle import __version__
from vidlle.errors import VidlleError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidlle")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Real-time low-light video enhancement."""
    from vidlle.heap import keep_freed_buffers

    keep_freed_buffers()  # this process is ours: reuse frame-sized buffers (see vidlle.heap)


def live_options(f):
    """Options of live inputs (webcam, RTSP/HTTP streams), shared by enhance and preview."""
    options = [
        click.option("--rtsp-transport", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True,
                     help="RTSP transport for rtsp:// inputs and outputs."),
        click.option("--timeout", "live_timeout", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
                     help="Live input: seconds without data before it counts as stalled and is reconnected."),
        click.option("--reconnect", "max_reconnects", type=click.IntRange(0), default=None,
                     help="Live input: give up after N failed reconnect attempts in a row [default: never]."),
        click.option("--wait-for-source", is_flag=True,
                     help="Live input: keep retrying when the first connection fails (camera still booting)."),
        click.option("--drop-policy", type=click.Choice(["auto", "buffer", "latest"]), default="auto",
                     show_default=True,
                     help="Live input: buffer = queue --buffer-seconds of video and drop only when it overflows "
                          "(evenly, counted); latest = always take the newest frame (lowest latency); "
                          "auto = buffer when recording to a file, latest for a window or rtsp:// output."),
        click.option("--buffer-seconds", type=click.FloatRange(0.1, 60), default=2.0, show_default=True,
                     help="Live input, --drop-policy buffer: seconds of video the queue holds."),
        click.option("--video-size", help="Webcam capture size, e.g. 1280x720."),
        click.option("--framerate", help="Webcam capture rate, e.g. 30."),
        click.option("--input-format", help="Webcam pixel format, e.g. mjpeg or yuyv422."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _strength(ctx, param, value):
    """``auto`` -> None (judged per frame from its exposure); a number in 0..2 -> that number."""
    if value is None or str(value).lower() == "auto":
        return None
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not 'auto' or a number") from None
    if not 0.0 <= number <= 2.0:
        raise click.BadParameter(f"{value} is outside 0..2")
    return number


def temporal_options(f):
    """Temporal processing, enhancement strength and the overlay, shared by enhance and preview."""
    options = [
        click.option("--strength", default="auto", show_default=True, callback=_strength,
                     help="How much to enhance: auto (per frame from its exposure: night frames fully, "
                          "well-exposed frames not at all) or a fixed 0..2 (0 = off, 1 = the model's curve)."),
        click.option("--temporal/--no-temporal", default=True, show_default=True,
                     help="Video: stabilise the curve across frames and denoise still regions."),
        click.option("--overlay", type=click.Choice(["none", "seg"]), default="none", show_default=True,
                     help="Blend an ESPNetv2 segmentation (people, vehicles, ...) over the enhanced frames."),
        click.option("--seg-weights", type=click.Path(dir_okay=False),
                     help="ESPNetv2 weights for --overlay seg [default: $VIDLLE_SEG_WEIGHTS or the cache dir]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _live_config(rtsp_transport, live_timeout, max_reconnects, wait_for_source, drop_policy, buffer_seconds,
                 video_size, framerate, input_format):
    from vidlle.io.live import LiveConfig

    return LiveConfig(transport=rtsp_transport, read_timeout=live_timeout, open_timeout=max(10.0, live_timeout),
                      max_reconnects=max_reconnects, retry_first_connect=wait_for_source, drop_policy=drop_policy,
                      buffer_seconds=buffer_seconds, video_size=video_size, framerate=framerate,
                      input_format=input_format)


@cli.command()
@click.argument("input", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors only: no progress line, no live state changes, no summary.")
@click.option("--model", default="curve", show_default=True, help="Model from the registry (see `vidlle info`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file instead of the shipped one.")
@click.option("--backend", default="auto", show_default=True, help="auto or a backend listed by `vidlle info`.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True)
@click.option("--codec", default="libx264", show_default=True, help="Video encoder.")
@click.option("--crf", type=click.IntRange(0, 63), default=23, show_default=True, help="Quality (lower is better).")
@click.option("--preset", default="veryfast", show_default=True, help="Encoder speed preset.")
@click.option("--batch", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Most frames per model call (frames already decoded are batched).")
@click.option("--stats-json", type=click.Path(dir_okay=False), help="Also write run statistics as JSON here.")
@click.option("--ray", "use_ray", is_flag=True,
              help="Backlog: INPUT is a glob ('rec/*.mp4') or a folder of videos, OUTPUT a folder; one Ray task "
                   "per file, in parallel ($RAY_ADDRESS joins a cluster). Needs the scale extra.")
@temporal_options
@live_options
def enhance(input, output, overwrite, quiet, model, weights, backend, device, precision, codec, crf, preset, batch,
            stats_json, use_ray, strength, temporal, overlay, seg_weights, rtsp_transport, live_timeout, max_reconnects,
            wait_for_source, drop_policy, buffer_seconds, video_size, framerate, input_format):
    """Enhance INPUT (video, image, folder of images, webcam:N, /dev/videoN, rtsp://, http(s)://)
    into OUTPUT (video file, image, folder, or rtsp:// to publish).

    A glob INPUT ('recordings/*.mp4', quoted) with a folder OUTPUT enhances every file into it,
    one after another, or in parallel as Ray tasks with --ray.
    """
    from vidlle.scale.backlog import is_backlog

    if use_ray or is_backlog(input):
        from vidlle.scale.backlog import EnhanceSettings

        settings = EnhanceSettings(model=model, weights=weights, backend=backend, device=device, precision=precision,
                                   temporal=temporal, overlay=overlay, seg_weights=seg_weights, codec=codec, crf=crf,
                                   preset=preset, batch=batch, overwrite=overwrite, strength=strength)
        _enhance_backlog(input, output, settings, use_ray, quiet, stats_json)
        return
    from vidlle.api import Enhancer
    from vidlle.io.encode import EncodeConfig
    from vidlle.io.sources import plan
    from vidlle.overlay import overlay_for
    from vidlle.pipeline import Interrupted, Pipeline, PipelineConfig
    from vidlle.progress import ProgressBar, summary_line

    live_config = _live_config(rtsp_transport, live_timeout, max_reconnects, wait_for_source, drop_policy,
                               buffer_seconds, video_size, framerate, input_format)
    source, sink, kind = plan(input, output, overwrite, EncodeConfig(codec=codec, crf=crf, preset=preset),
                              live_config=live_config, rtsp_transport=rtsp_transport)
    # Frames of a video are consecutive: temporal processing on by default; images are unrelated.
    enhancer = Enhancer(model, backend=backend, device=device, precision=precision, weights=weights,
                        temporal=temporal and kind in ("video", "live"), overlay=overlay_for(overlay, seg_weights),
                        strength=strength)
    bar = None if quiet else ProgressBar()
    pipeline = Pipeline(source, enhancer.enhance_frames, sink, PipelineConfig(batch=batch), progress=bar)
    try:
        stats = pipeline.run()
    except Interrupted:
        if bar:
            bar.finish()
        kept = getattr(sink, "kept_message", lambda: None)()
        if stats_json and kind == "live":  # Ctrl-C is how a live recording ends: its counters still count
            _write_stats(stats_json, pipeline.stats, enhancer.describe())
        if kind == "live":
            live = pipeline.stats.live
            dropped = ""
            if live is not None:  # frames still queued at the stop are not written: Ctrl-C is immediate
                queued = max(0, live.frames_in - live.drops - pipeline.stats.frames)
                dropped = f" ({live.drops} dropped, {queued} still queued)"
            raise Interrupted(f"interrupted after {pipeline.stats.frames} frames{dropped}; "
                              f"{kept or 'nothing recorded to ' + output}") from None
        raise Interrupted(f"interrupted after {pipeline.stats.frames} frames; nothing written to {output}") from None
    except VidlleError as exc:
        if bar:
            bar.finish()
        kept = getattr(sink, "kept_message", lambda: None)()
        if kept:  # a live recording survives a fatal error; say where, on the same line
            exc.args = (f"{exc}; {kept}",)
        raise
    if bar:
        bar.finish()
    if stats_json:
        _write_stats(stats_json, stats, enhancer.describe())
    if not quiet:
        for note in enhancer.backend.notes + sink.notes:
            click.echo(f"vidlle: note: {note}", err=True)
        damage = getattr(source, "damage", lambda: None)() if kind == "video" else None
        if damage:
            click.echo(f"vidlle: warning: corrupt video data in {input}: {damage}", err=True)
        line = summary_line(stats, enhancer.describe(), output)
        if stats.live is not None:
            lat = stats.latency_ms(0.5)
            line += f" | live: {stats.live.line()}" + (f", capture->written {lat:.0f} ms" if lat is not None else "")
        click.echo(line, err=True)


@cli.command()
@click.argument("source", metavar="SOURCE")
@click.option("--model", default="curve", show_default=True, help="Model from the registry (see `vidlle info`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file instead of the shipped one.")
@click.option("--backend", default="auto", show_default=True, help="auto or a backend listed by `vidlle info`.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True)
@click.option("--max-width", type=click.IntRange(160, 7680), default=1920, show_default=True,
              help="Widest the side-by-side window may be (pixels).")
@temporal_options
@live_options
def preview(source, model, weights, backend, device, precision, max_width, strength, temporal, overlay, seg_weights,
            rtsp_transport, live_timeout, max_reconnects, wait_for_source, drop_policy, buffer_seconds, video_size,
            framerate, input_format):
    """Live window for SOURCE (webcam:N, rtsp://..., testsrc, or a video file): original | enhanced.

    Keys: q quit, space toggle enhancement, o toggle the segmentation overlay.
    """
    # OpenCV before anything that loads PyAV: PyAV's bundled libxcb freezes OpenCV windows.
    from vidlle.io.preview import PreviewControls, PreviewSink, keep_original
    from vidlle.api import Enhancer
    from vidlle.io.sources import open_source
    from vidlle.overlay import overlay_for
    from vidlle.pipeline import Interrupted, Pipeline
    from vidlle.progress import summary_line

    live_config = _live_config(rtsp_transport, live_timeout, max_reconnects, wait_for_source, drop_policy,
                               buffer_seconds, video_size, framerate, input_format)
    src, kind = open_source(source, live_config)
    enhancer = Enhancer(model, backend=backend, device=device, precision=precision, weights=weights,
                        temporal=temporal, overlay=overlay_for(overlay, seg_weights), strength=strength)

    def on_change(name: str, on: bool) -> None:
        if name == "overlay" and enhancer.overlay is not None:
            enhancer.overlay.enabled = on

    controls = PreviewControls(overlay=enhancer.overlay is not None, on_change=on_change)
    sink = PreviewSink(title=f"vidlle - {getattr(src, 'shown', source)}", controls=controls,
                       live_stats=getattr(src, "stats", None), max_width=max_width)
    def state_lines(stats) -> None:  # the window shows the state; stderr keeps one line per change
        for event in stats.live.poll_events() if stats.live is not None else ():
            click.echo(f"vidlle: {event}", err=True)

    pipeline = Pipeline(src, keep_original(enhancer.enhance_frames, controls), sink, progress=state_lines)
    sink.on_quit = pipeline.request_stop
    try:
        stats = pipeline.run()
    except Interrupted:
        raise Interrupted(f"interrupted after {pipeline.stats.frames} frames") from None
    click.echo(summary_line(stats, enhancer.describe(), "window") + f" | {sink.status()}", err=True)


def _enhance_backlog(input, output, settings, use_ray: bool, quiet: bool, stats_json: str | None) -> None:
    """`enhance GLOB FOLDER [--ray]`: every file as the single-file path does it; a table; exit 1 if any failed."""
    import time

    from vidlle.pipeline import Stats
    from vidlle.progress import ProgressBar
    from vidlle.scale import ScaleError
    from vidlle.scale.backlog import failure_message, format_results, plan_jobs, run_ray, run_sequential
    from vidlle.scale.service import write_json

    jobs = plan_jobs(input, output, settings.overwrite)
    if use_ray:
        from vidlle.scale import import_ray

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
        click.echo(f"vidlle: {len(jobs)} file{'s' if len(jobs) != 1 else ''} -> {output}, {how}", err=True)
    try:
        run = (run_ray if use_ray else run_sequential)(jobs, settings, on_progress=on_progress)
    finally:
        if bar:
            bar.finish()
    if stats_json:
        write_json(stats_json, run.as_dict())
    if not quiet:
        for line in format_results(run):
            click.echo(line, err=True)
        for note in dict.fromkeys(n for r in run.results for n in r.notes):
            click.echo(f"vidlle: note: {note}", err=True)
    failed = failure_message(run)
    if failed:
        raise ScaleError(failed)


def _write_stats(path: str, stats, what: str) -> None:
    import json
    import time

    first = None if stats.first_frame_at is None else time.time() - (time.perf_counter() - stats.first_frame_at)
    record = {"frames": stats.frames, "elapsed_s": stats.elapsed, "fps": stats.fps, "steady_fps": stats.steady_fps,
              "steady_cpu_ms": stats.steady_cpu_ms, "first_frame_time": first, "busy_s": stats.busy, "enhancer": what}
    if stats.live is not None:
        record["live"] = stats.live.snapshot()
        record["latency_ms"] = {"median": stats.latency_ms(0.5), "p95": stats.latency_ms(0.95)}
    with open(path, "w") as fh:
        json.dump(record, fh, indent=2)


@cli.command()
def info():
    """Versions, backends, devices and installed model weights."""
    import platform

    import av
    import cv2
    import numpy
    import torch

    from vidlle.backends import auto_choice, auto_order, available_backends
    from vidlle.fused import describe as describe_apply
    from vidlle.models import available_models, get_spec
    from vidlle.models.shipped import load_runtime

    click.echo(f"vidlle {__version__} (python {platform.python_version()}, {platform.machine()})")
    ff = ".".join(str(v) for v in av.library_versions["libavcodec"])
    click.echo(f"torch {torch.__version__}  av {av.__version__} (libavcodec {ff})  opencv {cv2.__version__}  numpy {numpy.__version__}")
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(cuda)]
    click.echo(f"devices: {', '.join(devices)}  (cpu threads: {torch.get_num_threads()})")
    click.echo("backends:")
    for name, reason in available_backends().items():
        click.echo(f"  {name:12s} {'available' if not reason else 'unavailable: ' + reason}")
    for device in ["cpu"] + (["cuda"] if cuda else []):
        precision = "fp16" if device == "cuda" else "fp32"
        click.echo(f"  {'auto':12s} {device} {precision}: {auto_choice(device, precision) or 'none'} "
                   f"(order {', '.join(auto_order(device))})")
    click.echo("models:")
    for name in available_models():
        spec = get_spec(name)
        if spec.weights_path.is_file():
            record = spec.training_record() or {}
            images = record.get("images", record.get("train_images", "?"))
            trained = f", trained {record.get('iters', '?')} iters on {images} images" if record else ""
            weights = f"{spec.weights_path} (sha256 {spec.weights_sha256()[:12]}{trained})"
        else:
            weights = "weights missing"
        click.echo(f"  {name:12s} {spec.description}\n               {weights}")
        runtime = load_runtime(name)
        click.echo(f"               CPU runtime: {runtime.onnx.name + ' (shipped, no export)' if runtime else 'exported on first use'}")
    click.echo(f"apply step: {describe_apply()}")
    _echo_engine_cache()


def _echo_engine_cache() -> None:
    """`vidlle info`'s list of cached ONNX files and TensorRT engines, with their state."""
    import torch

    from engines.cache import ArtifactCache

    cache = ArtifactCache()
    entries = cache.entries()
    click.echo(f"engine cache: {cache.root} ({len(entries)} files)")
    try:
        import tensorrt

        trt_version = tensorrt.__version__
    except ImportError:
        trt_version = None
    for e in entries:
        k = e.key
        size = f"{e.path.stat().st_size / 1024:.0f} KiB"
        if e.path.suffix == ".onnx":
            what = f"ONNX {k.get('precision')} opset {k.get('opset')}, {k.get('exporter')}"
            check = (e.sidecar or {}).get("extra", {}).get("verification")
            if isinstance(check, dict) and "output_max_abs" in check:
                what += f", verified: uint8 diff {check['output_max_abs']}, params diff {check['params_max_abs']:.1e}"
            elif isinstance(check, dict) and "label_agreement" in check:
                what += (f", verified: labels agree {check['label_agreement']:.4%}, "
                         f"logits diff {check['logits_max_abs']:.1e}")
            stale = k.get("exporter") != f"torch-{torch.__version__}" and "exported with another torch"
        else:
            prof = k.get("profile", {})
            fmt = lambda s: "x".join(map(str, s or []))  # noqa: E731
            what = (f"TensorRT {k.get('tensorrt')} engine {k.get('precision')} sm {k.get('compute_capability')}, "
                    f"profile {fmt(prof.get('min'))}..{fmt(prof.get('opt'))}..{fmt(prof.get('max'))}")
            stale = trt_version and k.get("tensorrt") != trt_version and f"TensorRT {trt_version} installed"
        state = e.problem or (f"stale ({stale}; rebuilt on next use)" if stale else "ok")
        click.echo(f"  {e.path.name}\n      {k.get('model', '?')}: {what}; {size}; {state}")


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--size", default="1280x720", show_default=True, help="WIDTHxHEIGHT.")
@click.option("--seconds", type=click.FloatRange(0.04, 600), default=4.0, show_default=True)
@click.option("--fps", type=click.IntRange(1, 240), default=25, show_default=True)
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def sample(output, size, seconds, fps, overwrite):
    """Write a synthetic dark night-street clip (with audio) to OUTPUT, e.g. dark.mp4."""
    from pathlib import Path

    from vidlle.errors import OutputError
    from vidlle.io.synth import write_dark_clip

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, got {size!r}", param_hint="--size") from None
    if Path(output).exists() and not overwrite:
        raise OutputError(f"{output} already exists (use -y to overwrite)")
    frames = max(1, round(seconds * fps))
    write_dark_clip(output, width=width, height=height, frames=frames, fps=fps)
    click.echo(f"vidlle: wrote {frames} frames ({width}x{height}, {fps} fps, with audio) to {output}", err=True)


@cli.command()
@click.argument("config", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--address", help="Join this Ray cluster (host:6379, ray://host:10001, auto) "
                                 "[default: $RAY_ADDRESS, else start Ray locally].")
@click.option("--engine", type=click.Choice(["auto", "ray", "threads"]), default="auto", show_default=True,
              help="ray: one actor per camera; threads: every camera in this process; auto: ray when installed.")
@click.option("--stats-every", type=click.FloatRange(0.5, 3600), default=10.0, show_default=True,
              help="Seconds between stats tables.")
@click.option("--stats-json", type=click.Path(dir_okay=False),
              help="Keep the latest per-camera stats in this JSON file (rewritten every --stats-every).")
@click.option("--duration", type=click.FloatRange(1, None),
              help="Stop and finalise after this many seconds, counted once every camera has started "
                   "[default: run until Ctrl-C / SIGTERM].")
@click.option("--check", is_flag=True, help="Check CONFIG, list its cameras and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No periodic table (state changes and the final summary only).")
def serve(config, address, engine, stats_every, stats_json, duration, check, quiet):
    """Enhance every camera of CONFIG (YAML: cameras with name, source, output, model, ...), each in
    its own Ray actor restarted on crash, with a periodic stats table. Ctrl-C or SIGTERM stops all
    cameras and finalises every recording. See docs/capacity.md for sizing."""
    import time

    from vidlle.pipeline import Interrupted
    from vidlle.scale import ScaleError
    from vidlle.scale.config import load_config
    from vidlle.scale.service import Service, final_lines, format_table

    cfg = load_config(config)
    say = lambda msg: click.echo(f"vidlle: {msg}", err=True)  # noqa: E731
    if check:
        for cam in cfg.cameras:
            seg = f", new file every {cam.segment_seconds:g} s" if cam.segment_seconds else ""
            click.echo(f"{cam.name}: {cam.shown_source} -> {cam.shown_output}{seg} | model {cam.model}, "
                       f"{cam.device}, temporal {'on' if cam.temporal else 'off'}, overlay {cam.overlay} | "
                       f"{cam.num_cpus:g} CPU, {cam.num_gpus:g} GPU, max_restarts {cam.max_restarts}")
        say(f"{config}: {len(cfg.cameras)} camera{'s' if len(cfg.cameras) != 1 else ''}, ok")
        return
    service = Service(cfg, engine=engine, address=address)
    try:
        service.start()
    except KeyboardInterrupt:
        service.stop()
        raise Interrupted("stopped while starting the cameras") from None
    for note in service.notes:
        say(f"note: {note}")
    say(f"serving {len(cfg.cameras)} camera{'s' if len(cfg.cameras) != 1 else ''} on {service.where}"
        f"{f' for {duration:g} s' if duration else ''}; Ctrl-C stops and finalises the recordings")

    def report(rows):
        up = int(time.time() - service.started_at)
        click.echo(f"-- {time.strftime('%H:%M:%S')}  up {up // 3600}:{up // 60 % 60:02d}:{up % 60:02d}  "
                   f"{len(rows)} cameras on {service.engine}")
        for line in format_table(rows):
            click.echo(line)

    try:
        service.run(stats_every=stats_every, duration=duration, report=None if quiet else report,
                    event=lambda line: say(line), stats_json=stats_json)
    except KeyboardInterrupt:
        for line in final_lines(service.rows()):
            say(line)
        raise Interrupted(f"stopped; {len(cfg.cameras)} camera{'s' if len(cfg.cameras) != 1 else ''} "
                          "finalised") from None
    rows = service.rows()
    for line in final_lines(rows):
        say(line)
    failed = [r for r in rows if r["state"] == "failed"]
    if failed:
        raise ScaleError(f"{len(failed)} of {len(rows)} cameras failed: {failed[0]['name']}: "
                         f"{failed[0].get('last_error') or 'unknown error'}")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.option("--models", "models_only", is_flag=True, help="Model-only fps of every backend (benchmarks/models.py).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(models_only, args):
    """Throughput: bare PyAV transcode vs `vidlle enhance` on real footage, and their ratio.

    Runs benchmarks/throughput.py (or benchmarks/models.py with --models) with ARGS; `vidlle
    bench --help` shows the script's options.
    """
    from vidlle.bench import run

    code = run(models_only, list(args))
    if code:
        raise SystemExit(code)


@cli.command("build-engine")
@click.option("--model", default="curve", show_default=True, help="curve, skf, or segment (ESPNetv2).")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Weights file instead of the shipped one (segment: as --seg-weights / $VIDLLE_SEG_WEIGHTS).")
@click.option("--precision", type=click.Choice(["fp16", "fp32"]), default="fp16", show_default=True)
@click.option("--shapes", metavar="MIN,OPT,MAX",
              help="Frame sizes the engine's profile must cover, e.g. 360p,1080p,4k or 640x360,1920x1080,3840x2160 "
                   "[default: every frame size the model accepts, tuned for 1080p].")
@click.option("--batch", type=click.IntRange(1, 1024), default=1, show_default=True, help="Batch the engine is tuned for.")
@click.option("--max-batch", type=click.IntRange(1, 1024), help="Largest batch [model's default, 64 for curve].")
@click.option("--device", default="cuda", show_default=True, help="GPU to build for (cuda, cuda:N).")
@click.option("--onnx-only", is_flag=True, help="Export and verify the ONNX only (no TensorRT needed).")
@click.option("--force", is_flag=True, help="Export/build again even if a valid file is cached.")
def build_engine(model, weights, precision, shapes, batch, max_batch, device, onnx_only, force):
    """Export a model's predictor to ONNX (verified against torch) and build a TensorRT engine.

    Both land in the engine cache ($VIDLLE_CACHE/engines, see `vidlle info`); the TensorRT
    backend finds them there. A stale engine (other weights, TensorRT or GPU) is rebuilt.
    """
    from engines.export import get_onnx
    from engines.specs import ModelSource, get_export_spec, load_predictor, parse_frame_size

    say = lambda msg: click.echo(f"vidlle: {msg}", err=True)  # noqa: E731
    spec = get_export_spec(model)
    source = ModelSource.resolve(model, weights)
    config = load_predictor(source)[1]
    if shapes:
        try:
            frames = [parse_frame_size(s) for s in shapes.split(",")]
            profile = spec.profile_for_frames(config, frames, opt_batch=batch, max_batch=max_batch)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--shapes") from None
    else:
        profile = spec.default_profile(config, opt_batch=batch, max_batch=max_batch)
    # The fp32 graph (onnxruntime CPU, TensorRT 10 + FP16 flag) always; the mixed fp16 graph too
    # for fp16 (TensorRT >= 11, onnxruntime CUDA).
    for graph in ["fp32"] + (["fp16"] if precision == "fp16" else []):
        path = get_onnx(source, graph, log=say, force=force)
        say(f"ONNX ({graph}): {path}")
    say(f"engine profile (predictor input, NCHW): {profile}")
    if onnx_only:
        return
    from engines.tensorrt import get_engine, require_tensorrt

    require_tensorrt()
    path, meta = get_engine(source, precision, profile, device=device, log=say, force=force)
    extra = meta.get("extra", {})
    say(f"engine: {path} (TensorRT {meta['key']['tensorrt']}, {extra.get('gpu', '?')}, "
        f"sm {meta['key']['compute_capability']})")


def _on_sigterm(signum, frame):
    # Same clean path as Ctrl-C: stages stop, the sink finalises or discards, exit 130.
    raise KeyboardInterrupt


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=argv, prog_name="vidlle", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("vidlle: interrupted", err=True)
        return 130
    except VidlleError as exc:
        if debug:
            raise
        from vidlle.pipeline import Interrupted

        click.echo(f"vidlle: {'' if isinstance(exc, Interrupted) else 'error: '}{exc}", err=True)
        return 130 if isinstance(exc, Interrupted) else 1
    except Exception as exc:  # noqa: BLE001 - the user sees one line, --debug shows the rest
        if debug:
            raise
        click.echo(f"vidlle: error: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
