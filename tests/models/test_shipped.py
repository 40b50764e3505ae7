"""The shipped CPU runtime (ONNX graph + tone numbers) matches the shipped torch weights."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidlle.models import get_spec, load_model
from vidlle.models.shipped import bank_table, load_runtime, runtime_paths

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


@pytest.mark.parametrize("model", ["curve", "skf"])
def test_shipped_runtime_is_current_for_the_shipped_weights(model):
    graph, meta_path, _ = runtime_paths(model)
    meta = json.loads(meta_path.read_text())
    assert meta["weights_sha256"] == get_spec(model).weights_sha256(), \
        "weights changed: run `python -m vidlle.models.shipped` to export the runtime again"
    runtime = load_runtime(model)
    assert runtime is not None and runtime.onnx == graph
    module, config = load_model(model)
    assert runtime.config == config
    np.testing.assert_allclose(runtime.tone.table, module.tone().table, atol=1e-3)


def test_numpy_bank_table_matches_torch():
    from vidlle.models.skf import bank_table as torch_bank_table

    bank = torch.rand(1, 5, 256).sort(dim=-1).values
    np.testing.assert_allclose(bank_table(bank.numpy(), 97), torch_bank_table(bank, 97), atol=1e-3)


def test_default_cpu_path_does_not_import_torch(tmp_path):
    code = ("import sys, numpy as np; from vidlle import Enhancer; "
            "e = Enhancer('curve', temporal=True); f = np.full((72, 128, 3), 20, np.uint8); "
            "[e.enhance(f) for _ in range(3)]; print(e.backend.name, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"VIDLLE_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.stdout.split() == ["onnxruntime", "False"], out.stdout + out.stderr
