"""Networks of the SKF teacher: semantic prior, SE module, encoder-decoder, discriminators.

Images are (N, 3, H, W) float RGB in [0, 1] throughout.

Paper mapping (Wu et al., CVPR 2023):

* eq. 1, ``M = F_segment(I_l)``: :class:`SemanticPrior` runs the frozen ESPNetv2 on the low-light
  input and returns its multi-scale decoder features (the paper's HRNet features "before the
  representation head") plus the class logits.
* eq. 4-5, the SE module: :class:`SEBlock`.
* "SE modules in the decoder at three scales": :class:`TeacherNet`.
* The SA loss's global and local discriminators: :class:`PatchDiscriminator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------------------------
# The semantic prior (frozen ESPNetv2)
# ----------------------------------------------------------------------------------------------


def gamma_brighten(x: torch.Tensor, target: float = 0.45, lowest: float = 0.2) -> torch.Tensor:
    """Per-image gamma so the mean becomes ``target`` (exponent clamped to [lowest, 1]).

    x: (N, 3, H, W) in [0, 1] -> same. Only ever brightens. Used to show the segmenter a
    viewable copy of a dark frame: ESPNetv2 was trained on well-exposed street scenes, and a
    2-5 stops under-exposed input mostly yields "road" everywhere.
    """
    mean = x.mean(dim=(1, 2, 3), keepdim=True).clamp(1e-4, 0.999)
    gamma = (math.log(target) / torch.log(mean)).clamp(lowest, 1.0)
    return x.clamp_min(1e-6) ** gamma


class SemanticPrior(nn.Module):
    """Frozen ESPNetv2 as SKF's semantic knowledge bank.

    forward: x (N, 3, H, W) in [0, 1] -> (features, logits). ``features`` are the decoder maps
    after its pyramid blocks at strides 16, 8 and 4 (coarse to fine; :attr:`channels` each: 64,
    48, 32 for the published s=2.0 models), cropped to the input's extent; ``logits`` (N, C, H, W).
    No gradients flow into or through the segmenter (it is a fixed prior, and neither SE nor the
    losses need d(segmentation)/d(image)).

    brighten: show the segmenter :func:`gamma_brighten` (x) instead of x (default for dark
        inputs; the paper feeds the raw low-light image, ``brighten=False``).
    """

    LAYERS = ("bu_dec_l1", "bu_dec_l2", "bu_dec_l3")
    STRIDES = (16, 8, 4)

    def __init__(self, segmenter: nn.Module, brighten: bool = True):
        super().__init__()
        self.segmenter = segmenter.eval().requires_grad_(False)
        self.brighten = brighten
        d = segmenter.config.decoder_width
        self.channels = (4 * d, 3 * d, 2 * d)
        self.num_classes = segmenter.config.num_classes
        self._captured: dict[str, torch.Tensor] = {}
        for name in self.LAYERS:
            getattr(self.segmenter, name).register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def capture(module, inputs, output):
            self._captured[name] = output
        return capture

    def train(self, mode: bool = True):  # the prior stays in eval mode (frozen batch norm)
        super().train(mode)
        self.segmenter.eval()
        return self

    @torch.no_grad()
    def forward(self, x: torch.Tensor, brighten: bool | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        brighten = self.brighten if brighten is None else brighten
        h, w = x.shape[-2:]
        self._captured.clear()
        logits = self.segmenter(gamma_brighten(x) if brighten else x)
        feats = []
        for name, stride in zip(self.LAYERS, self.STRIDES):
            f = self._captured.pop(name)
            feats.append(f[..., : math.ceil(h / stride), : math.ceil(w / stride)])
        return feats, logits

    @torch.no_grad()
    def logits(self, x: torch.Tensor, brighten: bool = False) -> torch.Tensor:
        """Class logits only, (N, C, H, W); for masks of well-exposed images (no brightening)."""
        return self.forward(x, brighten=brighten)[1]


# ----------------------------------------------------------------------------------------------
# The SE module
# ----------------------------------------------------------------------------------------------


class ChannelNorm(nn.Module):
    """Layer norm over the channels of every pixel, (N, C, H, W) -> same, with affine."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight[:, None, None] + self.bias[:, None, None]


def _pointwise_depthwise(cin: int, cout: int) -> nn.Sequential:
    """1x1 projection then 3x3 depthwise (local context for the tokens)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.Conv2d(cout, cout, 3, padding=1, groups=cout))


class SEBlock(nn.Module):
    """Semantic-aware embedding: cross-attention of image features with semantic features.

    SKF eq. 4-5: ``A = Softmax(W_k(F_i) W_q(F_s) / sqrt(C))``, ``F_o = FN(W_v(F_i) A + F_i)``.
    Keys and values come from the image features F_i, queries from the semantic features F_s
    (resampled to F_i's size and projected to its width). Attention is across channels
    ("transposed" attention, per head, C/heads x C/heads), which is what the paper's product
    shapes give and keeps the cost linear in the number of pixels, so it runs at every decoder
    scale. Two documented choices: q and k are L2-normalised over the pixels and scaled by a
    learned per-head temperature instead of a fixed 1/sqrt(C) (a dot product over H*W pixels would
    otherwise grow with the resolution), and FN is a residual gated feed-forward network.

    forward: f_i (N, C, H, W), f_s (N, C_s, H_s, W_s) -> (N, C, H, W).
    """

    def __init__(self, channels: int, sem_channels: int, heads: int = 2, expansion: float = 2.0):
        super().__init__()
        if channels % heads:
            raise ValueError(f"SEBlock: {channels} channels not divisible by {heads} heads")
        self.heads = heads
        self.sem_proj = nn.Conv2d(sem_channels, channels, 1)
        self.norm_i = ChannelNorm(channels)
        self.norm_s = ChannelNorm(channels)
        self.w_k = _pointwise_depthwise(channels, channels)
        self.w_v = _pointwise_depthwise(channels, channels)
        self.w_q = _pointwise_depthwise(channels, channels)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Conv2d(channels, channels, 1)
        hidden = int(channels * expansion)
        self.norm_f = ChannelNorm(channels)
        self.ffn_in = nn.Conv2d(channels, 2 * hidden, 1)
        self.ffn_dw = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden)
        self.ffn_out = nn.Conv2d(hidden, channels, 1)

    def attention(self, f_i: torch.Tensor, f_s: torch.Tensor) -> torch.Tensor:
        """A of eq. 4: (N, heads, C/heads, C/heads), rows (semantic queries) sum to 1."""
        n, c, h, w = f_i.shape
        s = self.norm_s(self.sem_proj(F.interpolate(f_s, size=(h, w), mode="bilinear", align_corners=False)))
        x = self.norm_i(f_i)
        q = F.normalize(self.w_q(s).reshape(n, self.heads, c // self.heads, h * w), dim=-1)
        k = F.normalize(self.w_k(x).reshape(n, self.heads, c // self.heads, h * w), dim=-1)
        return torch.softmax(q @ k.transpose(-2, -1) * self.temperature, dim=-1)

    def forward(self, f_i: torch.Tensor, f_s: torch.Tensor) -> torch.Tensor:
        n, c, h, w = f_i.shape
        a = self.attention(f_i, f_s)
        v = self.w_v(self.norm_i(f_i)).reshape(n, self.heads, c // self.heads, h * w)
        y = f_i + self.proj((a @ v).reshape(n, c, h, w))  # W_v(F_i) A + F_i
        g, u = self.ffn_dw(self.ffn_in(self.norm_f(y))).chunk(2, dim=1)
        return y + self.ffn_out(F.gelu(g) * u)  # FN(.), residual


# ----------------------------------------------------------------------------------------------
# The teacher
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherConfig:
    """Hyper-parameters of the teacher (stored in its checkpoints).

    width: channels at full resolution (2x, 4x, 8x at strides 2, 4, 8).
    semantic: with SE modules (False: the plain ablation teacher, no segmenter at all).
    sem_channels: channels of the prior's features, coarse to fine (:attr:`SemanticPrior.channels`).
    heads: attention heads of every SE module.
    """

    width: int = 32
    semantic: bool = True
    sem_channels: tuple[int, int, int] = (64, 48, 32)
    heads: int = 2

    def __post_init__(self):
        object.__setattr__(self, "sem_channels", tuple(self.sem_channels))


class ResBlock(nn.Module):
    """conv3x3 - LeakyReLU - conv3x3 + identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


def _act(t: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(t, 0.1)


def _up(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class TeacherNet(nn.Module):
    """Encoder-decoder enhancer with SE modules at three decoder scales (strides 8, 4, 2).

    Encoder: full-resolution stem, three stride-2 stages (widths w, 2w, 4w, 8w), a residual block
    at each level. Decoder: upsample, 1x1 to the finer width, add the encoder skip, residual
    block; the SE module b = 0, 1, 2 refines the decoder features at strides 8, 4, 2 with the
    prior's features at strides 16, 8, 4 (resampled inside the SE). The output is the input plus
    a predicted residual, clipped to [0, 1].

    forward: x (N, 3, H, W) in [0, 1] (any size: padded to a multiple of 8 inside), sem: the
    prior's feature list (required when ``config.semantic``, ignored otherwise) ->
    (out (N, 3, H, W) in [0, 1], features ``{"d8", "d4", "d2"}`` after the SE modules).
    """

    def __init__(self, config: TeacherConfig = TeacherConfig()):
        super().__init__()
        self.config = config
        w = config.width
        self.stem = nn.Conv2d(3, w, 3, padding=1)
        self.enc0 = ResBlock(w)
        self.down1, self.enc1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), ResBlock(2 * w)
        self.down2, self.enc2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), ResBlock(4 * w)
        self.down3, self.enc3 = nn.Conv2d(4 * w, 8 * w, 3, stride=2, padding=1), ResBlock(8 * w)
        self.mid = ResBlock(8 * w)
        self.lat4, self.dec4 = nn.Conv2d(8 * w, 4 * w, 1), ResBlock(4 * w)
        self.lat2, self.dec2 = nn.Conv2d(4 * w, 2 * w, 1), ResBlock(2 * w)
        self.lat1, self.dec1 = nn.Conv2d(2 * w, w, 1), ResBlock(w)
        self.head = nn.Conv2d(w, 3, 3, padding=1)
        if config.semantic:
            c8, c4, c2 = config.sem_channels
            self.se = nn.ModuleList([SEBlock(8 * w, c8, config.heads), SEBlock(4 * w, c4, config.heads),
                                     SEBlock(2 * w, c2, config.heads)])
        else:
            self.se = None
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, 0.0, 1e-3)

    @property
    def feature_channels(self) -> dict[str, int]:
        w = self.config.width
        return {"d8": 8 * w, "d4": 4 * w, "d2": 2 * w}

    def forward(self, x: torch.Tensor, sem: list[torch.Tensor] | None = None):
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % 8, -w % 8
        xp = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        if self.se is not None and sem is None:
            raise ValueError("a semantic teacher needs the prior's features (sem=...)")
        e0 = self.enc0(_act(self.stem(xp)))
        e1 = self.enc1(_act(self.down1(e0)))
        e2 = self.enc2(_act(self.down2(e1)))
        d8 = self.mid(self.enc3(_act(self.down3(e2))))
        if self.se is not None:
            d8 = self.se[0](d8, sem[0])
        d4 = self.dec4(_up(self.lat4(d8), e2) + e2)
        if self.se is not None:
            d4 = self.se[1](d4, sem[1])
        d2 = self.dec2(_up(self.lat2(d4), e1) + e1)
        if self.se is not None:
            d2 = self.se[2](d2, sem[2])
        d1 = self.dec1(_up(self.lat1(d2), e0) + e0)
        out = (xp + self.head(_act(d1)))[..., :h, :w].clamp(0.0, 1.0)
        return out, {"d8": d8, "d4": d4, "d2": d2}


# ----------------------------------------------------------------------------------------------
# Discriminators of the SA loss
# ----------------------------------------------------------------------------------------------


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: ``layers`` stride-2 4x4 convolutions, then a 3x3 to one channel.

    forward: (N, C_in, H, W) -> (N, 1, ~H / 2^layers, ~W / 2^layers) unbounded scores
    (LSGAN; SKF's labels: 0 for real, 1 for fake).
    """

    def __init__(self, in_channels: int = 3, width: int = 32, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = []
        c = in_channels
        for i in range(layers):
            out = width * 2 ** i
            mods += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = out
        mods.append(nn.Conv2d(c, 1, 3, padding=1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
