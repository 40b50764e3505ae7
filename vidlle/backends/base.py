"""The Backend interface: run a model's parameter predictor on a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from vidlle.models.registry import LazyModule


class Backend(ABC):
    """One runtime executing one parameter predictor.

    ``predict`` takes (N, 3, h, w) float32 RGB in [0, 1] (C-contiguous numpy) and returns the
    predicted parameters (N, C, h, w) float32 numpy, C=3 for the curve model.

    ``predict_tensor`` is the GPU-resident form: a torch tensor on the backend's device in,
    a torch tensor on that device out, queued on the current CUDA stream without waiting for
    it (no synchronisation per call). The default goes through ``predict``.

    model: the torch module (eval mode), or a :class:`vidlle.models.LazyModule` that loads it
    when a runtime asks (:meth:`torch_module`); runtimes of exported artefacts never do.
    source: an :class:`vidlle.engines.specs.ModelSource` (registry name, weights file, its
    sha256) for runtimes that run an exported artefact (ONNX, TensorRT engine) and key their
    cache on it; None for torch.
    """

    name: str = ""

    def __init__(self, model, device: str = "cpu", precision: str = "fp32", source=None):
        self._model = model
        self.device = device
        self.precision = precision
        self.source = source
        self.chosen_by_auto = False
        self.notes: list[str] = []  # e.g. why auto skipped a faster backend

    def torch_module(self):
        """The torch module (loading it now if it came lazily)."""
        return self._model.get() if isinstance(self._model, LazyModule) else self._model

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this runtime cannot be used on this machine (missing package), or None."""
        return None

    @classmethod
    def supports(cls, device: str, precision: str) -> bool:
        return True

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def predict_tensor(self, x):
        import torch

        out = self.predict(np.ascontiguousarray(x.detach().float().cpu().numpy()))
        return torch.from_numpy(out).to(x.device)

    def detail(self) -> str:
        """Extra words for ``describe`` (execution provider, engine file, ...)."""
        return ""

    def describe(self) -> str:
        words = [self.device, self.precision] + ([self.detail()] if self.detail() else [])
        if self.chosen_by_auto:
            words.append("chosen by auto")
        return f"{self.name} ({', '.join(words)})"
