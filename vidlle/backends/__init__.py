"""Runtimes behind one :class:`~vidlle.backends.base.Backend` interface, one file each.

The registry maps a name to "module:Class"; modules are imported only when chosen, so an
optional runtime that is not installed costs nothing until asked for.

``--backend auto`` tries the backends in order of *measured* speed for the device kind
(:data:`AUTO_EVIDENCE`, from ``vidlle bench --models``), then the unmeasured ones in
:data:`AUTO_FALLBACK` order, skipping any that is not installed, cannot run the device and
precision, or fails to start for the model (e.g. a model without an export spec runs on torch
only; each skip is kept in ``backend.notes``).
"""

from __future__ import annotations

import importlib

from vidlle.backends.base import Backend
from vidlle.engines.specs import ModelSource
from vidlle.errors import BackendError, ModelError
from vidlle.extras import missing_torch, torch_missing

BACKENDS: dict[str, str] = {
    "torch": "vidlle.backends.torch:TorchBackend",
    "onnxruntime": "vidlle.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "vidlle.backends.tensorrt:TensorRTBackend",
}

# Evidence for auto: model-only throughput (frames/s) of the curve predictor network at 1080p
# (72x128 input), batch 1, one thread -- `vidlle bench --models --seconds 3`, best of 3 rounds,
# on the project's 2-core CPU machine under load (~5; lighter-loaded: onnxruntime 395, torch 158).
# Higher first.
AUTO_EVIDENCE: dict[str, dict[str, float]] = {
    "cpu": {"onnxruntime": 242.0, "torch": 86.0},
    # No GPU measurement yet: the fallback order below applies until `vidlle bench --models` on
    # a GPU machine is recorded here.
    "cuda": {},
}
# Order for backends without a measurement: TensorRT's fused FP16 engines, then torch
# (FP16 + CUDA graphs), then onnxruntime (whose GPU providers are rarely installed).
AUTO_FALLBACK: dict[str, tuple[str, ...]] = {
    "cpu": ("onnxruntime", "torch", "tensorrt"),
    "cuda": ("tensorrt", "torch", "onnxruntime"),
}


def _device_kind(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def auto_order(device: str = "cpu") -> list[str]:
    """Backend names in the order ``auto`` tries them on ``device``."""
    kind = _device_kind(device)
    measured = AUTO_EVIDENCE.get(kind, {})
    ranked = sorted(measured, key=lambda n: -measured[n])
    ranked += [n for n in AUTO_FALLBACK.get(kind, tuple(BACKENDS)) if n not in ranked]
    ranked += [n for n in BACKENDS if n not in ranked]
    return [n for n in ranked if n in BACKENDS]


def backend_class(name: str) -> type[Backend]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r} (available: auto, {', '.join(BACKENDS)})") from None
    module, cls = target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as exc:
        # The torch and TensorRT runtimes import torch at their top (every method uses it).
        if torch_missing(exc):
            raise missing_torch(f"the {name} backend") from None
        raise


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot be used here (a package not installed), or None."""
    try:
        return backend_class(name).unavailable_reason()
    except BackendError as exc:
        return str(exc)


def available_backends() -> dict[str, str]:
    """name -> "" if usable here, else the reason it is not."""
    return {name: unavailable_reason(name) or "" for name in BACKENDS}


def auto_choice(device: str = "cpu", precision: str = "fp32") -> str | None:
    """The backend ``auto`` would try first here (installed and supporting device/precision)."""
    for name in auto_order(device):
        if not unavailable_reason(name) and backend_class(name).supports(device, precision):
            return name
    return None


def create_backend(name: str, model, device: str = "cpu", precision: str = "fp32", source=None) -> Backend:
    """Build backend ``name`` (or the fastest available for ``auto``) around a torch model.

    source: :class:`vidlle.engines.specs.ModelSource` of ``model``; the onnxruntime and TensorRT
    backends need it (their artefacts are cached under its weights' sha256).
    """
    if name == "auto":
        skipped = []
        for candidate in auto_order(device):
            reason = unavailable_reason(candidate)
            if reason is None:
                cls = backend_class(candidate)
                if not cls.supports(device, precision):
                    reason = f"cannot run {precision} on {device}"
            if reason is None:
                try:
                    backend = cls(model, device=device, precision=precision, source=source)
                except (BackendError, ModelError) as exc:  # ModelError: e.g. no export for this model
                    reason = str(exc)
                else:
                    backend.chosen_by_auto = True
                    # Only skips worth a word: a faster runtime that is installed but failed.
                    backend.notes += [f"auto skipped {n}: {r}" for n, r in skipped if "not installed" not in r
                                      and "cannot run" not in r]
                    return backend
            skipped.append((candidate, reason))
        details = "; ".join(f"{n}: {r}" for n, r in skipped)
        raise BackendError(f"no backend can run on device {device!r} with {precision} ({details})")
    cls = backend_class(name)
    reason = cls.unavailable_reason()
    if reason:
        raise BackendError(f"backend {name!r} is not available: {reason}")
    return cls(model, device=device, precision=precision, source=source)


def model_source(model: str, weights=None):
    """:class:`vidlle.engines.specs.ModelSource` for a registry model (the Enhancer passes it on)."""
    return ModelSource.resolve(model, weights)
