"""SKF training code: SCH, SA and distillation losses on hand-made tensors, the SE module and the
teacher, the semantic prior (real ESPNetv2 weights, tiny sizes), synthetic pairs, the training
entry points (a few iterations each: checkpoints, resume, ablations, export) and the evaluation
methods.

Tests that need ../shared/weights/espnetv2 skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from train.skf import losses as L
from train.skf.data import (
    PairDataset,
    batches,
    make_holdout_dir,
    split_files,
    validation_pairs,
)
from train.skf.modules import (
    PatchDiscriminator,
    SEBlock,
    TeacherConfig,
    TeacherNet,
    gamma_brighten,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CITY = SHARED / "weights" / "espnetv2" / "espnetv2_s_2.0_city_1024x512.pth"
needs_weights = pytest.mark.skipif(not CITY.is_file(), reason=f"ESPNetv2 weights not at {CITY}")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _three_class_masks(h: int = 12, w: int = 12) -> torch.Tensor:
    """(1, 3, h, w) hard masks: left third class 0, middle class 1, right class 2."""
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, w // 3 : 2 * w // 3] = 1
    labels[:, 2 * w // 3 :] = 2
    return torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1)[None].float()


# ---------------------------------------------------------------------------------------------
# SCH
# ---------------------------------------------------------------------------------------------


def test_soft_histogram_rows_sum_to_one_and_peak_at_the_value():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    h = L.soft_histogram(x, bins=5)
    assert h.shape == (4, 5)
    assert torch.allclose(h.sum(-1), torch.ones(4), atol=1e-6)  # clipped 0 and 1 count fully
    assert h.argmax(-1).tolist() == [0, 1, 2, 4]
    assert (L.soft_histogram(torch.rand(100), bins=64).sum(-1) - 1).abs().max() < 1e-5


def test_class_histogram_mass_is_the_class_area():
    img = torch.rand(2, 3, 12, 12)
    masks = _three_class_masks().expand(2, -1, -1, -1)
    hist = L.class_histograms(img, masks, bins=16)
    assert hist.shape == (2, 3, 3, 16)
    assert torch.allclose(hist.sum(-1), torch.full((2, 3, 3), 1 / 3), atol=1e-5)


def test_sch_zero_for_identical_images_and_only_the_shifted_class_grows():
    torch.manual_seed(0)
    img = torch.rand(1, 3, 12, 12) * 0.6 + 0.2
    masks = _three_class_masks()
    assert L.sch_distance(img, img, masks).abs().max() == 0
    assert L.sch_loss(img, img, masks) == 0
    dist = []
    for shift in (0.05, 0.2):
        moved = img.clone()
        moved[:, 0, :, 4:8] += shift  # a colour (red) shift inside class 1 only
        d = L.sch_distance(moved, img, masks)[0]
        assert d[0] == 0 and d[2] == 0 and d[1] > 0
        dist.append(float(d[1]))
    assert dist[1] > dist[0]


def test_sch_gradient_flows_and_downscaled_view_works():
    img = torch.rand(2, 3, 16, 16)
    out = (img * 0.5).requires_grad_(True)
    masks = L.segment_masks(torch.randn(2, 4, 16, 16))
    loss = L.sch_loss(out, img, masks, bins=32)
    loss.backward()
    assert loss > 0 and torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0
    assert L.sch_loss(out, img, masks, bins=32, size=8) > 0


def test_segment_masks_one_hot_and_min_fraction():
    logits = torch.zeros(1, 3, 10, 10)
    logits[:, 1] = 1.0
    logits[:, 2, 0, 0] = 5.0  # one pixel of class 2
    m = L.segment_masks(logits)
    assert torch.equal(m.sum(1), torch.ones(1, 10, 10))
    assert m[0, 2].sum() == 1 and m[0, 1].sum() == 99
    assert L.segment_masks(logits, min_fraction=0.05)[0, 2].sum() == 0


# ---------------------------------------------------------------------------------------------
# SA
# ---------------------------------------------------------------------------------------------


def test_lsgan_losses_use_skf_labels():
    zeros, ones = torch.zeros(4), torch.ones(4)
    assert L.lsgan_d_loss(zeros, ones) == 0  # real scored 0, fake scored 1: perfect D
    assert L.lsgan_d_loss(ones, zeros) == 2
    assert L.lsgan_g_loss(zeros) == 0 and L.lsgan_g_loss(ones) == 1


def test_worst_segment_picks_the_highest_discriminator_loss_among_valid():
    scores = torch.tensor([[0.9, 0.1, 0.5], [1.0, 0.8, -0.2]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    # fake loss (D - 1)^2: row 0 -> 0.01, 0.81, 0.25; row 1 -> 0, 0.04, (1.44 but invalid)
    assert L.worst_segment(scores, valid).tolist() == [1, 1]


def test_segment_candidates_largest_first_and_small_ones_invalid():
    masks = _three_class_masks(10, 10)  # classes 0, 1, 2 cover 3, 3, 4 of the 10 columns
    masks = torch.cat([masks, torch.zeros(1, 1, 10, 10)], 1)
    index, valid = L.segment_candidates(masks, max_segments=4, min_fraction=0.05)
    assert index[0, 0] == 2 and index[0, 3] == 3 and valid.tolist() == [[True, True, True, False]]


class _RedScore(torch.nn.Module):
    """A fixed 'discriminator': the patch map is the red channel (no parameters to train)."""

    def forward(self, x):
        return x[:, :1]


def test_sa_selects_the_segment_with_the_highest_discriminator_loss():
    sa = L.SemanticAdversarial(num_classes=3, width=4)
    sa.d_local = _RedScore()
    out = torch.zeros(1, 3, 12, 12)
    out[:, 0, :, :4] = 0.9  # class 0: D = 0.9 -> loss 0.01
    out[:, 0, :, 4:8] = 0.1  # class 1: D = 0.1 -> loss 0.81 (worst: D thinks it real)
    out[:, 0, :, 8:] = 0.6  # class 2: loss 0.16
    assert sa._select(out, _three_class_masks()).tolist() == [[1]]


def test_sa_steps_train_the_discriminators_and_give_the_enhancer_gradients():
    torch.manual_seed(0)
    sa = L.SemanticAdversarial(num_classes=3, width=4)
    masks = _three_class_masks(16, 16).expand(2, -1, -1, -1)
    target = torch.rand(2, 3, 16, 16)
    out = torch.rand(2, 3, 16, 16, requires_grad=True)
    before = [p.detach().clone() for p in sa.d_global.parameters()]
    g, parts = sa.generator_loss(out, masks)
    g.backward()
    assert out.grad.abs().sum() > 0
    assert all(p.grad is None for p in sa.d_global.parameters())  # D held fixed for the enhancer
    d_parts = sa.d_step(out, target, masks)
    assert set(parts) == {"g_global", "g_local"} and set(d_parts) == {"d_global", "d_local"}
    assert any(not torch.equal(a, b) for a, b in zip(before, sa.d_global.parameters()))
    state = sa.state_dict()
    sa2 = L.SemanticAdversarial(num_classes=3, width=4)
    sa2.load_state_dict(state)


def test_patch_discriminator_shape():
    assert PatchDiscriminator(5, 8, 3)(torch.rand(2, 5, 32, 48)).shape == (2, 1, 4, 6)


# ---------------------------------------------------------------------------------------------
# Distillation and reconstruction
# ---------------------------------------------------------------------------------------------


def test_feature_distillation_zero_when_aligned_and_scale_free():
    t = torch.rand(2, 8, 16, 16)
    s = torch.nn.functional.adaptive_avg_pool2d(t, (4, 4))
    assert L.feature_distillation(s, t) < 1e-10
    assert L.feature_distillation(3.0 * s, t) < 1e-10  # direction, not scale
    assert L.feature_distillation(torch.rand(2, 8, 4, 4), t) > 0


def test_charbonnier_near_l1():
    a, b = torch.zeros(10), torch.full((10,), 0.5)
    assert abs(float(L.charbonnier(a, b)) - 0.5) < 1e-5


# ---------------------------------------------------------------------------------------------
# SE module and teacher
# ---------------------------------------------------------------------------------------------


def test_se_block_shape_attention_and_dependence_on_semantics():
    torch.manual_seed(0)
    se = SEBlock(16, 12, heads=2)
    f_i = torch.rand(2, 16, 8, 10)
    f_s = torch.rand(2, 12, 4, 5, requires_grad=True)  # coarser: resampled inside
    out = se(f_i, f_s)
    assert out.shape == f_i.shape
    a = se.attention(f_i, f_s)
    assert a.shape == (2, 2, 8, 8) and torch.allclose(a.sum(-1), torch.ones(2, 2, 8))
    other = se(f_i, torch.rand(2, 12, 4, 5))
    assert (other - out).abs().max() > 1e-4  # semantic features change the output
    out.sum().backward()
    assert f_s.grad.abs().sum() > 0 and se.w_q[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        SEBlock(15, 4, heads=2)


def test_teacher_any_size_features_and_gradients():
    torch.manual_seed(0)
    net = TeacherNet(TeacherConfig(width=8, sem_channels=(6, 5, 4)))
    x = torch.rand(1, 3, 37, 53)
    sem = [torch.rand(1, 6, 3, 4), torch.rand(1, 5, 5, 7), torch.rand(1, 4, 10, 14)]
    out, feats = net(x, sem)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert {k: v.shape[1] for k, v in feats.items()} == net.feature_channels
    assert feats["d4"].shape[-2:] == (10, 14)  # stride 4 of the padded 40x56
    out.mean().backward()
    assert all(se.proj.weight.grad.abs().sum() > 0 for se in net.se)
    with pytest.raises(ValueError):
        net(x)  # a semantic teacher needs the prior's features
    plain = TeacherNet(TeacherConfig(width=8, semantic=False))
    assert plain.se is None and plain(x)[0].shape == x.shape


def test_gamma_brighten_only_brightens():
    x = torch.rand(2, 3, 8, 8) * 0.1
    y = gamma_brighten(x)
    assert (y >= x - 1e-6).all() and y.mean() > 3 * x.mean()
    bright = torch.rand(1, 3, 8, 8) * 0.2 + 0.8
    assert torch.allclose(gamma_brighten(bright), bright.clamp_min(1e-6))


@needs_weights
def test_semantic_prior_real_weights_tiny_input():
    from train.skf.common import load_segmenter_prior

    prior, _ = load_segmenter_prior(str(CITY), torch.device("cpu"))
    x = torch.rand(1, 3, 40, 72, requires_grad=True)
    feats, logits = prior(x)
    assert prior.channels == (64, 48, 32) and prior.num_classes == 20
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 3, 5), (48, 5, 9), (32, 10, 18)]
    assert logits.shape == (1, 20, 40, 72) and not logits.requires_grad
    feats2, _ = prior(x * 0.2 + 0.5)
    assert (feats2[0] - feats[0]).abs().max() > 0
    net = TeacherNet(TeacherConfig(width=8, sem_channels=prior.channels))
    assert net(x.detach(), feats)[0].shape == x.shape


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    """Five small smooth colour photographs-to-be in two sub-folders."""
    root = tmp_path_factory.mktemp("wellexposed")
    rng = np.random.default_rng(0)
    for sub, n in (("a", 3), ("b", 2)):
        (root / sub).mkdir()
        for i in range(n):
            coarse = rng.random((3, 4, 3)).astype(np.float32)
            img = cv2.resize(coarse, (56, 44), interpolation=cv2.INTER_CUBIC)
            img = np.clip(img * 200 + 30, 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / sub / f"{i}.png"), img)
    return root


def test_split_holds_aside_every_nth_image_per_folder(image_dir, tmp_path):
    train, held = split_files([image_dir], holdout_every=2)
    names = lambda ps: [f"{p.parent.name}/{p.name}" for p in ps]
    assert names(held) == ["a/0.png", "a/2.png", "b/0.png"]
    assert names(train) == ["a/1.png", "b/1.png"]
    assert split_files([image_dir], holdout_every=0)[1] == []
    links = make_holdout_dir([image_dir], tmp_path / "held", holdout_every=2)
    assert sorted(p.name for p in links) == ["a__0.png", "a__2.png", "b__0.png"]
    assert all(p.is_symlink() and p.resolve().is_file() for p in links)


def test_pair_dataset_is_a_pure_function_of_seed_and_index(image_dir):
    files, _ = split_files([image_dir], holdout_every=0)
    ds = PairDataset(files, size=32, seed=3)
    dark, ref = ds[7]
    assert dark.shape == ref.shape == (3, 32, 32)
    assert dark.mean() < 0.6 * ref.mean()
    assert torch.equal(ds[7][0], dark) and not torch.equal(ds[8][0], dark)
    assert not torch.equal(PairDataset(files, size=32, seed=4)[7][0], dark)
    # resuming at iteration 2 yields exactly the batches a full run has there
    full = [d for d, _ in batches(ds, 2, 0, 4)]
    resumed = [d for d, _ in batches(ds, 2, 2, 4)]
    assert torch.equal(full[2], resumed[0]) and torch.equal(full[3], resumed[1])


def test_validation_pairs_are_fixed(image_dir):
    files, _ = split_files([image_dir], holdout_every=0)
    d1, r1 = validation_pairs(files, 24, 2)
    d2, _ = validation_pairs(files, 24, 2)
    assert d1.shape == r1.shape == (2, 3, 24, 24) and torch.equal(d1, d2)


# ---------------------------------------------------------------------------------------------
# Entry points (a few iterations each) and the evaluation methods
# ---------------------------------------------------------------------------------------------

TINY = ["--size", "32", "--batch", "2", "--val-images", "1", "--val-size", "32", "--val-every", "2",
        "--save-every", "2", "--threads", "1", "--quiet", "--device", "cpu"]


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@needs_weights
def test_teacher_student_ablations_export_and_evaluate(image_dir, tmp_path, monkeypatch):
    from train.skf import evaluate_method as E
    from train.skf import student as S
    from train.skf import teacher as T
    from train.methods import StudentEnhancer, skf_method, skf_teacher_method
    from vidlle.apply import apply_params
    from vidlle.models.skf import SKFConfig, SKFStudent

    monkeypatch.setenv("VIDLLE_SEG_WEIGHTS", str(CITY))
    data = ["--data", str(image_dir), "--holdout-every", "2"]

    # SKF teacher: SE + SCH + SA (SA from the first iteration), then resumed for one more
    t_run = tmp_path / "teacher"
    assert T.main(["--out", str(t_run), "--iters", "2", "--width", "8", "--sa-start", "0", "--sch-bins", "16",
                   *data, *TINY]) == 0
    log = _log(t_run)
    first = log[0]
    assert {"rec", "sch", "g_global", "g_local", "d_global", "d_local"} <= set(first)
    assert any("val_psnr" in r for r in log)
    assert T.main(["--out", str(t_run), "--iters", "3", "--width", "8", "--sa-start", "0", "--sch-bins", "16",
                   "--resume", *data, *TINY]) == 0
    ckpt = torch.load(t_run / "last.pt", weights_only=False)
    assert ckpt["iter"] == 3 and ckpt["config"]["semantic"] and ckpt["sa"] is not None

    # the plain ablation teacher: no SE, no SCH, no SA; a time limit stops it after one iteration
    p_run = tmp_path / "plain"
    assert T.main(["--out", str(p_run), "--iters", "5", "--width", "8", "--plain", "--max-minutes", "1e-9",
                   *data, *TINY]) == 0
    assert set(_log(p_run)[0]) == {"iter", "loss", "rec"}
    assert "stopped" in _log(p_run)[-1]
    p_ckpt = torch.load(p_run / "last.pt", weights_only=False)
    assert p_ckpt["iter"] == 1 and not p_ckpt["config"]["semantic"]

    # students: distilled from each teacher, and trained directly on the pairs
    student_args = ["--iters", "2", "--width", "8", "--predict-size", "16", "--knots", "5", "--sch-bins", "16",
                    *data, *TINY]
    slim = tmp_path / "teacher.pt"
    assert T.main(["--out", str(t_run), "--export", str(slim)]) == 0
    assert "optimizer" not in torch.load(slim, weights_only=False)
    s_run = tmp_path / "student"
    assert S.main(["--out", str(s_run), "--teacher", str(slim), *student_args]) == 0
    assert {"gt", "kd", "feat", "sch"} <= set(_log(s_run)[1])
    assert any("teacher_val_psnr" in r for r in _log(s_run))
    sp_run = tmp_path / "student_plain_teacher"
    assert S.main(["--out", str(sp_run), "--teacher", str(p_run / "last.pt"), *student_args]) == 0
    d_run = tmp_path / "student_direct"
    assert S.main(["--out", str(d_run), "--no-distill", *student_args]) == 0
    direct = _log(d_run)[0]
    assert "kd" not in direct and "feat" not in direct and "sch" in direct
    with pytest.raises(SystemExit):
        S.main(["--out", str(d_run), *student_args])  # neither --teacher nor --no-distill

    # export: shipped format, loads strictly into the inference module
    weights = tmp_path / "skf.pt"
    assert S.main(["--out", str(s_run), "--export", str(weights)]) == 0
    blob = torch.load(weights, map_location="cpu", weights_only=True)
    assert set(blob) == {"config", "state_dict"}
    student = SKFStudent(SKFConfig(**blob["config"]))
    student.load_state_dict(blob["state_dict"], strict=True)
    assert json.loads(weights.with_suffix(".json").read_text())["distilled"] is True

    # evaluation methods: uint8 in, uint8 out (the student through its inference path)
    image = cv2.cvtColor(cv2.imread(str(image_dir / "a" / "0.png")), cv2.COLOR_BGR2RGB) // 4
    out = skf_method(str(weights))(image, "pairs/a.png")
    assert out.shape == image.shape and out.dtype == np.uint8
    enh = StudentEnhancer(weights)
    params, strength = enh.predict(image)
    assert params.shape == (3, 13, 16)  # long side 16 (--predict-size)
    assert 0.0 <= strength <= 1.0
    # the product path = the student's map through the apply step, plus the spatial denoiser
    plain = apply_params(image, params, student.tone(), strength, student.config.local)
    assert np.abs(out.astype(int) - plain).mean() < 6
    t_out = skf_teacher_method(str(t_run / "last.pt"))(image, "pairs/a.png")
    assert t_out.shape == image.shape and t_out.dtype == np.uint8

    # the ablation report: PSNR and per-class SCH distance on synthetic pairs
    report = tmp_path / "sch.json"
    assert E.main(["--pairs", str(image_dir / "b"), "--method", f"s=skf:{weights}", "--out", str(report)]) == 0
    res = json.loads(report.read_text())
    assert set(res) == {"s"} and res["s"]["psnr"] > 0 and res["s"]["sch_mean"] > 0 and res["s"]["sch_per_class"]
    from train.skf.common import load_segmenter_prior

    prior, _ = load_segmenter_prior(str(CITY), torch.device("cpu"))
    assert all(d == 0 for d in E.class_sch(image, image, prior).values())


def test_fast_apply_matches_reference_on_normal_and_very_wide_frames():
    from vidlle.apply import apply_params
    from vidlle.models.skf import SKFConfig, SKFStudent

    torch.manual_seed(0)
    m = SKFStudent(SKFConfig(local=0.5))
    with torch.no_grad():
        m.bank_logits.add_(torch.randn_like(m.bank_logits))
    tone = m.tone()
    rng = np.random.default_rng(0)
    for (h, w), k in [((97, 161), 1.0), ((2, 2), 0.6), ((3, 33000), 1.0)]:  # the last: wider than remap's limit
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        s = torch.rand(3, 5, 7) * 2 - 1
        with torch.no_grad():
            ref = m.apply(torch.from_numpy(frame.transpose(2, 0, 1) / 255.0).double()[None], s[None].double(), k)
        ref8 = np.rint(ref[0].numpy().transpose(1, 2, 0) * 255).astype(np.int16)
        got = apply_params(frame, s.numpy(), tone, k, m.config.local).astype(np.int16)
        assert np.abs(got - ref8).max() <= 1


def test_real_pairs_split_crop_alike_and_mix_with_synthetic(tmp_path):
    from types import SimpleNamespace

    from train.skf.data import MixedPairs, RealPairDataset, pair_source, split_real_pairs

    rng = np.random.default_rng(0)
    for i in range(12):
        normal = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
        for folder, img in (("normal", normal), ("low", normal // 10)):
            (tmp_path / "lol" / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / "lol" / folder / f"{i:02d}.png"), img)
    train, held = split_real_pairs(tmp_path / "lol", holdout_every=5)
    assert [p[0].name for p in held] == ["00.png", "05.png", "10.png"] and len(train) == 9
    assert not {p[0].name for p in train} & {p[0].name for p in held}
    ds = RealPairDataset(train, size=32, seed=3)
    dark, ref = ds[7]
    assert dark.shape == ref.shape == (3, 32, 32)
    # the same crop of both: the low image is the normal one divided by ten
    assert torch.allclose(dark, torch.floor(ref * 255 / 10) / 255, atol=1 / 255)
    assert torch.equal(ds[7][0], dark)  # a pure function of (seed, index)
    synthetic = [(torch.zeros(3, 32, 32), torch.ones(3, 32, 32))] * 1000
    mixed = MixedPairs(ds, synthetic, real_share=0.75, seed=1)
    real_share = np.mean([not torch.equal(mixed[k][1], synthetic[0][1]) for k in range(400)])
    assert 0.65 < real_share < 0.85
    args = SimpleNamespace(size=32, seed=0, real_pairs=tmp_path / "lol", real_share=1.0, real_holdout_every=5,
                           val_images=2, val_size=32)
    dataset, val, fields = pair_source(args, [])
    assert fields["real_train_pairs"] == 9 and fields["real_held_aside"] == ["00.png", "05.png", "10.png"]
    assert val[0].shape == (2, 3, 32, 32)
    with pytest.raises(SystemExit):
        split_real_pairs(tmp_path / "missing")
