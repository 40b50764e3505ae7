"""Runtimes behind one :class:`~vidlle.backends.base.Backend` interface, one file each.

The registry maps a name to "module:Class"; modules are imported only when chosen, so an
optional runtime that is not installed costs nothing until asked for.
"""

from __future__ import annotations

import importlib

from vidlle.backends.base import Backend
from vidlle.errors import BackendError

# Preference order for --backend auto: the first available one wins.
BACKENDS: dict[str, str] = {
    "torch": "vidlle.backends.torch:TorchBackend",
}


def backend_class(name: str) -> type[Backend]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r} (available: auto, {', '.join(BACKENDS)})") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def available_backends() -> dict[str, str]:
    """name -> "" if usable here, else the reason it is not."""
    return {name: backend_class(name).unavailable_reason() or "" for name in BACKENDS}


def create_backend(name: str, model, device: str = "cpu", precision: str = "fp32") -> Backend:
    """Build backend ``name`` (or the first available for ``auto``) around a torch model."""
    if name == "auto":
        for candidate in BACKENDS:
            cls = backend_class(candidate)
            if not cls.unavailable_reason() and cls.supports(device, precision):
                return cls(model, device=device, precision=precision)
        raise BackendError(f"no backend can run on device {device!r} with {precision}")
    cls = backend_class(name)
    reason = cls.unavailable_reason()
    if reason:
        raise BackendError(f"backend {name!r} is not available: {reason}")
    return cls(model, device=device, precision=precision)
