"""PyTorch as an optional extra: the one-line error when a feature needs it and it is missing.

The core install (numpy, OpenCV, PyAV, click, onnxruntime) runs the default job: the shipped
ONNX graphs on CPU with the C apply step, for files, images, live sources and ``vidlle serve``.
PyTorch (``pip install 'vidlle[torch]'``) is needed only by the features that run or export the
torch networks: the torch backend (and with it CUDA), other weights (``--weights``), the
segmentation overlay, ONNX export and TensorRT engines, and training (``vidlle[train]``).
Each of those asks :func:`require_torch` first, so a user without torch gets one line naming the
extra instead of a traceback.
"""

from __future__ import annotations

import sys

from vidlle.errors import BackendError

TORCH_EXTRA = "pip install 'vidlle[torch]' (in a checkout: pip install -e '.[torch]')"


def missing_torch(feature: str) -> BackendError:
    """The error for ``feature`` (e.g. "the torch backend") when torch is not installed."""
    return BackendError(f"{feature} needs PyTorch, which is not installed: {TORCH_EXTRA}")


def torch_missing(exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` says torch itself (not a package torch needs) cannot be found."""
    return (exc.name or "").partition(".")[0] == "torch"


def require_torch(feature: str):
    """The ``torch`` module; :func:`missing_torch` raised for ``feature`` when it is not installed.

    A torch that is installed but broken (a missing shared library) keeps its own error: the
    extra would not fix it.
    """
    try:
        import torch
    except ModuleNotFoundError as exc:
        if torch_missing(exc):
            raise missing_torch(feature) from None
        raise
    return torch


def limit_torch_threads(threads: int) -> None:
    """Cap torch's intra-op threads at ``threads`` if this process has already imported torch;
    never imports it (a runtime that loads torch later sets its own, see
    :mod:`vidlle.backends.torch`, and the default path must not pay for torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, threads))
