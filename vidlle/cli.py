"""Command line: parse the arguments into settings and delegate; errors become one line and an exit code.

Exit codes: 0 ok; 1 runtime error (``vidlle: error: ...``); 2 usage error; 130 interrupted.

Each command only parses: its options come from the settings' fields (:mod:`vidlle.options`) or
are its own, and its body is a function elsewhere (:mod:`vidlle.run`, :mod:`vidlle.info`,
:mod:`vidlle.scale.serve`, :mod:`vidlle.engines.build`, :mod:`vidlle.bench`,
:mod:`vidlle.io.synth`). Those are imported when their command runs, not here: they load torch,
PyAV and OpenCV, and ``vidlle --help`` should not.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from vidlle.errors import Interrupted, OutputError, VidlleError
from vidlle.heap import keep_freed_buffers
from vidlle.io.redact import redact_text
from vidlle.options import from_options, options
from vidlle.progress import say
from vidlle.settings import EncodeConfig, EnhancerConfig, LiveConfig, RunConfig
from vidlle.signals import stop_signals_handled
from vidlle.version import __version__


# What may run the cameras of `vidlle serve` (vidlle.scale.hosts.HOSTS, not imported here: it loads Ray's side).
CAMERA_HOSTS = ["auto", "ray", "threads"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidlle")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Real-time low-light video enhancement."""
    keep_freed_buffers()  # this process is ours: reuse frame-sized buffers (see vidlle.heap)


def _live_config(values: dict) -> LiveConfig:
    live = from_options(LiveConfig, values)
    # A longer --timeout also allows a longer first connect (the header read can be as slow).
    return replace(live, open_timeout=max(live.open_timeout, live.read_timeout))


@cli.command()
@click.argument("input", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors only: no progress line, no live state changes, no summary.")
@options(EnhancerConfig, EncodeConfig, RunConfig)
@click.option("--stats-json", type=click.Path(dir_okay=False), help="Also write run statistics as JSON here.")
@click.option("--ray", "use_ray", is_flag=True,
              help="Backlog: INPUT is a glob ('rec/*.mp4') or a folder of videos, OUTPUT a folder; one Ray task "
                   "per file, in parallel ($RAY_ADDRESS joins a cluster). Needs the scale extra.")
@options(LiveConfig)
def enhance(input, output, overwrite, quiet, stats_json, use_ray, **settings):
    """Enhance INPUT (video, image, folder of images, webcam:N, /dev/videoN, rtsp://, http(s)://)
    into OUTPUT (video file, image, folder, or rtsp:// to publish).

    A glob INPUT ('recordings/*.mp4', quoted) with a folder OUTPUT enhances every file into it,
    one after another, or in parallel as Ray tasks with --ray.
    """
    from vidlle import run
    from vidlle.job import EnhanceSettings
    from vidlle.scale.backlog import is_backlog

    chosen = EnhanceSettings(from_options(EnhancerConfig, settings), from_options(EncodeConfig, settings),
                             from_options(RunConfig, settings), overwrite)
    if use_ray or is_backlog(input):
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        run.enhance_backlog(input, output, chosen, use_ray, quiet, stats_json, debug=debug)
        return
    run.enhance(input, output, chosen, _live_config(settings), quiet=quiet, stats_json=stats_json)


@cli.command()
@click.argument("source", metavar="SOURCE")
@options(EnhancerConfig)
@click.option("--max-width", type=click.IntRange(160, 7680), default=1920, show_default=True,
              help="Widest the side-by-side window may be (pixels; on the web page each picture gets half).")
@click.option("--http", metavar="[HOST:]PORT",
              help="Show it on a web page at this address instead of a window (127.0.0.1 unless HOST is "
                   "given; any other address needs a token: $VIDLLE_WEB_TOKEN, else one is made and shown).")
@options(LiveConfig)
def preview(source, max_width, http, **settings):
    """Live window for SOURCE (webcam:N, rtsp://..., testsrc, or a video file): original | enhanced.

    Keys: q quit, space toggle enhancement, o toggle the segmentation overlay (on the web page:
    buttons; Ctrl-C quits).
    """
    from vidlle import run

    run.preview(source, from_options(EnhancerConfig, settings), _live_config(settings), max_width=max_width,
                http=http)


@cli.command()
def info():
    """Versions, backends, devices and installed model weights."""
    from vidlle.info import info_lines

    for line in info_lines():
        click.echo(line)


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--size", default="1280x720", show_default=True, help="WIDTHxHEIGHT.")
@click.option("--seconds", type=click.FloatRange(0.04, 600), default=4.0, show_default=True)
@click.option("--fps", type=click.IntRange(1, 240), default=25, show_default=True)
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def sample(output, size, seconds, fps, overwrite):
    """Write a synthetic dark night-street clip (with audio) to OUTPUT, e.g. dark.mp4."""
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
@click.option("--run-on", "host", type=click.Choice(CAMERA_HOSTS), default="auto", show_default=True,
              help="What runs the cameras. ray: one actor per camera; threads: every camera in this process; "
                   "auto: ray when installed.")
@click.option("--engine", type=click.Choice(CAMERA_HOSTS), hidden=True, help="The former name of --run-on.")
@click.option("--stats-every", type=click.FloatRange(0.5, 3600), default=10.0, show_default=True,
              help="Seconds between stats tables.")
@click.option("--stats-json", type=click.Path(dir_okay=False),
              help="Keep the latest per-camera stats in this JSON file (rewritten every --stats-every).")
@click.option("--duration", type=click.FloatRange(1, None),
              help="Stop and finalise after this many seconds, counted once every camera has started "
                   "[default: run until Ctrl-C / SIGTERM].")
@click.option("--check", is_flag=True, help="Check CONFIG, list its cameras and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No periodic table (state changes and the final summary only).")
@click.option("--http", metavar="[HOST:]PORT",
              help="Also serve a web page with every camera's live picture and the table (JSON at /api/state); "
                   "127.0.0.1 unless HOST is given; any other address needs a token ($VIDLLE_WEB_TOKEN, "
                   "else one is made and shown).")
def serve(config, address, host, engine, stats_every, stats_json, duration, check, quiet, http):
    """Enhance every camera of CONFIG (YAML: cameras with name, source, output, model, ...), each in
    its own Ray actor restarted on crash, with a periodic stats table. Ctrl-C or SIGTERM stops all
    cameras and finalises every recording. See docs/capacity.md for sizing."""
    from vidlle.scale.serve import serve as run_serve

    if engine is not None:  # commands written before --engine became --run-on keep working
        if host not in ("auto", engine):
            raise click.UsageError("--engine is the former name of --run-on; give one of them, not both")
        host = engine
    debug = bool(click.get_current_context().find_root().params.get("debug"))
    run_serve(config, host=host, address=address, stats_every=stats_every, stats_json=stats_json,
              duration=duration, check=check, quiet=quiet, http=http, debug=debug)


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
    from vidlle.engines.build import build_engine, engine_profile
    from vidlle.engines.specs import parse_frame_size

    try:
        frames = [parse_frame_size(s) for s in shapes.split(",")] if shapes else None
        source, profile = engine_profile(model, weights, frames, batch=batch, max_batch=max_batch)
    except ValueError as exc:
        if isinstance(exc, VidlleError):
            raise  # e.g. missing weights: a runtime error, not a usage error
        raise click.BadParameter(str(exc), param_hint="--shapes") from None
    build_engine(source, profile, precision, device=device, onnx_only=onnx_only, force=force, say=say)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with stop_signals_handled():
        return _main(argv)


def _main(argv: list[str]) -> int:
    debug = "--debug" in argv
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
        message = redact_text(str(exc))  # the last guard: no URL leaves with its credentials
        click.echo(f"vidlle: {'' if isinstance(exc, Interrupted) else 'error: '}{message}", err=True)
        return 130 if isinstance(exc, Interrupted) else 1
    except Exception as exc:  # noqa: BLE001 - the user sees one line, --debug shows the rest
        if debug:
            raise
        click.echo(f"vidlle: error: internal error: {type(exc).__name__}: {redact_text(str(exc))} "
                   "(run with --debug for details)", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
