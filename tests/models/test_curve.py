import pytest
import torch

from vidlle.errors import ModelError
from vidlle.models import available_models, get_spec, load_model
from vidlle.models.curve import CurveConfig, CurveNet, curve_steps
from vidlle.predictor import predictor_size


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (7, 13), (72, 128)])
def test_predictor_any_size_and_range(size):
    net = CurveNet(CurveConfig(width=8)).eval()
    r = net(torch.rand(2, 3, *size))
    assert r.shape == (2, 3, *size)
    assert r.abs().max() <= 1


def test_predictor_size_keeps_aspect_and_never_upscales():
    assert predictor_size(1080, 1920, 128) == (72, 128)
    assert predictor_size(2, 2, 128) == (2, 2)
    assert predictor_size(1, 5000, 128) == (1, 128)


def test_curve_steps_maps_unit_interval_into_itself_and_brightens():
    x = torch.linspace(0, 1, 101)
    y = curve_steps(x, torch.full_like(x, -1.0), 8)
    assert y.min() >= 0 and y.max() <= 1
    assert (y >= x - 1e-6).all()
    assert torch.allclose(curve_steps(x, torch.zeros_like(x), 8), x)


def test_reference_apply_upsamples_low_res_map():
    x = torch.full((1, 3, 8, 8), 0.1)
    y = CurveNet(CurveConfig(steps=4)).apply(x, torch.full((1, 3, 2, 2), -0.5))
    assert y.shape == x.shape and (y > x).all()


def test_registry_loads_shipped_weights_strictly():
    assert "curve" in available_models()
    model, config = load_model("curve")
    spec = get_spec("curve")
    assert spec.weights_path.stat().st_size < 200_000  # shipped weights stay small
    record = spec.training_record()
    assert record and record["iters"] > 0 and record["images"] > 0
    assert isinstance(model, CurveNet) and config.steps == 8


def test_registry_errors(tmp_path):
    with pytest.raises(ModelError, match="unknown model"):
        get_spec("nope")
    # the overlay's segmenter has an entry (for export) but is not an enhancer
    assert available_models() == ["curve", "skf"]
    with pytest.raises(ModelError, match=r"unknown model 'segment' \(available: curve, skf\)"):
        get_spec("segment")
    assert get_spec("segment", enhancer=False).export.dynamic_hw is False
    bad = tmp_path / "bad.pt"
    torch.save({"config": {"width": 4}, "state_dict": {"x": torch.zeros(1)}}, bad)
    with pytest.raises(ModelError, match="do not fit"):
        load_model("curve", bad)
    with pytest.raises(ModelError, match="not found"):
        load_model("curve", tmp_path / "missing.pt")


def test_corrupt_weights_file_is_one_clear_model_error(tmp_path):
    from vidlle.errors import ModelError
    from vidlle.models import load_model

    bad = tmp_path / "curve.pt"
    bad.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(ModelError, match="not a vidlle weights file"):
        load_model("curve", bad)
