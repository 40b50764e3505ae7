import torch

from train.losses import (
    ZeroReferenceLoss,
    color_constancy_loss,
    exposure_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
)


def test_spatial_consistency_zero_for_identity_and_positive_for_flattening():
    img = torch.rand(1, 3, 16, 16)
    assert spatial_consistency_loss(img, img) < 1e-12
    flat = torch.full_like(img, 0.5)
    assert spatial_consistency_loss(flat, img) > 1e-4
    # a uniform brightness shift keeps local differences: no penalty
    assert spatial_consistency_loss(img + 0.2, img) < 1e-10


def test_color_constancy():
    gray = torch.full((2, 3, 4, 4), 0.4)
    assert torch.isclose(color_constancy_loss(gray, eps=1e-3), torch.tensor(3e-3), atol=1e-6)
    red = gray.clone()
    red[:, 0] = 0.9
    # pairs: |R-G| = |R-B| = 0.5, |G-B| = 0 -> about 1.0
    assert torch.isclose(color_constancy_loss(red, eps=1e-3), torch.tensor(1.0), atol=2e-3)


def test_exposure_loss_patch_and_level():
    img = torch.full((1, 3, 32, 32), 0.6)
    assert exposure_loss(img, level=0.6, patch=16) < 1e-6
    assert torch.isclose(exposure_loss(img, level=0.4, patch=8), torch.tensor(0.2))


def test_illumination_smoothness():
    assert illumination_smoothness_loss(torch.ones(1, 3, 5, 5)) == 0
    ramp = torch.arange(5.0).expand(1, 1, 5, 5)  # x-gradient 1 everywhere, no y-gradient
    assert torch.isclose(illumination_smoothness_loss(ramp), torch.tensor(1.0))


def test_total_loss_has_gradients_and_parts():
    img = torch.rand(2, 3, 32, 32) * 0.2
    r = torch.zeros(2, 3, 8, 8, requires_grad=True)
    total, parts = ZeroReferenceLoss()(img + r.mean(), img, r)
    total.backward()
    assert set(parts) == {"spa", "col", "exp", "tv"}
    assert r.grad is not None


def test_semantic_focal_loss_values_and_gradient():
    from train.losses import semantic_focal_loss

    # Two classes, p = 0.5 everywhere: (1 - 0.5)^2 * -log(0.5)
    even = torch.zeros(1, 2, 4, 4)
    assert torch.isclose(semantic_focal_loss(even), torch.tensor(0.25 * 0.6931472), atol=1e-6)
    # confident pixels cost almost nothing; the focal term makes them ~0 faster than CE
    sure = torch.zeros(1, 2, 4, 4)
    sure[:, 0] = 12.0
    assert semantic_focal_loss(sure) < 1e-9
    # gamma = 0 is plain cross-entropy against the argmax
    assert torch.isclose(semantic_focal_loss(even, gamma=0.0), torch.tensor(0.6931472), atol=1e-6)
    # the gradient raises the winning logit's margin (descent makes the segmenter surer)
    logits = torch.tensor([[1.0, 0.5]]).view(1, 2, 1, 1).requires_grad_()
    semantic_focal_loss(logits).backward()
    assert logits.grad[0, 0] < 0 < logits.grad[0, 1]
