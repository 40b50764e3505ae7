"""The model registry: one :class:`ModelSpec` per model, the one place that describes it.

A model is two things:

* its **module** (``vidlle/models/<name>.py``, torch): the network. An enhancer's network maps
  (N, 3, h, w) float32 RGB in [0, 1] (the frame at its predictor size) to a (N, 3, h, w) map in
  [-1, 1] and provides ``apply(x, params, strength)`` (torch reference of the apply step,
  differentiable) and ``tone()`` (the :class:`vidlle.apply.ToneTable` of the fast CPU apply).
* its **entry** here (no torch): its config class, weights file, how a frame is sized for its
  predictor, how it is exported and judged (:class:`ExportSpec`, read by :mod:`vidlle.engines`)
  and how its tone is stored in the shipped CPU runtime (:class:`CurveSteps`, :class:`CurveBank`,
  read by :mod:`vidlle.models.shipped`).

Reading the registry never imports torch: the network (and torch) is imported when a model is
built, and the shipped runtime rebuilds config and tone from the entry alone.

Weights files are ``torch.save`` dicts ``{"config": {...}, "state_dict": {...}}`` stored in
``vidlle/models/weights/``; a JSON record next to each says how it was trained.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from vidlle.apply import TABLE_ROWS, ToneTable, curve_tone
from vidlle.errors import ModelError
from vidlle.extras import require_torch
from vidlle.predictor import predictor_input, predictor_size

WEIGHTS_DIR = Path(__file__).parent / "weights"

Size = tuple[int, int]


def _resolve(target: str):
    """``"module:name"`` -> the object, importing the module now (torch-side code is named this
    way, so reading the registry imports none of it)."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


# -- the models' configs (stored with their weights; torch-free) -----------------------------

@dataclass(frozen=True)
class CurveConfig:
    """Hyper-parameters of the curve model (stored with the weights).

    width: channels of the hidden layers.
    steps: recurrent curve steps applied at full resolution.
    predict_size: long side, in pixels, of the frame the predictor sees (smaller frames are not
        upscaled).
    local: weight of the local curve map against its frame mean in the apply step (1 = fully
        local as Zero-DCE, which flattens contrast between regions; lower keeps it).
    """

    width: int = 16
    steps: int = 8
    predict_size: int = 128
    local: float = 1.0


@dataclass(frozen=True)
class SKFConfig:
    """Hyper-parameters of the SKF student (stored with the weights).

    width: channels of the first layer (the coarser levels use 2x and 4x).
    predict_size: long side, in pixels, of the frame the predictor sees (smaller frames are not
        upscaled), as :class:`CurveConfig`.
    knots: curves in the bank (grid over s in [-1, 1]).
    levels: knots of every curve over the input level in [0, 1]; 256 makes each uint8 level a knot.
    init_steps: the bank starts as the curve model's quadratic family with this many steps.
    local: weight of the local map against its frame mean in the apply step (as the curve model).
    """

    width: int = 16
    predict_size: int = 128
    knots: int = 17
    levels: int = 256
    init_steps: int = 8
    local: float = 1.0

    def __post_init__(self):
        if self.knots < 2 or self.levels < 2:
            raise ValueError(f"SKFConfig needs knots >= 2 and levels >= 2, got {self.knots}, {self.levels}")
        if self.width < 1 or self.predict_size < 1:
            raise ValueError(f"SKFConfig width and predict_size must be positive, got {self}")


# -- how a model is exported ------------------------------------------------------------------

@dataclass(frozen=True)
class ExportSpec:
    """How a model's predictor is exported (ONNX), profiled (TensorRT) and judged against torch.

    input_range: config -> ((h_min, w_min), (h_max, w_max)): every predictor input a frame of any
        size can give (bounds the TensorRT profiles).
    check: ``"module:function"`` (imported on export): (frames, reference outputs, tested outputs,
        torch module, config, tolerance) -> metrics with ``ok``.
    input_name / output_names: ONNX tensor names; the input is (N, 3, h, w) float32 in [0, 1].
    output_axes: output name -> {axis: dim name} of dynamic output axes.
    max_batch: default largest batch of an engine profile.
    dynamic_hw: export height/width as dynamic axes (False: fixed-size graph, batch still dynamic).
    verify_frames: how many sample frames verification uses by default.
    """

    input_range: Callable[[object], tuple[Size, Size]]
    check: str = "vidlle.models.tone:check_params"
    input_name: str = "image"
    output_names: tuple[str, ...] = ("params",)
    output_axes: dict = field(default_factory=lambda: {"params": {0: "batch", 2: "height", 3: "width"}})
    max_batch: int = 64
    dynamic_hw: bool = True
    verify_frames: int = 6

    def judge(self, *args, **kwargs) -> dict:
        """Run the model's check (see ``check``)."""
        return _resolve(self.check)(*args, **kwargs)


# -- how a tone is stored in the shipped runtime (weights/<name>.runtime.json) ----------------

class ToneFormat(Protocol):
    """How an enhancer's tone is written next to its shipped graph and read back without torch.

    kind: the ``tone.kind`` of the runtime record.
    record(module, directory, name) -> dict: the record (writing any file it names into
        ``directory``); needs the torch module.
    table(record, directory) -> ToneTable: the tone rebuilt from the record, torch-free.
    """

    kind: str

    def record(self, module, directory: Path, name: str) -> dict: ...

    def table(self, record: dict, directory: Path) -> ToneTable: ...


@dataclass(frozen=True)
class CurveSteps:
    """The quadratic curve family ``v <- v + r (v^2 - v)``: stored as its step count."""

    kind: str = "curve"

    def record(self, module, directory: Path, name: str) -> dict:
        return {"kind": self.kind, "steps": module.config.steps}

    def table(self, record: dict, directory: Path) -> ToneTable:
        return curve_tone(int(record["steps"]))


@dataclass(frozen=True)
class CurveBank:
    """A learned bank of curves (1, knots, 256) in [0, 1]: stored as ``<name>.bank.npy``."""

    kind: str = "bank"

    def record(self, module, directory: Path, name: str) -> dict:
        path = directory / f"{name}.bank.npy"
        np.save(path, module.bank().detach().float().cpu().numpy().astype(np.float32))
        return {"kind": self.kind, "file": path.name}

    def table(self, record: dict, directory: Path) -> ToneTable:
        return ToneTable.from_array(bank_table(np.load(directory / record["file"])))


def bank_table(bank: np.ndarray, rows: int = TABLE_ROWS) -> np.ndarray:
    """Tabulate a (1, K, L) curve bank (values in [0, 1]) at ``rows`` selector values over [-1, 1]:
    (rows, L) float32 output levels in [0, 255], linear between knots (as the torch bank_curve)."""
    knots = np.asarray(bank, np.float64)[0]
    pos = np.linspace(0.0, knots.shape[0] - 1, rows)
    lower = np.minimum(np.floor(pos).astype(np.int64), knots.shape[0] - 2)
    frac = (pos - lower)[:, None]
    table = knots[lower] * (1.0 - frac) + knots[lower + 1] * frac
    return np.clip(table * 255.0, 0.0, 255.0).astype(np.float32)


# -- the descriptor ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """Everything vidlle knows about one model.

    name: registry key (``--model`` for enhancers).
    description: one line for ``vidlle info``.
    network: ``"module:Class"`` of the torch network, built as ``Class(config)`` (imported then).
    config: the config class (stored with the weights); None when ``loader`` builds the network.
    input_size: (config, frame height, frame width) -> (h, w) of the predictor input.
    weights: file name under ``vidlle/models/weights`` (shipped); None when ``locate`` finds it.
    export: how ONNX/TensorRT export it; None: the torch backend only.
    tone: how its tone is stored in the shipped runtime; an enhancer has one (``--model``
        choices are the models with a tone), other networks (the segmenter) none.
    locate / loader: ``"module:function"`` for networks whose weights are not shipped: weights
        path or None -> path; path -> (module, config).
    """

    name: str
    description: str
    network: str
    config: type | None
    input_size: Callable[[object, int, int], Size]
    weights: str | None = None
    export: ExportSpec | None = None
    tone: ToneFormat | None = None
    locate: str | None = None
    loader: str | None = None

    @property
    def enhancer(self) -> bool:
        return self.tone is not None

    @property
    def weights_path(self) -> Path:
        """The shipped weights file."""
        if self.weights is None:
            raise ModelError(f"model {self.name!r} ships no weights")
        return WEIGHTS_DIR / self.weights

    def weights_sha256(self) -> str:
        return hashlib.sha256(self.weights_path.read_bytes()).hexdigest()

    def training_record(self) -> dict | None:
        """The JSON record written by the training script, or None if absent."""
        path = self.weights_path.with_suffix(".json")
        return json.loads(path.read_text()) if path.exists() else None

    def find_weights(self, weights: str | Path | None = None) -> Path:
        """``weights``, or the model's default (shipped, or found by ``locate``)."""
        if self.locate is not None:
            return Path(_resolve(self.locate)(weights))
        return Path(weights) if weights is not None else self.weights_path

    def load(self, weights: str | Path | None = None):
        """(torch module in eval mode, config) from ``weights`` (default: :meth:`find_weights`).

        Raises ModelError on missing or mismatched weights, BackendError naming the extra when
        torch is not installed.
        """
        torch = require_torch(f"loading the torch weights of model {self.name!r}")
        path = self.find_weights(weights)
        if self.loader is not None:
            return _resolve(self.loader)(path)
        if not path.is_file():
            raise ModelError(f"weights for model {self.name!r} not found at {path}")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling fails in many types; all mean "not a weights file"
            raise ModelError(f"cannot read weights {path}: not a vidlle weights file ({type(exc).__name__})") from None
        try:
            config = self.config(**blob["config"])
            module = _resolve(self.network)(config)
            module.load_state_dict(blob["state_dict"], strict=True)
        except (RuntimeError, KeyError, TypeError, OSError) as exc:
            raise ModelError(f"weights at {path} do not fit model {self.name!r}: {exc}") from None
        return module.eval(), config

    def input_shape(self, config, height: int, width: int, batch: int = 1) -> tuple[int, int, int, int]:
        """NCHW shape of the predictor input for ``batch`` frames of ``height`` x ``width``."""
        return (batch, 3, *self.input_size(config, height, width))

    def predictor_input(self, config, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (3, h, w) float32 in [0, 1], as the Enhancer feeds the predictor."""
        return predictor_input(frame, self.input_size(config, frame.shape[0], frame.shape[1]))


def fit_long_side(config, height: int, width: int) -> Size:
    """The frame downscaled (aspect kept) so its long side is at most ``config.predict_size``."""
    return predictor_size(height, width, config.predict_size)


def up_to_predict_size(config) -> tuple[Size, Size]:
    """Range of :func:`fit_long_side` over every frame size: 1..predict_size on each side."""
    return (1, 1), (config.predict_size, config.predict_size)


# ESPNetv2's pyramid pooling uses adaptive pooling with sizes computed from the input size, which
# the ONNX exporter can only bake in: the graph is exported at a fixed size (the resolution the
# published weights were trained at: 1024x512 for Cityscapes, 384x384 for PASCAL VOC) with a
# dynamic batch, and every frame is resized to it.
def _segment_size(config, height: int = 0, width: int = 0) -> Size:
    return (512, 1024) if config.num_classes == 20 else (384, 384)


def _segment_range(config) -> tuple[Size, Size]:
    return _segment_size(config), _segment_size(config)


_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="curve",
            description="zero-shot recurrent-curve enhancer (SGZ / Zero-DCE++ family)",
            network="vidlle.models.curve:CurveNet",
            config=CurveConfig,
            input_size=fit_long_side,
            weights="curve.pt",
            export=ExportSpec(input_range=up_to_predict_size),
            tone=CurveSteps(),
        ),
        # The SKF student sees the frame as the curve model does and its output is the same
        # kind of map; only its tone differs (a learned bank of curves).
        ModelSpec(
            name="skf",
            description="SKF student: learned curve bank, distilled from a semantic-aware teacher, trained on several darkening recipes",
            network="vidlle.models.skf:SKFStudent",
            config=SKFConfig,
            input_size=fit_long_side,
            weights="skf.pt",
            export=ExportSpec(input_range=up_to_predict_size),
            tone=CurveBank(),
        ),
        # The overlay's segmenter: exported for the engines, never an enhancer (no tone).
        ModelSpec(
            name="segment",
            description="ESPNetv2 semantic segmentation (--overlay seg; weights found at run time)",
            network="vidlle.models.segment:ESPNetv2Seg",
            config=None,
            input_size=_segment_size,
            export=ExportSpec(input_range=_segment_range, check="vidlle.models.segment:check_logits",
                              output_names=("logits",), output_axes={"logits": {0: "batch"}}, max_batch=8,
                              dynamic_hw=False, verify_frames=3),
            locate="vidlle.models.segment:find_seg_weights",
            loader="vidlle.models.segment:load_network",
        ),
    )
}


def available_models() -> list[str]:
    """The enhancers (``--model`` choices)."""
    return sorted(name for name, spec in _REGISTRY.items() if spec.enhancer)


def exportable_models() -> list[str]:
    """The models whose entry says how to export them (ONNX, TensorRT)."""
    return sorted(name for name, spec in _REGISTRY.items() if spec.export is not None)


def get_spec(name: str, enhancer: bool = True) -> ModelSpec:
    """The descriptor of model ``name``; ``enhancer=False`` also finds networks that are not
    enhancers (the segmenter). ModelError (one line) for an unknown name."""
    spec = _REGISTRY.get(name)
    if spec is None or (enhancer and not spec.enhancer):
        raise ModelError(f"unknown model {name!r} (available: {', '.join(available_models())})")
    return spec


def load_model(name: str, weights: str | Path | None = None):
    """Build enhancer ``name`` and load its weights (the shipped ones unless ``weights`` is given).

    Returns (module in eval mode, config); see :meth:`ModelSpec.load`.
    """
    return get_spec(name).load(weights)


class LazyModule:
    """A registry model's torch module, loaded on first :meth:`get` (or given loaded).

    Runtimes that run an exported artefact (the shipped ONNX graph) never ask for it, so the
    CPU default path does not import torch.
    """

    def __init__(self, name: str, weights: str | Path | None = None, module=None):
        self.name, self.weights, self._module = name, weights, module

    def get(self):
        """The torch module in eval mode (loaded now if it was not yet)."""
        if self._module is None:
            self._module, _ = load_model(self.name, self.weights)
        return self._module

    @property
    def loaded(self) -> bool:
        return self._module is not None
