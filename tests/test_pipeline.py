"""Pipeline wiring with in-memory sources and sinks: order, batching, errors, prompt stop."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vidlle.frames import Frame, StreamInfo
from vidlle.io.base import Sink, Source
from vidlle.pipeline import Pipeline, PipelineConfig


class ListSource(Source):
    def __init__(self, items, fail_at=None, delay=0.0):
        self.items, self.fail_at, self.delay = items, fail_at, delay
        self.closed = False

    def open(self):
        return StreamInfo(frames=sum(isinstance(i, Frame) for i in self.items))

    def __iter__(self):
        for n, item in enumerate(self.items):
            if n == self.fail_at:
                raise RuntimeError("source broke")
            time.sleep(self.delay)
            yield item

    def close(self):
        self.closed = True


class ListSink(Sink):
    def __init__(self, fail_at=None):
        self.items, self.fail_at = [], fail_at
        self.closed = self.aborted = False

    def open(self, info):
        pass

    def write(self, item):
        if self.fail_at is not None and len(self.items) == self.fail_at:
            raise OSError("disk full")
        self.items.append(item)

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


def frames(n):
    return [Frame(image=np.full((2, 2, 3), i % 200, np.uint8), pts=i, index=i) for i in range(n)]


def plus_one(batch):
    return [f.with_image(f.image + 1) for f in batch]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_order_kept_with_batching_and_passthrough_items(batch):
    items = frames(20)
    items.insert(5, "audio-packet-1")
    items.insert(13, "audio-packet-2")
    seen_batches = []

    def transform(b):
        seen_batches.append(len(b))
        return plus_one(b)

    sink = ListSink()
    stats = Pipeline(ListSource(items, delay=0.001), transform, sink, PipelineConfig(batch=batch)).run()
    out = sink.items
    assert stats.frames == 20 and sink.closed and not sink.aborted
    assert [i if isinstance(i, str) else i.pts for i in out] == [i if isinstance(i, str) else i.pts for i in items]
    assert all(f.image[0, 0, 0] == f.pts % 200 + 1 for f in out if isinstance(f, Frame))
    assert max(seen_batches) <= batch


@pytest.mark.parametrize("where", ["source", "transform", "sink"])
def test_any_stage_error_stops_everything_and_aborts_sink(where):
    items = frames(10_000)
    source = ListSource(items, fail_at=50 if where == "source" else None)
    sink = ListSink(fail_at=50 if where == "sink" else None)

    def transform(b):
        if where == "transform" and b[0].index >= 50:
            raise ValueError("model broke")
        return b

    t0 = time.perf_counter()
    with pytest.raises((RuntimeError, ValueError, OSError)):
        Pipeline(source, transform, sink).run()
    assert time.perf_counter() - t0 < 5
    assert sink.aborted and not sink.closed and source.closed
    assert len(sink.items) <= 60
    # no stage thread is left running (each one ends within a second of the stop)
    for t in [t for t in threading.enumerate() if t.name.startswith("vidlle-")]:
        t.join(timeout=5)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidlle-") and t.is_alive()]
