"""``vidlle serve CONFIG``: check the cameras file, run the service, print its table and outcome."""

from __future__ import annotations

import time

import click

from vidlle.errors import Interrupted, ScaleError
from vidlle.progress import say
from vidlle.report import write_json
from vidlle.scale.config import load_config
from vidlle.scale.service import Service, final_lines, format_table
from vidlle.web.server import web_config as page_config
from vidlle.web.views import ServeView, open_page


def serve(config: str, host: str = "auto", address: str | None = None, stats_every: float = 10.0,
          stats_json: str | None = None, duration: float | None = None, check: bool = False,
          quiet: bool = False, http: str | None = None, debug: bool = False) -> None:
    """Run every camera of ``config`` until Ctrl-C/SIGTERM, ``duration`` or every camera ended.

    check: list the cameras and return. quiet: no periodic table. http: also serve the web view
    at this ``[HOST:]PORT`` (:mod:`vidlle.web`) while the cameras run. debug: print each camera
    failure's traceback (always kept in the camera's ``log`` file). Raises Interrupted after a
    stop (recordings finalised) and ScaleError when a camera failed.
    """
    cfg = load_config(config)
    if stats_json:  # a bad path must fail now, not stop every camera at the first table
        write_json(stats_json, {"cameras": [], "starting": True})
    if check:
        for cam in cfg.cameras:
            seg = f", new file every {cam.segment_seconds:g} s" if cam.segment_seconds else ""
            click.echo(f"{cam.name}: {cam.shown_source} -> {cam.shown_output}{seg} | model {cam.enhancer.model}, "
                       f"{cam.enhancer.device}, temporal {'on' if cam.enhancer.temporal else 'off'}, "
                       f"overlay {cam.enhancer.overlay} | "
                       f"{cam.num_cpus:g} CPU, {cam.num_gpus:g} GPU, max_restarts {cam.max_restarts}")
        say(f"{config}: {len(cfg.cameras)} camera{'s' if len(cfg.cameras) != 1 else ''}, ok")
        return
    service = Service(cfg, host=host, address=address)
    # The page first: a port in use fails before any camera starts; it shows them starting.
    web = open_page(ServeView(service), *page_config(http), say) if http else None
    try:
        try:
            service.start()
        except KeyboardInterrupt:
            service.stop()
            raise Interrupted("stopped while starting the cameras") from None
        _run(service, cfg, stats_every, duration, quiet, stats_json, debug)
    finally:
        if web is not None:
            web.stop()


def _run(service: Service, cfg, stats_every: float, duration: float | None, quiet: bool,
         stats_json: str | None, debug: bool) -> None:
    for note in service.notes:
        say(f"note: {note}")
    say(f"serving {len(cfg.cameras)} camera{'s' if len(cfg.cameras) != 1 else ''} on {service.where}"
        f"{f' for {duration:g} s' if duration else ''}; Ctrl-C stops and finalises the recordings")

    def report(rows):
        up = int(time.time() - service.started_at)
        click.echo(f"-- {time.strftime('%H:%M:%S')}  up {up // 3600}:{up // 60 % 60:02d}:{up % 60:02d}  "
                   f"{len(rows)} cameras on {service.host.name}")
        for line in format_table(rows):
            click.echo(line)

    try:
        service.run(stats_every=stats_every, duration=duration, report=None if quiet else report,
                    event=lambda line: say(line), stats_json=stats_json, tracebacks=debug)
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
