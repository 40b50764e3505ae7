"""Engine cache: keys, sidecars, stale and corrupt artefacts are rebuilt, never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidlle.engines.cache import ArtifactCache, ArtifactKey
from vidlle.engines.specs import ModelSource, Profile
from vidlle.engines.tensorrt import engine_key

SRC = ModelSource("curve", Path("/x/curve.pt"), "a" * 64)
PROFILE = Profile((1, 3, 1, 1), (1, 3, 72, 128), (64, 3, 128, 128))


def key(**over):
    args = {"source": SRC, "onnx_sha256": "b" * 64, "precision": "fp16", "profile": PROFILE,
            "trt_version": "10.3.0", "capability": "9.0", **over}
    return engine_key(**args)


@pytest.mark.parametrize("change", [
    {"source": ModelSource("curve", Path("/x/curve.pt"), "c" * 64)},          # weights
    {"precision": "fp32"},                                                     # precision
    {"profile": Profile((1, 3, 72, 128), (1, 3, 72, 128), (8, 3, 72, 128))},  # shapes
    {"profile": Profile((1, 3, 1, 1), (8, 3, 72, 128), (64, 3, 128, 128))},    # opt only
    {"trt_version": "10.4.0"},                                                 # TensorRT
    {"capability": "8.9"},                                                     # GPU
    {"onnx_sha256": "d" * 64},                                                 # exported graph
    {"source": ModelSource("segment", Path("/x/curve.pt"), "a" * 64)},         # model
])
def test_engine_key_changes_with_every_input(change):
    assert key(**change).digest() != key().digest()
    assert key(**change).fields != key().fields


def test_slot_is_stable_across_trt_versions_so_upgrades_rebuild_in_place():
    assert key(trt_version="10.4.0").filename == key().filename
    assert key(capability="8.9").filename != key().filename  # two GPUs in one box do not thrash
    assert key(precision="fp32").filename != key().filename
    assert key().filename.endswith(".engine") and "sm90" in key().filename


def test_sidecar_round_trip(tmp_path):
    cache = ArtifactCache(tmp_path)
    k = key()
    assert cache.check(k) == "absent" and cache.lookup(k) is None
    path = cache.store(k, b"plan-bytes", {"gpu": "Test GPU", "build_s": 1.5})
    assert path == tmp_path / k.filename and path.read_bytes() == b"plan-bytes"
    meta = json.loads((tmp_path / (k.filename + ".json")).read_text())
    assert meta["key"] == k.fields and meta["digest"] == k.digest() and meta["kind"] == "engine"
    assert meta["size"] == 10 and meta["extra"]["gpu"] == "Test GPU"
    assert meta["key"]["tensorrt"] == "10.3.0" and meta["key"]["compute_capability"] == "9.0"
    assert Profile.from_dict(meta["key"]["profile"]) == PROFILE
    assert cache.lookup(k) == path
    [entry] = cache.entries()
    assert entry.path == path and entry.problem is None and entry.key == k.fields
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stale_sidecar_means_rebuild(tmp_path):
    cache = ArtifactCache(tmp_path)
    old, new = key(trt_version="10.0.1"), key(trt_version="10.3.0")
    cache.store(old, b"old plan")
    assert cache.check(new).startswith("stale") and "tensorrt" in cache.check(new)
    reasons, builds = [], []

    def build():
        builds.append(1)
        return b"new plan", {}

    path = cache.get_or_create(new, build, on_rebuild=reasons.append)
    assert builds == [1] and path.read_bytes() == b"new plan"
    assert reasons and "10.0.1" in reasons[0] and "10.3.0" in reasons[0]
    assert cache.get_or_create(new, build) == path and builds == [1]  # now a hit
    assert cache.check(old).startswith("stale")  # the old engine is gone, not kept beside it


@pytest.mark.parametrize("damage", ["flip", "truncate", "no sidecar", "garbage sidecar", "sidecar of other key"])
def test_corrupt_or_orphaned_artefact_means_rebuild(tmp_path, damage):
    cache = ArtifactCache(tmp_path)
    k = key()
    path = cache.store(k, b"0123456789" * 100)
    side = Path(str(path) + ".json")
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[500] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "no sidecar":
        side.unlink()
    elif damage == "garbage sidecar":
        side.write_text("{not json")
    else:
        meta = json.loads(side.read_text())
        meta["key"]["weights_sha256"] = "e" * 64
        side.write_text(json.dumps(meta))
    assert cache.check(k) is not None and cache.lookup(k) is None
    reasons = []
    path2 = cache.get_or_create(k, lambda: (b"rebuilt", {}), on_rebuild=reasons.append)
    assert path2 == path and path.read_bytes() == b"rebuilt" and cache.check(k) is None
    assert len(reasons) == 1


def test_entries_flag_damaged_files_and_ignore_others(tmp_path):
    cache = ArtifactCache(tmp_path)
    good = cache.store(key(), b"good")
    bad = cache.store(key(precision="fp32"), b"soon bad")
    bad.write_bytes(b"tampered")
    (tmp_path / "notes.txt").write_text("x")
    onnx = cache.store(ArtifactKey("onnx", "curve-aaaa-fp32-opset17", {"model": "curve"}), b"graph")
    got = {e.path: e.problem for e in cache.entries()}
    assert set(got) == {good, bad, onnx}
    assert got[good] is None and got[onnx] is None and "corrupt" in got[bad]


def test_invalidate_removes_file_and_sidecar(tmp_path):
    cache = ArtifactCache(tmp_path)
    path = cache.store(key(), b"x")
    cache.invalidate(key())
    assert not path.exists() and not Path(str(path) + ".json").exists()
    cache.invalidate(key())  # twice is fine


def test_missing_root_lists_nothing(tmp_path):
    assert ArtifactCache(tmp_path / "nope").entries() == []
