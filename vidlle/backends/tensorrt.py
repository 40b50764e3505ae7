"""TensorRT runtime: cached FP16/FP32 engines of the parameter predictor (CUDA only).

``tensorrt`` is imported when this backend is created (never at import time); without it the
error names the ``trt`` extra. On creation the default engine (a profile that covers every
input the model can get, see :mod:`vidlle.engines.specs`) is loaded from the cache or built; other
valid cached engines for the same weights, precision, TensorRT and GPU (e.g. a fixed-shape one
from ``vidlle build-engine --shapes 1080p,1080p,1080p``) are used for the shapes they cover
best (:func:`vidlle.engines.tensorrt.select_profile`). A cached engine TensorRT refuses to load is
deleted and rebuilt once.
"""

from __future__ import annotations

import numpy as np

import torch

from vidlle.backends.base import Backend
from vidlle.engines.cache import ArtifactCache
from vidlle.engines.specs import Profile
from vidlle.engines import tensorrt as engine  # module attribute: tests stand in for its GPU functions
from vidlle.errors import BackendError, EngineError


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, model, device: str = "cuda", precision: str = "fp16", source=None):
        super().__init__(model, device, precision, source)
        self.trt = engine.require_tensorrt()
        if not device.startswith("cuda"):
            raise BackendError("the tensorrt backend needs --device cuda[:N]")
        if not torch.cuda.is_available():
            raise BackendError("the tensorrt backend needs a CUDA GPU, and torch sees none")
        if source is None:
            raise BackendError("the tensorrt backend needs the model's source (registry name and weights)")
        self.torch_device = torch.device(device)
        self._runners: dict = {}  # Profile -> EngineRunner
        self._paths: dict = {}  # Profile -> engine path
        self._load_default()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return engine.MISSING
        return None

    @classmethod
    def supports(cls, device: str, precision: str) -> bool:
        return device.startswith("cuda")

    def _load_default(self) -> None:
        cache = ArtifactCache()
        path, meta = engine.get_engine(self.source, self.precision, device=self.device, cache=cache, log=self.notes.append)
        self.default_profile = Profile.from_dict(meta["key"]["profile"])
        self._paths[self.default_profile] = path
        capability = engine.compute_capability(self.device)
        for profile, other in engine.matching_engines(cache.entries(), self.source, self.precision,
                                               self.trt.__version__, capability):
            self._paths.setdefault(profile, other)
        self._cache = cache

    def _runner(self, shape):
        profile = engine.select_profile(list(self._paths), shape)
        if profile is None:
            raise BackendError(f"input {tuple(shape)} is outside every cached engine's profile "
                               f"(default: {self.default_profile})")
        runner = self._runners.get(profile)
        if runner is None:
            try:
                runner = engine.EngineRunner(self.trt, self._paths[profile].read_bytes())
            except (EngineError, OSError) as exc:
                if profile != self.default_profile:
                    del self._paths[profile]  # a bad extra engine: fall back to the default
                    return self._runner(shape)
                self.notes.append(f"cached engine unusable ({exc}); rebuilding")
                self._paths[profile].unlink(missing_ok=True)
                self._load_default()
                runner = engine.EngineRunner(self.trt, self._paths[self.default_profile].read_bytes())
            self._runners[profile] = runner
        return runner

    def detail(self) -> str:
        return f"TensorRT {self.trt.__version__}"

    def predict_tensor(self, x):
        """(N, 3, h, w) CUDA tensor -> (N, C, h, w) float32 CUDA tensor; queued, no wait."""
        x = x.to(self.torch_device, non_blocking=True)
        return self._runner(tuple(x.shape)).run(x).float()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).pin_memory().to(self.torch_device, non_blocking=True)
        out = self.predict_tensor(x)
        host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(self.torch_device).synchronize()  # once per batch
        return host.numpy()
