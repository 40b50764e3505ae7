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

from vidlle.apply import apply_params, check_frame
from vidlle.backends import create_backend, model_source
from vidlle.denoise import DenoiseConfig, Guide, guide_copy, plan_denoise
from vidlle.exposure import ExposureConfig, frame_strength
from vidlle.frames import Frame
from vidlle.models import LazyModule, get_spec, load_model
from vidlle.models.shipped import load_runtime
from vidlle.overlay import overlay_for
from vidlle.predictor import predictor_input, reduced_copies
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

    def _predictor_input(self, frame: np.ndarray, quarter: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 -> (3, h, w) float32 in [0, 1] at the predictor's size (``quarter``:
        the frame's quarter-size copy when the caller has one, see :func:`predictor_input`)."""
        size = self.spec.input_size(self.model_config, frame.shape[0], frame.shape[1])
        return predictor_input(frame, size, quarter)

    def predict_params(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Low-resolution curve maps, (3, h, w) float32 in [-1, 1], one per frame.

        Frames of the same size share one backend call (a batch). With temporal processing on,
        the maps are the stabilised ones (this call advances the stream's state).
        """
        return [p for p, _ in self.predict(frames)]

    def predict(self, frames: Sequence[np.ndarray], quarters: Sequence[np.ndarray] | None = None
                ) -> list[tuple[np.ndarray, float]]:
        """(map, strength) per frame: the low-resolution map as :meth:`predict_params` and the
        apply step's strength in [0, 2] (:mod:`vidlle.exposure`). ``quarters``: the frames'
        quarter-size copies, when the caller has them (saves a full-resolution read)."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, f in enumerate(frames):
            groups[f.shape[:2]].append(i)
        params: list = [None] * len(frames)
        smalls: list = [None] * len(frames)
        for indices in groups.values():
            batch = np.stack([self._predictor_input(frames[i], quarters[i] if quarters else None) for i in indices])
            for i, small, p in zip(indices, batch, self.backend.predict(batch)):
                params[i], smalls[i] = p, small
        if self.temporal:
            params = [self.temporal.smooth_params(s, p) for s, p in zip(smalls, params)]
        return [(p, frame_strength(s, self.exposure)) for s, p in zip(smalls, params)]

    def enhance_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Enhance frames ((H, W, 3) uint8 RGB each, sizes may differ); same shapes out."""
        frames = [check_frame(f) for f in frames]
        if not frames:
            return []
        # The spatial denoiser plans on a half-size copy, the motion planner and the predictor
        # read the quarter-size copy made from it: one full-resolution read for all three
        # (predictor_input ignores a copy of another size).
        copies = [reduced_copies(f) for f in frames] if self._needs_copies else None
        quarters = [c[1] for c in copies] if copies else None
        out = []
        for i, (f, (p, k)) in enumerate(zip(frames, self.predict(frames, quarters))):
            half, quarter = copies[i] if copies else (None, None)
            # Nothing is lifted at strength 0 (a well-exposed frame): no denoiser to plan.
            guide = plan_denoise(guide_copy(half, quarter, *f.shape[:2]), self.denoise) if (
                half is not None and k > 0) else None
            out.append(self._apply(f, p, k, quarter, guide))
        if self.overlay is not None:
            out = [self.overlay(o) for o in out]
        return out

    @property
    def _denoising(self) -> bool:
        return bool(self.temporal and self.temporal.config.denoise)

    @property
    def _needs_copies(self) -> bool:
        return self._denoising or self.denoise.strength > 0

    def _apply(self, frame: np.ndarray, params: np.ndarray, strength: float, quarter: np.ndarray | None = None,
               guide: Guide | None = None) -> np.ndarray:
        """The full-resolution step of one frame: spatial denoising (``guide``), curve, and with
        temporal denoising the blend with the previous output, in one pass. Motion is planned on
        the frame's quarter-size copy (``quarter``) enhanced the same way (without the guide)."""
        local = self.model_config.local
        if not self._denoising:
            return apply_params(frame, params, self.tone, strength, local, guide=guide)
        config = self.temporal.config
        small = quarter if config.motion_scale == 4 and quarter is not None else self.temporal.motion_copy(frame)
        blend = self.temporal.plan(apply_params(small, params, self.tone, strength, local), frame.shape)
        out = apply_params(frame, params, self.tone, strength, local, blend, guide, config.spatial_shares)
        self.temporal.commit(out)
        return out

    def enhance(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one (H, W, 3) uint8 RGB frame."""
        return self.enhance_batch([frame])[0]

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
