"""Our own loader for the published Zero-DCE++ and SGZ weights (comparison only).

Both papers publish the same layout: seven 3x3-depthwise + 1x1-pointwise blocks with 32 channels
(``e_conv1`` .. ``e_conv7``, each with ``depth_conv`` and ``point_conv``), U-Net style skip
concatenations, tanh output; the map is predicted on a frame downscaled 12x (bilinear) and
upsampled bilinearly (corner-aligned) to full size, then 8 recurrent quadratic curve steps are
applied. The weights are fetched from the authors' public repositories into an ignored folder and
never committed:

* Zero-DCE++: Li-Chongyi/Zero-DCE_extension ``Zero-DCE++/snapshots_Zero_DCE++/Epoch99.pth``
* SGZ: ShenZheng2000/Semantic-Guided-Low-Light-Image-Enhancement ``weight/Epoch99.pth``

Their test scripts crop the frame to a multiple of 12; we instead resize the predictor input to
``floor(H/12) x floor(W/12)`` and upsample the map to exactly H x W, so no pixel is dropped and all
methods are scored on the same pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depth_conv = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.point_conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.point_conv(self.depth_conv(x))


class PublishedCurveNet(nn.Module):
    """The published predictor; state_dict keys match the authors' files exactly."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.e_conv1 = _Block(3, width)
        self.e_conv2 = _Block(width, width)
        self.e_conv3 = _Block(width, width)
        self.e_conv4 = _Block(width, width)
        self.e_conv5 = _Block(2 * width, width)
        self.e_conv6 = _Block(2 * width, width)
        self.e_conv7 = _Block(2 * width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) float RGB in [0, 1] -> curve map (N, 3, h, w) in [-1, 1]."""
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))


class PublishedEnhancer:
    """Callable (H, W, 3) uint8 RGB -> (H, W, 3) uint8 RGB with a published weights file."""

    def __init__(self, path: str | Path, scale_factor: int = 12, steps: int = 8):
        self.net = PublishedCurveNet()
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
        self.scale_factor, self.steps = scale_factor, steps

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        h, w = x.shape[-2:]
        small = F.interpolate(x, size=(max(1, h // self.scale_factor), max(1, w // self.scale_factor)),
                              mode="bilinear", align_corners=False)
        r = F.interpolate(self.net(small), size=(h, w), mode="bilinear", align_corners=True)
        for _ in range(self.steps):
            x = x + r * (x * x - x)
        out = (x.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        return out
