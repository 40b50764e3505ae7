"""TensorRT engines from the exported ONNX: build (FP16/FP32, min/opt/max profile), cache, run.

Written against TensorRT's documented Python API (10.x; 11.x where it differs):

* build: ``Builder`` -> ``create_network(0)`` (networks are always explicit-batch since 10.0;
  the EXPLICIT_BATCH flag is only passed to older releases) -> ``OnnxParser.parse`` ->
  ``BuilderConfig`` with ``set_memory_pool_limit(WORKSPACE)``, ``set_flag(BuilderFlag.FP16)``
  and one optimization profile (``create_optimization_profile``/``set_shape`` on the predictor
  input) -> ``build_serialized_network``.
* FP16 on TensorRT 11, which removed BuilderFlag.FP16 (strong typing only): the engine is
  built from the mixed fp16 ONNX export (fp16 weights and compute, float32 I/O) instead of
  the fp32 one + flag. :func:`onnx_precision_for` makes that choice.
* run: ``Runtime.deserialize_cuda_engine`` -> ``create_execution_context`` ->
  ``set_input_shape`` / ``set_tensor_address`` -> ``execute_async_v3(stream)`` on torch's
  current CUDA stream, with torch tensors as device buffers (no pycuda/cuda-python needed).

Profiles live in predictor-input space (:mod:`engines.specs`): the curve predictor sees at
most 128 px per side, so the default profile is batch 1..64 x 1..128 x 1..128 (opt: batch 1,
72x128, what 16:9 frames of every resolution map to) and covers every frame size.

Engines are cached by :mod:`engines.cache` under model, weights sha256, ONNX sha256, profile,
precision, TensorRT version and GPU compute capability; a stale or corrupt one is rebuilt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from vidlle.engines import EngineError
from vidlle.engines.cache import ArtifactCache, ArtifactKey, Entry
from vidlle.engines.export import TOLERANCE, format_report, get_onnx
from vidlle.engines.specs import ModelSource, Profile, default_profile, get_export_spec, sample_frames

MISSING = ("TensorRT is not installed (pip install 'vidlle[trt]' on a machine with an NVIDIA GPU; "
           "or use --backend torch/onnxruntime, or build-engine --onnx-only)")
# Bump when the build recipe (flags, workspace, profile handling) changes.
BUILD_VERSION = 1
WORKSPACE_BYTES = 1 << 30


def require_tensorrt():
    """The ``tensorrt`` module, or EngineError naming the ``trt`` extra."""
    try:
        import tensorrt
    except ImportError:
        raise EngineError(MISSING) from None
    return tensorrt


def compute_capability(device: str = "cuda") -> str:
    """'9.0' for an H100/H200; EngineError without a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        raise EngineError("TensorRT engines need a CUDA GPU, and torch sees none")
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    return f"{major}.{minor}"


def onnx_precision_for(trt, precision: str) -> str:
    """Which ONNX export an engine of ``precision`` is built from with this TensorRT.

    TensorRT 10 (weak typing): the fp32 graph + BuilderFlag.FP16. TensorRT >= 11 has no FP16
    flag (strongly typed networks only): the mixed fp16 graph.
    """
    if precision == "fp16" and hasattr(trt.BuilderFlag, "FP16"):
        return "fp32"
    return precision


def engine_key(source: ModelSource, onnx_sha256: str, precision: str, profile: Profile, trt_version: str,
               capability: str) -> ArtifactKey:
    fields = {"model": source.model, "weights_sha256": source.sha256, "onnx_sha256": onnx_sha256,
              "precision": precision, "profile": profile.as_dict(), "tensorrt": trt_version,
              "compute_capability": capability, "build_version": BUILD_VERSION}
    slot = f"{source.model}-{source.sha256[:12]}-{precision}-{profile.tag()}-sm{capability.replace('.', '')}"
    return ArtifactKey("engine", slot, fields)


def build_serialized(trt, onnx: bytes, input_name: str, profile: Profile, precision: str,
                     workspace: int = WORKSPACE_BYTES, logger=None) -> bytes:
    """Build a serialized engine (plan) from ONNX bytes with one optimization profile."""
    logger = logger or trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(str(trt.__version__).split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse the ONNX graph: {errors or 'unknown error'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if precision == "fp16" and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    opt = builder.create_optimization_profile()
    opt.set_shape(input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError("TensorRT failed to build the engine (its log above says why)")
    return bytes(plan)


def get_engine(source: ModelSource, precision: str = "fp16", profile: Profile | None = None, device: str = "cuda",
               cache: ArtifactCache | None = None, log=None, force: bool = False) -> tuple[Path, dict]:
    """Path of a valid cached engine (built when absent, stale or corrupt) and its sidecar.

    profile: predictor-input profile (default: the spec's, covering every frame size).
    force: build again even if a valid engine is cached (the ONNX is reused if valid).
    """
    trt = require_tensorrt()
    capability = compute_capability(device)
    say = log or (lambda msg: None)
    cache = cache or ArtifactCache()
    spec = get_export_spec(source.model)
    if profile is None:
        profile = default_profile(spec, source.load()[1])
    onnx_path = get_onnx(source, onnx_precision_for(trt, precision), cache=cache, log=say)
    onnx_sha = cache.read_sidecar(onnx_path)["sha256"]
    key = engine_key(source, onnx_sha, precision, profile, trt.__version__, capability)
    if force:
        cache.invalidate(key)

    def create() -> tuple[bytes, dict]:
        import torch

        say(f"building TensorRT {trt.__version__} {precision} engine for {source.model} ({profile}); "
            "this takes a while once")
        start = time.perf_counter()
        with torch.cuda.device(torch.device(device)):
            plan = build_serialized(trt, onnx_path.read_bytes(), spec.export.input_name, profile, precision)
        seconds = time.perf_counter() - start
        say(f"built in {seconds:.1f} s")
        report = verify_engine(trt, plan, source, precision, device)
        line = format_report(source.model, precision, report, what="TensorRT engine")
        say(line)
        if not report["ok"]:
            raise EngineError(f"the engine is not cached: {line}")
        return plan, {"build_s": round(seconds, 1), "gpu": torch.cuda.get_device_name(torch.device(device)),
                      "onnx": onnx_path.name, "verification": report}

    path = cache.get_or_create(key, create, on_rebuild=lambda why: say(f"rebuilding engine: cached one is {why}"))
    return path, cache.read_sidecar(path)


def verify_engine(trt, plan: bytes, source: ModelSource, precision: str, device: str = "cuda",
                  frames=None) -> dict:
    """Run a built engine and torch fp32 (CPU) on the frames its profile covers; compare
    through the model's check (curve: uint8 output of the full enhance path; fp16 tolerance 2)."""
    import torch

    spec = get_export_spec(source.model)
    module, config = source.load()
    runner = EngineRunner(trt, plan)
    opt_h, opt_w = runner.profile.opt[2:]
    candidates = list(frames) if frames is not None else sample_frames(spec.export.verify_frames)
    # a frame the size of the opt input maps onto it unchanged, so even a fixed-shape engine is checked
    candidates.append(np.random.default_rng(1).integers(0, 60, (opt_h, opt_w, 3), dtype=np.uint8))
    used, ref, out = [], [], []
    dev = torch.device(device)
    with torch.inference_mode():
        for frame in candidates:
            x = spec.predictor_input(config, frame)[None]
            if not runner.profile.covers(x.shape):
                continue
            r = module(torch.from_numpy(x))
            ref.append((r[0] if isinstance(r, (tuple, list)) else r)[0].numpy())
            out.append(runner.run(torch.from_numpy(x).to(dev)).float()[0].cpu().numpy())
            used.append(frame)
    return spec.export.judge(used, ref, out, module, config, tolerance=TOLERANCE[precision])


def matching_engines(entries: Sequence[Entry], source: ModelSource, precision: str, trt_version: str,
                     capability: str) -> list[tuple[Profile, Path]]:
    """Cached engines usable for this model/weights/precision on this TensorRT and GPU."""
    found = []
    for e in entries:
        k = e.key
        if (e.problem is None and e.path.suffix == ".engine" and k.get("model") == source.model
                and k.get("weights_sha256") == source.sha256 and k.get("precision") == precision
                and k.get("tensorrt") == trt_version and k.get("compute_capability") == capability
                and k.get("build_version") == BUILD_VERSION):
            found.append((Profile.from_dict(k["profile"]), e.path))
    return found


def select_profile(profiles: Sequence[Profile], shape: Sequence[int]) -> Profile | None:
    """The profile to run ``shape`` with: one that covers it, preferring opt == shape, then the
    tightest range (engines are tuned for their opt; narrower profiles tune better)."""
    covering = [p for p in profiles if p.covers(shape)]
    if not covering:
        return None

    def score(p: Profile):
        spread = 1
        for lo, hi in zip(p.min, p.max):
            spread *= hi - lo + 1
        return (tuple(p.opt) != tuple(shape), spread, sum(abs(a - b) for a, b in zip(p.opt, shape)))

    return min(covering, key=score)


class EngineRunner:
    """One deserialized engine + execution context; runs torch CUDA tensors on a stream."""

    def __init__(self, trt, plan: bytes, logger=None):
        import torch

        self.trt = trt
        self.runtime = trt.Runtime(logger or trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise EngineError("TensorRT could not deserialize the engine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        if len(self.inputs) != 1 or not self.outputs:
            raise EngineError(f"expected one input and at least one output, engine has {names}")
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        self.dtypes = {n: dtypes[self.engine.get_tensor_dtype(n)] for n in names}
        lo, opt, hi = self.engine.get_tensor_profile_shape(self.inputs[0], 0)
        self.profile = Profile(tuple(lo), tuple(opt), tuple(hi))

    def run(self, x):
        """(N, 3, h, w) CUDA tensor -> first output, queued on the current stream (no wait)."""
        import torch

        name = self.inputs[0]
        if not self.profile.covers(x.shape):
            raise EngineError(f"input {tuple(x.shape)} is outside the engine's profile ({self.profile})")
        x = x.to(self.dtypes[name]).contiguous()
        if not self.context.set_input_shape(name, tuple(x.shape)):
            raise EngineError(f"TensorRT rejected input shape {tuple(x.shape)}")
        self.context.set_tensor_address(name, x.data_ptr())
        outs = []
        for out_name in self.outputs:
            out = torch.empty(tuple(self.context.get_tensor_shape(out_name)), dtype=self.dtypes[out_name],
                              device=x.device)
            self.context.set_tensor_address(out_name, out.data_ptr())
            outs.append(out)
        # x and the outputs were allocated on the current stream, so torch's allocator will not
        # hand their memory out again before this stream has run the engine.
        if not self.context.execute_async_v3(torch.cuda.current_stream(x.device).cuda_stream):
            raise EngineError("TensorRT execution failed")
        return outs[0]
