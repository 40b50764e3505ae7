"""The source and sink contract (vidlle/io/base.py): every source and sink keeps it, so nothing
probes one with getattr."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from vidlle.io.base import Sink, Source

ROOT = Path(__file__).resolve().parents[2]
# Every module that defines a source or a sink.
MODULES = ["vidlle.io.decode", "vidlle.io.images", "vidlle.io.live", "vidlle.io.encode", "vidlle.io.sinks",
           "vidlle.io.preview", "vidlle.web.feed"]


def _classes(suffix: str):
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        found += [c for n, c in inspect.getmembers(module, inspect.isclass)
                  if n.endswith(suffix) and c.__module__ == name]
    return found


@pytest.mark.parametrize("suffix, protocol", [("Source", Source), ("Sink", Sink)])
def test_every_source_and_sink_subclasses_the_contract(suffix, protocol):
    classes = _classes(suffix)
    assert len(classes) >= (3 if suffix == "Source" else 7)  # the scan found them
    assert [c.__name__ for c in classes if protocol not in c.__mro__] == []


def test_a_source_without_live_members_gets_the_defaults_the_pipeline_reads(tmp_path):
    from vidlle.io.decode import VideoFileSource
    from vidlle.io.images import ImageSink

    src, sink = VideoFileSource(tmp_path / "a.mp4"), ImageSink(tmp_path / "a.png", folder=False)
    assert (src.latest_frame, src.stats, list(src.unreadable), src.shown) == (False, None, [], str(tmp_path / "a.mp4"))
    assert src.interrupt() is None and src.finish() is None and src.damage() is None
    assert (sink.keep_on_abort, list(sink.notes), list(sink.segments), sink.kept_message()) == (False, [], [], None)


def test_no_source_or_sink_is_probed_with_getattr():
    """getattr(x, "member", default) on a source or sink would hide a broken contract."""
    probes = []
    for path in (ROOT / "vidlle").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                target = ast.unparse(node.args[0]) if node.args else ""
                if any(word in target.lower() for word in ("source", "sink", "src")):
                    probes.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert probes == []
