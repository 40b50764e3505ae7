"""TensorRT backend without TensorRT: clear errors naming the extra, nothing imported early."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from vidlle import Enhancer
from vidlle.backends import available_backends, create_backend, model_source
from vidlle.backends.tensorrt import TensorRTBackend
from vidlle.errors import BackendError
from vidlle.models import load_model


def test_missing_tensorrt_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(BackendError, match=r"backend 'tensorrt' is not available: TensorRT is not installed "
                                           r"\(pip install 'vidlle\[trt\]'"):
        Enhancer("curve", backend="tensorrt", device="cuda", precision="fp16")
    reason = available_backends()["tensorrt"]
    assert "vidlle[trt]" in reason and "\n" not in reason
    with pytest.raises(BackendError, match="vidlle\\[trt\\]"):
        TensorRTBackend(load_model("curve")[0], "cuda", "fp16", source=model_source("curve"))


def test_tensorrt_needs_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.3.0"))
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model, src = load_model("curve")[0], model_source("curve")
    with pytest.raises(BackendError, match="needs --device cuda"):
        create_backend("tensorrt", model, "cpu", "fp16", source=src)
    with pytest.raises(BackendError, match="needs a CUDA GPU"):
        create_backend("tensorrt", model, "cuda", "fp16", source=src)
    assert not TensorRTBackend.supports("cpu", "fp32") and TensorRTBackend.supports("cuda:0", "fp16")


def test_engine_selection_per_input_shape(monkeypatch, tmp_path):
    """Which cached engine runs which shape, and fallback from a bad extra engine (stand-ins)."""
    import torch

    from vidlle.engines.cache import ArtifactCache
    from vidlle.engines.specs import Profile, default_profile, get_export_spec
    from vidlle.engines.tensorrt import engine_key

    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path))
    trt = SimpleNamespace(__version__="10.3.0")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("vidlle.engines.tensorrt.compute_capability", lambda device="cuda": "9.0")
    src = model_source("curve")
    cache = ArtifactCache()
    wide = default_profile(get_export_spec("curve"), load_model("curve")[1])
    fixed = Profile((1, 3, 72, 128), (1, 3, 72, 128), (8, 3, 72, 128))
    paths = {p: cache.store(engine_key(src, "o" * 64, "fp16", p, "10.3.0", "9.0"), p.tag().encode())
             for p in (wide, fixed)}
    monkeypatch.setattr("vidlle.engines.tensorrt.get_engine",
                        lambda *a, **k: (paths[wide], cache.read_sidecar(paths[wide])))
    loaded = []

    class Runner:
        def __init__(self, trt_module, plan):
            if plan == b"bad":
                from vidlle.engines import EngineError

                raise EngineError("cannot deserialize")
            loaded.append(plan.decode())

    monkeypatch.setattr("vidlle.engines.tensorrt.EngineRunner", Runner)
    backend = TensorRTBackend(load_model("curve")[0], "cuda", "fp16", source=src)
    assert backend.describe() == "tensorrt (cuda, fp16, TensorRT 10.3.0)"
    backend._runner((4, 3, 72, 128))
    backend._runner((1, 3, 128, 72))
    assert loaded == [fixed.tag(), wide.tag()]  # the tight fixed-shape engine for 16:9, the wide for portrait
    with pytest.raises(BackendError, match="outside every cached engine"):
        backend._runner((65, 3, 72, 128))
    paths[fixed].write_bytes(b"bad")  # an extra engine TensorRT refuses: use the default instead
    backend2 = TensorRTBackend(load_model("curve")[0], "cuda", "fp16", source=src)
    assert fixed not in backend2._paths  # its sidecar no longer matches: never even tried
    backend2._paths[fixed] = paths[fixed]
    loaded.clear()
    backend2._runner((4, 3, 72, 128))
    assert loaded == [wide.tag()] and fixed not in backend2._paths
