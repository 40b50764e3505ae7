"""The shipped CPU runtime (ONNX graph + tone numbers) matches the shipped torch weights."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidlle.models import available_models, get_spec, load_model
from vidlle.models.registry import bank_table
from vidlle.models.shipped import load_runtime, runtime_paths

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


@pytest.mark.parametrize("model", available_models())
def test_shipped_runtime_is_current_for_the_shipped_weights(model):
    graph, meta_path = runtime_paths(model)
    meta = json.loads(meta_path.read_text())
    assert meta["weights_sha256"] == get_spec(model).weights_sha256(), \
        "weights changed: run `python -m vidlle.models.shipped` to export the runtime again"
    runtime = load_runtime(model)
    assert runtime is not None and runtime.onnx == graph
    module, config = load_model(model)
    assert runtime.config == config
    np.testing.assert_allclose(runtime.tone.table, module.tone().table, atol=1e-3)


def test_numpy_bank_table_matches_the_torch_bank_curve():
    """The shipped runtime's tabulated bank (numpy) is the torch reference's curve family
    (``bank_curve``, what training and the resident apply use) sampled on the table's grid."""
    from vidlle.models.skf import bank_curve

    bank = torch.rand(1, 5, 256, dtype=torch.float64).sort(dim=-1).values
    rows = 97
    s = torch.linspace(-1.0, 1.0, rows, dtype=torch.float64)[:, None].expand(rows, 256)
    v = torch.linspace(0.0, 1.0, 256, dtype=torch.float64)[None, :].expand(rows, 256)
    reference = bank_curve(bank, s[None, None].contiguous(), v[None, None].contiguous())[0, 0].numpy() * 255.0
    np.testing.assert_allclose(bank_table(bank.numpy(), rows), reference, atol=1e-3)


def test_default_cpu_path_does_not_import_torch(tmp_path):
    code = ("import sys, numpy as np; from vidlle import Enhancer; "
            "e = Enhancer('curve', temporal=True); f = np.full((72, 128, 3), 20, np.uint8); "
            "[e.enhance(f) for _ in range(3)]; print(e.backend.name, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"VIDLLE_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.stdout.split() == ["onnxruntime", "False"], out.stdout + out.stderr
