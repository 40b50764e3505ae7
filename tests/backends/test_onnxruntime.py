"""onnxruntime backend through the Enhancer: parity with torch, errors, providers."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from vidlle import Enhancer
from vidlle.models import get_spec
from vidlle.models.shipped import runtime_paths
from vidlle.backends import available_backends, create_backend
from vidlle.backends.onnxruntime import OnnxRuntimeBackend
from vidlle.errors import BackendError
from vidlle.io.synth import night_frame

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


@pytest.fixture(scope="module")
def pair():
    return Enhancer("curve", backend="onnxruntime"), Enhancer("curve", backend="torch")


def test_enhancer_on_onnxruntime_matches_torch(pair):
    ort_enh, torch_enh = pair
    rng = np.random.default_rng(0)
    frames = [night_frame(1, 720, 1280, rng), night_frame(2, 97, 161, rng), night_frame(3, 2, 2, rng),
              night_frame(4, 1, 1, rng), rng.integers(0, 256, (33, 17, 3), dtype=np.uint8)]
    for f in frames:
        out = ort_enh.enhance(f)
        assert out.shape == f.shape and out.dtype == np.uint8
        assert np.abs(out.astype(np.int16) - torch_enh.enhance(f)).max() <= 1
    # same-size frames go to onnxruntime as one batch of two
    batch = ort_enh.enhance_batch([frames[0], frames[0][::-1].copy()])
    assert np.array_equal(batch[0], ort_enh.enhance(frames[0]))
    assert ort_enh.enhance(frames[0]).mean() > 2.5 * frames[0].mean()


def test_describe_names_runtime_and_provider(pair):
    assert pair[0].describe() == "model curve, backend onnxruntime (cpu, fp32, CPUExecutionProvider)"


def test_missing_onnxruntime_is_a_clear_backend_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(BackendError, match=r"^backend 'onnxruntime' is not available: onnxruntime is not "
                                           r"installed \(a core requirement of vidlle: pip install onnxruntime\)$"):
        Enhancer("curve", backend="onnxruntime")
    assert "pip install onnxruntime" in available_backends()["onnxruntime"]
    assert Enhancer("curve").backend.name == "torch"  # auto falls back


def test_fp16_on_cpu_is_refused():
    with pytest.raises(BackendError, match="fp32 only"):
        Enhancer("curve", backend="onnxruntime", precision="fp16")


def test_backend_needs_the_model_source():
    from vidlle.models import load_model

    with pytest.raises(BackendError, match="source"):
        create_backend("onnxruntime", load_model("curve")[0])


def test_gpu_providers_follow_what_is_installed():
    cuda_only = OnnxRuntimeBackend.providers_for(["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda:1", "fp16")
    assert cuda_only == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    both = OnnxRuntimeBackend.providers_for(["TensorrtExecutionProvider", "CUDAExecutionProvider"], "cuda", "fp16")
    assert [p[0] for p in both[:2]] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert both[0][1]["trt_fp16_enable"] is True and both[0][1]["device_id"] == 0
    with pytest.raises(BackendError, match="onnxruntime-gpu"):
        OnnxRuntimeBackend.providers_for(["CPUExecutionProvider"], "cuda", "fp32")
    with pytest.raises(BackendError, match="bad device"):
        OnnxRuntimeBackend.providers_for(["CUDAExecutionProvider"], "cuda:x", "fp32")
    assert OnnxRuntimeBackend.providers_for(["CPUExecutionProvider"], "cpu", "fp32") == ["CPUExecutionProvider"]


def test_unwritable_cache_exports_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VIDLLE_CACHE", str(blocker))  # mkdir under a file fails
    # Other weights than the shipped ones: the shipped graph does not apply, an export is needed.
    weights = tmp_path / "curve.pt"
    blob = torch.load(get_spec("curve").weights_path, weights_only=True)
    torch.save({**blob, "copied_for": "this test"}, weights)  # same network, other bytes (sha256)
    enh = Enhancer("curve", backend="onnxruntime", weights=str(weights))
    assert any("not writable" in n for n in enh.backend.notes), enh.backend.notes
    frame = night_frame(0, 72, 128, np.random.default_rng(0))
    ref = Enhancer("curve", backend="torch").enhance(frame)
    assert np.abs(enh.enhance(frame).astype(np.int16) - ref).max() <= 1


@pytest.mark.parametrize("model", ["curve", "skf"])
def test_shipped_graph_runs_without_export_or_cache(tmp_path, monkeypatch, model):
    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path / "cache"))
    enh = Enhancer(model, backend="onnxruntime")
    assert enh.backend.onnx_path == runtime_paths(model)[0]
    assert not (tmp_path / "cache").exists()  # nothing exported
    frame = night_frame(0, 72, 128, np.random.default_rng(0))
    ref = Enhancer(model, backend="torch").enhance(frame)
    assert np.abs(enh.enhance(frame).astype(np.int16) - ref).max() <= 1


@pytest.mark.parametrize("model", ["curve", "skf"])
def test_onnxruntime_matches_torch_within_one_level_on_real_photos(model):
    import cv2

    from tests.conftest import SHARED

    photos = sorted((SHARED / "data" / "lowlight").glob("*/*"))[::16]
    if not photos:
        pytest.skip("../shared/data/lowlight is not here")
    ort, ref = Enhancer(model, backend="onnxruntime"), Enhancer(model, backend="torch")
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        diff = np.abs(ort.enhance(rgb).astype(np.int16) - ref.enhance(rgb))
        assert diff.max() <= 1, f"{path.name}: {diff.max()} levels"
