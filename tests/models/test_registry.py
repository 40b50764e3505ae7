"""Adding a model is one module plus one registry entry: a network defined here and one
``ModelSpec`` run through the Enhancer on torch and, exported and verified, on onnxruntime."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pytest
import torch
from torch import nn

from vidlle import Enhancer
from vidlle.apply import curve_tone
from vidlle.models import registry
from vidlle.models.curve import curve_steps
from vidlle.models.tone import hue_preserving_apply


@dataclass(frozen=True)
class TinyConfig:
    steps: int = 4
    predict_size: int = 32
    local: float = 1.0


class TinyNet(nn.Module):
    """One 3x3 convolution: frame (N, 3, h, w) in [0, 1] -> map (N, 3, h, w) in [-1, 1]."""

    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x) - 1.0)

    def apply(self, x, params, strength=1.0):
        return hue_preserving_apply(x, params, lambda m, v: curve_steps(v, m, self.config.steps), self.config.local,
                                    strength)

    def tone(self):
        return curve_tone(self.config.steps)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    torch.save({"config": asdict(TinyConfig()), "state_dict": TinyNet(TinyConfig()).state_dict()}, weights)
    # weights: an absolute path stands for a file in vidlle/models/weights (pathlib joins it as is)
    spec = registry.ModelSpec(name="tiny", description="one convolution", network=f"{__name__}:TinyNet",
                              config=TinyConfig, input_size=registry.fit_long_side, weights=str(weights),
                              export=registry.ExportSpec(input_range=registry.up_to_predict_size),
                              tone=registry.CurveSteps())
    monkeypatch.setitem(registry._REGISTRY, "tiny", spec)
    return spec


def test_a_new_entry_runs_on_torch_and_exported_on_onnxruntime(tiny):
    pytest.importorskip("onnxruntime")
    assert "tiny" in registry.available_models()
    frame = np.random.default_rng(0).integers(0, 80, (90, 160, 3), dtype=np.uint8)
    on_torch = Enhancer("tiny", backend="torch")
    exported = Enhancer("tiny")  # auto: onnxruntime, the graph exported and verified on first use
    assert exported.backend.name == "onnxruntime" and exported.backend.onnx_path.parent.name == "engines"
    a, b = on_torch.enhance(frame), exported.enhance(frame)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert a.mean() > frame.mean() + 5  # its tanh(conv - 1) map brightens
    # the predictor saw the frame as its entry sizes it (long side 32)
    assert tiny.predictor_input(on_torch.model_config, frame).shape == (3, 18, 32)
