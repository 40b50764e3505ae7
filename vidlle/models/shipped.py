"""The shipped CPU runtime of each registry model: its predictor as an ONNX graph and its tone
curves as plain numbers, next to the torch weights they were exported from.

The default path on a CPU (onnxruntime + the fast apply step) then starts without importing
torch (over a second of start-up) and without exporting a graph on first use::

    weights/<name>.onnx           fp32 predictor graph (dynamic batch, height, width)
    weights/<name>.runtime.json   weights_sha256 (of <name>.pt), config, tone, exporter
    weights/<name>.bank.npy       the SKF student's curve bank, (1, knots, 256) float32

How a model's tone is written and read back is its registry entry's tone format
(:class:`vidlle.models.registry.CurveSteps`: a step count; :class:`~vidlle.models.registry.CurveBank`:
the bank file).

A runtime is used only while its ``weights_sha256`` matches the shipped ``.pt``; otherwise (or
with other ``--weights``) the graph is exported from torch into the engine cache as before.
After training, ``python -m vidlle.models.shipped`` writes the files again (needs torch, onnx
and onnxruntime; the graph is verified against torch first). A test fails while they are stale.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from vidlle.apply import ToneTable
from vidlle.engines.export import export_onnx, verify_onnx
from vidlle.engines.specs import ModelSource
from vidlle.models.registry import WEIGHTS_DIR, get_spec


@dataclass(frozen=True)
class ShippedRuntime:
    """What the CPU runtime of one model needs, torch-free.

    config: the model's config object (its registry entry's config class).
    onnx: path of the fp32 predictor graph.
    tone: the tone table of the fast apply step.
    weights_sha256: sha256 of the torch weights the graph and table were exported from.
    """

    model: str
    config: object
    onnx: Path
    tone: ToneTable
    weights_sha256: str


def runtime_paths(name: str, directory: Path = WEIGHTS_DIR) -> tuple[Path, Path]:
    """(graph, metadata) file paths of model ``name`` (its tone format may add a file)."""
    return directory / f"{name}.onnx", directory / f"{name}.runtime.json"


@lru_cache(maxsize=8)
def load_runtime(name: str) -> ShippedRuntime | None:
    """The shipped runtime of registry model ``name``, or None if absent or stale."""
    spec = get_spec(name)
    onnx, meta_path = runtime_paths(name)
    if not (onnx.is_file() and meta_path.is_file() and spec.weights_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    sha = spec.weights_sha256()
    if meta.get("weights_sha256") != sha or meta["tone"].get("kind") != spec.tone.kind:
        return None
    return ShippedRuntime(name, spec.config(**meta["config"]), onnx, spec.tone.table(meta["tone"], meta_path.parent),
                          sha)


def write_runtime(name: str, directory: Path = WEIGHTS_DIR) -> dict:
    """Export model ``name``'s shipped weights to its runtime files (torch, onnx, onnxruntime)."""
    # Here, not at the top: torch is an extra; the default path reads the runtime files without it.
    import torch

    spec = get_spec(name)
    source = ModelSource.resolve(name)
    module, config = source.load()
    data = export_onnx(source, "fp32")
    report = verify_onnx(data, source, precision="fp32")
    if not report["ok"]:
        raise RuntimeError(f"{name}: the exported graph differs from torch: {report}")
    onnx, meta_path = runtime_paths(name, directory)
    onnx.write_bytes(data)
    meta = {"model": name, "weights": spec.weights, "weights_sha256": spec.weights_sha256(), "config": asdict(config),
            "tone": spec.tone.record(module, directory, name), "exporter": f"torch-{torch.__version__}",
            "verification": report}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


if __name__ == "__main__":
    from vidlle.models import available_models

    for model_name in available_models():
        written = write_runtime(model_name)
        print(f"{model_name}: {runtime_paths(model_name)[0].name} written, verification {written['verification']}")
