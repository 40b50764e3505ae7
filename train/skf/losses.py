"""Losses of SKF: semantic colour histograms (SCH), semantic adversarial (SA), distillation.

Pure functions first (shapes in the docstrings), small classes where state is needed (the SA
discriminators). Images are (N, 3, H, W) float RGB in [0, 1]; masks are (N, K, H, W) float in
[0, 1] (one channel per class; hard one-hot from :func:`segment_masks`, soft masks work too).

Paper mapping (Wu et al., CVPR 2023):

* eq. 6, ``P^c = I ⊙ I_seg^c``: the class masks weight the pixels of each histogram
  (:func:`class_histograms`). Weighting rather than multiplying the image keeps the masked-out
  pixels from piling up in the bin of 0.
* eq. 7-9, the differentiable histogram: bin i collects ``sigmoid(a (x - e_i)) - sigmoid(a (x -
  e_{i+1}))`` of every pixel x (a soft box between the bin's edges); :func:`soft_histogram`
  (outer edges at -inf/+inf, so every pixel counts fully; see there).
* eq. 10, ``L_SCH = sum_c || H^c(out) - H^c(target) ||_1``: :func:`sch_distance` (per class) and
  :func:`sch_loss` (summed over classes, mean over the batch).
* eq. 11-12, the local adversarial term on the worst segment, and eq. 13, the global term with
  a discriminator that also sees the segmentation; eq. 14 their sum: :class:`SemanticAdversarial`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.skf.modules import PatchDiscriminator

# Bins of the colour histograms. The paper uses 256 (one per 8-bit level); 64 bins (4 levels
# each) cost a quarter of the memory and time - the soft-binning tensor is N x 3 x H x W x bins -
# and still resolve the colour distribution of a segment; ``bins`` is a parameter everywhere.
DEFAULT_BINS = 64
# Sharpness of the soft bins in units of the bin width: a = SHARPNESS / width. 1.5625 is the
# published SKF setting (a = 400 for 256 bins on [0, 1]); a pixel spreads over ~3 bins, a
# kernel-density estimate smooth enough to give useful gradients.
SHARPNESS = 400.0 / 256.0


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Smooth L1: mean of sqrt((a - b)^2 + eps^2); a, b broadcastable."""
    return torch.sqrt((a - b) ** 2 + eps * eps).mean()


def segment_masks(logits: torch.Tensor, min_fraction: float = 0.0) -> torch.Tensor:
    """Hard one-hot class masks from segmenter logits.

    logits: (N, C, H, W). Returns (N, C, H, W) float (1 where the class wins the argmax). Classes
    covering less than ``min_fraction`` of an image are zeroed in that image.
    """
    labels = logits.argmax(dim=1)
    masks = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    if min_fraction > 0:
        masks = masks * (masks.mean(dim=(2, 3), keepdim=True) >= min_fraction)
    return masks


def _bin_edges(bins: int, device, dtype) -> tuple[torch.Tensor, float]:
    """Edges of ``bins`` bins centred on i / (bins - 1), i = 0..bins-1, and the bin width."""
    width = 1.0 / (bins - 1)
    edges = torch.arange(bins + 1, device=device, dtype=dtype) * width - 0.5 * width
    return edges, width


def soft_histogram(x: torch.Tensor, bins: int = DEFAULT_BINS, sharpness: float = SHARPNESS) -> torch.Tensor:
    """Soft bin memberships (SKF eq. 7-8) of every value.

    x: (...,) values in [0, 1]. Returns (..., bins): for each value, its share of each bin; each
    row sums to exactly 1. One deviation from eq. 8: the outer edges of the first and last bin
    are at -inf and +inf. With the paper's finite outer edges a value of exactly 0 or 1 (clipped
    blacks and whites, common in enhancement) counts only ~69% at the published sharpness, so
    histograms of images with different amounts of clipping would not even have the same mass.
    """
    edges, width = _bin_edges(bins, x.device, x.dtype)
    inner = torch.sigmoid((x[..., None] - edges[1:-1]) * (sharpness / width))  # (..., bins - 1)
    cdf = torch.cat([torch.ones_like(inner[..., :1]), inner, torch.zeros_like(inner[..., :1])], dim=-1)
    return cdf[..., :-1] - cdf[..., 1:]


def class_histograms(img: torch.Tensor, masks: torch.Tensor, bins: int = DEFAULT_BINS,
                     sharpness: float = SHARPNESS) -> torch.Tensor:
    """Per-class, per-channel soft colour histograms (SKF eq. 6-9).

    img: (N, 3, H, W) in [0, 1]; masks: (N, K, H, W) in [0, 1], same H, W.
    Returns (N, K, 3, bins): mask-weighted bin counts divided by H * W, so a class's histogram
    sums to the fraction of the image it covers (large segments weigh more, as in the paper's sum
    over pixels).
    """
    n, c, h, w = img.shape
    if masks.shape[0] != n or masks.shape[-2:] != (h, w):
        raise ValueError(f"masks {tuple(masks.shape)} do not match image {tuple(img.shape)}")
    member = soft_histogram(img.reshape(n, c, h * w), bins, sharpness)  # (N, 3, HW, B)
    weights = masks.reshape(n, masks.shape[1], h * w).to(img.dtype)
    return torch.einsum("nkp,ncpb->nkcb", weights, member) / (h * w)


def sch_distance(out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor, bins: int = DEFAULT_BINS,
                 sharpness: float = SHARPNESS) -> torch.Tensor:
    """Per-class SCH distance: L1 between the class histograms of ``out`` and ``target``.

    Returns (N, K): summed over the three channels and the bins. 0 for identical images; a class
    whose pixels are unchanged scores 0 whatever happens elsewhere (hard masks).
    """
    h_out = class_histograms(out, masks, bins, sharpness)
    h_tgt = class_histograms(target, masks, bins, sharpness)
    return (h_out - h_tgt).abs().sum(dim=(2, 3))


def sch_loss(out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor, bins: int = DEFAULT_BINS,
             sharpness: float = SHARPNESS, size: int = 0) -> torch.Tensor:
    """SKF eq. 10: sum over classes of the histogram L1, mean over the batch (scalar).

    size: if > 0 and the images are larger, compare area-downscaled copies whose long side is
        ``size`` (the masks are downscaled with them, staying soft): the soft-binning tensor is
        the memory hot spot of this loss.
    """
    if size and max(out.shape[-2:]) > size:
        scale = size / max(out.shape[-2:])
        hw = (max(1, round(out.shape[-2] * scale)), max(1, round(out.shape[-1] * scale)))
        out, target, masks = (F.interpolate(t, size=hw, mode="area") for t in (out, target, masks))
    return sch_distance(out, target, masks, bins, sharpness).sum(dim=1).mean()


def feature_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Feature distillation: MSE of per-pixel channel-normalised features.

    student: (N, C, h, w), already projected to the teacher's width (a 1x1 adapter);
    teacher: (N, C, H, W), area-resampled to (h, w) here. Both are L2-normalised over channels
    at every pixel, so the loss compares feature directions, not the two networks' scales.
    Returns a scalar (mean over N, C, h, w).
    """
    if teacher.shape[-2:] != student.shape[-2:]:
        teacher = F.adaptive_avg_pool2d(teacher, student.shape[-2:])
    return F.mse_loss(F.normalize(student, dim=1), F.normalize(teacher.detach(), dim=1))


# ----------------------------------------------------------------------------------------------
# SA: semantic-guided adversarial loss
# ----------------------------------------------------------------------------------------------

# SKF's least-squares labels (eq. 11, 13): real -> 0, fake -> 1.
REAL, FAKE = 0.0, 1.0


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator side of eq. 11 / 13: MSE(D(real), 0) + MSE(D(fake), 1)."""
    return F.mse_loss(d_real, torch.full_like(d_real, REAL)) + F.mse_loss(d_fake, torch.full_like(d_fake, FAKE))


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator side: the enhancer wants its outputs scored as real, MSE(D(fake), 0)."""
    return F.mse_loss(d_fake, torch.full_like(d_fake, REAL))


def segment_candidates(masks: torch.Tensor, max_segments: int = 6, min_fraction: float = 0.02):
    """The segments of each image that may be picked as "worst": largest first.

    masks: (N, K, H, W). Returns (index (N, S) long, valid (N, S) bool), S = min(max_segments,
    K): the S largest classes of each image; ``valid`` is False for classes under
    ``min_fraction`` of the image. An image with no valid class gets its largest one as valid.
    """
    area = masks.mean(dim=(2, 3))  # (N, K)
    s = min(max_segments, masks.shape[1])
    top, index = area.topk(s, dim=1)
    valid = top >= min_fraction
    valid[:, 0] = True
    return index, valid


def gather_segments(img: torch.Tensor, masks: torch.Tensor, index: torch.Tensor):
    """Masked copies ``P^c = img ⊙ mask_c`` (eq. 6) of the classes in ``index``.

    img: (N, 3, H, W); masks: (N, K, H, W); index: (N, S). Returns (patches (N, S, 3, H, W),
    their masks (N, S, 1, H, W)).
    """
    n, s = index.shape
    sel = torch.gather(masks, 1, index[:, :, None, None].expand(n, s, *masks.shape[-2:]))[:, :, None]
    return img[:, None] * sel, sel


def segment_scores(disc: torch.nn.Module, patches: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Discriminator score of each segment: its patch map averaged over the segment's area.

    patches: (N, S, 3, H, W); masks: (N, S, 1, H, W). Returns (N, S).
    """
    n, s = patches.shape[:2]
    d = disc(patches.flatten(0, 1))  # (N*S, 1, h, w)
    m = F.adaptive_avg_pool2d(masks.flatten(0, 1).to(d.dtype), d.shape[-2:])
    return ((d * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3)).clamp_min(1e-6)).reshape(n, s)


def worst_segment(fake_scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """SKF eq. 12: per image, the candidate with the highest discriminator loss on the fake side.

    fake_scores: (N, S) D scores of the enhanced segments; valid: (N, S) bool. With SKF's labels
    (real 0, fake 1) the D loss of a fake segment is (D - 1)^2: highest for the segment D finds
    most real-looking, i.e. the paper's ``min_c D(P^c)`` when D <= 1 — the segment on which the
    discriminator is currently most wrong. Returns (N,) indices into S.
    """
    loss = (fake_scores - FAKE) ** 2
    return loss.masked_fill(~valid, float("-inf")).argmax(dim=1)


class SemanticAdversarial:
    """SA loss (eq. 11-14): a global discriminator conditioned on the segmentation and a local
    one on the worst segment of every image.

    global: D_g sees ``cat(image, masks)`` (eq. 13's D(x, I'_seg)): is this a plausible picture
        of that semantic layout? Real = target, fake = enhanced, same masks.
    local: D_l sees masked segments ``P^c``; per image the candidate (:func:`segment_candidates`)
        with the highest D loss (:func:`worst_segment`) is chosen under the current D, and D and
        the enhancer are updated on that segment only (eq. 11-12); real = the same segment of the
        target.

    The discriminators and their optimiser are owned here; ``d_step`` trains them, and
    ``generator_loss`` is the enhancer's term (differentiable w.r.t. ``out``).
    """

    def __init__(self, num_classes: int, width: int = 32, lr: float = 2e-4, max_segments: int = 6,
                 min_fraction: float = 0.02, device: torch.device | str = "cpu"):
        self.d_global = PatchDiscriminator(3 + num_classes, width).to(device)
        self.d_local = PatchDiscriminator(3, width).to(device)
        self.optimizer = torch.optim.Adam(list(self.d_global.parameters()) + list(self.d_local.parameters()),
                                          lr=lr, betas=(0.5, 0.999))
        self.max_segments, self.min_fraction = max_segments, min_fraction

    def state_dict(self) -> dict:
        return {"d_global": self.d_global.state_dict(), "d_local": self.d_local.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.d_global.load_state_dict(state["d_global"])
        self.d_local.load_state_dict(state["d_local"])
        self.optimizer.load_state_dict(state["optimizer"])

    def _select(self, out: torch.Tensor, masks: torch.Tensor):
        index, valid = segment_candidates(masks, self.max_segments, self.min_fraction)
        with torch.no_grad():
            patches, pm = gather_segments(out.detach(), masks, index)
            t = worst_segment(segment_scores(self.d_local, patches, pm), valid)
        return torch.gather(index, 1, t[:, None])  # (N, 1) class index of the worst segment

    def d_step(self, out: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> dict:
        """One discriminator update on (detached) ``out`` vs ``target``. Returns loss parts."""
        out = out.detach()
        worst = self._select(out, masks)
        fake_p, fm = gather_segments(out, masks, worst)
        real_p, _ = gather_segments(target, masks, worst)
        local = lsgan_d_loss(segment_scores(self.d_local, real_p, fm), segment_scores(self.d_local, fake_p, fm))
        glob = lsgan_d_loss(self.d_global(torch.cat([target, masks], 1)), self.d_global(torch.cat([out, masks], 1)))
        loss = glob + local
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"d_global": float(glob.detach()), "d_local": float(local.detach())}

    def generator_loss(self, out: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The enhancer's SA term L_global + L_local (eq. 14), differentiable w.r.t. ``out``
        (the discriminators are held fixed: no gradients for their parameters)."""
        worst = self._select(out, masks)
        fake_p, fm = gather_segments(out, masks, worst)
        params = list(self.d_global.parameters()) + list(self.d_local.parameters())
        for p in params:  # the enhancer's backward needs no gradients for the discriminators
            p.requires_grad_(False)
        try:
            local = lsgan_g_loss(segment_scores(self.d_local, fake_p, fm))
            glob = lsgan_g_loss(self.d_global(torch.cat([out, masks], 1)))
        finally:
            for p in params:
                p.requires_grad_(True)
        return glob + local, {"g_global": float(glob.detach()), "g_local": float(local.detach())}
