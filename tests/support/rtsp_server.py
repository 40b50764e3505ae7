"""A real RTSP server for the live-source tests (GStreamer's gst-rtsp-server through PyGObject).

Run by the *system* interpreter, which has ``gi`` (the project's interpreter does not)::

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 [--stall-after 2] [--corrupt-after 1
        --corrupt-for 1] [--record]

Play mode (default) serves ``rtsp://127.0.0.1:PORT/stream``: a live, dark moving test pattern
(videotestsrc is-live, 320x180 @ 25 fps) encoded by x264 (tune=zerolatency, an IDR every 1/4 s so clients start fast)
and payloaded as RTP/H.264. The media is shared between clients; ``--stall-after S`` closes a
valve S seconds after the first client connected, so the server keeps the session and the
connection open but sends no more video -- a stalled camera (media made later for reconnecting
clients stay stalled too). SIGUSR1 stalls it the same way and SIGUSR2 lets video through again
(a flaky camera driven by its test: the soak), printing ``STALLED`` and ``RESUMED``.

Every frame that passes the valve (sent to clients) prints ``SENT n`` (n counted over the
server's life), so a test knows exactly how many frames the camera sent while it was up.
``--corrupt-after S --corrupt-for D`` makes a broken camera: from S seconds after the first
client connected, for D seconds, GStreamer's ``breakmydata`` overwrites random bytes of the
encoded H.264 (each byte with probability ``--corrupt-probability``, fixed seed) before
payloading, so clients receive well-formed RTP carrying broken slices; afterwards it heals.

Record mode (``--record``) accepts ANNOUNCE/RECORD on ``/stream`` (as an NVR or mediamtx would)
and depayloads and decodes the published H.264, printing ``RECEIVED n`` for every 5th frame.

Prints ``READY PORT`` on stdout once it listens; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version

PLAY = (
    "( videotestsrc is-live=true pattern=ball motion=sweep background-color=0xff0c0a08 "
    "foreground-color=0xff404850 ! video/x-raw,width={w},height={h},framerate={fps}/1 "
    "! valve name=valve drop=false ! identity name=sent signal-handoffs=true "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate} "
    "! breakmydata name=corrupt probability=0 seed=7 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
RECORD = (
    "( rtph264depay name=depay0 ! h264parse ! avdec_h264 "
    "! fakesink name=sink signal-handoffs=true sync=false )"
)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", default="/stream")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--stall-after", type=float, default=None, help="seconds of video, then silence")
    ap.add_argument("--corrupt-after", type=float, default=None, help="seconds of clean video, then broken data")
    ap.add_argument("--corrupt-for", type=float, default=1.0, help="seconds of broken data, then clean again")
    ap.add_argument("--corrupt-probability", type=float, default=0.01, help="chance each byte is overwritten")
    ap.add_argument("--bitrate", type=int, default=300, help="x264 kbit/s")
    ap.add_argument("--record", action="store_true", help="accept a published stream instead")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    received = [0]

    if args.record:
        factory.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
        factory.set_launch(RECORD)
        factory.set_latency(0)

        def on_handoff(*_):
            received[0] += 1
            if received[0] % 5 == 0:
                say(f"RECEIVED {received[0]}")

        def configure(_factory, media):
            media.get_element().get_by_name("sink").connect("handoff", on_handoff)
    else:
        factory.set_launch(PLAY.format(w=w, h=h, fps=args.fps, gop=max(1, args.fps // 4), bitrate=args.bitrate))
        factory.set_shared(True)

        valves = []
        stalled = [False]

        def stall():
            stalled[0] = True
            for valve in valves:
                valve.set_property("drop", True)
            say("STALLED")
            return False

        def resume():
            stalled[0] = False
            for valve in valves:
                valve.set_property("drop", False)
            say("RESUMED")
            return False

        sent = [0]

        def on_sent(*_):
            sent[0] += 1
            say(f"SENT {sent[0]}")

        breakers = []

        def corrupt(on: bool):
            for element in breakers:
                element.set_property("probability", args.corrupt_probability if on else 0.0)
            say("CORRUPT ON" if on else "CORRUPT OFF")
            if on:
                GLib.timeout_add(int(args.corrupt_for * 1000), corrupt, False)
            return False

        def configure(_factory, media):
            element = media.get_element()
            valve = element.get_by_name("valve")
            valves.append(valve)
            breakers.append(element.get_by_name("corrupt"))
            element.get_by_name("sent").connect("handoff", on_sent)
            if stalled[0]:
                valve.set_property("drop", True)  # a reconnecting client finds it still stalled
            elif args.stall_after is not None and len(valves) == 1:
                GLib.timeout_add(int(args.stall_after * 1000), stall)
            if args.corrupt_after is not None and len(valves) == 1:
                GLib.timeout_add(int(args.corrupt_after * 1000), corrupt, True)

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        say(f"ERROR cannot listen on port {args.port}")
        return 1

    def stop(*_):
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    if not args.record:
        def on_signal(action):
            action()
            return True  # keep the handler for the next stall

        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, on_signal, stall)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, on_signal, resume)
    say(f"READY {server.get_bound_port()}")
    loop.run()
    if args.record:
        say(f"RECEIVED {received[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
