"""ONNX export of the parameter predictors: parity with torch, dynamic shapes, caching."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import SHARED
from vidlle.engines import EngineError
from vidlle.engines.cache import ArtifactCache
from vidlle.engines.export import OPSET, export_onnx, get_onnx, onnx_key, ort_session, verify_onnx
from vidlle.engines.specs import ModelSource, sample_frames
from vidlle.models import load_model

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")


@pytest.fixture(scope="module")
def curve_source():
    return ModelSource.resolve("curve")


@pytest.fixture(scope="module")
def curve_onnx(curve_source):
    return {p: export_onnx(curve_source, p) for p in ("fp32", "fp16")}


def real_frames() -> list[np.ndarray]:
    """One image from each classic low-light set and three frames of the starlight montage."""
    frames = []
    for folder in ("DICM", "LIME", "MEF", "NPE"):
        files = sorted((SHARED / "data" / "lowlight" / folder).glob("*"))
        if files:
            frames.append(cv2.imread(str(files[0]))[..., ::-1].copy())
    video = SHARED / "data" / "video" / "starlight_submillilux_montage.mp4"
    if video.exists():
        import av

        with av.open(str(video)) as c:
            for i, f in enumerate(c.decode(video=0)):
                # darkened as the video tests do: the montage was brightened by its authors
                frames.append((f.to_ndarray(format="rgb24").astype(np.float32) * 0.25).astype(np.uint8))
                if i == 2:
                    break
    return frames


def test_fp32_export_matches_torch_on_random_and_real_frames(curve_source, curve_onnx):
    frames = sample_frames()
    real = real_frames()
    if not real:
        pytest.skip("shared low-light data not found")
    report = verify_onnx(curve_onnx["fp32"], curve_source, frames + real)
    assert report["frames"] == len(frames) + len(real) >= 10
    assert report["output_max_abs"] <= 1, report  # uint8 output of the full enhance path
    assert report["params_max_abs"] < 1e-5 and report["batch2_max_abs"] < 1e-5, report
    assert report["ok"]


def test_fp16_graph_is_mixed_and_within_two_levels(curve_source, curve_onnx):
    model = onnx.load_from_string(curve_onnx["fp16"])
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    assert {t.data_type for t in model.graph.initializer if t.data_type in floats} == {onnx.TensorProto.FLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    report = verify_onnx(curve_onnx["fp16"], curve_source, precision="fp16")
    assert report["ok"] and report["output_max_abs"] <= 2 and report["params_max_abs"] < 2e-3, report


def test_graph_has_dynamic_batch_height_width_and_opset(curve_onnx):
    model = onnx.load_from_string(curve_onnx["fp32"])
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
        assert dims[1].dim_value == 3


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 2, 2), (2, 3, 7, 13), (2, 3, 97, 161), (3, 3, 128, 72)])
def test_dynamic_shapes_odd_sizes_and_batches(curve_onnx, shape):
    module, _ = load_model("curve")
    x = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    out = ort_session(curve_onnx["fp32"]).run(None, {"image": x})[0]
    with torch.inference_mode():
        ref = module(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape == shape
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_get_onnx_exports_once_then_uses_the_cache(curve_source, tmp_path, monkeypatch):
    cache = ArtifactCache(tmp_path)
    messages = []
    path = get_onnx(curve_source, cache=cache, log=messages.append)
    assert path.parent == tmp_path and path.suffix == ".onnx"
    meta = json.loads(Path(str(path) + ".json").read_text())
    assert meta["key"] == onnx_key(curve_source).fields and meta["key"]["opset"] == OPSET
    assert meta["extra"]["verification"]["ok"] and meta["extra"]["verification"]["output_max_abs"] <= 1
    assert any("uint8 output max diff" in m for m in messages)

    def no_export(*a, **k):
        raise AssertionError("exported again although a valid file is cached")

    monkeypatch.setattr("vidlle.engines.export.export_onnx", no_export)
    assert get_onnx(curve_source, cache=cache) == path
    # corrupt the file: the cache must notice and export again
    path.write_bytes(path.read_bytes()[:-10])
    monkeypatch.undo()
    messages.clear()
    assert get_onnx(curve_source, cache=cache, log=messages.append) == path
    assert any("corrupt" in m for m in messages)
    assert cache.check(onnx_key(curve_source)) is None


def test_failed_verification_raises_and_caches_nothing(curve_source, tmp_path, monkeypatch):
    # the curve model's export check (named by its registry entry) says the graph differs
    monkeypatch.setattr("vidlle.models.tone.check_params",
                        lambda *a, **k: {"ok": False, "output_max_abs": 9, "params_max_abs": 0.5, "frames": 1,
                                         "tolerance": 1})
    cache = ArtifactCache(tmp_path)
    with pytest.raises(EngineError, match="differs from torch"):
        get_onnx(curve_source, cache=cache)
    assert not list(tmp_path.glob("*.onnx"))


def test_custom_weights_get_their_own_onnx(curve_source, tmp_path):
    blob = torch.load(curve_source.weights, weights_only=True)
    blob["state_dict"] = {k: v * 0.5 for k, v in blob["state_dict"].items()}
    other = tmp_path / "other.pt"
    torch.save(blob, other)
    src2 = ModelSource.resolve("curve", other)
    assert src2.sha256 != curve_source.sha256
    assert onnx_key(src2).digest() != onnx_key(curve_source).digest()
    assert onnx_key(src2).filename != onnx_key(curve_source).filename


def test_constant_subgraphs_are_folded(curve_onnx):
    # the exporter's per-Pad constant arithmetic is folded into initializers: a plain graph
    model = onnx.load_from_string(curve_onnx["fp32"])
    assert {n.op_type for n in model.graph.node} == {"Conv", "Pad", "Relu", "Concat", "Tanh"}
    pads = {i.name for i in model.graph.initializer}
    assert all(n.input[1] in pads for n in model.graph.node if n.op_type == "Pad")
    mixed = onnx.load_from_string(curve_onnx["fp16"])
    assert sum(n.op_type == "Cast" for n in mixed.graph.node) == 2  # at the input and the output


# -- the ESPNetv2 segmenter (weights in ../shared, not in the package) -------------------------

SEG_WEIGHTS = SHARED / "weights" / "espnetv2" / "espnetv2_s_2.0_pascal_384x384.pth"


@pytest.mark.skipif(not SEG_WEIGHTS.is_file(), reason="ESPNetv2 weights not in ../shared/weights")
def test_segmenter_exports_at_its_fixed_size_and_matches_torch(tmp_path):
    from vidlle.engines.specs import default_profile, get_export_spec

    src = ModelSource.resolve("segment", SEG_WEIGHTS)
    spec = get_export_spec("segment")
    _, config = src.load()
    assert spec.input_shape(config, 1080, 1920) == (1, 3, 384, 384)  # PASCAL weights: 384x384
    profile = default_profile(spec, config)
    assert profile.min[2:] == profile.opt[2:] == profile.max[2:] == (384, 384) and profile.max[0] == 8
    frames = (real_frames() or sample_frames())[:3]  # verification: real low-light images + a batch of 2
    path = get_onnx(src, cache=ArtifactCache(tmp_path), frames=frames)
    meta = json.loads(Path(str(path) + ".json").read_text())
    report = meta["extra"]["verification"]
    assert report["ok"] and report["label_agreement"] >= 0.999 and report["logits_max_abs"] < 1e-3, report
    graph = onnx.load(str(path)).graph
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == ["batch", 3, 384, 384]
    assert "MatMul" in {n.op_type for n in graph.node}  # adaptive pooling, as constant matrices


@pytest.mark.parametrize("precision,tolerance", [("fp32", 1), ("fp16", 2)])
def test_skf_student_exports_and_matches_torch_through_its_own_curves(precision, tolerance):
    source = ModelSource.resolve("skf")
    report = verify_onnx(export_onnx(source, precision), source, precision=precision)
    assert report["ok"] and report["output_max_abs"] <= tolerance, report
