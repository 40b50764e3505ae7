"""The backend registry and `--backend auto`: evidence order, fallbacks, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vidlle import Enhancer
from vidlle.backends import (
    AUTO_EVIDENCE,
    BACKENDS,
    auto_choice,
    auto_order,
    available_backends,
    backend_class,
    create_backend,
    model_source,
)
from vidlle.backends.base import Backend
from vidlle.errors import BackendError, ModelError
from vidlle.models import load_model, registry


def test_registry_lists_every_runtime_lazily():
    assert list(BACKENDS) == ["torch", "onnxruntime", "tensorrt"]
    for name in BACKENDS:
        assert issubclass(backend_class(name), Backend) and backend_class(name).name == name
    assert set(available_backends()) == set(BACKENDS)


def test_importing_backends_imports_no_optional_runtime():
    import subprocess

    code = ("import sys, vidlle.backends, vidlle.backends.onnxruntime, vidlle.backends.tensorrt, vidlle.engines.export, "
            "vidlle.engines.tensorrt, vidlle.engines.cache; "
            "print(sorted(m for m in ('onnxruntime', 'tensorrt', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_auto_order_follows_measured_evidence():
    cpu = AUTO_EVIDENCE["cpu"]
    assert auto_order("cpu")[0] == max(cpu, key=cpu.get) == "onnxruntime"
    assert auto_order("cuda")[0] == "tensorrt"
    assert sorted(auto_order("cpu")) == sorted(auto_order("cuda:1")) == sorted(BACKENDS)


def test_auto_picks_onnxruntime_on_cpu_and_says_so():
    pytest.importorskip("onnxruntime")
    enh = Enhancer("curve")
    assert enh.backend.name == "onnxruntime" and enh.backend.chosen_by_auto
    assert "backend onnxruntime (cpu, fp32, CPUExecutionProvider, chosen by auto)" in enh.describe()
    assert auto_choice("cpu", "fp32") == "onnxruntime"


def test_auto_obeys_a_changed_evidence_table(monkeypatch):
    monkeypatch.setitem(AUTO_EVIDENCE, "cpu", {"torch": 1000.0, "onnxruntime": 1.0})
    assert Enhancer("curve").backend.name == "torch"


def test_auto_falls_back_when_the_fastest_fails_to_start(monkeypatch):
    pytest.importorskip("onnxruntime")

    def broken(self, *a, **k):
        raise BackendError("export exploded")

    monkeypatch.setattr("vidlle.backends.onnxruntime.OnnxRuntimeBackend.__init__", broken)
    enh = Enhancer("curve")
    assert enh.backend.name == "torch" and enh.backend.chosen_by_auto
    assert enh.backend.notes == ["auto skipped onnxruntime: export exploded"]


def test_auto_falls_back_when_onnxruntime_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    enh = Enhancer("curve")
    assert enh.backend.name == "torch" and enh.backend.notes == []  # not installed: nothing to report


def test_auto_with_nothing_able_lists_the_reasons():
    with pytest.raises(BackendError, match="no backend can run on device 'cpu' with fp16.*torch"):
        create_backend("auto", load_model("curve")[0], "cpu", "fp16", source=model_source("curve"))


def test_model_source_hashes_the_weights_file():
    src = model_source("curve")
    assert src.model == "curve" and len(src.sha256) == 64 and src.weights.name == "curve.pt"


@pytest.fixture
def torch_only_model(monkeypatch):
    """A registered enhancer whose entry has no export spec (the curve network and weights under
    another name, so no shipped graph either): only the torch backend can run it."""
    spec = registry.ModelSpec(name="plain", description="curve network without an export spec",
                              network="vidlle.models.curve:CurveNet", config=registry.CurveConfig,
                              input_size=registry.fit_long_side, weights="curve.pt", tone=registry.CurveSteps())
    monkeypatch.setitem(registry._REGISTRY, "plain", spec)
    return spec.name


def test_auto_falls_back_to_torch_for_a_model_without_an_export_spec(torch_only_model):
    pytest.importorskip("onnxruntime")
    enh = Enhancer(torch_only_model)
    assert enh.backend.name == "torch" and enh.backend.chosen_by_auto
    assert enh.backend.notes == ["auto skipped onnxruntime: model 'plain' has no export spec "
                                 "(exportable: curve, segment, skf)"]
    reference = Enhancer("curve", backend="torch")
    frame = np.random.default_rng(0).integers(0, 60, (48, 64, 3), dtype=np.uint8)
    assert np.array_equal(enh.enhance(frame), reference.enhance(frame))


def test_onnxruntime_asked_for_a_model_without_an_export_spec_is_one_error(torch_only_model):
    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelError, match="^model 'plain' has no export spec"):
        Enhancer(torch_only_model, backend="onnxruntime")
