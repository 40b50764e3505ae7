"""Synthetic dark clips: the README's sample, the benchmark's input and the tests' fixtures.

A night street: dim sky gradient, a pool of lamp light, a slow car with headlights, sensor
noise; optionally a stereo AAC tone, variable frame timing and a display rotation.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def night_frame(i: int, height: int, width: int, rng: np.random.Generator, noise: float = 3.0) -> np.ndarray:
    """Frame ``i`` of the scene as (height, width, 3) uint8 RGB, mean level ~15/255."""
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    base = 0.03 + 0.05 * yy  # darker sky above, slightly lit road below
    lamp = 0.22 * np.exp(-(((xx - 0.3) / 0.18) ** 2 + ((yy - 0.35) / 0.3) ** 2))
    img = (base + lamp)[..., None] * np.array([1.0, 0.85, 0.6], np.float32)  # sodium-lamp tint
    # A car crossing the frame: a dark body with two headlights.
    cx = (0.1 + 0.02 * i) % 1.2 - 0.1
    body = (np.abs(xx - cx) < 0.08) & (np.abs(yy - 0.75) < 0.05)
    img[body] = np.array([0.05, 0.05, 0.07], np.float32)
    lights = np.exp(-(((xx - cx - 0.08) / 0.015) ** 2 + ((yy - 0.74) / 0.012) ** 2)) * 0.6
    img += lights[..., None]
    img = img * 255.0 + rng.normal(0.0, noise, (height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_dark_clip(path: str | Path, width: int = 320, height: int = 180, frames: int = 30, fps: int = 25,
                    audio: bool = True, vfr: bool = False, rotation: int = 0, codec: str = "libx264",
                    crf: int = 18, seed: int = 0) -> list[int]:
    """Write the scene to ``path``; returns the video pts written (time base 1/fps, or 1/1000 if vfr).

    vfr: frame durations alternate 40/80/40/120 ms (time base 1/1000) instead of constant.
    """
    rng = np.random.default_rng(seed)
    out = av.open(str(path), "w")
    vs = out.add_stream(codec, rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    tb = Fraction(1, 1000) if vfr else Fraction(1, fps)
    vs.time_base = tb
    vs.codec_context.time_base = tb
    if codec == "libx264":
        vs.options = {"crf": str(crf), "preset": "ultrafast"}
    if rotation:
        vs.set_display_rotation(rotation)
    astream = None
    if audio:
        astream = out.add_stream("aac", rate=48000)
        astream.layout = "stereo"
    pts_list, pts = [], 0
    durations = (40, 80, 40, 120)
    for i in range(frames):
        vf = av.VideoFrame.from_ndarray(night_frame(i, height, width, rng), format="rgb24")
        vf.pts, vf.time_base = pts, tb
        pts_list.append(pts)
        pts += durations[i % 4] if vfr else 1
        for p in vs.encode(vf):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    if astream is not None:
        seconds = float(pts * tb)
        _write_tone(out, astream, seconds)
    out.close()
    return pts_list


def _write_tone(out, astream, seconds: float, rate: int = 48000) -> None:
    n = int(seconds * rate)
    t = np.arange(n, dtype=np.float32) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    chunk = 1024
    for start in range(0, n, chunk):
        block = tone[start : start + chunk]
        af = av.AudioFrame.from_ndarray(np.stack([block, block]).reshape(1, -1), format="flt", layout="stereo")
        af.sample_rate = rate
        af.pts = start
        af.time_base = Fraction(1, rate)
        for p in astream.encode(af):
            out.mux(p)
    for p in astream.encode():
        out.mux(p)
