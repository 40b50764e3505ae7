"""The curve model: a zero-shot recurrent-curve enhancer (SGZ / Zero-DCE++ family).

An enhancer as the registry describes one (:mod:`vidlle.models.registry`):

* :class:`CurveNet` is the *parameter predictor*. It sees a downscaled frame and predicts a
  per-pixel curve-parameter map ``r`` (3 channels, averaged by the apply step) at that low resolution.
* Its tone curve family is ``steps`` recurrent quadratic steps ``v <- v + r * (v**2 - v)``. With
  ``r`` in [-1, 1] and ``v`` in [0, 1] every step maps [0, 1] onto itself and is monotone, so the
  curve never inverts tones; ``r < 0`` brightens, ``r > 0`` darkens, ``r = 0`` is the identity.
* :meth:`CurveNet.apply` is the *reference apply step* (differentiable; training uses it): the
  shared hue-preserving apply of :mod:`vidlle.models.tone` with this family, i.e. one brightness
  gain per pixel from ``max(R, G, B)``, the map reduced to one channel and blended with its frame
  mean by ``local``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidlle.apply import curve_tone
from vidlle.models.registry import CurveConfig
from vidlle.models.tone import hue_preserving_apply

__all__ = ["CurveConfig", "CurveNet", "curve_steps"]


class _SeparableConv(nn.Module):
    """3x3 depthwise + 1x1 pointwise convolution (the SGZ / Zero-DCE++ building block).

    Replicate padding, so the border of the map is predicted from real pixels rather than a
    black frame (zero padding dims the curve along the edges).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, padding_mode="replicate")
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class CurveNet(nn.Module):
    """Curve-parameter predictor.

    Seven separable conv layers at full (input) resolution with Zero-DCE-style symmetric skip
    concatenations; no striding, so any input size works (down to 1x1).

    forward: x (N, 3, h, w) float32 RGB in [0, 1] -> r (N, 3, h, w) float32 in [-1, 1].
    """

    def __init__(self, config: CurveConfig = CurveConfig()):
        super().__init__()
        c = config.width
        self.config = config
        self.conv1 = _SeparableConv(3, c)
        self.conv2 = _SeparableConv(c, c)
        self.conv3 = _SeparableConv(c, c)
        self.conv4 = _SeparableConv(c, c)
        self.conv5 = _SeparableConv(2 * c, c)
        self.conv6 = _SeparableConv(2 * c, c)
        self.conv7 = _SeparableConv(2 * c, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # N(0, 0.02) as in SGZ; biases zero so the untrained curve starts near identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x4 = F.relu(self.conv4(x3))
        x5 = F.relu(self.conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.conv7(torch.cat([x1, x6], 1)))

    def curve(self, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The tone curve family: T(m, v), both (N, 1, H, W), values in [0, 1]."""
        return curve_steps(v, m, self.config.steps)

    def apply(self, x: torch.Tensor, r: torch.Tensor, strength: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Reference hue-preserving apply step (:func:`vidlle.models.tone.hue_preserving_apply`).

        x: (N, 3, H, W) in [0, 1]; r: (N, 3, h, w) in [-1, 1]; strength: float or (N,).
        """
        return hue_preserving_apply(x, r, self.curve, self.config.local, strength)

    def tone(self):
        """The :class:`vidlle.apply.ToneTable` of the fast CPU apply."""
        return curve_tone(self.config.steps)


def curve_steps(x: torch.Tensor, r: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` recurrent quadratic steps; x and r broadcastable, x in [0, 1], r in [-1, 1]."""
    for _ in range(steps):
        x = x + r * (x * x - x)
    return x
