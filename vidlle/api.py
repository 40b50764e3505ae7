"""Enhancer: one stream's model + backend, frames in, enhanced frames out.

    from vidlle import Enhancer
    enh = Enhancer("curve")
    bright = enh.enhance(dark)              # (H, W, 3) uint8 RGB -> same shape and dtype
    brights = enh.enhance_batch([a, b, c])  # frames may differ in size

The model (``curve`` or ``skf``) predicts a low-resolution parameter map from a downscaled copy
of each frame; the shared fast apply step (:mod:`vidlle.apply`, with the model's tabulated
curves) enhances the full-resolution frame with it: one brightness gain per pixel (hues kept,
monochrome stays monochrome), at a per-frame strength set by the frame's exposure
(:mod:`vidlle.exposure`: well-exposed frames pass unchanged) or fixed by ``strength``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from vidlle.apply import Blend, apply_params, check_frame
from vidlle.backends import create_backend, model_source
from vidlle.denoise import DenoiseConfig, Guide, guide_scale, plan_denoise
from vidlle.exposure import ExposureConfig, frame_strength
from vidlle.frames import Frame
from vidlle.models import LazyModule, get_spec, load_model
from vidlle.models.shipped import load_runtime
from vidlle.overlay import overlay_for
from vidlle.predictor import ReducedCopies, predictor_input
from vidlle.settings import EnhancerConfig
from vidlle.temporal import TemporalConfig, TemporalState


class Enhancer:
    """Enhances frames of one stream, in order. Not thread-safe: one Enhancer per stream.

    temporal: frames are consecutive frames of one video: stabilise the curve maps across frames
        and denoise still regions (:mod:`vidlle.temporal`). Off for unrelated images.
    overlay: callable (H, W, 3) uint8 -> same, applied last (not fed back into temporal state).
    strength: None (default) = per frame from its exposure: full for night frames, none for
        well-exposed ones; a number in 0..2 fixes it (0 = pass-through, 1 = the model's curve).
    denoise: strength of the spatial denoiser in 0..2 (:mod:`vidlle.denoise`; 0 = off): it acts
        where the curve lifts, so frames passed unchanged stay unchanged.
    """

    def __init__(self, model: str = "curve", backend: str = "auto", device: str = "cpu",
                 precision: str = "fp32", weights: str | None = None, temporal: bool = False,
                 temporal_config: TemporalConfig = TemporalConfig(), overlay=None,
                 strength: float | None = None, denoise: float = 1.0):
        self.config = EnhancerConfig(model=model, weights=weights, backend=backend, device=device, precision=precision,
                                     temporal=temporal, strength=strength, denoise=denoise)
        self.denoise = DenoiseConfig(strength=denoise)
        self.exposure = ExposureConfig(strength=strength)
        self.temporal = TemporalState(temporal_config) if temporal else None
        self.overlay = overlay  # e.g. vidlle.overlay.SegmentationOverlay; drawn on the final picture
        self.spec = get_spec(model)
        # The shipped runtime (ONNX graph + tone numbers) needs no torch: the CPU default path
        # starts without importing it. Other weights, or another backend, load the torch module.
        shipped = load_runtime(model) if weights is None else None
        if shipped is not None:
            self._module = LazyModule(model)
            self.model_config, self.tone = shipped.config, shipped.tone
        else:
            module, self.model_config = load_model(model, weights)
            self._module = LazyModule(model, weights, module)
            self.tone = module.tone()  # tabulated curves of the fast apply step
        self.backend = create_backend(backend, self._module, device=device, precision=precision,
                                      source=model_source(model, weights))

    @classmethod
    def from_config(cls, config: EnhancerConfig, temporal_config: TemporalConfig = TemporalConfig()) -> "Enhancer":
        """The Enhancer a command's settings describe, overlay included (``overlay="seg"`` loads
        ESPNetv2 from ``seg_weights``, ``$VIDLLE_SEG_WEIGHTS`` or the cache dir)."""
        enhancer = cls(config.model, backend=config.backend, device=config.device, precision=config.precision,
                       weights=config.weights, temporal=config.temporal, temporal_config=temporal_config,
                       overlay=overlay_for(config.overlay, config.seg_weights), strength=config.strength,
                       denoise=config.denoise)
        enhancer.config = config
        return enhancer

    @property
    def module(self):
        """The torch predictor + reference apply (loaded on first use when the shipped runtime runs)."""
        return self._module.get()

    def describe(self) -> str:
        temporal = ", temporal" if self.temporal else ""
        overlay = ", seg overlay" if self.overlay is not None else ""
        return f"model {self.spec.name}, backend {self.backend.describe()}{temporal}{overlay}"

    def reset(self) -> None:
        """Forget the stream's temporal state (a seek, a reconnect, a new scene)."""
        if self.temporal:
            self.temporal.reset()

    def enhance(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one (H, W, 3) uint8 RGB frame."""
        return self.enhance_batch([frame])[0]

    def enhance_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Enhance frames ((H, W, 3) uint8 RGB each, sizes may differ); same shapes out.

        A frame's path, each step once: its reduced copies (made on first use, see
        :class:`~vidlle.predictor.ReducedCopies`) -> the predictor's input -> the predicted map
        (one backend call per input size) -> per frame, in stream order, :meth:`_finish`: the
        temporal smoothing of the map, the strength, the motion plan and the denoiser's guide,
        the one full-resolution pass, the temporal commit -> the overlay.
        """
        copies = [ReducedCopies(check_frame(f)) for f in frames]
        inputs = [self._predictor_input(c) for c in copies]
        maps = self._predict(inputs)
        out = [self._finish(c, x, m) for c, x, m in zip(copies, inputs, maps)]
        if self.overlay is not None:
            out = [self.overlay(o) for o in out]
        return out

    def _predictor_input(self, copies: ReducedCopies) -> np.ndarray:
        """The frame's predictor input, (3, h, w) float32 in [0, 1] (:func:`predictor_input`)."""
        frame = copies.frame
        size = self.spec.input_size(self.model_config, frame.shape[0], frame.shape[1])
        return predictor_input(copies, size)

    def _predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Predictor inputs -> their maps, (3, h, w) float32 each (a curve map in [-1, 1], an
        SKF selector); inputs of the same size share one backend call (a batch)."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, x in enumerate(inputs):
            groups[x.shape].append(i)
        maps: list = [None] * len(inputs)
        for indices in groups.values():
            for i, m in zip(indices, self.backend.predict(np.stack([inputs[i] for i in indices]))):
                maps[i] = m
        return maps

    def _finish(self, copies: ReducedCopies, small: np.ndarray, params: np.ndarray) -> np.ndarray:
        """The rest of one frame's path, in stream order: ``small`` is its predictor input,
        ``params`` its predicted map. Returns the enhanced (H, W, 3) uint8 frame."""
        frame = copies.frame
        if self.temporal:
            params = self.temporal.smooth_params(small, params)
        strength = frame_strength(small, self.exposure)
        blend = self._plan_motion(copies, params, strength)
        guide = self._plan_guide(copies, strength)
        out = apply_params(frame, params, self.tone, strength, self.model_config.local, blend, guide)
        if self._denoising:
            self.temporal.commit(out)
        return out

    @property
    def _denoising(self) -> bool:
        return bool(self.temporal and self.temporal.config.denoise)

    def _plan_motion(self, copies: ReducedCopies, params: np.ndarray, strength: float) -> Blend | None:
        """The temporal blend of this frame (None without temporal denoising): motion is judged
        on the frame's copy at the motion scale, enhanced by the same map (without the guide)."""
        if not self._denoising:
            return None
        small = copies.at(self.temporal.config.motion_scale)
        enhanced = apply_params(small, params, self.tone, strength, self.model_config.local)
        return self.temporal.plan(enhanced, copies.frame.shape)

    def _plan_guide(self, copies: ReducedCopies, strength: float) -> Guide | None:
        """The spatial denoiser of this frame, planned on its half or quarter copy; None when the
        denoiser is off or nothing is lifted (strength 0: a well-exposed frame)."""
        if strength <= 0 or self.denoise.strength <= 0:
            return None
        return plan_denoise(copies.at(guide_scale(*copies.frame.shape[:2])), self.denoise)

    def enhance_frames(self, frames: Sequence[Frame]) -> list[Frame]:
        """Pipeline form: Frames in decode order -> Frames with enhanced images, metadata kept.

        A frame marked ``discontinuity`` (a live source reconnected) resets the temporal state
        before it is enhanced.
        """
        out: list[Frame] = []
        start = 0
        for i, f in enumerate(frames):
            if f.discontinuity and i > start:
                out += self._enhance_run(frames[start:i])
                start = i
        return out + self._enhance_run(frames[start:])

    def _enhance_run(self, frames: Sequence[Frame]) -> list[Frame]:
        if frames and frames[0].discontinuity:
            self.reset()
        images = self.enhance_batch([f.image for f in frames])
        return [f.with_image(img) for f, img in zip(frames, images)]
