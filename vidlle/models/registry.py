"""Explicit model registry: name -> network class, config and shipped weights.

Every model is a *parameter predictor* (frame downscaled to ``config.predict_size`` -> (N, 3, h, w)
map in [-1, 1]) with two apply methods: ``apply(x, params)`` (torch reference, differentiable) and
``tone()`` (the :class:`vidlle.apply.ToneTable` of the fast CPU apply).

Weights files are ``torch.save`` dicts ``{"config": {...}, "state_dict": {...}}`` stored in
``vidlle/models/weights/``; a JSON record next to each says how it was trained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vidlle.errors import ModelError
from vidlle.extras import require_torch
from vidlle.models.configs import CurveConfig, SKFConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    name: registry key (``--model``).
    description: one line for ``vidlle info``.
    build: callable(config dict) -> (nn.Module, config object).
    weights: file name under ``vidlle/models/weights``.
    config: the config class (torch-free, :mod:`vidlle.models.configs`).
    """

    name: str
    description: str
    build: Callable
    weights: str
    config: type

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / self.weights

    def weights_sha256(self) -> str:
        return hashlib.sha256(self.weights_path.read_bytes()).hexdigest()

    def training_record(self) -> dict | None:
        """The JSON record written by the training script, or None if absent."""
        path = self.weights_path.with_suffix(".json")
        return json.loads(path.read_text()) if path.exists() else None


# The factories import their network (and torch) when a model is built, not when the registry is
# read: listing models, checking a name and the engine cache never load torch.
def _build_curve(config: dict):
    from vidlle.models.curve import CurveNet

    cfg = CurveConfig(**config)
    return CurveNet(cfg), cfg


def _build_skf(config: dict):
    from vidlle.models.skf import SKFStudent

    cfg = SKFConfig(**config)
    return SKFStudent(cfg), cfg


_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="curve",
            description="zero-shot recurrent-curve enhancer (SGZ / Zero-DCE++ family)",
            build=_build_curve,
            weights="curve.pt",
            config=CurveConfig,
        ),
        ModelSpec(
            name="skf",
            description="SKF student: learned curve bank, distilled from a semantic-aware teacher, trained on several darkening recipes",
            build=_build_skf,
            weights="skf.pt",
            config=SKFConfig,
        ),
    )
}


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r} (available: {', '.join(available_models())})"
        ) from None


def load_model(name: str, weights: str | Path | None = None):
    """Build model ``name`` and load its weights (the shipped ones unless ``weights`` is given).

    Returns (module in eval mode, config). Raises ModelError on missing or mismatched weights,
    BackendError naming the extra when torch is not installed.
    """
    spec = get_spec(name)
    torch = require_torch(f"loading the torch weights of model {name!r}")
    path = Path(weights) if weights is not None else spec.weights_path
    if not path.is_file():
        raise ModelError(f"weights for model {name!r} not found at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many types; all mean "not a weights file"
        raise ModelError(f"cannot read weights {path}: not a vidlle weights file ({type(exc).__name__})") from None
    try:
        module, config = spec.build(blob["config"])
        module.load_state_dict(blob["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError, OSError) as exc:
        raise ModelError(f"weights at {path} do not fit model {name!r}: {exc}") from None
    return module.eval(), config


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
