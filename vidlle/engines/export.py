"""torch -> ONNX export of a model's parameter predictor, verified against torch.

    from vidlle.engines.export import get_onnx
    from vidlle.engines.specs import ModelSource
    path = get_onnx(ModelSource.resolve("curve"))          # cached, exported + verified on a miss

The graph has one input (N, 3, h, w) float32 in [0, 1] and the spec's outputs, with batch,
height and width dynamic; opset 17. ``precision="fp16"`` exports a mixed graph (fp16 weights
and compute, Cast nodes at the float32 input/output): that is what a strongly typed TensorRT
(>= 11, which dropped BuilderFlag.FP16) and onnxruntime's CUDA EP need for fp16. fp32 graphs
are what TensorRT 10 builds FP16 engines from (BuilderFlag.FP16).

Verification (:func:`verify_onnx`, onnxruntime CPU) runs torch fp32 and the ONNX graph on the
same frames and compares through the model's check (curve: the uint8 output of the full
enhance path, max abs diff <= 1; the raw parameter diff is reported too).

Exporter: torch's TorchScript-based exporter (``dynamo=False``): the torch.export-based one
needs onnxscript, which vidlle does not depend on. The exported bytes depend on the torch
version, so it is part of the cache key.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from vidlle.engines import EngineError
from vidlle.engines.cache import ArtifactCache, ArtifactKey
from vidlle.engines.specs import ModelSource, get_export_spec, sample_frames
from vidlle.extras import require_torch

OPSET = 17
# Bump when the exported graph changes for the same weights and torch (names, axes, wrappers).
EXPORT_VERSION = 2
PRECISIONS = ("fp32", "fp16")
# fp16 parameters differ from fp32 ones by ~1e-3; through the 8-step curve (|d out/d r| <= 510
# levels) that can move a few pixels by 2 levels.
TOLERANCE = {"fp32": 1, "fp16": 2}


def onnx_key(source: ModelSource, precision: str = "fp32", opset: int = OPSET) -> ArtifactKey:
    # Every export starts here (the key names the exporting torch): without torch, one line.
    torch = require_torch(f"exporting model {source.model!r} to ONNX")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fields = {"model": source.model, "weights_sha256": source.sha256, "precision": precision, "opset": opset,
              "exporter": f"torch-{torch.__version__}", "export_version": EXPORT_VERSION}
    return ArtifactKey("onnx", f"{source.model}-{source.sha256[:12]}-{precision}-opset{opset}", fields)


def _fp16_wrapper(module):
    import torch

    class Fp16Graph(torch.nn.Module):
        """float32 in -> fp16 network -> float32 out (Casts at the graph's edges)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner.half()

        def forward(self, x):
            out = self.inner(x.half())
            return tuple(o.float() for o in out) if isinstance(out, (tuple, list)) else out.float()

    return Fp16Graph(module)


def export_onnx(source: ModelSource, precision: str = "fp32", opset: int = OPSET) -> bytes:
    """Serialized ONNX model of ``source``'s parameter predictor."""
    import torch

    if opset < 17:
        raise ValueError("opset >= 17 is required")
    spec = get_export_spec(source.model)
    export = spec.export
    module, config = source.load()
    module = module.float().eval()
    if precision == "fp16":
        module = _fp16_wrapper(module).eval()
    sample = torch.rand(spec.input_shape(config, 1080, 1920))
    axes = {export.input_name: {0: "batch", 2: "height", 3: "width"} if export.dynamic_hw else {0: "batch"},
            **export.output_axes}
    buf = io.BytesIO()
    fixed_size = contextlib.nullcontext() if export.dynamic_hw else _adaptive_pool_as_matmul()
    with warnings.catch_warnings(), fixed_size:
        # The legacy exporter warns that it is legacy, and about un-foldable strided Slices
        # (replicate padding): neither concerns the result, which is verified.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (sample,), buf, dynamo=False, opset_version=opset,
                              input_names=[export.input_name], output_names=list(export.output_names),
                              dynamic_axes=axes, do_constant_folding=True)
        except Exception as exc:  # noqa: BLE001 - any exporter failure is one clear error
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise EngineError(f"ONNX export of {source.model!r} failed: {type(exc).__name__}: {first}") from exc
    data = buf.getvalue()
    try:
        import onnx
    except ImportError:
        return data  # unfolded but valid; onnxruntime and TensorRT fold it themselves
    try:
        model = fold_constants(onnx.load_from_string(data))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"exported ONNX of {source.model!r} fails onnx.checker: {exc}") from exc
    return model.SerializeToString()


def _pool_matrix(size: int, out: int):
    """(out, size) float32 matrix whose row i averages adaptive pooling's window i."""
    m = np.zeros((out, size), np.float32)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


@contextlib.contextmanager
def _adaptive_pool_as_matmul():
    """While tracing a fixed-size graph: ``F.adaptive_avg_pool2d`` as two constant matrix products.

    ONNX has no adaptive pooling; the exporter only maps output sizes that divide the input
    (ESPNetv2's pyramid pooling uses ceil(size * scale)). P_h @ x @ P_w^T is the same average
    (to float rounding) and every runtime runs MatMul. The matrices are built in numpy, so the
    tracer records them as constants, not as the ops that built them.
    """
    import torch
    import torch.nn.functional as F

    original = F.adaptive_avg_pool2d

    def pooled(x, output_size):
        h, w = int(x.shape[-2]), int(x.shape[-1])
        oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
        oh, ow = h if oh is None else int(oh), w if ow is None else int(ow)
        if h % oh == 0 and w % ow == 0:  # whole windows: a plain AveragePool
            return F.avg_pool2d(x, (h // oh, w // ow))
        ph = torch.from_numpy(_pool_matrix(h, oh)).to(x.dtype)
        pw = torch.from_numpy(_pool_matrix(w, ow).T.copy()).to(x.dtype)
        return torch.matmul(torch.matmul(ph, x), pw)

    F.adaptive_avg_pool2d = pooled
    try:
        yield
    finally:
        F.adaptive_avg_pool2d = original


def fold_constants(model):
    """Replace every node whose inputs are all constant by an initializer (in place; returns model).

    The TorchScript exporter leaves a small constant sub-graph per replicate-padded convolution
    (ConstantOfShape/Reshape/strided Slice/Transpose/Cast computing the pads), which it cannot
    fold itself; folded, each Pad reads a constant ``pads`` initializer, the form every runtime
    (TensorRT's ONNX parser included) handles best. Evaluated with onnx's reference runtime.
    """
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    known = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept, folded = [], []
    opset = [o for o in model.opset_import]
    for node in graph.node:
        if node.op_type == "Constant" or (node.input and all(i in known for i in node.input if i)):
            single = helper.make_model(
                helper.make_graph([node], "fold", [], [helper.make_tensor_value_info(o, 0, None) for o in node.output],
                                  [numpy_helper.from_array(known[i], i) for i in set(node.input) if i]),
                opset_imports=opset)
            values = ReferenceEvaluator(single).run(None, {})
            for name, value in zip(node.output, values):
                known[name] = value
                folded.append(name)
        else:
            kept.append(node)
    used = {i for node in kept for i in node.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    existing = {init.name for init in graph.initializer}
    graph.initializer.extend(numpy_helper.from_array(known[n], n) for n in folded if n in used and n not in existing)
    keep_inits = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits)
    return model


def import_onnxruntime():
    """The ``onnxruntime`` module, or EngineError (a BackendError) saying it is missing."""
    try:
        import onnxruntime
    except ImportError:
        # a core requirement, so only a broken or partial install lacks it
        raise EngineError("onnxruntime is not installed (a core requirement of vidlle: "
                          "pip install onnxruntime)") from None
    return onnxruntime


def ort_session(onnx: bytes | str | Path, providers: Sequence = ("CPUExecutionProvider",), threads: int = 1):
    """An onnxruntime session (EngineError when onnxruntime is missing)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Trained weights drive some activations into denormals (see the torch backend): flush them.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    model = onnx if isinstance(onnx, bytes) else str(onnx)
    return ort.InferenceSession(model, options, providers=list(providers))


def _first(out):
    """The first output of a module that may return a tensor or a tuple (checks use the first)."""
    return out[0] if isinstance(out, (tuple, list)) else out


def verify_onnx(onnx: bytes | str | Path, source: ModelSource, frames: Sequence[np.ndarray] | None = None,
                tolerance: int | None = None, precision: str = "fp32") -> dict:
    """Run torch (fp32, CPU) and the ONNX graph (onnxruntime CPU) on ``frames``; compare.

    frames: (H, W, 3) uint8 RGB, any sizes (default: :func:`engines.specs.sample_frames`).
    Returns the spec's metrics (curve: params_max_abs, output_max_abs on uint8, ok), plus
    ``batch2_max_abs``: the largest raw difference on a batch of two frames.
    """
    import torch

    spec = get_export_spec(source.model)
    module, config = source.load()
    frames = list(frames) if frames is not None else sample_frames(spec.export.verify_frames)
    session = ort_session(onnx)
    # Both sides flush denormals (as the torch backend and ort_session do): ~4x faster on x86;
    # one thread each, as the tiny predictor only loses to synchronisation on more.
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref, out, ref2, out2 = _run_both(spec, config, module, session, frames)
    finally:
        torch.set_num_threads(threads)
    tol = TOLERANCE[precision] if tolerance is None else tolerance
    report = spec.export.judge(frames, ref, out, module, config, tolerance=tol)
    report["batch2_max_abs"] = float(np.abs(ref2 - out2).max())
    report["precision"] = precision
    return report


def _run_both(spec, config, module, session, frames):
    import torch

    ref, out = [], []
    with torch.inference_mode():
        for frame in frames:
            x = spec.predictor_input(config, frame)[None]
            ref.append(_first(module(torch.from_numpy(x)))[0].numpy())
            out.append(session.run(None, {spec.export.input_name: x})[0][0])
        pair = np.stack([spec.predictor_input(config, frames[0])] * 2)
        pair[1] = pair[1][:, ::-1].copy()  # two different images in one batch
        ref2 = _first(module(torch.from_numpy(pair))).numpy()
        out2 = session.run(None, {spec.export.input_name: pair})[0]
    return ref, out, ref2, out2


def get_onnx(source: ModelSource, precision: str = "fp32", cache: ArtifactCache | None = None,
             verify: bool = True, frames: Sequence[np.ndarray] | None = None, log=None, force: bool = False) -> Path:
    """Path of the cached ONNX for ``source``; exported (and verified) when absent or stale.

    log: optional callable(str) told what happens (export, verification, rebuild reasons).
    force: export again even if a valid file is cached.
    Raises EngineError when verification fails (nothing is cached then).
    """
    cache = cache or ArtifactCache()
    key = onnx_key(source, precision)
    say = log or (lambda msg: None)
    if force:
        cache.invalidate(key)

    def create() -> tuple[bytes, dict]:
        start = time.perf_counter()
        data = export_onnx(source, precision)
        extra = {"export_s": round(time.perf_counter() - start, 3), "weights": str(source.weights)}
        if verify:
            try:
                report = verify_onnx(data, source, frames, precision=precision)
            except EngineError as exc:
                if "not installed" not in str(exc):
                    raise
                extra["verification"] = f"skipped: {exc}"
                say(f"ONNX verification skipped: {exc}")
            else:
                extra["verification"] = report
                say(format_report(source.model, precision, report))
                if not report["ok"]:
                    raise EngineError(f"exported ONNX of {source.model!r} ({precision}) differs from torch: "
                                      f"{format_report(source.model, precision, report)}")
        say(f"exported {source.model} ({precision}) to ONNX in {extra['export_s']:.2f} s")
        return data, extra

    return cache.get_or_create(key, create, on_rebuild=lambda why: say(f"re-exporting ONNX: cached file is {why}"))


def format_report(model: str, precision: str, report: dict, what: str = "ONNX") -> str:
    """One line for a verification report (curve or segmenter metrics)."""
    batch2 = f", batch of 2 max diff {report['batch2_max_abs']:.2e}" if "batch2_max_abs" in report else ""
    if "output_max_abs" in report:
        return (f"{model} {precision} {what} vs torch on {report['frames']} frames: uint8 output max diff "
                f"{report['output_max_abs']} (tolerance {report['tolerance']}), params max diff "
                f"{report['params_max_abs']:.2e}{batch2}")
    if "label_agreement" in report:
        return (f"{model} {precision} {what} vs torch on {report['frames']} frames: labels agree "
                f"{report['label_agreement']:.4%}, logits max diff {report['logits_max_abs']:.2e}{batch2}")
    return f"{model} {precision} {what} vs torch: " + ", ".join(f"{k} {v}" for k, v in report.items())
