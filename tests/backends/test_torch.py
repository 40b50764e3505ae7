"""Torch backend: CPU fp32 here; the CUDA fp16 path (channels_last, CUDA graphs) on a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidlle.backends import create_backend
from vidlle.backends.torch import TorchBackend
from vidlle.errors import BackendError
from vidlle.models import load_model


def test_cpu_predict_shapes_and_range():
    b = TorchBackend(load_model("curve")[0])
    out = b.predict(np.random.default_rng(0).random((2, 3, 7, 13), dtype=np.float32))
    assert out.shape == (2, 3, 7, 13) and out.dtype == np.float32 and np.abs(out).max() <= 1
    x = torch.rand(1, 3, 72, 128)
    assert torch.allclose(b.predict_tensor(x).float(), torch.from_numpy(b.predict(x.numpy())), atol=1e-6)


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendError, match="no CUDA GPU"):
        create_backend("torch", load_model("curve")[0], "cuda", "fp16")


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_path_matches_cpu_and_captures_a_graph(precision):
    cpu = TorchBackend(load_model("curve")[0])
    gpu = TorchBackend(load_model("curve")[0], "cuda", precision)
    x = np.random.default_rng(0).random((2, 3, 72, 128), dtype=np.float32)
    ref = cpu.predict(x)
    outs = [gpu.predict(x) for _ in range(4)]  # 2nd call captures, later ones replay
    assert (2, 3, 72, 128) in gpu._graphs
    tol = 2e-3 if precision == "fp16" else 1e-4
    for out in outs:
        assert np.abs(out - ref).max() < tol
    # resident tensors: no host round trip, result stays on the device
    t = gpu.predict_tensor(torch.from_numpy(x).cuda())
    assert t.is_cuda and np.abs(t.float().cpu().numpy() - ref).max() < tol
    assert gpu.predict(x[:1]).shape == (1, 3, 72, 128)  # another shape runs eagerly first
