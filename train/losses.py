"""Non-reference losses of the Zero-DCE / SGZ family.

Pure functions first (shapes in the docstrings), thin ``nn.Module`` wrappers second. Images are
(N, 3, H, W) float RGB in [0, 1]; every function returns a scalar tensor (batch mean).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _gray(img: torch.Tensor) -> torch.Tensor:
    """Channel mean, (N, 3, H, W) -> (N, 1, H, W)."""
    return img.mean(dim=1, keepdim=True)


def spatial_consistency_loss(enhanced: torch.Tensor, original: torch.Tensor, patch: int = 4) -> torch.Tensor:
    """Keep the contrast between neighbouring regions (SGZ eq. 2, four neighbours).

    Both images are reduced to gray and average-pooled over ``patch`` x ``patch`` regions; for each
    region the absolute differences to its left/right/up/down neighbours must stay the same after
    enhancement. Squared error of those differences, averaged.
    """
    y = F.avg_pool2d(_gray(enhanced), patch)
    i = F.avg_pool2d(_gray(original), patch)
    loss = enhanced.new_zeros(())
    for dy, dx in ((0, 1), (1, 0)):
        # A difference to the right neighbour is the left neighbour's difference too: two
        # directions cover all four neighbour pairs; double to match the four-neighbour sum.
        dyv = (y[..., dy:, dx:] - y[..., : y.shape[-2] - dy, : y.shape[-1] - dx]).abs()
        div = (i[..., dy:, dx:] - i[..., : i.shape[-2] - dy, : i.shape[-1] - dx]).abs()
        loss = loss + 2.0 * ((dyv - div) ** 2).mean()
    return loss


def color_constancy_loss(enhanced: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Grey-world prior (SGZ eq. 3): channel means should agree.

    Charbonnier distance sqrt(d**2 + eps**2) over the pairs (R, G), (R, B), (G, B) of the
    per-image channel means.
    """
    m = enhanced.mean(dim=(2, 3))  # (N, 3)
    r, g, b = m[:, 0], m[:, 1], m[:, 2]
    d = torch.stack([r - g, r - b, g - b], dim=1)
    return torch.sqrt(d * d + eps * eps).sum(dim=1).mean()


def exposure_loss(enhanced: torch.Tensor, level: float = 0.6, patch: int = 16) -> torch.Tensor:
    """Pull the mean of every ``patch`` x ``patch`` gray region towards ``level`` (SGZ eq. 4)."""
    y = F.avg_pool2d(_gray(enhanced), patch)
    return (y - level).abs().mean()


def illumination_smoothness_loss(params: torch.Tensor) -> torch.Tensor:
    """Total variation of the curve-parameter map (SGZ eq. 5): squared x and y gradients.

    params: (N, C, h, w). Returns the mean over N, C and positions.
    """
    dx = params[..., :, 1:] - params[..., :, :-1]
    dy = params[..., 1:, :] - params[..., :-1, :]
    return (dx * dx).mean() + (dy * dy).mean()


def semantic_focal_loss(logits: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """SGZ's semantic loss (eq. 6): focal loss of a frozen segmenter against its own argmax.

    logits: (N, C, H, W) segmenter output on the *enhanced* image. p is the probability of the
    most likely class at each pixel; the loss ``-(1 - p)**gamma * log p`` is small where the
    segmenter is already confident and large where the enhancement leaves it unsure, so the
    gradient (through the frozen segmenter into the image) pushes the enhancement towards images
    whose content is recognisable. Mean over N, H, W; beta is the caller's weight.
    """
    log_p = F.log_softmax(logits.float(), dim=1).max(dim=1).values
    p = log_p.exp()
    return (-((1.0 - p) ** gamma) * log_p).mean()


class ZeroReferenceLoss(nn.Module):
    """Weighted sum of the four non-reference losses; returns (total, dict of parts).

    Default weights follow Zero-DCE++'s balance (smoothness dominates numerically because the TV
    term is tiny).
    """

    def __init__(
        self,
        w_spa: float = 1.0,
        w_col: float = 5.0,
        w_exp: float = 10.0,
        w_tv: float = 1600.0,
        exposure_level: float = 0.6,
        exposure_patch: int = 16,
    ):
        super().__init__()
        self.w_spa, self.w_col, self.w_exp, self.w_tv = w_spa, w_col, w_exp, w_tv
        self.exposure_level = exposure_level
        self.exposure_patch = exposure_patch

    def forward(self, enhanced, original, params):
        parts = {
            "spa": spatial_consistency_loss(enhanced, original),
            "col": color_constancy_loss(enhanced),
            "exp": exposure_loss(enhanced, self.exposure_level, self.exposure_patch),
            "tv": illumination_smoothness_loss(params),
        }
        total = (
            self.w_spa * parts["spa"]
            + self.w_col * parts["col"]
            + self.w_exp * parts["exp"]
            + self.w_tv * parts["tv"]
        )
        return total, {k: float(v.detach()) for k, v in parts.items()}
