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


@cli.command()
@click.argument("input", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
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
def enhance(input, output, overwrite, quiet, model, weights, backend, device, precision, codec, crf, preset, batch,
            stats_json):
    """Enhance INPUT (video, image or folder of images) into OUTPUT."""
    from vidlle.api import Enhancer
    from vidlle.io.encode import EncodeConfig
    from vidlle.io.sources import plan
    from vidlle.pipeline import Interrupted, Pipeline, PipelineConfig
    from vidlle.progress import ProgressBar, summary_line

    source, sink, kind = plan(input, output, overwrite, EncodeConfig(codec=codec, crf=crf, preset=preset))
    enhancer = Enhancer(model, backend=backend, device=device, precision=precision, weights=weights)
    bar = None if quiet else ProgressBar()
    pipeline = Pipeline(source, enhancer.enhance_frames, sink, PipelineConfig(batch=batch), progress=bar)
    try:
        stats = pipeline.run()
    except Interrupted:
        if bar:
            bar.finish()
        raise Interrupted(f"interrupted after {pipeline.stats.frames} frames; nothing written to {output}") from None
    except VidlleError:
        if bar:
            bar.finish()
        raise
    if bar:
        bar.finish()
    if stats_json:
        _write_stats(stats_json, stats, enhancer.describe())
    if not quiet:
        for note in sink.notes:
            click.echo(f"vidlle: note: {note}", err=True)
        if kind == "video" and getattr(source, "corrupt", 0):
            click.echo(f"vidlle: warning: {source.corrupt} frames were flagged corrupt by the decoder", err=True)
        click.echo(summary_line(stats, enhancer.describe(), output), err=True)


def _write_stats(path: str, stats, what: str) -> None:
    import json
    import time

    first = None if stats.first_frame_at is None else time.time() - (time.perf_counter() - stats.first_frame_at)
    record = {"frames": stats.frames, "elapsed_s": stats.elapsed, "fps": stats.fps, "steady_fps": stats.steady_fps,
              "first_frame_time": first, "busy_s": stats.busy, "enhancer": what}
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

    from vidlle.backends import available_backends
    from vidlle.models import available_models, get_spec

    click.echo(f"vidlle {__version__} (python {platform.python_version()}, {platform.machine()})")
    ff = ".".join(str(v) for v in av.library_versions["libavcodec"])
    click.echo(f"torch {torch.__version__}  av {av.__version__} (libavcodec {ff})  opencv {cv2.__version__}  numpy {numpy.__version__}")
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(cuda)]
    click.echo(f"devices: {', '.join(devices)}  (cpu threads: {torch.get_num_threads()})")
    click.echo("backends:")
    for name, reason in available_backends().items():
        click.echo(f"  {name:12s} {'available' if not reason else 'unavailable: ' + reason}")
    click.echo("models:")
    for name in available_models():
        spec = get_spec(name)
        if spec.weights_path.is_file():
            record = spec.training_record() or {}
            trained = f", trained {record.get('iters', '?')} iters on {record.get('images', '?')} images" if record else ""
            weights = f"{spec.weights_path} (sha256 {spec.weights_sha256()[:12]}{trained})"
        else:
            weights = "weights missing"
        click.echo(f"  {name:12s} {spec.description}\n               {weights}")


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
@click.option("--sizes", default="720p,1080p", show_default=True, help="Comma list of 720p/1080p/WxH.")
@click.option("--seconds", type=click.FloatRange(1, 120), default=8.0, show_default=True)
@click.option("--repeat", type=click.IntRange(1, 10), default=2, show_default=True, help="Runs per measurement (best kept).")
def bench(sizes, seconds, repeat):
    """Throughput: bare PyAV transcode vs `vidlle enhance` on the same clip, and their ratio."""
    from vidlle.bench import run_pipeline_bench

    run_pipeline_bench([s.strip() for s in sizes.split(",") if s.strip()], seconds, repeat)


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
