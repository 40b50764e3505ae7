"""SKF student: predictor shapes and range, the learned curve bank, the reference apply step, the
tabulated bank for the LUT apply, the shipped-weights format and ONNX export."""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch

from vidlle.models.curve import CurveConfig, CurveNet
from vidlle.models.skf import (
    TABLE_ROWS,
    SKFConfig,
    SKFStudent,
    bank_curve,
    bank_from_logits,
)
from vidlle.models.registry import bank_table
from vidlle.predictor import predictor_size

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _perturbed(seed: int = 0, config: SKFConfig = SKFConfig(), scale: float = 1.0) -> SKFStudent:
    """A student with a non-trivial bank and head (as after training)."""
    torch.manual_seed(seed)
    m = SKFStudent(config)
    with torch.no_grad():
        m.bank_logits.add_(scale * torch.randn_like(m.bank_logits))
        m.head.weight.normal_(0, 0.05)
    return m.eval()


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (7, 13), (72, 128)])
def test_predictor_any_size_and_range(size):
    m = _perturbed()
    with torch.no_grad():
        s = m(torch.rand(2, 3, *size))
    assert s.shape == (2, 3, *size)
    assert s.abs().max() <= 1
    assert s.std() > 0.01  # not a constant map


def test_global_branch_sees_the_whole_frame():
    # Same local content, different surroundings -> different map at the same pixels.
    m = _perturbed()
    a = torch.full((1, 3, 32, 32), 0.05)
    b = a.clone()
    b[..., :, 16:] = 0.9
    with torch.no_grad():
        sa, sb = m(a), m(b)
    assert (sa[..., :4, :4] - sb[..., :4, :4]).abs().max() > 1e-4


def test_bank_is_monotone_with_fixed_endpoints():
    bank = bank_from_logits(torch.randn(1, 5, 31) * 3)
    assert bank.shape == (1, 5, 32)
    assert torch.all(bank[..., 0] == 0) and torch.allclose(bank[..., -1], torch.ones(1, 5))
    assert torch.all(bank[..., 1:] - bank[..., :-1] >= 0)


def test_untrained_bank_is_the_curve_models_family():
    # On 8-bit levels (what frames are): exact on the knots of s, a linear blend of the two
    # neighbouring curves between them; same apply step, so the same picture as the curve model.
    m = SKFStudent(SKFConfig(knots=17, local=0.5))
    curve = CurveNet(CurveConfig(local=0.5))
    torch.manual_seed(0)
    x = torch.randint(0, 256, (1, 3, 16, 24)).float() / 255
    with torch.no_grad():
        for r in torch.linspace(-1, 1, 17):
            s = torch.full((1, 3, 4, 6), float(r))
            assert (m.apply(x, s) - curve.apply(x, s)).abs().max() < 1e-4
        s = torch.rand(1, 3, 4, 6) * 2 - 1
        assert (m.apply(x, s) - curve.apply(x, s)).abs().max() < 0.02


def test_bank_curve_is_an_exact_lookup_at_knots_and_levels():
    bank = bank_from_logits(torch.randn(1, 9, 255))
    levels = torch.tensor([0, 1, 17, 128, 254, 255])
    v = (levels.float() / 255).reshape(1, 1, 1, -1)
    for k in (0, 3, 8):
        m = torch.full_like(v, -1 + 2 * k / 8)
        assert torch.allclose(bank_curve(bank, m, v)[0, 0, 0], bank[0, k][levels], atol=1e-6)
    with pytest.raises(ValueError):
        bank_curve(bank, torch.zeros(1, 1, 2, 2), v)


def test_apply_keeps_shape_range_and_monochrome():
    m = _perturbed()
    gray = torch.rand(2, 1, 37, 53)
    y = m.apply(gray.expand(2, 3, 37, 53), torch.rand(2, 3, 5, 7) * 2 - 1)
    assert y.shape == (2, 3, 37, 53) and y.min() >= 0 and y.max() <= 1
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])


def test_gradients_reach_predictor_and_bank():
    # a mild perturbation: a wildly random bank sits above the highlight shoulder everywhere,
    # where the cap (not the bank) decides the output
    m = _perturbed(scale=0.2)
    with torch.no_grad():
        m.head.weight.normal_(0, 0.002)  # a map near s = 0, not saturated at full brightening
    m.train()
    x = torch.rand(2, 3, 24, 32)
    s = m(x[..., ::2, ::2])
    out = m.apply(x, s)
    (out - torch.rand_like(out)).abs().mean().backward()
    assert m.bank_logits.grad is not None and m.bank_logits.grad.abs().sum() > 0
    # global_fc2 starts at zero (neutral modulation), so it is the global layer with a gradient
    assert m.stem.weight.grad.abs().sum() > 0 and m.global_fc2.weight.grad.abs().sum() > 0


def test_table_matches_bank():
    m = _perturbed()
    table = m.table()
    assert table.shape == (TABLE_ROWS, 256) and table.dtype == np.float32
    bank = m.bank().detach().numpy()
    assert np.allclose(table[0], bank[0, 0] * 255, atol=1e-3)
    assert np.allclose(table[-1], bank[0, -1] * 255, atol=1e-3)
    assert np.all(np.diff(table, axis=1) >= 0)  # monotone in the level
    assert bank_table(m.bank().detach().numpy(), 9).shape == (9, 256)


def test_predictor_size_shared_with_curve():
    assert predictor_size(720, 1280, SKFConfig().predict_size) == (72, 128)


def test_shipped_format_round_trip():
    m = _perturbed(config=SKFConfig(width=8, knots=9))
    buf = io.BytesIO()
    torch.save({"config": asdict(m.config), "state_dict": m.state_dict()}, buf)
    buf.seek(0)
    blob = torch.load(buf, map_location="cpu", weights_only=True)
    n = SKFStudent(SKFConfig(**blob["config"]))
    n.load_state_dict(blob["state_dict"], strict=True)
    x = torch.rand(1, 3, 9, 16)
    with torch.no_grad():
        assert torch.equal(m(x), n.eval()(x))
    assert np.array_equal(m.table(), n.table())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        SKFConfig(knots=1)
    with pytest.raises(ValueError):
        SKFConfig(width=0)


def test_onnx_export_dynamic_shapes_match_torch():
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    m = _perturbed(config=SKFConfig(width=8))
    buf = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter's notes on constant folding
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.rand(1, 3, 72, 128),), buf, dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["params"],
                          dynamic_axes={"image": axes, "params": axes})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 72, 128), (2, 3, 37, 53), (1, 3, 1, 5)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            ref = m(x).numpy()
        got = sess.run(None, {"image": x.numpy()})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() < 1e-4
