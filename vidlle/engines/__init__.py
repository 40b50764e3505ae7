"""Deployment artefacts for the models' parameter predictors.

    specs.py      what export/build need to know about each model (input sizes, profiles, checks)
    export.py     torch -> ONNX (opset 17, dynamic batch/height/width), verified against torch
    tensorrt.py   ONNX -> TensorRT FP16/FP32 engine with min/opt/max profiles; engine runner
    cache.py      $VIDLLE_CACHE/engines: artefacts + JSON sidecars, stale ones rebuilt

Only the parameter predictor is exported (DESIGN.md's model interface): the full-resolution
apply step stays the shared fast op. Importing this package imports neither torch, onnx,
onnxruntime nor tensorrt; each is imported by the function that needs it.
"""

from vidlle.errors import EngineError


__all__ = ["EngineError"]
