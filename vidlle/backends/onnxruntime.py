"""onnxruntime runtime: CPU EP; CUDA / TensorRT EPs when the installed onnxruntime has them.

The fp32 graph of the shipped weights ships with the package (:mod:`vidlle.models.shipped`);
other graphs come from the engine cache (exported from the torch model and verified against it
on first use, see :mod:`vidlle.engines.export`). On CPU the session runs one intra-op
thread with denormals flushed (measured on the 2-core machine: 2.6 ms per 72x128 prediction
with one thread, 8.3 ms with two, torch eager 4.9 ms). fp16 runs the mixed fp16 graph and
needs a CUDA execution provider.
"""

from __future__ import annotations

import numpy as np

from vidlle.backends.base import Backend
from vidlle.engines.cache import engines_dir
from vidlle.engines.export import export_onnx, get_onnx, ort_session
from vidlle.engines.export import import_onnxruntime as _import_ort
from vidlle.errors import BackendError
from vidlle.models.shipped import load_runtime

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def _device_id(device: str) -> int:
    _, _, index = device.partition(":")
    try:
        return int(index or 0)
    except ValueError:
        raise BackendError(f"bad device {device!r} (expected cpu, cuda or cuda:N)") from None


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, model, device: str = "cpu", precision: str = "fp32", source=None):
        super().__init__(model, device, precision, source)
        ort = _import_ort()
        if source is None:
            raise BackendError("the onnxruntime backend needs the model's source (registry name and weights)")
        providers = self.providers_for(ort.get_available_providers(), device, precision)
        self.onnx_path = self._onnx(source, precision)
        try:
            self.session = ort_session(self.onnx_path or self._onnx_bytes, providers,
                                       threads=1 if device == "cpu" else 0)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise BackendError(f"onnxruntime could not load the {source.model} graph: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.provider = self.session.get_providers()[0]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            _import_ort()
        except BackendError as exc:
            return str(exc)
        return None

    @classmethod
    def supports(cls, device: str, precision: str) -> bool:
        if device == "cpu":
            return precision == "fp32"
        try:
            return any(p in _import_ort().get_available_providers() for p in GPU_PROVIDERS)
        except BackendError:
            return False

    @staticmethod
    def providers_for(available, device: str, precision: str) -> list:
        """onnxruntime providers (with options) for device/precision, given what is installed."""
        if device == "cpu":
            if precision != "fp32":
                raise BackendError("onnxruntime on CPU runs fp32 only (use --precision fp32)")
            return ["CPUExecutionProvider"]
        if not device.startswith("cuda"):
            raise BackendError(f"bad device {device!r} (expected cpu, cuda or cuda:N)")
        index = _device_id(device)
        providers = []
        if "TensorrtExecutionProvider" in available:
            providers.append(("TensorrtExecutionProvider", {
                "device_id": index, "trt_fp16_enable": precision == "fp16",
                "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines_dir() / "onnxruntime-trt")}))
        if "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", {"device_id": index}))
        if not providers:
            raise BackendError(f"this onnxruntime has no CUDA execution provider for {device!r} "
                               "(install onnxruntime-gpu, or use --device cpu)")
        return providers + ["CPUExecutionProvider"]

    def _onnx(self, source, precision: str):
        """Path of the shipped graph (fp32, the shipped weights), else of the cached, verified
        export; None (bytes kept in memory) if the cache is unwritable."""
        shipped = load_runtime(source.model) if precision == "fp32" else None
        if shipped is not None and shipped.weights_sha256 == source.sha256:
            return shipped.onnx

        try:
            return get_onnx(source, precision)
        except OSError as exc:
            self.notes.append(f"engine cache not writable ({exc}); ONNX exported in memory, unverified")
            self._onnx_bytes = export_onnx(source, precision)
            return None

    def detail(self) -> str:
        return self.provider

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
