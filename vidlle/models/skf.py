"""The SKF student: a real-time enhancer distilled from a semantic-aware (SKF) teacher.

The teacher (``train/skf``: an encoder-decoder with SKF's semantic-aware embedding, trained with
the semantic colour-histogram and semantic adversarial losses; Wu et al., CVPR 2023) needs a
segmenter and a full-resolution network. The student needs neither at inference. It is an
enhancer as the registry describes one (:mod:`vidlle.models.registry`):

* :class:`SKFStudent` is the *parameter predictor*. It sees the frame downscaled (long side
  ``predict_size``) and predicts a *selector map* ``s`` (N, 3, h, w) in [-1, 1] at that low
  resolution: the same shape and range as the curve model's map ``r``, so the temporal
  smoothing, backends and ONNX/TensorRT engines take it unchanged.
* Its richer part is the **curve bank**: a learned one-parameter family of monotone tone curves
  ``T(s, v)``, tabulated on ``knots`` values of s (-1..1) and ``levels`` input levels (0..1).
  ``s`` picks a curve per pixel; neighbouring knots are blended linearly. The curve model's
  family ``x <- x + r (x^2 - x)`` (8 steps) is one fixed such family; here the family itself is
  learned from paired data (several darkening recipes). The bank is initialised to the quadratic
  family, so an untrained student behaves like the curve model.
* :meth:`SKFStudent.apply` is the *reference apply step* (differentiable; training uses it): the
  shared hue-preserving apply of :mod:`vidlle.models.tone` with the bank as the curve family (one
  brightness gain per pixel from ``max(R, G, B)``, so hues are kept and monochrome input stays
  monochrome; the map is reduced to one channel and blended with its frame mean by ``local``).

Fast apply (CPU): :meth:`SKFStudent.table` tabulates the bank as a (rows, 256) float32 table of
output levels, the same kind of table :mod:`vidlle.apply` builds for the curve model, so the
student costs what the curve model costs (:func:`vidlle.apply.apply_params` with
:meth:`SKFStudent.tone`). With ``levels == 256`` every uint8 input level is a knot, so the table
is exact along the level axis.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidlle.apply import TABLE_ROWS, ToneTable
from vidlle.models.curve import curve_steps
from vidlle.models.registry import SKFConfig, bank_table
from vidlle.models.tone import hue_preserving_apply

__all__ = [
    "TABLE_ROWS",
    "SKFConfig",
    "SKFStudent",
    "bank_curve",
    "bank_from_logits",
    "logits_from_bank",
]


class _SeparableConv(nn.Module):
    """3x3 depthwise (replicate padding, optional stride 2) + 1x1 pointwise convolution."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, padding_mode="replicate")
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def bank_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Monotone curves from unconstrained increments.

    logits: (1, K, L - 1). Returns (1, K, L) in [0, 1]: every curve starts at 0, ends at 1 and is
    non-decreasing (normalised cumulative sums of softplus increments), so no tone is inverted and
    black and white stay put, as for the curve model.
    """
    inc = F.softplus(logits)
    cum = torch.cumsum(inc, dim=-1)
    cum = cum / cum[..., -1:].clamp_min(1e-12)
    return torch.cat([torch.zeros_like(cum[..., :1]), cum], dim=-1)


def logits_from_bank(curves: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`bank_from_logits`: (..., K, L) monotone curves -> (..., K, L - 1) logits.

    Flat stretches (r = -1 saturates the highlights) get a small positive increment: the softplus
    parameterisation cannot reach exactly 0, and the normalisation absorbs the rest.
    """
    inc = torch.diff(curves, dim=-1).clamp_min(1e-7)
    return torch.log(torch.expm1(inc))


def _quadratic_bank_logits(knots: int, levels: int, steps: int) -> torch.Tensor:
    """(1, K, L - 1) logits of the curve model's family tabulated at the bank's grid."""
    r = torch.linspace(-1.0, 1.0, knots, dtype=torch.float64)[:, None]
    v = torch.linspace(0.0, 1.0, levels, dtype=torch.float64)[None, :]
    y = curve_steps(v.expand(knots, levels).clone(), r, steps)
    return logits_from_bank(y).float()[None].clone()


class SKFStudent(nn.Module):
    """SKF student: selector-map predictor + one learned curve bank (shared by R, G and B).

    A small encoder-decoder at the predictor's resolution: a full-resolution 3x3 stem, separable
    convolutions at strides 2 and 4, and a global branch (the stride-4 features averaged over the
    frame become a per-channel scale and shift of those features: how strongly to brighten
    depends on the exposure of the whole frame, which a purely local network cannot see). The
    decoder adds projected coarse features to the finer ones (additions, not concatenations: the
    full-resolution layers dominate the cost). No segmenter.

    forward: x (N, 3, h, w) float32 RGB in [0, 1], any h, w >= 1 -> s (N, 3, h, w) float32 in
    [-1, 1]. The bank is a parameter (:meth:`bank`, :meth:`table`), not an output.
    """

    def __init__(self, config: SKFConfig = SKFConfig()):
        super().__init__()
        self.config = config
        c = config.width
        self.stem = nn.Conv2d(3, c, 3, padding=1, padding_mode="replicate")
        self.down1 = _SeparableConv(c, 2 * c, stride=2)
        self.down2 = _SeparableConv(2 * c, 4 * c, stride=2)
        self.mid1 = _SeparableConv(4 * c, 4 * c)
        self.mid2 = _SeparableConv(4 * c, 4 * c)
        self.global_fc1 = nn.Linear(4 * c, 4 * c)
        self.global_fc2 = nn.Linear(4 * c, 8 * c)
        self.lat2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.up1 = _SeparableConv(2 * c, 2 * c)
        self.lat1 = nn.Conv2d(2 * c, c, 1)
        self.up0 = _SeparableConv(c, c)
        self.head = nn.Conv2d(c, 3, 1)
        self.bank_logits = nn.Parameter(
            _quadratic_bank_logits(config.knots, config.levels, config.init_steps))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        # Small head and neutral global modulation: the untrained map is near s = 0.
        nn.init.normal_(self.head.weight, 0.0, 0.01)
        nn.init.zeros_(self.global_fc2.weight)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(s, features): the map and the intermediate features used for distillation.

        features: ``"bottleneck"`` (N, 4w, ~h/4, ~w/4) after the global modulation and
        ``"decoder"`` (N, 2w, ~h/2, ~w/2).
        """
        f0 = F.relu(self.stem(x))
        f1 = F.relu(self.down1(f0))
        f2 = F.relu(self.down2(f1))
        f2 = F.relu(self.mid2(F.relu(self.mid1(f2))))
        g = F.relu(self.global_fc1(f2.mean(dim=(2, 3))))
        scale, shift = self.global_fc2(g).chunk(2, dim=1)
        f2 = f2 * (1.0 + scale[..., None, None]) + shift[..., None, None]
        d1 = F.relu(self.up1(_up_to(self.lat2(f2), f1) + f1))
        d0 = F.relu(self.up0(_up_to(self.lat1(d1), f0) + f0))
        s = torch.tanh(self.head(d0))
        return s, {"bottleneck": f2, "decoder": d1}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]

    def bank(self) -> torch.Tensor:
        """(1, knots, levels) float in [0, 1]: the curves, monotone in the level axis."""
        return bank_from_logits(self.bank_logits.float())

    @torch.no_grad()
    def table(self, rows: int = TABLE_ROWS) -> np.ndarray:
        """(rows, levels) float32 output levels: the bank tabulated for the fast LUT apply (as the
        shipped runtime tabulates the stored bank, :func:`vidlle.models.registry.bank_table`)."""
        return bank_table(self.bank().cpu().numpy(), rows)

    def curve(self, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The bank as a tone curve family: T(m, v), both (N, 1, H, W), values in [0, 1]."""
        return bank_curve(self.bank(), m, v)

    def apply(self, x: torch.Tensor, s: torch.Tensor, strength: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Reference hue-preserving apply step; differentiable in x, s and the bank.

        x: (N, 3, H, W) in [0, 1]; s: (N, 3, h, w) in [-1, 1]; strength: float or (N,).
        """
        return hue_preserving_apply(x, s, self.curve, self.config.local, strength)

    def tone(self):
        """The :class:`vidlle.apply.ToneTable` of the fast CPU apply.

        Needs ``levels == 256`` (one knot per uint8 level), as the shipped configuration has.
        """
        if self.config.levels != 256:
            raise ValueError(f"the fast apply needs a 256-level bank, this one has {self.config.levels}")
        return ToneTable.from_array(self.table())


def bank_curve(bank: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Evaluate a (1, K, L) bank at selector ``m`` and level ``v`` (both (N, 1, H, W), full size).

    Bilinear over the (K, L) grid; differentiable in bank, m and v. Returns (N, 1, H, W).
    """
    n, _, h, w = v.shape
    if bank.shape[0] != 1 or m.shape != v.shape:
        raise ValueError(f"bank_curve: bank {tuple(bank.shape)}, m {tuple(m.shape)}, v {tuple(v.shape)} disagree")
    # grid_sample with the bank as a one-channel image whose width is the level axis (x) and
    # whose height is the knot axis (y); align_corners=True puts level 0 and 1 and s = -1 and 1
    # exactly on the first and last knots.
    grid = torch.stack([v * 2.0 - 1.0, m.to(v.dtype)], dim=-1).reshape(1, n * h, w, 2)
    out = F.grid_sample(bank[None].to(v.dtype), grid, mode="bilinear", padding_mode="border",
                        align_corners=True)  # (1, 1, N*H, W)
    return out.reshape(n, 1, h, w)
