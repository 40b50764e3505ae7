"""Shared fixtures: tiny clips written with PyAV, markers that skip with a reason."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidlle.io.synth import write_dark_clip

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("vidlle-cache")


@pytest.fixture(autouse=True)
def private_cache(session_cache, monkeypatch):
    """Keep exported ONNX files and engines out of the user's ~/.cache (one cache per session)."""
    monkeypatch.setenv("VIDLLE_CACHE", str(session_cache))
    return session_cache


@pytest.fixture
def one_torch_thread():
    """One torch CPU thread for the test: the CI machines are small and shared, and one thread keeps
    model-heavy tests predictable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    for item in items:
        if "gpu" in item.keywords and not cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small dark clips: plain (with AAC audio), VFR, rotated, no audio."""
    d = tmp_path_factory.mktemp("clips")
    out = {}
    out["plain"] = d / "plain.mp4"
    out["plain_pts"] = write_dark_clip(out["plain"], width=160, height=96, frames=12, fps=25)
    out["vfr"] = d / "vfr.mp4"
    out["vfr_pts"] = write_dark_clip(out["vfr"], width=160, height=96, frames=12, vfr=True)
    out["rotated"] = d / "rotated.mp4"
    write_dark_clip(out["rotated"], width=160, height=96, frames=6, rotation=90, audio=False)
    out["mute"] = d / "mute.mkv"
    write_dark_clip(out["mute"], width=96, height=64, frames=5, audio=False)
    return out


def write_mulaw_mov(path: Path, width: int = 161, height: int = 97, frames: int = 5) -> None:
    """Odd-size PNG-coded video with mu-law audio in MOV: MP4 cannot hold mu-law (must re-encode)."""
    out = av.open(str(path), "w")
    vs = out.add_stream("png", rate=10)
    vs.width, vs.height, vs.pix_fmt = width, height, "rgb24"
    a = out.add_stream("pcm_mulaw", rate=8000)
    a.layout = "mono"
    rng = np.random.default_rng(1)
    for i in range(frames):
        img = rng.integers(5, 30, (height, width, 3), dtype=np.uint8)
        for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(p)
    for p in vs.encode():
        out.mux(p)
    tone = (0.3 * np.sin(np.arange(4000) / 8000 * 2 * np.pi * 300) * 32767).astype(np.int16)
    af = av.AudioFrame.from_ndarray(tone[None], format="s16", layout="mono")
    af.sample_rate, af.pts, af.time_base = 8000, 0, Fraction(1, 8000)
    for p in a.encode(af):
        out.mux(p)
    for p in a.encode():
        out.mux(p)
    out.close()


def decode_video(path: Path) -> tuple[list, list[np.ndarray], object]:
    """(pts list, RGB frames, video stream time base) of a file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        return [f.pts for f in frames], [f.to_ndarray(format="rgb24") for f in frames], s.time_base
