"""The reference (torch, differentiable) hue-preserving apply shared by every model.

Training and the parity tests use it; the product's CPU path is the tabulated
:func:`vidlle.apply.apply_params`, which computes the same picture within 1 level. The steps and
why they are so are documented in :mod:`vidlle.apply`:

    m  = local * mean_c(params) + (1 - local) * mean_xy(mean_c(params))    (N, 1, h, w)
    V  = max(R, G, B)                                                       (N, 1, H, W)
    T* = min(T(up(m), V), 1 - SHOULDER * (1 - V))                           highlight shoulder
    V' = V + k * (T* - V)                   k: per-frame strength (N,) in [0, 2]
    g  = V' / V;  sat = 1 - (1 - V / (V + CHROMA_KNEE)) * max(1 - 1 / g, 0)      shadow chroma
    out = g * (Y + sat * (RGB - Y))         Y: Rec. 601 luma of the input
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vidlle.apply import CHROMA_KNEE, LUMA_601, SHOULDER, apply_params

# Smallest brightness the gain divides by (below one 8-bit level; V = 0 means a black pixel).
_EPS = 1.0 / 1024.0


def luma_map(params: torch.Tensor, local: float) -> torch.Tensor:
    """(N, C, h, w) map in [-1, 1] -> (N, 1, h, w): channel mean blended with its frame mean."""
    m = params.mean(dim=1, keepdim=True)
    if local != 1.0:
        m = local * m + (1.0 - local) * m.mean(dim=(2, 3), keepdim=True)
    return m


def upsample_params(r: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (half-pixel centres, as cv2.INTER_LINEAR) upsampling of (N, C, h, w) to ``size``."""
    if tuple(r.shape[-2:]) == tuple(size):
        return r
    return F.interpolate(r, size=size, mode="bilinear", align_corners=False)


def hue_preserving_apply(x: torch.Tensor, params: torch.Tensor, curve: Callable, local: float = 1.0,
                         strength: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Enhance ``x`` with one brightness gain per pixel.

    x: (N, 3, H, W) float RGB in [0, 1], the full-resolution frames.
    params: (N, C, h, w) float in [-1, 1], the low-resolution maps.
    curve: callable (m, v) -> T, all (N, 1, H, W): the model's tone curve family, monotone in v,
        T(m, 0) = 0, T(m, 1) = 1, values in [0, 1]; capped by the highlight shoulder.
    local: weight of the local map against its frame mean.
    strength: k, a float or (N,) tensor.
    Returns (N, 3, H, W) in [0, 1]: no channel exceeds V' <= 1, so nothing is clipped; luma is
    ``gain * Y`` whatever the shadow-chroma blend.
    """
    m = upsample_params(luma_map(params, local), tuple(x.shape[-2:]))
    v = x.amax(dim=1, keepdim=True)
    t = torch.minimum(curve(m.to(x.dtype), v), 1.0 - SHOULDER * (1.0 - v))
    if not isinstance(strength, torch.Tensor):
        strength = torch.tensor(float(strength), dtype=x.dtype, device=x.device)
    k = strength.to(x.dtype).reshape(-1, 1, 1, 1) if strength.dim() else strength.to(x.dtype)
    target = (v + k * (t - v)).clamp(0.0, 1.0)
    gain = target / v.clamp_min(_EPS)
    keep = v / (v + CHROMA_KNEE / 255.0)
    sat = 1.0 - (1.0 - keep) * (1.0 - 1.0 / gain.clamp_min(1e-6)).clamp_min(0.0)
    luma = (x * x.new_tensor(LUMA_601).reshape(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return gain * (luma + sat * (x - luma))


@torch.no_grad()
def resident_apply(module, frames: torch.Tensor, params: torch.Tensor, dtype: torch.dtype = torch.float32,
                   strength: torch.Tensor | float = 1.0) -> torch.Tensor:
    """The apply step on frames that stay on their device (GPU-resident pipelines, batches).

    module: a registry model (its ``apply`` is the reference apply, same curves as the CPU path).
    frames: (N, 3, H, W) uint8 RGB on the device; params: (N, C, h, w) maps in [-1, 1].
    dtype: compute precision (float16 on GPUs). Returns (N, 3, H, W) uint8 on the same device,
    within 1 level of the CPU apply (:func:`vidlle.apply.apply_params`) in float32.
    """
    x = frames.to(dtype) * (1.0 / 255.0)
    out = module.apply(x, params.to(dtype), strength)
    return (out * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def check_params(frames: Sequence[np.ndarray], ref: Sequence[np.ndarray], out: Sequence[np.ndarray], module,
                 config, tolerance: int = 1) -> dict:
    """Judge an exported enhancer against torch through the full enhance path: the shared LUT
    apply step (:func:`vidlle.apply.apply_params`) with ``module``'s tone table (the curve
    model's or the SKF student's curves). The registry's default export check.

    frames: (H, W, 3) uint8 RGB; ref/out: per frame, the predicted (3, h, w) maps. ``ok`` when
    every uint8 output pixel is within ``tolerance`` levels.
    """
    tone = module.tone()
    param_diff, out_diff, changed = 0.0, 0, 0
    for frame, a, b in zip(frames, ref, out):
        param_diff = max(param_diff, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
        ea = apply_params(frame, a, tone, 1.0, config.local).astype(np.int16)
        eb = apply_params(frame, b, tone, 1.0, config.local).astype(np.int16)
        d = np.abs(ea - eb)
        out_diff = max(out_diff, int(d.max()))
        changed += int(np.count_nonzero(d))
    pixels = sum(f.size for f in frames)
    return {"frames": len(frames), "params_max_abs": param_diff, "output_max_abs": out_diff,
            "output_changed_fraction": changed / max(1, pixels), "tolerance": tolerance, "ok": out_diff <= tolerance}
