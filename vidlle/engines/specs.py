"""What export and engine builds need around each model's parameter predictor.

The models themselves are described by their registry entries
(:class:`~vidlle.models.registry.ModelSpec`): how a frame is sized for the predictor
(``input_size``), and in ``export`` (:class:`~vidlle.models.registry.ExportSpec`) the range of inputs it can ever be given (which
bounds the TensorRT profiles), the ONNX names and axes and how to judge an exported copy
against torch. Nothing in ``engines/`` names a model; this module adds what is the engines'
own: which weights file (:class:`ModelSource`), TensorRT profiles, frame sizes and the
verification frames.

Shapes are NCHW throughout: a profile is min/opt/max ``(N, C, h, w)`` of the *predictor input*,
not of the frame. The curve predictor sees the frame downscaled so its long side is at most
``predict_size`` (128): 360p, 1080p and 4K frames all become 72x128, so one profile over
1..128 on each side covers every frame of every size and aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from vidlle.engines.cache import file_sha256
from vidlle.errors import ModelError
from vidlle.models.registry import ModelSpec, exportable_models, get_spec

Shape = tuple[int, int, int, int]

# Frame sizes (height, width) used by --shapes and the benchmarks.
FRAME_SIZES = {"360p": (360, 640), "480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920),
               "1440p": (1440, 2560), "4k": (2160, 3840), "2160p": (2160, 3840)}


@dataclass(frozen=True)
class ModelSource:
    """Exactly which network: registry name + weights file + the file's sha256 (cache identity)."""

    model: str
    weights: Path
    sha256: str

    @classmethod
    def resolve(cls, model: str, weights: str | Path | None = None) -> "ModelSource":
        """``weights`` or the model's default weights (shipped, or found as its entry says)."""
        path = get_spec(model, enhancer=False).find_weights(weights)
        if not path.is_file():
            raise ModelError(f"weights for model {model!r} not found at {path}")
        return cls(model, path.resolve(), file_sha256(path))

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.model, enhancer=False)

    def load(self):
        """(torch module in eval mode, config) of these weights."""
        return self.spec.load(self.weights)


@dataclass(frozen=True)
class Profile:
    """A TensorRT optimization profile for the predictor input: min <= opt <= max, NCHW."""

    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self):
        for lo, mid, hi in zip(self.min, self.opt, self.max):
            if not 1 <= lo <= mid <= hi:
                raise ValueError(f"profile needs 1 <= min <= opt <= max per dimension, got {self}")

    def covers(self, shape: Sequence[int]) -> bool:
        return len(shape) == 4 and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))

    def tag(self) -> str:
        """Short file-name-safe form, e.g. ``b1-64_h1-128_w1-128_opt1x72x128``."""
        (b0, _, h0, w0), (bo, _, ho, wo), (b1, _, h1, w1) = self.min, self.opt, self.max
        return f"b{b0}-{b1}_h{h0}-{h1}_w{w0}-{w1}_opt{bo}x{ho}x{wo}"

    def as_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))

    def __str__(self) -> str:
        fmt = lambda s: "x".join(map(str, s))  # noqa: E731
        return f"min {fmt(self.min)}, opt {fmt(self.opt)}, max {fmt(self.max)}"


def get_export_spec(model: str) -> ModelSpec:
    """The registry entry of ``model``, which must say how it is exported (``export``)."""
    spec = get_spec(model, enhancer=False)
    if spec.export is None:
        raise ModelError(f"model {model!r} has no export spec (exportable: {', '.join(exportable_models())})")
    return spec


def default_profile(spec: ModelSpec, config, opt_frame: tuple[int, int] = FRAME_SIZES["1080p"], opt_batch: int = 1,
                    max_batch: int | None = None) -> Profile:
    """Covers every input ``spec``'s predictor can be given (any frame size), tuned for ``opt_frame``."""
    (h0, w0), (h1, w1) = spec.export.input_range(config)
    max_batch = max(opt_batch, max_batch or spec.export.max_batch)
    return Profile((1, 3, h0, w0), spec.input_shape(config, *opt_frame, batch=opt_batch), (max_batch, 3, h1, w1))


def profile_for_frames(spec: ModelSpec, config, frames: Sequence[tuple[int, int]], opt_batch: int = 1,
                       max_batch: int | None = None) -> Profile:
    """Profile from frame sizes (min, opt, max frames, as --shapes gives them), in predictor space.

    min/max are taken per dimension over the mapped sizes, so a list of 16:9 frames gives a
    fixed-size profile for the curve model (all map to 72x128): fastest, but frames of other
    aspect ratios then fall outside it (the TensorRT backend builds the default profile).
    """
    if len(frames) != 3:
        raise ValueError("expected three frame sizes: min, opt, max")
    shapes = [spec.input_shape(config, h, w) for h, w in frames]
    max_batch = max(opt_batch, max_batch or spec.export.max_batch)
    lo = (1, 3, min(s[2] for s in shapes), min(s[3] for s in shapes))
    hi = (max_batch, 3, max(s[2] for s in shapes), max(s[3] for s in shapes))
    opt = (opt_batch, 3, min(max(shapes[1][2], lo[2]), hi[2]), min(max(shapes[1][3], lo[3]), hi[3]))
    return Profile(lo, opt, hi)


def parse_frame_size(text: str) -> tuple[int, int]:
    """'1080p', '4k' or 'WIDTHxHEIGHT' -> (height, width)."""
    key = text.strip().lower()
    if key in FRAME_SIZES:
        return FRAME_SIZES[key]
    try:
        width, height = (int(v) for v in key.split("x"))
    except ValueError:
        raise ValueError(f"expected 360p/720p/1080p/4k or WIDTHxHEIGHT, got {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {text!r}")
    return height, width


def sample_frames(count: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Verification frames, (H, W, 3) uint8: dark smooth scenes with noise, flat, random, odd sizes."""
    rng = np.random.default_rng(seed)
    sizes = [(1080, 1920), (720, 1280), (97, 161), (2, 2), (480, 360), (1, 5)]
    frames = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        if i % 3 == 2:
            frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))  # uniform random
            continue
        # low-frequency dark scene: a coarse random field upscaled, gamma-darkened, plus noise
        coarse = rng.random((4, 6, 3)).astype(np.float32)
        scene = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        scene = np.clip(scene, 0, 1) ** 3 * 90 + 3 * rng.standard_normal((h, w, 3), dtype=np.float32)
        frames.append(np.clip(scene, 0, 255).astype(np.uint8))
    return frames
