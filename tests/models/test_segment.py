"""ESPNetv2 segmentation: strict loading of the published EdgeNets weights, any input size,
semantics on real photographs, weight discovery and error messages.

Tests that need ../shared/weights/espnetv2 (never committed into vidlle) skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidlle.errors import ModelError
from vidlle.models.segment import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    PASCAL_CLASSES,
    PASCAL_PALETTE,
    ESPNetv2Seg,
    SegmentConfig,
    branch_dilations,
    find_seg_weights,
    load_segmenter,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
WEIGHTS = SHARED / "weights" / "espnetv2"
CITY = WEIGHTS / "espnetv2_s_2.0_city_1024x512.pth"
PASCAL = WEIGHTS / "espnetv2_s_2.0_pascal_384x384.pth"
PHOTOS = SHARED / "data" / "wellexposed"

needs_weights = pytest.mark.skipif(
    not (CITY.is_file() and PASCAL.is_file()), reason=f"ESPNetv2 weights not in {WEIGHTS}")
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"photographs not in {PHOTOS}")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[ESPNetv2Seg, tuple[str, ...]]]:
    if not (CITY.is_file() and PASCAL.is_file()):
        pytest.skip(f"ESPNetv2 weights not in {WEIGHTS}")
    return {"city": load_segmenter(CITY), "pascal": load_segmenter(PASCAL)}


def photo(relpath: str, long_side: int) -> torch.Tensor:
    """A photograph from ../shared/data/wellexposed as (1, 3, h, w) float32 RGB in [0, 1]."""
    img = cv2.cvtColor(cv2.imread(str(PHOTOS / relpath)), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def labels(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)[0]


def fraction(region: torch.Tensor, names: tuple[str, ...], *classes: str) -> float:
    return sum((region == names.index(c)).float().mean().item() for c in classes)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


@needs_weights
@pytest.mark.parametrize("path, classes", [(CITY, CITYSCAPES_CLASSES), (PASCAL, PASCAL_CLASSES)])
def test_loads_published_weights_strictly(path, classes):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model, names = load_segmenter(path)
    ours = model.state_dict()
    assert set(ours) == set(state)
    assert all(ours[k].shape == state[k].shape for k in state)
    assert all(torch.equal(ours[k], state[k]) for k in state)
    # The normalisation lives in buffers that are not part of the checkpoint.
    assert "mean" not in ours and "std" not in ours
    assert names == classes and model.config.num_classes == len(classes)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    fresh = ESPNetv2Seg(SegmentConfig(num_classes=len(classes)))
    fresh.load_state_dict(state, strict=True)


def test_palettes_and_dilations():
    assert CITYSCAPES_PALETTE.shape == (len(CITYSCAPES_CLASSES), 3)
    assert PASCAL_PALETTE.shape == (len(PASCAL_CLASSES), 3)
    assert CITYSCAPES_PALETTE.dtype == PASCAL_PALETTE.dtype == np.uint8
    # The standard VOC colours: background black, aeroplane dark red, person (15) pink.
    assert PASCAL_PALETTE[0].tolist() == [0, 0, 0]
    assert PASCAL_PALETTE[1].tolist() == [128, 0, 0]
    assert PASCAL_PALETTE[PASCAL_CLASSES.index("person")].tolist() == [192, 128, 128]
    assert CITYSCAPES_PALETTE[CITYSCAPES_CLASSES.index("sky")].tolist() == [70, 130, 180]
    assert branch_dilations(4, 13) == (1, 2, 3, 4)
    assert branch_dilations(4, 7) == (1, 1, 2, 3)


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


@needs_weights
@pytest.mark.parametrize("shape", [(1, 3, 97, 131), (2, 3, 64, 64), (1, 3, 2, 2)])
def test_any_size_gives_finite_logits_at_input_resolution(models, shape):
    for model, names in models.values():
        with torch.no_grad():
            y = model(torch.rand(*shape, generator=torch.Generator().manual_seed(0)))
        assert y.shape == (shape[0], len(names), *shape[2:]) and y.dtype == torch.float32
        assert torch.isfinite(y).all()


@needs_weights
def test_odd_size_is_padded_by_replication_and_cropped(models):
    """97x131 runs as the edge-replicated 112x144 image, whose logits are cropped back."""
    model, _ = models["city"]
    x = torch.rand(1, 3, 97, 131, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        padded = model(F.pad(x, (0, 144 - 131, 0, 112 - 97), mode="replicate"))
    assert torch.allclose(y, padded[..., :97, :131], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Semantics on real photographs. Each check asks for several classes in several places at once:
# a randomly initialised network (the control) labels nearly everything with one arbitrary class
# and fails every part.
# ---------------------------------------------------------------------------------------------


def highway_checks(lab: torch.Tensor, names: tuple[str, ...]) -> dict[str, bool]:
    """CSun 'highway': sky in the top 30 %, road at bottom centre-right, grass at mid-left."""
    h, w = lab.shape
    return {
        "sky": fraction(lab[: h * 3 // 10], names, "sky") > 0.9,
        "road": fraction(lab[h * 8 // 10:, w * 45 // 100: w * 8 // 10], names, "road") > 0.7,
        "grass": fraction(lab[h * 55 // 100: h * 7 // 10, : w // 4], names,
                          "terrain", "vegetation") > 0.9,
    }


def portrait_checks(lab: torch.Tensor, names: tuple[str, ...]) -> dict[str, bool]:
    """BSD 189080 (a man's head and shoulders): person in the centre, background top corners."""
    h, w = lab.shape
    corners = torch.cat([lab[: h // 8, : w // 8].flatten(), lab[: h // 8, -(w // 8):].flatten()])
    return {
        "person": fraction(lab[h * 3 // 10: h * 7 // 10, w * 3 // 10: w * 7 // 10], names,
                           "person") > 0.9,
        "background": fraction(corners, names, "background") > 0.9,
    }


@needs_weights
@needs_photos
def test_cityscapes_model_sees_sky_road_and_grass(models):
    model, names = models["city"]
    x = photo("CSun_Hays80/highway_sun_bpflsdaxnddnwcqi.jpg", 256)
    assert highway_checks(labels(model, x), names) == {"sky": True, "road": True, "grass": True}
    torch.manual_seed(0)
    control = ESPNetv2Seg(SegmentConfig(num_classes=len(names))).eval()
    assert not any(highway_checks(labels(control, x), names).values())


@needs_weights
@needs_photos
def test_pascal_model_sees_the_person(models):
    model, names = models["pascal"]
    x = photo("CBSD68/189080.png", 256)
    assert portrait_checks(labels(model, x), names) == {"person": True, "background": True}
    torch.manual_seed(0)
    control = ESPNetv2Seg(SegmentConfig(num_classes=len(names))).eval()
    assert not all(portrait_checks(labels(control, x), names).values())


# ---------------------------------------------------------------------------------------------
# Finding the weights
# ---------------------------------------------------------------------------------------------


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_find_seg_weights_precedence(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("VIDLLE_CACHE", str(cache))
    monkeypatch.delenv("VIDLLE_SEG_WEIGHTS", raising=False)
    _touch(cache / "weights" / "espnetv2_s_2.0_pascal_384x384.pth")
    city = _touch(cache / "weights" / "espnetv2_s_2.0_city_1024x512.pth")
    _touch(cache / "weights" / "other.pth")
    assert find_seg_weights() == city  # cache: the Cityscapes model preferred

    env = _touch(tmp_path / "env" / "seg.pth")
    monkeypatch.setenv("VIDLLE_SEG_WEIGHTS", str(env))
    assert find_seg_weights() == env  # env beats cache

    explicit = _touch(tmp_path / "flag" / "seg.pth")
    assert find_seg_weights(explicit) == explicit  # flag beats env
    assert find_seg_weights(str(explicit)) == explicit

    # A path that is asked for must exist: no silent fall-back to another model.
    with pytest.raises(ModelError, match="--seg-weights"):
        find_seg_weights(tmp_path / "nope.pth")
    monkeypatch.setenv("VIDLLE_SEG_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(ModelError, match="VIDLLE_SEG_WEIGHTS"):
        find_seg_weights()


def test_missing_weights_message_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("VIDLLE_SEG_WEIGHTS", raising=False)
    monkeypatch.delenv("VIDLLE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelError) as info:
        find_seg_weights()
    msg = str(info.value)
    assert "\n" not in msg
    assert str(tmp_path / ".cache" / "vidlle" / "weights") in msg
    assert "--seg-weights" in msg and "VIDLLE_SEG_WEIGHTS" in msg and "EdgeNets" in msg
    with pytest.raises(ModelError):
        load_segmenter()


# ---------------------------------------------------------------------------------------------
# Wrong files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_state() -> dict[str, torch.Tensor]:
    """A state_dict of the right architecture (no published weights needed)."""
    return ESPNetv2Seg(SegmentConfig()).state_dict()


def _bad_files(tmp_path: Path, state: dict[str, torch.Tensor]) -> dict[str, Path]:
    files = {}
    files["random bytes"] = tmp_path / "bytes.pth"
    files["random bytes"].write_bytes(np.random.default_rng(0).bytes(4096))
    missing = dict(state)
    del missing["base_net.level4.6.module_act.weight"]
    files["missing key"] = tmp_path / "missing.pth"
    torch.save(missing, files["missing key"])
    extra = dict(state, **{"head.weight": torch.zeros(3)})
    files["unexpected key"] = tmp_path / "extra.pth"
    torch.save(extra, files["unexpected key"])
    shaped = dict(state, **{"bu_dec_l1.stages.0.weight": torch.zeros(11, 1, 3, 3)})
    files["mis-shaped"] = tmp_path / "shaped.pth"
    torch.save(shaped, files["mis-shaped"])
    files["truncated"] = tmp_path / "truncated.pth"
    torch.save(state, files["truncated"])
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:100_000])
    files["other network"] = tmp_path / "other.pth"
    torch.save(torch.nn.Conv2d(3, 3, 1).state_dict(), files["other network"])
    files["not a dict"] = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), files["not a dict"])
    return files


def test_wrong_files_raise_one_line_model_error(tmp_path, random_state):
    good = tmp_path / "good.pth"
    torch.save(random_state, good)
    load_segmenter(good)  # the unmodified state_dict loads
    for what, path in _bad_files(tmp_path, random_state).items():
        with pytest.raises(ModelError) as info:
            load_segmenter(path)
        msg = str(info.value)
        assert str(path) in msg and "\n" not in msg, (what, msg)
