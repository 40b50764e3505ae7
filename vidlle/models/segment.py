"""ESPNetv2 semantic segmentation, written for vidlle to load the published EdgeNets weights.

ESPNetv2 (Mehta et al., "ESPNetv2: A Light-weight, Power Efficient, and General Purpose
Convolutional Neural Network", CVPR 2019) with the bottom-up decoder of the EdgeNets repository
(sacmehta/EdgeNets, MIT). The pretrained files are plain ``state_dict``\\ s:

* ``espnetv2_s_2.0_city_1024x512.pth``: Cityscapes, 20 outputs (the 19 evaluation classes plus a
  ``background`` (void) channel that was trained with class weight 0, so it practically never wins
  the argmax).
* ``espnetv2_s_2.0_pascal_384x384.pth``: PASCAL VOC, 21 outputs (background + 20 objects).

This module is our own code; only the parameter names are dictated by the checkpoints, so
``load_state_dict(strict=True)`` works. Those names follow two helper conventions (``conv/bn/act``
attributes in the encoder, ``cbr.0/1/2`` and ``br.0/1`` sequences in the decoder), which is why
there are two small families of building blocks below.

Shape of the network (strides relative to the input):

* encoder: 3x3 conv (s2) -> down-sampler (s4) -> down-sampler + 3 EESP blocks (s8) ->
  down-sampler + 7 EESP blocks (s16). Each down-sampler also adds a projection of the input image
  pooled to its scale ("input reinforcement"), so fine detail lost by striding is re-injected.
* decoder: an efficient pyramid-pooling block at s16, then three times: upsample x2, add a
  gated projection of the encoder features at that scale, BN+PReLU, pyramid pooling. The last
  pyramid block emits the class logits at s2, which are upsampled bilinearly to the input size.

Weights are never shipped with vidlle: :func:`find_seg_weights` locates them at run time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidlle.cachedir import cache_dir
from vidlle.errors import ModelError

# Channels after each encoder level (strides 2, 4, 8, 16) for the width multipliers EdgeNets
# published; level 5 and the ImageNet classifier are not part of the segmentation network.
ENCODER_WIDTHS: dict[float, tuple[int, int, int, int]] = {
    0.5: (16, 32, 64, 128),
    1.0: (32, 64, 128, 256),
    1.25: (32, 80, 160, 320),
    1.5: (32, 96, 192, 384),
    2.0: (32, 128, 256, 512),
}

# The input must be a multiple of this (four stride-2 stages, and the decoder adds upsampled maps
# to encoder maps of exactly twice the size); other sizes are padded inside forward().
STRIDE = 16

# Normalisation of the training pipeline: torchvision's to_tensor (RGB in [0, 1]) followed by
# Normalize with these ImageNet statistics (EdgeNets' segmentation Normalize reuses the ImageNet
# classification constants, since the encoder was pre-trained on ImageNet).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
    "background",  # the void channel: trained with weight 0, not a Cityscapes evaluation class
)

PASCAL_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa",
    "train", "tv monitor",
)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# The official Cityscapes colours (cityscapesScripts labels.py), black for the void channel.
CITYSCAPES_PALETTE: np.ndarray = _frozen(np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 0),
], dtype=np.uint8))


def voc_palette(n: int) -> np.ndarray:
    """The PASCAL VOC colour map for ``n`` labels: (n, 3) uint8 RGB.

    Label ``i`` spreads its bits over the three channels, most significant bit first (bit 0 ->
    red, bit 1 -> green, bit 2 -> blue, three bits per round), so neighbouring labels get clearly
    different colours and label 0 is black. Works for any ``n``.
    """
    out = np.zeros((n, 3), dtype=np.uint8)
    for label in range(n):
        c = label
        for shift in range(7, -1, -1):
            for ch in range(3):
                out[label, ch] |= ((c >> ch) & 1) << shift
            c >>= 3
    return out


PASCAL_PALETTE: np.ndarray = _frozen(voc_palette(len(PASCAL_CLASSES)))


def class_names_for(num_classes: int) -> tuple[str, ...]:
    """Label names for a network with ``num_classes`` outputs (generic names if unknown)."""
    for names in (CITYSCAPES_CLASSES, PASCAL_CLASSES):
        if len(names) == num_classes:
            return names
    return tuple(f"class {i}" for i in range(num_classes))


def palette_for(num_classes: int) -> np.ndarray:
    """Overlay colours, (num_classes, 3) uint8 RGB, matching :func:`class_names_for`."""
    if num_classes == len(CITYSCAPES_CLASSES):
        return CITYSCAPES_PALETTE
    if num_classes == len(PASCAL_CLASSES):
        return PASCAL_PALETTE
    return _frozen(voc_palette(num_classes))


@dataclass(frozen=True)
class SegmentConfig:
    """Hyper-parameters of ESPNetv2 segmentation (all fixed by the published weights).

    num_classes: output channels (20 for the Cityscapes file, 21 for PASCAL VOC).
    scale: width multiplier ``s`` of the encoder, one of :data:`ENCODER_WIDTHS`.
    decoder_width: base width of the decoder; its stages use 4x, 3x, 2x this (EdgeNets uses 16 for
        Cityscapes and PASCAL).
    branches: parallel dilated branches per EESP block.
    level3_blocks, level4_blocks: EESP blocks after the stride-8 and stride-16 down-samplers.
    """

    num_classes: int = len(CITYSCAPES_CLASSES)
    scale: float = 2.0
    decoder_width: int = 16
    branches: int = 4
    level3_blocks: int = 3
    level4_blocks: int = 7

    def __post_init__(self):
        if self.scale not in ENCODER_WIDTHS:
            raise ValueError(f"ESPNetv2 scale {self.scale} not one of {sorted(ENCODER_WIDTHS)}")

    @property
    def encoder_widths(self) -> tuple[int, int, int, int]:
        return ENCODER_WIDTHS[self.scale]

    @property
    def pyramid_width(self) -> int:
        """Channels inside every pyramid-pooling block (narrow: it runs at five scales)."""
        return min(self.num_classes // 2, self.decoder_width)


def branch_dilations(branches: int, receptive_limit: int) -> tuple[int, ...]:
    """Dilation rates of an EESP block's 3x3 depthwise branches, smallest first.

    Branch i wants a receptive field of 3 + 2i pixels (dilation 1 + i); fields beyond the level's
    limit fall back to a plain 3x3, because at coarse levels a large dilation would mostly sample
    padding. Sorting keeps the hierarchical sums going from small to large fields.
    """
    fields = sorted(f if f <= receptive_limit else 3 for f in (3 + 2 * i for i in range(branches)))
    return tuple((f - 1) // 2 for f in fields)


# ----------------------------------------------------------------------------------------------
# Encoder building blocks (checkpoint names: conv / bn / act)
# ----------------------------------------------------------------------------------------------


class _ConvUnit(nn.Module):
    """Bias-free convolution, optionally followed by BatchNorm and PReLU ("same" padding)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 dilation: int = 1, bn: bool = True, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel // 2) * dilation,
                              dilation=dilation, groups=groups, bias=False)
        # Identity holds no state, so a unit without BN/PReLU has no such keys in the checkpoint.
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = nn.PReLU(cout) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _BNAct(nn.Module):
    """BatchNorm + PReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class _EESP(nn.Module):
    """Extremely Efficient Spatial Pyramid block: reduce -> split -> transform -> merge.

    A grouped 1x1 conv reduces ``cin`` to ``cout / branches`` channels; ``branches`` depthwise 3x3
    convs with growing dilation see that map at different receptive fields; each branch adds the
    previous one (hierarchical feature fusion, which hides the gridding artefacts of dilated
    convs); the concatenation is normalised and mixed back to ``cout`` by a grouped 1x1 conv.

    stride 1: residual add and PReLU, (N, cin, H, W) -> (N, cout, H, W), cin == cout.
    stride 2: (N, cin, H, W) -> (N, cout, ceil(H/2), ceil(W/2)) *before* any activation: the
        down-sampler concatenates it with a pooled copy of the input and activates the sum.
    """

    def __init__(self, cin: int, cout: int, stride: int, dilations: tuple[int, ...]):
        super().__init__()
        k = len(dilations)
        if cout % k:
            raise ValueError(f"EESP output width {cout} not divisible by {k} branches")
        if stride == 1 and cin != cout:
            raise ValueError("a stride-1 EESP block is residual: cin must equal cout")
        width = cout // k
        self.stride = stride
        self.proj_1x1 = _ConvUnit(cin, width, 1, groups=k)
        self.spp_dw = nn.ModuleList(
            _ConvUnit(width, width, 3, stride=stride, groups=width, dilation=d, bn=False, act=False)
            for d in dilations
        )
        self.conv_1x1_exp = _ConvUnit(cout, cout, 1, groups=k, act=False)
        self.br_after_cat = _BNAct(cout)
        # Present in the checkpoint for stride-2 blocks too, where it is never used.
        self.module_act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.proj_1x1(x)
        fused = []
        for branch in self.spp_dw:
            y = branch(reduced)
            fused.append(y if not fused else y + fused[-1])
        out = self.conv_1x1_exp(self.br_after_cat(torch.cat(fused, 1)))
        if self.stride == 2:
            return out
        return self.module_act(out + x)


def _pool2(x: torch.Tensor) -> torch.Tensor:
    """3x3 average pool, stride 2, zero padding counted in the mean (as trained); size ceil(/2)."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1)


class _DownSampler(nn.Module):
    """Halve the resolution: [avg-pooled input, strided EESP] concatenated + input reinforcement.

    forward(x (N, cin, H, W), image (N, 3, ceil(H/2), ceil(W/2)) normalised RGB at the output
    scale) -> (N, cout, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, cin: int, cout: int, dilations: tuple[int, ...]):
        super().__init__()
        # The pooled input carries cin channels; the EESP branch supplies the rest.
        self.eesp = _EESP(cin, cout - cin, stride=2, dilations=dilations)
        self.inp_reinf = nn.Sequential(
            _ConvUnit(3, 3, 3),
            _ConvUnit(3, cout, 1, act=False),
        )
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        y = torch.cat([_pool2(x), self.eesp(x)], 1)
        return self.act(y + self.inp_reinf(image))


class _Encoder(nn.Module):
    """ESPNetv2 backbone up to stride 16 (ImageNet-pretrained in EdgeNets, then fine-tuned).

    forward(x (N, 3, H, W) normalised RGB, H and W multiples of 16) -> features at strides
    2, 4, 8, 16 with :attr:`SegmentConfig.encoder_widths` channels.
    """

    # Receptive-field limits (pixels of a 3x3 kernel's dilated footprint) per stage: smaller at
    # coarser levels, where the feature map itself is small.
    LIMITS = {"level2_0": 13, "level3_0": 11, "level3": 9, "level4_0": 9, "level4": 7}

    def __init__(self, config: SegmentConfig):
        super().__init__()
        w1, w2, w3, w4 = config.encoder_widths
        dil = {name: branch_dilations(config.branches, lim) for name, lim in self.LIMITS.items()}
        self.level1 = _ConvUnit(3, w1, 3, stride=2)
        self.level2_0 = _DownSampler(w1, w2, dil["level2_0"])
        self.level3_0 = _DownSampler(w2, w3, dil["level3_0"])
        self.level3 = nn.ModuleList(
            _EESP(w3, w3, 1, dil["level3"]) for _ in range(config.level3_blocks))
        self.level4_0 = _DownSampler(w3, w4, dil["level4_0"])
        self.level4 = nn.ModuleList(
            _EESP(w4, w4, 1, dil["level4"]) for _ in range(config.level4_blocks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # The image pyramid for input reinforcement, pooled once and reused by each down-sampler.
        image4 = _pool2(_pool2(x))
        image8 = _pool2(image4)
        image16 = _pool2(image8)
        f2 = self.level1(x)
        f4 = self.level2_0(f2, image4)
        f8 = self.level3_0(f4, image8)
        for block in self.level3:
            f8 = block(f8)
        f16 = self.level4_0(f8, image16)
        for block in self.level4:
            f16 = block(f16)
        return f2, f4, f8, f16


# ----------------------------------------------------------------------------------------------
# Decoder building blocks (checkpoint names: cbr.0/1/2, br.0/1)
# ----------------------------------------------------------------------------------------------


def _bn_prelu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(channels), nn.PReLU(channels))


class _SeqConvBNAct(nn.Module):
    """Bias-free conv + BatchNorm + PReLU held as one sequence named ``cbr``."""

    def __init__(self, cin: int, cout: int, kernel: int, groups: int = 1):
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cbr(x)


class _SeqBNAct(nn.Module):
    """BatchNorm + PReLU held as one sequence named ``br``."""

    def __init__(self, channels: int):
        super().__init__()
        self.br = _bn_prelu(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.br(x)


class _ChannelShuffle(nn.Module):
    """(N, g*c, H, W) laid out group-major -> channel-major, so channel j of every group sits
    next to its siblings and a following conv with c groups mixes exactly those."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class _PyramidPool(nn.Module):
    """Efficient pyramid pooling: context at five scales for the price of depthwise convs.

    The input is projected to a narrow width, resampled to 2, 1.5, 1, 0.5 and 0.1 times its size
    (never below 5 pixels), filtered by one depthwise 3x3 per scale and brought back; the five
    maps are normalised together, shuffled so each channel's five scales are adjacent, fused by a
    grouped 3x3 and expanded by a 1x1.

    forward: (N, cin, H, W) -> (N, cout, H, W). The final block (``last=True``) returns raw
    logits (1x1 with bias, no BN/PReLU).
    """

    SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)

    def __init__(self, cin: int, width: int, cout: int, last: bool = False):
        super().__init__()
        n = len(self.SCALES)
        self.projection_layer = _SeqConvBNAct(cin, width, 1)
        self.stages = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False) for _ in self.SCALES)
        self.merge_layer = nn.Sequential(
            _SeqBNAct(width * n),  # one BN over all scales rather than one per scale
            _ChannelShuffle(n),
            _SeqConvBNAct(width * n, width, 3, groups=width),
            nn.Conv2d(width, cout, 1, bias=last),
        )
        self.last = last
        if not last:
            self.br = _SeqBNAct(cout)

    @staticmethod
    def _at_scale(x: torch.Tensor, scale: float, conv: nn.Module) -> torch.Tensor:
        h, w = x.shape[-2:]
        if scale == 1.0:
            return conv(x)
        # Same float arithmetic as training (ceil of the product), floor of 5 pixels.
        size = (max(5, math.ceil(h * scale)), max(5, math.ceil(w * scale)))
        if scale > 1.0:
            y = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
            return F.adaptive_avg_pool2d(conv(y), (h, w))
        y = F.adaptive_avg_pool2d(x, size)
        return F.interpolate(conv(y), size=(h, w), mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection_layer(x)
        y = torch.cat([self._at_scale(x, s, conv) for s, conv in zip(self.SCALES, self.stages)], 1)
        y = self.merge_layer(y)
        return y if self.last else self.br(y)


class _GatedProjection(nn.Module):
    """Encoder skip features -> decoder width, gated per channel by their global context.

    forward: (N, cin, H, W) -> (N, cout, H, W) = grouped 3x3 CBR(x) * sigmoid(1x1(mean(x))).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.wt_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.Sigmoid(),
        )
        self.expansion_layer = _SeqConvBNAct(cin, cout, 3, groups=math.gcd(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expansion_layer(x) * self.wt_layer(x)


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


class ESPNetv2Seg(nn.Module):
    """ESPNetv2 semantic segmentation.

    forward: x (N, 3, H, W) float32 RGB in [0, 1], any H, W >= 1 -> logits (N, C, H, W) float32,
    C = ``config.num_classes`` (argmax over C gives the label map; see :func:`class_names_for`).

    The ImageNet normalisation of training is applied inside (fixed buffers, not part of the
    state_dict). Sizes that are not multiples of 16 are padded bottom/right by edge replication
    and the logits cropped back, so no input pixel is dropped; multiples of 16 run exactly as in
    EdgeNets.
    """

    def __init__(self, config: SegmentConfig = SegmentConfig()):
        super().__init__()
        self.config = config
        w1, w2, w3, w4 = config.encoder_widths
        d = config.decoder_width
        p = config.pyramid_width
        self.base_net = _Encoder(config)
        self.bu_dec_l1 = _PyramidPool(w4, p, 4 * d)
        self.bu_dec_l2 = _PyramidPool(4 * d, p, 3 * d)
        self.bu_dec_l3 = _PyramidPool(3 * d, p, 2 * d)
        self.bu_dec_l4 = _PyramidPool(2 * d, p, config.num_classes, last=True)
        self.merge_enc_dec_l2 = _GatedProjection(w3, 4 * d)
        self.merge_enc_dec_l3 = _GatedProjection(w2, 3 * d)
        self.merge_enc_dec_l4 = _GatedProjection(w1, 2 * d)
        self.bu_br_l2 = _bn_prelu(4 * d)
        self.bu_br_l3 = _bn_prelu(3 * d)
        self.bu_br_l4 = _bn_prelu(2 * d)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _up_merge(coarse: torch.Tensor, skip: torch.Tensor, project: nn.Module, norm: nn.Module,
                  pyramid: nn.Module) -> torch.Tensor:
        """One decoder step: x2 upsample, add the projected skip features, BN+PReLU, pyramid."""
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return pyramid(norm(up + project(skip)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        pad_h, pad_w = -h % STRIDE, -w % STRIDE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        f2, f4, f8, f16 = self.base_net(x)
        y = self.bu_dec_l1(f16)
        y = self._up_merge(y, f8, self.merge_enc_dec_l2, self.bu_br_l2, self.bu_dec_l2)
        y = self._up_merge(y, f4, self.merge_enc_dec_l3, self.bu_br_l3, self.bu_dec_l3)
        y = self._up_merge(y, f2, self.merge_enc_dec_l4, self.bu_br_l4, self.bu_dec_l4)
        # Logits come out at stride 2; bring them to the (padded) input grid, then drop the pad.
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return y[..., :h, :w]


# ----------------------------------------------------------------------------------------------
# Finding and loading the weights
# ----------------------------------------------------------------------------------------------

SEG_WEIGHTS_ENV = "VIDLLE_SEG_WEIGHTS"
WEIGHTS_URL = (
    "https://github.com/sacmehta/EdgeNets/tree/master/model/segmentation/model_zoo/espnetv2"
)


def find_seg_weights(explicit: str | Path | None = None) -> Path:
    """Path of the ESPNetv2 weights: ``explicit`` (``--seg-weights``), then ``$VIDLLE_SEG_WEIGHTS``,
    then the first ``espnetv2*.pth`` in ``weights/`` under the cache root (:mod:`vidlle.cachedir`; a Cityscapes one preferred).

    A path given explicitly or by the environment must exist (no silent fall-back to another
    model). Raises ModelError with a one-line message when nothing is found.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelError(f"segmentation weights {path} (--seg-weights) not found")
        return path
    env = os.environ.get(SEG_WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ModelError(f"segmentation weights {path} (from ${SEG_WEIGHTS_ENV}) not found")
        return path
    cache = cache_dir("weights")
    found = sorted(p for p in cache.glob("espnetv2*.pth") if p.is_file())
    if found:
        city = [p for p in found if "city" in p.name]
        return (city or found)[0]
    raise ModelError(
        f"ESPNetv2 segmentation weights not found (no --seg-weights, ${SEG_WEIGHTS_ENV} unset, "
        f"no espnetv2*.pth in {cache}): download espnetv2_s_2.0_city_1024x512.pth from "
        f"{WEIGHTS_URL} and pass --seg-weights PATH, set {SEG_WEIGHTS_ENV}, or put it in {cache}"
    )


def config_from_state_dict(state: Mapping[str, torch.Tensor]) -> SegmentConfig:
    """The :class:`SegmentConfig` a checkpoint was trained with, read from its tensor shapes.

    Raises ModelError if the keys that define the shape are missing.
    """
    try:
        num_classes = int(state["bu_dec_l4.merge_layer.3.bias"].shape[0])
        widths = (
            int(state["base_net.level1.conv.weight"].shape[0]),
            int(state["base_net.level2_0.act.weight"].shape[0]),
            int(state["base_net.level3_0.act.weight"].shape[0]),
            int(state["base_net.level4_0.act.weight"].shape[0]),
        )
        decoder_width = int(state["bu_dec_l3.merge_layer.3.weight"].shape[0]) // 2
    except (KeyError, AttributeError, IndexError, TypeError) as exc:
        raise ModelError(f"not an ESPNetv2 segmentation state_dict (no usable {exc})") from None
    scales = [s for s, ws in ENCODER_WIDTHS.items() if ws == widths]
    if not scales:
        raise ModelError(f"ESPNetv2 encoder widths {widths} match no known scale")
    return SegmentConfig(num_classes=num_classes, scale=scales[0], decoder_width=decoder_width)


def build_from_state_dict(state: Mapping[str, torch.Tensor]) -> ESPNetv2Seg:
    """An :class:`ESPNetv2Seg` with ``state`` loaded strictly; ModelError (one line) on mismatch."""
    config = config_from_state_dict(state)
    try:
        model = ESPNetv2Seg(config)
    except (ValueError, RuntimeError) as exc:  # e.g. a class count no network can be built for
        raise ModelError(f"no ESPNetv2 can be built for {config}: {exc}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [k for k in expected
                 if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or misshaped:
        first = (missing + unexpected + misshaped)[0]
        raise ModelError(
            f"state_dict does not fit ESPNetv2 (s={model.config.scale}, "
            f"{model.config.num_classes} classes): {len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(misshaped)} mis-shaped keys (first: {first})"
        )
    model.load_state_dict(state, strict=True)
    return model


def load_segmenter(path: str | Path | None = None,
                   device: str | torch.device = "cpu") -> tuple[ESPNetv2Seg, tuple[str, ...]]:
    """Find (:func:`find_seg_weights`) and load the ESPNetv2 weights.

    Returns (model in eval mode on ``device``, parameters frozen; its class names, one per
    output channel). Raises ModelError with a one-line message if the weights are missing or are
    not an ESPNetv2 segmentation state_dict.
    """
    weights = find_seg_weights(path)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean "not our file"
        # torch's own message (advice to pass weights_only=False) would mislead: say what it is.
        raise ModelError(
            f"cannot read segmentation weights {weights}: not a PyTorch state_dict file "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(state, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"segmentation weights {weights} are not a state_dict of tensors")
    try:
        model = build_from_state_dict(state)
    except ModelError as exc:
        raise ModelError(f"segmentation weights {weights}: {exc}") from None
    model.requires_grad_(False)
    return model.to(device).eval(), class_names_for(model.config.num_classes)


def load_network(path: str | Path | None = None) -> tuple[ESPNetv2Seg, SegmentConfig]:
    """(model in eval mode, its config): the registry entry's loader (export and engines)."""
    model, _names = load_segmenter(path)
    return model, model.config


def check_logits(frames: Sequence[np.ndarray], ref: Sequence[np.ndarray], out: Sequence[np.ndarray], module,
                 config, tolerance: int = 1) -> dict:
    """Judge an exported segmenter against torch: max abs logit difference and argmax label
    agreement. ``ok`` when at most ``tolerance`` per mille of the labels differ (ties between
    classes). The registry entry's export check."""
    diff, same, total = 0.0, 0, 0
    for a, b in zip(ref, out):
        diff = max(diff, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
        same += int(np.count_nonzero(a.argmax(0) == b.argmax(0)))
        total += a.shape[-2] * a.shape[-1]
    agreement = same / max(1, total)
    return {"frames": len(ref), "logits_max_abs": diff, "label_agreement": agreement, "tolerance": tolerance,
            "ok": agreement >= 1 - 1e-3 * tolerance}
