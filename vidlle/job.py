"""One INPUT enhanced into one OUTPUT: what ``vidlle enhance IN OUT`` runs, and what a backlog
(:mod:`vidlle.scale.backlog`) runs for each of its files.

:class:`EnhanceJob` plans the source and the sink (:func:`vidlle.io.plan.plan`), builds the
Enhancer (temporal processing only where frames follow each other), wires the Pipeline, and
afterwards says what the user should hear: the notes of the backend, source and sink, and the
warnings (damaged video data survived, images skipped). Reporting them (stderr lines, a
backlog's table) is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from vidlle.api import Enhancer
from vidlle.io.plan import plan
from vidlle.pipeline import Pipeline, PipelineConfig, Stats
from vidlle.settings import EncodeConfig, EnhancerConfig, LiveConfig, RunConfig

# Most seconds a live recording stopped by Ctrl-C spends writing the frames still queued.
DRAIN_SECONDS = 10.0


@dataclass(frozen=True)
class EnhanceSettings:
    """What ``vidlle enhance``'s options say about an input (every file of a backlog alike): the
    enhancer, encoder and run settings (:mod:`vidlle.settings`) and whether outputs may be replaced."""

    enhancer: EnhancerConfig = EnhancerConfig()
    encode: EncodeConfig = EncodeConfig()
    run: RunConfig = RunConfig()
    overwrite: bool = False


class EnhanceJob:
    """``input`` -> ``output`` with ``settings``; every check of :func:`~vidlle.io.plan.plan` runs
    here, in the constructor, before anything is opened. ``live``: a live input's settings.
    ``progress(stats)`` is called about twice a second while :meth:`run` runs."""

    def __init__(self, input: str, output: str, settings: EnhanceSettings, live: LiveConfig | None = None,
                 progress: Callable[[Stats], None] | None = None):
        live = live or LiveConfig()
        self.plan = plan(input, output, settings.overwrite, settings.encode, live_config=live,
                         rtsp_transport=live.transport)
        # Frames of a video follow each other: temporal processing as asked; images are unrelated.
        temporal = settings.enhancer.temporal and self.plan.consecutive
        self.enhancer = Enhancer.from_config(replace(settings.enhancer, temporal=temporal))
        # A recording stopped by Ctrl-C still writes the frames its buffer holds (bounded in time).
        drain = DRAIN_SECONDS if self.plan.kind == "live" and self.plan.sink.keep_on_abort else 0.0
        self.pipeline = Pipeline(self.plan.source, self.enhancer.enhance_frames, self.plan.sink,
                                 PipelineConfig(batch=settings.run.batch, drain_seconds=drain), progress=progress)

    def run(self) -> Stats:
        """Run to the end (:meth:`vidlle.pipeline.Pipeline.run`: raises the first error, or
        Interrupted, after the sink was finalised or discarded)."""
        return self.pipeline.run()

    def notes(self) -> list[str]:
        """What the backend, the source and the sink want the user told, each line once."""
        plan = self.plan
        return list(dict.fromkeys([*self.enhancer.backend.notes, *plan.source.notes, *plan.sink.notes]))

    def warnings(self) -> list[str]:
        """Damage the run survived, one line each: corrupt video data (what was skipped or
        concealed) and images that could not be read (the run still fails for those)."""
        source = self.plan.source
        damage = source.damage()
        lines = [f"corrupt video data in {source.shown}: {damage}"] if damage else []
        return lines + [f"skipped {path.name}: {reason}" for path, reason in source.unreadable]
