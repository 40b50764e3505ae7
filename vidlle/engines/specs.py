"""What export and engine builds need to know about each model's parameter predictor.

A :class:`PredictorSpec` per registry model says what the predictor's input is for a frame of
a given size, the range of inputs it can ever be given (which bounds the TensorRT profiles),
and how to judge an exported copy against torch (:func:`check_params`: the uint8 output of the
full enhance path). Adding a model to the engines (the segmenter, the SKF student) is one entry
in ``_SPECS``; nothing else in ``engines/`` names a model.

Shapes are NCHW throughout: a profile is min/opt/max ``(N, C, h, w)`` of the *predictor input*,
not of the frame. The curve predictor sees the frame downscaled so its long side is at most
``predict_size`` (128): 360p, 1080p and 4K frames all become 72x128, so one profile over
1..128 on each side covers every frame of every size and aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vidlle.engines.cache import file_sha256
from vidlle.apply import apply_params
from vidlle.errors import ModelError
from vidlle.models import get_spec, load_model
from vidlle.predictor import predictor_input, predictor_size

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
        """``weights`` or the model's default weights (shipped, or found as the spec says)."""
        spec = _SPECS.get(model)
        path = spec.locate(weights) if spec is not None and spec.locate is not None else _registry_weights(model, weights)
        if not path.is_file():
            raise ModelError(f"weights for model {model!r} not found at {path}")
        return cls(model, path.resolve(), file_sha256(path))


def _registry_weights(model: str, weights: str | Path | None) -> Path:
    return Path(weights) if weights is not None else get_spec(model).weights_path


def load_predictor(source: ModelSource):
    """(torch module in eval mode, config) for ``source``, through its spec's loader."""
    spec = _SPECS.get(source.model)
    if spec is not None and spec.load is not None:
        return spec.load(source.weights)
    return load_model(source.model, source.weights)


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


@dataclass(frozen=True)
class PredictorSpec:
    """How one registry model's parameter predictor is exported, profiled and checked.

    model: registry name.
    input_name / output_names: ONNX tensor names; the input is (N, 3, h, w) float32 in [0, 1].
    output_axes: output name -> {axis: dim name} of dynamic output axes.
    input_hw: (config, frame height, frame width) -> predictor input (h, w).
    input_range: config -> ((h_min, w_min), (h_max, w_max)) over every frame size.
    check: (frames, reference outputs, tested outputs, torch module, config, tolerance) -> metrics
        with ``ok``.
    max_batch: default largest batch of an engine profile.
    dynamic_hw: export height/width as dynamic axes (False: fixed-size graph, batch still dynamic).
    verify_frames: how many :func:`sample_frames` verification uses by default.
    locate / load: for models outside the registry (weights not shipped): weights path or None
        -> path; path -> (module, config). None: the registry's shipped weights and load_model.
    """

    model: str
    input_hw: Callable[[object, int, int], tuple[int, int]]
    input_range: Callable[[object], tuple[tuple[int, int], tuple[int, int]]]
    check: Callable[..., dict]
    input_name: str = "image"
    output_names: tuple[str, ...] = ("params",)
    output_axes: dict = field(default_factory=lambda: {"params": {0: "batch", 2: "height", 3: "width"}})
    max_batch: int = 64
    dynamic_hw: bool = True
    verify_frames: int = 6
    locate: Callable[[str | Path | None], Path] | None = None
    load: Callable[[Path], tuple] | None = None

    def input_shape(self, config, height: int, width: int, batch: int = 1) -> Shape:
        h, w = self.input_hw(config, height, width)
        return (batch, 3, h, w)

    def default_profile(self, config, opt_frame: tuple[int, int] = FRAME_SIZES["1080p"], opt_batch: int = 1,
                        max_batch: int | None = None) -> Profile:
        """Covers every input the predictor can be given (any frame size), tuned for ``opt_frame``."""
        (h0, w0), (h1, w1) = self.input_range(config)
        max_batch = max(opt_batch, max_batch or self.max_batch)
        return Profile((1, 3, h0, w0), self.input_shape(config, *opt_frame, batch=opt_batch), (max_batch, 3, h1, w1))

    def profile_for_frames(self, config, frames: Sequence[tuple[int, int]], opt_batch: int = 1,
                           max_batch: int | None = None) -> Profile:
        """Profile from frame sizes (min, opt, max frames, as --shapes gives them), in predictor space.

        min/max are taken per dimension over the mapped sizes, so a list of 16:9 frames gives a
        fixed-size profile for the curve model (all map to 72x128): fastest, but frames of other
        aspect ratios then fall outside it (the TensorRT backend builds the default profile).
        """
        if len(frames) != 3:
            raise ValueError("expected three frame sizes: min, opt, max")
        shapes = [self.input_shape(config, h, w) for h, w in frames]
        max_batch = max(opt_batch, max_batch or self.max_batch)
        lo = (1, 3, min(s[2] for s in shapes), min(s[3] for s in shapes))
        hi = (max_batch, 3, max(s[2] for s in shapes), max(s[3] for s in shapes))
        opt = (opt_batch, 3, min(max(shapes[1][2], lo[2]), hi[2]), min(max(shapes[1][3], lo[3]), hi[3]))
        return Profile(lo, opt, hi)

    def predictor_input(self, config, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1], as the Enhancer feeds the predictor."""
        return predictor_input(frame, self.input_hw(config, frame.shape[0], frame.shape[1]))


# -- the curve model -------------------------------------------------------------------------

def _curve_input_hw(config, height: int, width: int) -> tuple[int, int]:
    return predictor_size(height, width, config.predict_size)


def _curve_input_range(config) -> tuple[tuple[int, int], tuple[int, int]]:
    return (1, 1), (config.predict_size, config.predict_size)


def check_params(frames: Sequence[np.ndarray], ref: Sequence[np.ndarray], out: Sequence[np.ndarray], module,
                 config, tolerance: int = 1) -> dict:
    """Compare two parameter predictors through the full enhance path (the shared LUT apply step
    with ``module``'s tone table: the curve model's or the SKF student's curves).

    ref/out: per frame, the predicted (3, h, w) maps. ``ok`` when every uint8 output pixel is
    within ``tolerance`` levels.
    """
    tone = module.tone()
    param_diff, out_diff, changed = 0.0, 0, 0
    for frame, a, b in zip(frames, ref, out):
        param_diff = max(param_diff, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
        ea = apply_params(frame, a, tone, 1.0, config.local).astype(np.int16)
        eb = apply_params(frame, b, tone, 1.0, config.local).astype(np.int16)
        d = np.abs(ea - eb)
        out_diff = max(out_diff, int(d.max()))
        changed += int(np.count_nonzero(d))
    pixels = sum(f.size for f in frames)
    return {"frames": len(frames), "params_max_abs": param_diff, "output_max_abs": out_diff,
            "output_changed_fraction": changed / max(1, pixels), "tolerance": tolerance, "ok": out_diff <= tolerance}


# -- the ESPNetv2 segmenter (weights found at run time, never shipped) -----------------------
#
# Its pyramid pooling uses adaptive pooling with sizes computed from the input size, which the
# ONNX exporter can only bake in: the graph is exported at a fixed size (the resolution the
# published weights were trained at: 1024x512 for Cityscapes, 384x384 for PASCAL VOC) with a
# dynamic batch, and every frame is resized to it.

def _segment_size(config) -> tuple[int, int]:
    return (512, 1024) if config.num_classes == 20 else (384, 384)


def _segment_input_hw(config, height: int, width: int) -> tuple[int, int]:
    return _segment_size(config)


def _segment_input_range(config) -> tuple[tuple[int, int], tuple[int, int]]:
    return _segment_size(config), _segment_size(config)


# The segmenter's module imports torch: loaded only when a segment export is asked for.
def _segment_locate(weights):
    from vidlle.models.segment import find_seg_weights

    return find_seg_weights(weights)


def _segment_load(weights: Path):
    from vidlle.models.segment import load_segmenter

    module, _names = load_segmenter(weights)
    return module, module.config


def check_segment(frames: Sequence[np.ndarray], ref: Sequence[np.ndarray], out: Sequence[np.ndarray], module,
                  config, tolerance: int = 1) -> dict:
    """Compare segmenter logits: max abs difference and argmax label agreement.

    ``ok`` when at most ``tolerance`` per mille of the labels differ (ties between classes).
    """
    diff, same, total = 0.0, 0, 0
    for a, b in zip(ref, out):
        diff = max(diff, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
        same += int(np.count_nonzero(a.argmax(0) == b.argmax(0)))
        total += a.shape[-2] * a.shape[-1]
    agreement = same / max(1, total)
    return {"frames": len(ref), "logits_max_abs": diff, "label_agreement": agreement, "tolerance": tolerance,
            "ok": agreement >= 1 - 1e-3 * tolerance}


_SPECS: dict[str, PredictorSpec] = {
    "curve": PredictorSpec(model="curve", input_hw=_curve_input_hw, input_range=_curve_input_range, check=check_params),
    # The SKF student sees the frame as the curve model does (long side predict_size) and its
    # output is the same kind of map; only the tone table differs.
    "skf": PredictorSpec(model="skf", input_hw=_curve_input_hw, input_range=_curve_input_range, check=check_params),
    "segment": PredictorSpec(model="segment", input_hw=_segment_input_hw, input_range=_segment_input_range,
                             check=check_segment, output_names=("logits",), output_axes={"logits": {0: "batch"}},
                             max_batch=8, dynamic_hw=False, verify_frames=3, locate=_segment_locate,
                             load=_segment_load),
}


def exportable_models() -> list[str]:
    return sorted(_SPECS)


def get_export_spec(model: str) -> PredictorSpec:
    try:
        return _SPECS[model]
    except KeyError:
        raise ModelError(f"model {model!r} has no export spec (exportable: {', '.join(exportable_models())})") from None


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
    import cv2

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
