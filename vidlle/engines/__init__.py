"""Deployment artefacts for the models' parameter predictors.

    specs.py      which weights (ModelSource), TensorRT profiles from a model's registry entry,
                  frame sizes, verification frames
    export.py     torch -> ONNX (opset 17, dynamic batch/height/width), verified against torch
    tensorrt.py   ONNX -> TensorRT FP16/FP32 engine with min/opt/max profiles; engine runner
    cache.py      $VIDLLE_CACHE/engines: artefacts + JSON sidecars, stale ones rebuilt

Only the parameter predictor is exported (what a model's registry entry describes, see
:mod:`vidlle.models.registry`; nothing here names a model): the full-resolution
apply step stays the shared fast op. Importing this package imports neither torch, onnx,
onnxruntime nor tensorrt; each is imported by the function that needs it.
"""

from vidlle.errors import EngineError


__all__ = ["EngineError"]
