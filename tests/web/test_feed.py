"""vidlle.web.feed: nothing happens without a viewer; a watched feed encodes the newest frame at
a capped rate and size; the relay retries a failing fetch."""

from __future__ import annotations

import time

import cv2
import numpy as np

from vidlle.frames import Frame, StreamInfo
from vidlle.web.feed import CameraFeeds, Feed, FeedLimits, FeedSink, RelayFeed, encode_jpeg, tee


def frame(value: int, w: int = 320, h: int = 180) -> Frame:
    return Frame(np.full((h, w, 3), value, np.uint8), captured=time.perf_counter())


def test_an_unwatched_feed_keeps_nothing_encodes_nothing_and_runs_no_thread():
    feed = Feed(FeedLimits(max_fps=100))
    for i in range(50):
        feed.offer(frame(i).image)
    assert (feed.offered, feed.encoded, feed._thread, feed._slot) == (0, 0, None, None)
    assert feed.latest() is None


def test_a_watched_feed_encodes_the_newest_frame_scaled_down_then_stops_when_left():
    feed = Feed(FeedLimits(max_fps=50, max_width=160, lease=0.3))
    assert feed.wait(after=0, timeout=0.05) is None  # watching starts the encoder; nothing offered yet
    feed.offer(frame(7).image)
    feed.offer(frame(200).image)  # replaces 7 if not encoded yet: the newest is what counts
    picture = feed.wait(after=0, timeout=10.0)
    assert picture is not None and (picture.width, picture.height) == (160, 90) and picture.seq == 1
    decoded = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (90, 160, 3)
    assert abs(time.time() - picture.captured) < 5.0  # wall-clock capture time
    # Nobody renews the lease: the encoder thread ends and later frames are not even kept.
    deadline = time.monotonic() + 3.0
    while feed._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert feed._thread is None and not feed.watched
    encoded = feed.encoded
    feed.offer(frame(50).image)
    assert feed.encoded == encoded and feed._slot is None
    feed.close()


def test_the_rate_cap_limits_encodes_whatever_the_frame_rate():
    feed = Feed(FeedLimits(max_fps=5))
    feed.watch()
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        feed.watch()
        feed.offer(frame(int(time.monotonic() * 100) % 255).image)
        time.sleep(0.002)
    elapsed = time.monotonic() - start
    feed.close()
    assert feed.offered > 100
    assert 1 <= feed.encoded <= 5 * elapsed + 2


def test_encode_jpeg_never_scales_up():
    _, w, h = encode_jpeg(np.zeros((40, 64, 3), np.uint8), max_width=960, quality=80)
    assert (w, h) == (64, 40)


def test_tee_passes_the_transform_output_unchanged_and_offers_the_last_frame():
    feeds = CameraFeeds(FeedLimits(max_fps=100))
    run = tee(lambda fs: [f.with_image(f.image + 1) for f in fs], feeds)
    frames = [frame(1), frame(2)]
    out = run(frames)
    assert [int(o.image[0, 0, 0]) for o in out] == [2, 3]
    assert feeds["enhanced"].offered == 0  # unwatched: nothing kept
    feeds["enhanced"].watch()
    feeds["original"].watch()
    run(frames)
    enhanced = feeds["enhanced"].wait(timeout=10.0)
    original = feeds["original"].wait(timeout=10.0)
    pixel = (lambda p: int(cv2.imdecode(np.frombuffer(p.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)[5, 5]))
    assert abs(pixel(enhanced) - 3) <= 2 and abs(pixel(original) - 2) <= 2
    feeds.close()


def test_feed_sink_offers_frames_with_their_original():
    feeds = CameraFeeds(FeedLimits(max_fps=100))
    sink = FeedSink(feeds)
    sink.open(StreamInfo(width=32, height=16, live=True))
    feeds["original"].watch()
    sink.write(Frame(np.full((16, 32, 3), 90, np.uint8), original=np.full((16, 32, 3), 10, np.uint8)))
    sink.write(b"audio packet")  # ignored
    picture = feeds["original"].wait(timeout=10.0)
    assert sink.written == 1 and picture is not None
    assert abs(int(cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)[8, 8]) - 10) <= 2
    sink.close()
    feeds.close()


def test_relay_feed_shares_the_source_feed_and_survives_a_failing_fetch():
    source = Feed(FeedLimits(max_fps=100))
    calls = {"n": 0}

    def fetch(origin, after):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("actor restarting")
        source.watch()
        return source.latest(origin, after)

    relay = RelayFeed(fetch, interval=0.01)
    assert relay.wait(timeout=0.05) is None  # first fetch failed, the second found no picture yet
    source.offer(frame(120).image)
    first = relay.wait(timeout=10.0)
    assert first is not None and first.seq == 1
    source.offer(frame(130).image)
    second = relay.wait(after=first.seq, origin=first.origin, timeout=10.0)
    assert second is not None and second.seq == 2
    assert calls["n"] >= 3
    source.close()
