"""Networks (tensors in, tensors out) and the registry that names them.

Models never see codecs or frames from files: they take NCHW float tensors in [0, 1].
"""

from vidlle.models.registry import LazyModule, ModelSpec, available_models, get_spec, load_model

__all__ = ["LazyModule", "ModelSpec", "available_models", "get_spec", "load_model"]
