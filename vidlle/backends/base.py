"""The Backend interface: run a model's parameter predictor on a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Backend(ABC):
    """One runtime executing one parameter predictor.

    ``predict`` takes (N, 3, h, w) float32 RGB in [0, 1] (C-contiguous numpy) and returns the
    predicted parameters (N, C, h, w) float32 numpy, C=3 for the curve model.
    """

    name: str = ""

    def __init__(self, model, device: str = "cpu", precision: str = "fp32"):
        self.device = device
        self.precision = precision

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this runtime cannot be used on this machine (missing package), or None."""
        return None

    @classmethod
    def supports(cls, device: str, precision: str) -> bool:
        return True

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> str:
        return f"{self.name} ({self.device}, {self.precision})"
