"""``vidlle build-engine``: export a predictor to ONNX (verified) and build its TensorRT engine.

Both artefacts land in the engine cache (:mod:`vidlle.engines.cache`), where the onnxruntime and
TensorRT backends find them.
"""

from __future__ import annotations

from typing import Callable, Sequence

from vidlle.engines import tensorrt as trt_engine  # module attribute: tests stand in for the GPU parts
from vidlle.engines.export import get_onnx
from vidlle.engines.specs import ModelSource, Profile, default_profile, get_export_spec, profile_for_frames
from vidlle.extras import require_torch


def engine_profile(model: str, weights: str | None = None, frames: Sequence[tuple[int, int]] | None = None,
                   batch: int = 1, max_batch: int | None = None) -> tuple[ModelSource, Profile]:
    """The model's source and the profile its engine must cover: ``frames`` are (height, width)
    sizes (min, opt, max); None = every size the model accepts. ValueError when ``frames`` do
    not make a profile."""
    require_torch("vidlle build-engine (ONNX export from the torch weights)")
    spec = get_export_spec(model)
    source = ModelSource.resolve(model, weights)
    config = source.load()[1]
    if frames:
        return source, profile_for_frames(spec, config, list(frames), opt_batch=batch, max_batch=max_batch)
    return source, default_profile(spec, config, opt_batch=batch, max_batch=max_batch)


def build_engine(source: ModelSource, profile: Profile, precision: str = "fp16", device: str = "cuda",
                 onnx_only: bool = False, force: bool = False, say: Callable[[str], None] = print) -> None:
    """Export (and verify) the ONNX graphs of ``source``, then build its TensorRT engine for ``profile``."""
    # The fp32 graph (onnxruntime CPU, TensorRT 10 + FP16 flag) always; the mixed fp16 graph too
    # for fp16 (TensorRT >= 11, onnxruntime CUDA).
    for graph in ["fp32"] + (["fp16"] if precision == "fp16" else []):
        path = get_onnx(source, graph, log=say, force=force)
        say(f"ONNX ({graph}): {path}")
    say(f"engine profile (predictor input, NCHW): {profile}")
    if onnx_only:
        return
    trt_engine.require_tensorrt()
    path, meta = trt_engine.get_engine(source, precision, profile, device=device, log=say, force=force)
    extra = meta.get("extra", {})
    say(f"engine: {path} (TensorRT {meta['key']['tensorrt']}, {extra.get('gpu', '?')}, "
        f"sm {meta['key']['compute_capability']})")
