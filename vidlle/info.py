"""``vidlle info``: versions, devices, backends, models with their weights, and the engine cache."""

from __future__ import annotations

import platform
from typing import Iterator

import av
import cv2
import numpy

from vidlle.backends import auto_choice, auto_order, available_backends
from vidlle.engines.cache import ArtifactCache
from vidlle.errors import BackendError
from vidlle.extras import TORCH_EXTRA, require_torch
from vidlle.fused import describe as describe_apply
from vidlle.models import available_models, get_spec
from vidlle.models.shipped import load_runtime
from vidlle.version import __version__


def _torch():
    """torch if installed (an optional extra, :mod:`vidlle.extras`), else None."""
    try:
        return require_torch("vidlle info")
    except BackendError:
        return None


def info_lines() -> Iterator[str]:
    """The lines ``vidlle info`` prints, in order."""
    yield f"vidlle {__version__} (python {platform.python_version()}, {platform.machine()})"
    ff = ".".join(str(v) for v in av.library_versions["libavcodec"])
    torch = _torch()
    versions = f"av {av.__version__} (libavcodec {ff})  opencv {cv2.__version__}  numpy {numpy.__version__}"
    yield f"torch {torch.__version__ if torch else 'not installed'}  {versions}"
    if torch is None:
        yield f"  (the torch backend, CUDA, --weights, --overlay seg and export need it: {TORCH_EXTRA})"
    cuda = torch.cuda.device_count() if torch and torch.cuda.is_available() else 0
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(cuda)]
    threads = f"  (cpu threads: {torch.get_num_threads()})" if torch else ""
    yield f"devices: {', '.join(devices)}{threads}"
    yield "backends:"
    for name, reason in available_backends().items():
        yield f"  {name:12s} {'available' if not reason else 'unavailable: ' + reason}"
    for device in ["cpu"] + (["cuda"] if cuda else []):
        precision = "fp16" if device == "cuda" else "fp32"
        yield (f"  {'auto':12s} {device} {precision}: {auto_choice(device, precision) or 'none'} "
               f"(order {', '.join(auto_order(device))})")
    yield "models:"
    for name in available_models():
        spec = get_spec(name)
        if spec.weights_path.is_file():
            record = spec.training_record() or {}
            images = record.get("images", record.get("train_images", "?"))
            trained = f", trained {record.get('iters', '?')} iters on {images} images" if record else ""
            weights = f"{spec.weights_path} (sha256 {spec.weights_sha256()[:12]}{trained})"
        else:
            weights = "weights missing"
        yield f"  {name:12s} {spec.description}\n               {weights}"
        runtime = load_runtime(name)
        yield f"               CPU runtime: {runtime.onnx.name + ' (shipped, no export)' if runtime else 'exported on first use'}"
    yield f"apply step: {describe_apply()}"
    yield from engine_cache_lines()


def engine_cache_lines() -> Iterator[str]:
    """The cached ONNX files and TensorRT engines, with their state."""
    cache = ArtifactCache()
    entries = cache.entries()
    yield f"engine cache: {cache.root} ({len(entries)} files)"
    try:
        import tensorrt

        trt_version = tensorrt.__version__
    except ImportError:
        trt_version = None
    for e in entries:
        k = e.key
        size = f"{e.path.stat().st_size / 1024:.0f} KiB"
        if e.path.suffix == ".onnx":
            what = f"ONNX {k.get('precision')} opset {k.get('opset')}, {k.get('exporter')}"
            check = (e.sidecar or {}).get("extra", {}).get("verification")
            if isinstance(check, dict) and "output_max_abs" in check:
                what += f", verified: uint8 diff {check['output_max_abs']}, params diff {check['params_max_abs']:.1e}"
            elif isinstance(check, dict) and "label_agreement" in check:
                what += (f", verified: labels agree {check['label_agreement']:.4%}, "
                         f"logits diff {check['logits_max_abs']:.1e}")
            torch = _torch()
            stale = torch and k.get("exporter") != f"torch-{torch.__version__}" and "exported with another torch"
        else:
            prof = k.get("profile", {})
            fmt = lambda s: "x".join(map(str, s or []))  # noqa: E731
            what = (f"TensorRT {k.get('tensorrt')} engine {k.get('precision')} sm {k.get('compute_capability')}, "
                    f"profile {fmt(prof.get('min'))}..{fmt(prof.get('opt'))}..{fmt(prof.get('max'))}")
            stale = trt_version and k.get("tensorrt") != trt_version and f"TensorRT {trt_version} installed"
        state = e.problem or (f"stale ({stale}; rebuilt on next use)" if stale else "ok")
        yield f"  {e.path.name}\n      {k.get('model', '?')}: {what}; {size}; {state}"
