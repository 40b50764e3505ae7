"""The methods the evaluation harnesses compare (``--method LABEL=KIND[:ARG]``).

Each is ``method(image (H, W, 3) uint8 RGB, key) -> (H, W, 3) uint8 RGB``; ``key`` is
``set/filename`` (the ``dir`` kind finds an image's output by it). Kinds: ``input``, ``curve``
(the product path), ``published`` (Zero-DCE++ / SGZ weights), ``gamma``, ``clahe``, ``dir``,
``skf`` (the student through the product path), ``skf-teacher`` and ``cli`` (the `vidlle
enhance` command itself); see
:mod:`train.evaluate` for what each means.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from train import metrics
from train.common import read_rgb
from train.official import PublishedEnhancer
from train.skf.student import load_student
from train.skf.teacher import load_teacher
from vidlle.api import Enhancer
from vidlle.apply import ToneTable, apply_params
from vidlle.exposure import frame_strength
from vidlle.models.skf import TABLE_ROWS
from vidlle.predictor import predictor_size

Method = Callable[[np.ndarray, str], np.ndarray]


class StudentEnhancer:
    """The student on uint8 frames: predictor in torch (CPU), bank tabulated once, LUT apply."""

    def __init__(self, path: str | Path, rows: int = TABLE_ROWS):
        self.student = load_student(path)
        self.config = self.student.config
        self.tone = ToneTable.from_array(self.student.table(rows))

    def predict(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """(H, W, 3) uint8 -> ((3, h, w) float32 selector map at the predictor size, strength)."""
        h, w = predictor_size(frame.shape[0], frame.shape[1], self.config.predict_size)
        small = frame if (h, w) == frame.shape[:2] else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        x = small.transpose(2, 0, 1).astype(np.float32) / 255.0
        with torch.inference_mode():
            return self.student(torch.from_numpy(x)[None])[0].numpy(), frame_strength(x)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        params, strength = self.predict(frame)
        return apply_params(frame, params, self.tone, strength, self.config.local)


def skf_method(arg: str):
    """``skf[:PATH]``: the student through the product path (:class:`vidlle.Enhancer`, torch
    backend, spatial denoiser at its default), shipped weights or a weights file."""
    if arg and not Path(arg).is_file():
        raise SystemExit(f"skf: no student weights at {arg}")
    enh = Enhancer("skf", backend="torch", weights=arg or None)
    return lambda image, key: enh.enhance(image)


def _cli(arg: str) -> Method:
    """``cli[:OPTIONS]``: the `vidlle enhance` command itself on each image (a child process,
    PNG in and out), with OPTIONS (space separated, e.g. ``cli:--model skf``) after the defaults."""
    options = arg.split()

    def run(image: np.ndarray, key: str) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="vidlle-eval-") as tmp:
            src, dst = Path(tmp) / "in.png", Path(tmp) / "out.png"
            cv2.imwrite(str(src), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            proc = subprocess.run([sys.executable, "-m", "vidlle", "enhance", str(src), str(dst), "--quiet", *options],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"cli: vidlle enhance failed on {key}: {proc.stderr.strip()[-300:]}")
            return read_rgb(dst)

    return run


def skf_teacher_method(arg: str):
    """``skf-teacher:PATH`` (a teacher run's last.pt)."""
    if not arg:
        raise SystemExit("skf-teacher: needs a checkpoint path, e.g. skf-teacher:runs/skf_teacher/last.pt")
    teacher = load_teacher(arg)

    def run(image: np.ndarray, key: str) -> np.ndarray:
        x = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        out = teacher(x)[0][0].numpy().transpose(1, 2, 0)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)

    return run


def adaptive_gamma(image: np.ndarray, target: float = 0.5) -> np.ndarray:
    """Global gamma per image so that the mean luma maps to ``target``."""
    mean = max(metrics.mean_brightness(image), 1e-3)
    gamma = np.log(target) / np.log(mean)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return lut[image]


def clahe(image: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def _curve(arg: str) -> Method:
    enh = Enhancer("curve", backend="torch", weights=arg or None)
    return lambda image, key: enh.enhance(image)


def _published(arg: str) -> Method:
    if not arg:
        raise SystemExit("published: needs a weights path, e.g. published:/path/Epoch99.pth")
    enh = PublishedEnhancer(arg)
    return lambda image, key: enh(image)


def _folder(arg: str) -> Method:
    root = Path(arg)

    def lookup(image: np.ndarray, key: str) -> np.ndarray:
        set_name, stem = key.split("/", 1)
        for base in (root / set_name, root):
            hits = sorted(base.glob(Path(stem).stem + ".*"))
            if hits:
                out = read_rgb(hits[0])
                if out.shape != image.shape:
                    out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
                return out
        raise FileNotFoundError(f"no output for {key} under {root}")

    return lookup


METHOD_KINDS: dict[str, Callable[[str], Method]] = {
    "input": lambda arg: (lambda image, key: image),
    "curve": _curve,
    "published": _published,
    "gamma": lambda arg: (lambda image, key: adaptive_gamma(image)),
    "clahe": lambda arg: (lambda image, key: clahe(image)),
    "dir": _folder,
    "skf": skf_method,
    "skf-teacher": skf_teacher_method,
    "cli": _cli,
}


def parse_method(spec: str) -> tuple[str, Method]:
    label, _, rest = spec.partition("=") if "=" in spec.split(":", 1)[0] else ("", "", spec)
    kind, _, arg = rest.partition(":")
    if kind not in METHOD_KINDS:
        raise SystemExit(f"unknown method kind {kind!r} (known: {', '.join(METHOD_KINDS)})")
    return label or kind, METHOD_KINDS[kind](arg)
