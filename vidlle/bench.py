"""`vidlle bench`: a thin launcher for the measurement scripts in ``benchmarks/``.

    vidlle bench [ARGS]            -> python benchmarks/throughput.py ARGS   (bare PyAV vs vidlle)
    vidlle bench --models [ARGS]   -> python benchmarks/models.py ARGS       (backends, model only)

The scripts live in the source tree (they need its ``train/`` and test clips), so the command
works from a checkout or an editable install; an installed wheel says so in one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vidlle.errors import VidlleError

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def script(name: str) -> Path:
    """Path of ``benchmarks/<name>``; VidlleError when this install has no source tree."""
    path = BENCHMARKS / name
    if not path.is_file():
        raise VidlleError(f"vidlle bench needs the source tree (benchmarks/{name} not found next to the package); "
                          "clone the repository and `pip install -e .`")
    return path


def run(models: bool, args: list[str]) -> int:
    """Run the throughput (or, with ``models``, the model-only) benchmark; its exit status."""
    target = script("models.py" if models else "throughput.py")
    return subprocess.run([sys.executable, str(target), *args], check=False).returncode
