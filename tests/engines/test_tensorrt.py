"""TensorRT engines: profiles, profile selection, the build recipe (against a stand-in for the
documented API), and, where TensorRT and a GPU exist, a real build + parity run."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidlle.engines import EngineError
from vidlle.engines.cache import ArtifactCache
from vidlle.engines.specs import (
    FRAME_SIZES,
    ModelSource,
    Profile,
    default_profile,
    get_export_spec,
    parse_frame_size,
    profile_for_frames,
)
from vidlle.engines.tensorrt import (
    BUILD_VERSION,
    build_serialized,
    engine_key,
    matching_engines,
    onnx_precision_for,
    require_tensorrt,
    select_profile,
)
from vidlle.models import load_model

SPEC = get_export_spec("curve")
CONFIG = load_model("curve")[1]


# -- profiles ---------------------------------------------------------------------------------

def test_every_16_9_frame_maps_to_the_same_predictor_input():
    shapes = {SPEC.input_shape(CONFIG, *FRAME_SIZES[s]) for s in ("360p", "720p", "1080p", "4k")}
    assert shapes == {(1, 3, 72, 128)}


def test_default_profile_covers_every_frame_size():
    p = default_profile(SPEC, CONFIG)
    assert p.opt == (1, 3, 72, 128) and p.min == (1, 3, 1, 1) and p.max == (64, 3, 128, 128)
    for h, w in [(1, 1), (2, 2), (97, 161), (1080, 1920), (1920, 1080), (2160, 3840), (5000, 1), (128, 128)]:
        assert p.covers(SPEC.input_shape(CONFIG, h, w, batch=64)), (h, w)
    assert not p.covers((65, 3, 72, 128))
    assert default_profile(SPEC, CONFIG, opt_batch=8, max_batch=16).opt[0] == 8


def test_profile_from_frame_sizes_is_in_predictor_space():
    frames = [parse_frame_size(s) for s in ("360p", "1080p", "4k")]
    p = profile_for_frames(SPEC, CONFIG, frames, opt_batch=4, max_batch=16)
    assert p == Profile((1, 3, 72, 128), (4, 3, 72, 128), (16, 3, 72, 128))
    portrait = profile_for_frames(SPEC, CONFIG, [(360, 640), (1080, 1920), (1920, 1080)])
    assert portrait.min == (1, 3, 72, 72) and portrait.max[2:] == (128, 128)
    assert parse_frame_size("640x360") == (360, 640)
    with pytest.raises(ValueError):
        parse_frame_size("big")
    with pytest.raises(ValueError):
        Profile((2, 3, 1, 1), (1, 3, 1, 1), (4, 3, 1, 1))


def test_profile_tag_and_dict_round_trip():
    p = default_profile(SPEC, CONFIG)
    assert Profile.from_dict(p.as_dict()) == p
    assert p.tag() == "b1-64_h1-128_w1-128_opt1x72x128"


def test_select_profile_prefers_exact_opt_then_tightest():
    wide = Profile((1, 3, 1, 1), (1, 3, 72, 128), (64, 3, 128, 128))
    fixed = Profile((1, 3, 72, 128), (8, 3, 72, 128), (16, 3, 72, 128))
    portrait = Profile((1, 3, 128, 72), (1, 3, 128, 72), (1, 3, 128, 72))
    assert select_profile([wide, fixed], (8, 3, 72, 128)) == fixed  # opt matches
    assert select_profile([wide, fixed], (2, 3, 72, 128)) == fixed  # tighter
    assert select_profile([wide, fixed], (1, 3, 72, 128)) == wide   # opt matches the wide one
    assert select_profile([wide, fixed, portrait], (1, 3, 128, 72)) == portrait
    assert select_profile([fixed], (1, 3, 100, 128)) is None
    assert select_profile([], (1, 3, 72, 128)) is None


def test_matching_engines_filters_by_identity_and_state(tmp_path):
    src = ModelSource("curve", Path("/w.pt"), "a" * 64)
    cache = ArtifactCache(tmp_path)
    fixed = Profile((1, 3, 72, 128), (1, 3, 72, 128), (8, 3, 72, 128))
    wide = default_profile(SPEC, CONFIG)
    cache.store(engine_key(src, "o" * 64, "fp16", wide, "10.3.0", "9.0"), b"a")
    cache.store(engine_key(src, "o" * 64, "fp16", fixed, "10.3.0", "9.0"), b"b")
    cache.store(engine_key(src, "o" * 64, "fp32", fixed, "10.3.0", "9.0"), b"c")   # other precision
    cache.store(engine_key(src, "o" * 64, "fp16", fixed, "10.3.0", "8.6"), b"d")   # other GPU
    old = cache.store(engine_key(src, "o" * 64, "fp16", fixed, "10.0.0", "8.0"), b"e")  # other TRT
    found = matching_engines(cache.entries(), src, "fp16", "10.3.0", "9.0")
    assert sorted(p.tag() for p, _ in found) == sorted([wide.tag(), fixed.tag()])
    old.write_bytes(b"x")
    assert len(matching_engines(cache.entries(), src, "fp16", "10.0.0", "8.0")) == 0  # corrupt: skipped
    assert BUILD_VERSION >= 1


# -- the build recipe, against a stand-in with the documented TensorRT Python API -----------

def fake_tensorrt(version="10.3.0", fp16_flag=True, parse_ok=True, plan=b"PLAN"):
    calls = []

    class Logger:
        WARNING = "WARNING"

        def __init__(self, level):
            calls.append(("Logger", level))

    flags = {"FP16": "FP16"} if fp16_flag else {}
    BuilderFlag = type("BuilderFlag", (), {"TF32": "TF32", **flags})

    class OptimizationProfile:
        def set_shape(self, name, lo, opt, hi):
            calls.append(("set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class BuilderConfig:
        def set_memory_pool_limit(self, pool, size):
            calls.append(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag):
            calls.append(("set_flag", flag))

        def add_optimization_profile(self, profile):
            calls.append(("add_optimization_profile",))
            return 0

    class Builder:
        def __init__(self, logger):
            calls.append(("Builder",))

        def create_network(self, flags=0):
            calls.append(("create_network", flags))
            return object()

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network",))
            return plan

    class OnnxParser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse(self, data):
            calls.append(("parse", bytes(data[:4])))
            self.num_errors = 0 if parse_ok else 1
            return parse_ok

        def get_error(self, i):
            return "In node 3 (Foo): UNSUPPORTED_NODE"

    return SimpleNamespace(__version__=version, Logger=Logger, Builder=Builder, OnnxParser=OnnxParser,
                           BuilderFlag=BuilderFlag, MemoryPoolType=SimpleNamespace(WORKSPACE="WORKSPACE"),
                           NetworkDefinitionCreationFlag=SimpleNamespace(EXPLICIT_BATCH=0), calls=calls)


PROFILE = Profile((1, 3, 1, 1), (1, 3, 72, 128), (64, 3, 128, 128))


def test_build_tensorrt10_fp16_sets_the_flag_and_the_profile():
    trt = fake_tensorrt()
    plan = build_serialized(trt, b"ONNXbytes", "image", PROFILE, "fp16")
    assert plan == b"PLAN"
    names = [c[0] for c in trt.calls]
    assert names.index("parse") < names.index("build_serialized_network")
    assert ("create_network", 0) in trt.calls  # explicit batch is implicit since TensorRT 10
    assert ("set_flag", "FP16") in trt.calls
    assert ("set_shape", "image", (1, 3, 1, 1), (1, 3, 72, 128), (64, 3, 128, 128)) in trt.calls
    assert ("add_optimization_profile",) in trt.calls
    assert any(c[0] == "set_memory_pool_limit" and c[1] == "WORKSPACE" for c in trt.calls)
    assert onnx_precision_for(trt, "fp16") == "fp32"  # weak typing: fp32 graph + FP16 flag


def test_build_fp32_sets_no_precision_flag():
    trt = fake_tensorrt()
    build_serialized(trt, b"ONNX", "image", PROFILE, "fp32")
    assert not [c for c in trt.calls if c[0] == "set_flag"]


def test_tensorrt11_without_fp16_flag_builds_from_the_fp16_graph():
    trt = fake_tensorrt(version="11.1.0", fp16_flag=False)
    assert onnx_precision_for(trt, "fp16") == "fp16" and onnx_precision_for(trt, "fp32") == "fp32"
    build_serialized(trt, b"ONNX", "image", PROFILE, "fp16")
    assert not [c for c in trt.calls if c[0] == "set_flag"]


def test_parse_and_build_failures_are_clear_errors():
    with pytest.raises(EngineError, match="cannot parse.*UNSUPPORTED_NODE"):
        build_serialized(fake_tensorrt(parse_ok=False), b"ONNX", "image", PROFILE, "fp16")
    with pytest.raises(EngineError, match="failed to build"):
        build_serialized(fake_tensorrt(plan=None), b"ONNX", "image", PROFILE, "fp16")


def test_missing_tensorrt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(EngineError, match=r"TensorRT is not installed \(pip install 'vidlle\[trt\]'"):
        require_tensorrt()


def test_get_engine_builds_once_caches_and_rebuilds_on_upgrade(monkeypatch, tmp_path):
    """The cache flow around a build, with a stand-in TensorRT and GPU."""
    import contextlib

    import torch

    from vidlle.engines.tensorrt import get_engine

    monkeypatch.setattr("vidlle.engines.tensorrt.compute_capability", lambda device="cuda": "9.0")
    monkeypatch.setattr("vidlle.engines.tensorrt.verify_engine", lambda *a, **k: {
        "ok": True, "frames": 1, "output_max_abs": 1, "tolerance": 2, "params_max_abs": 1e-4})
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Stand-in GPU")
    cache, src, log = ArtifactCache(tmp_path), ModelSource.resolve("curve"), []
    trt = fake_tensorrt("10.3.0")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    path, meta = get_engine(src, "fp16", cache=cache, log=log.append)
    assert path.read_bytes() == b"PLAN" and path.suffix == ".engine"
    assert meta["key"]["tensorrt"] == "10.3.0" and meta["key"]["compute_capability"] == "9.0"
    assert Profile.from_dict(meta["key"]["profile"]) == default_profile(SPEC, CONFIG)
    assert meta["extra"]["gpu"] == "Stand-in GPU" and meta["extra"]["verification"]["ok"]
    assert meta["extra"]["onnx"].endswith("-fp32-opset17.onnx")  # TensorRT 10: fp32 graph + FP16 flag
    assert ("set_flag", "FP16") in trt.calls and any("TensorRT engine vs torch" in m for m in log)
    builds = lambda t: sum(c[0] == "build_serialized_network" for c in t.calls)  # noqa: E731
    assert get_engine(src, "fp16", cache=cache)[0] == path and builds(trt) == 1  # cached
    trt.__version__ = "10.4.0"  # upgrade: same slot, stale sidecar -> rebuilt in place
    log.clear()
    path2, meta2 = get_engine(src, "fp16", cache=cache, log=log.append)
    assert path2 == path and builds(trt) == 2 and meta2["key"]["tensorrt"] == "10.4.0"
    assert any("rebuilding engine" in m and "10.3.0" in m for m in log)
    trt11 = fake_tensorrt("11.1.0", fp16_flag=False)
    monkeypatch.setitem(sys.modules, "tensorrt", trt11)
    _, meta3 = get_engine(src, "fp16", cache=cache)
    assert meta3["extra"]["onnx"].endswith("-fp16-opset17.onnx")  # strongly typed: the fp16 graph
    assert meta3["key"]["onnx_sha256"] != meta2["key"]["onnx_sha256"]


# -- real TensorRT (skipped here: not installable on these machines) ----------------------------

@pytest.mark.trt
@pytest.mark.gpu
def test_real_engine_build_cache_and_parity(tmp_path, monkeypatch):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    from vidlle import Enhancer
    from vidlle.io.synth import night_frame

    monkeypatch.setenv("VIDLLE_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    frames = [night_frame(1, 1080, 1920, rng), night_frame(2, 97, 161, rng), night_frame(3, 2, 2, rng)]
    trt_enh = Enhancer("curve", backend="tensorrt", device="cuda", precision="fp16")
    ref = Enhancer("curve", backend="torch")
    for f in frames:
        diff = np.abs(trt_enh.enhance(f).astype(np.int16) - ref.enhance(f)).max()
        assert diff <= 2, diff
    assert "tensorrt" in trt_enh.describe()
    engines = list(tmp_path.glob("engines/*.engine"))
    assert len(engines) == 1
    stamp = engines[0].stat().st_mtime_ns
    Enhancer("curve", backend="tensorrt", device="cuda", precision="fp16")
    assert engines[0].stat().st_mtime_ns == stamp  # cache hit, no rebuild
    engines[0].write_bytes(b"garbage")
    again = Enhancer("curve", backend="tensorrt", device="cuda", precision="fp16")
    assert np.abs(again.enhance(frames[0]).astype(np.int16) - ref.enhance(frames[0])).max() <= 2
    assert engines[0].stat().st_size > 1000  # rebuilt
