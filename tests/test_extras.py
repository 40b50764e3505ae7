"""Without torch (an optional extra): the default path runs, torch-only features say which extra.

Each run is the real command in a child process whose import system refuses ``torch`` (a meta
path finder in front of every other), as in an install without the extra: any import of torch
on the way fails the command, so a run that succeeds never imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidlle.errors import BackendError
from vidlle.extras import require_torch, torch_missing
from vidlle.models import get_spec

ROOT = Path(__file__).resolve().parents[1]
EXTRA_HINT = "pip install 'vidlle[torch]'"

# Runs `python -m vidlle ARGS` with torch (and its submodules) not importable.
WITHOUT_TORCH = """
import runpy, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
sys.argv = ["vidlle", *sys.argv[1:]]
runpy.run_module("vidlle", run_name="__main__", alter_sys=True)
"""


def vidlle_without_torch(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VIDLLE_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 12-frame dark 320x180 clip with audio (``vidlle sample``, itself run without torch)."""
    folder = tmp_path_factory.mktemp("no-torch")
    done = vidlle_without_torch(["sample", "dark.mp4", "--size", "320x180", "--seconds", "0.48"], folder)
    assert done.returncode == 0, done.stderr
    return folder / "dark.mp4"


def test_default_enhance_runs_without_torch(clip, tmp_path):
    import av

    done = vidlle_without_torch(["enhance", str(clip), "out.mp4"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "backend onnxruntime" in done.stderr
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 12  # 0.48 s at 25 fps, every frame


def test_info_runs_without_torch(tmp_path):
    done = vidlle_without_torch(["info"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "torch not installed" in done.stdout and EXTRA_HINT in done.stdout
    assert "onnxruntime  available" in done.stdout
    assert "auto         cpu fp32: onnxruntime" in done.stdout


def test_serve_in_threads_runs_without_torch(tmp_path):
    """The driver and the camera workers (the code a Ray actor runs: CameraWorker, the thread
    limits of scale/engines.py) on the default path, in one process."""
    config = tmp_path / "cams.json"  # JSON needs no PyYAML
    config.write_text(json.dumps({"defaults": {"output": "rec/{name}.mkv"},
                                  "cameras": [{"name": "yard", "source": "testsrc:160x90@10"}]}))
    done = vidlle_without_torch(["serve", str(config), "--engine", "threads", "--duration", "2", "-q"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rec" / "yard.mkv").is_file(), done.stderr
    assert "yard:" in done.stderr and "frames kept" in done.stderr


@pytest.mark.parametrize("args, feature", [
    (["--backend", "torch"], "the torch backend"),
    (["--overlay", "seg"], "the segmentation overlay (--overlay seg)"),
    (["--weights", str(get_spec("curve").weights_path)], "loading the torch weights of model 'curve'"),
])
def test_torch_only_enhance_options_say_which_extra(clip, tmp_path, args, feature):
    done = vidlle_without_torch(["enhance", str(clip), "out.mp4", *args], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"vidlle: error: {feature} needs PyTorch, which is not installed: "
                                                f"{EXTRA_HINT} (in a checkout: pip install -e '.[torch]')"]
    assert list(tmp_path.glob("*.mp4")) == []  # nothing written


def test_build_engine_says_which_extra(tmp_path):
    done = vidlle_without_torch(["build-engine", "--onnx-only"], tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidlle: error: vidlle build-engine") and EXTRA_HINT in lines[0]


def test_a_broken_torch_keeps_its_own_error(monkeypatch):
    """Only torch itself missing means "install the extra"; a package torch needs that is missing
    is reported as it is (installing the extra again would not fix it)."""
    assert torch_missing(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert torch_missing(ModuleNotFoundError("No module named 'torch._C'", name="torch._C"))
    assert not torch_missing(ModuleNotFoundError("No module named 'sympy'", name="sympy"))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails as if not installed
    with pytest.raises(BackendError, match=r"^export needs PyTorch, which is not installed: pip install 'vidlle\[torch\]'"):
        require_torch("export")
