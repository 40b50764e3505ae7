"""train.exposure_study on generated pairs whose reference brightness is known by construction."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from train import exposure_study


def write_pairs(root, count: int, rng: np.random.Generator, predictable: bool):
    """``count`` 60x40 low/normal pairs named 1.png, 2.png, ... The reference's mean is a function
    of the capture's level (``predictable``) or drawn independently of it."""
    (root / "low").mkdir(parents=True)
    (root / "normal").mkdir()
    for i in range(1, count + 1):
        scene = rng.uniform(0.3, 1.0, (40, 60, 3))
        level = rng.uniform(0.03, 0.12)
        low = scene * level
        ref_mean = 0.25 + 2.5 * level if predictable else rng.uniform(0.3, 0.6)
        ref = scene * ref_mean / scene.mean()
        for kind, image in (("low", low), ("normal", ref)):
            cv2.imwrite(str(root / kind / f"{i}.png"), np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
    return root


def rows(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("interleaved", "blocked"):
            out[parts[0], parts[1]] = [float(v) for v in parts[2:]]
    return out


def test_a_brightness_that_follows_the_capture_is_predicted_and_an_independent_one_is_not(tmp_path, capsys):
    rng = np.random.default_rng(0)
    exposure_study.main(["--real-pairs", str(write_pairs(tmp_path / "follows", 40, rng, True))])
    follows = rows(capsys.readouterr().out)
    exposure_study.main(["--real-pairs", str(write_pairs(tmp_path / "free", 40, rng, False))])
    free = rows(capsys.readouterr().out)
    for split in ("interleaved", "blocked"):
        assert follows[split, "stats"][0] > 0.95  # r: the capture's level gives it away
        assert follows[split, "stats"][1] < 0.5 * follows[split, "constant"][1]  # RMSE
        assert free[split, "stats"][0] < 0.6  # nothing in the capture says what the reference is


def test_outputs_are_scored_as_they_are_at_the_oracle_and_per_predictor(tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs", 24, np.random.default_rng(1), True)
    outputs = tmp_path / "out"
    outputs.mkdir()
    for path in sorted((pairs / "normal").iterdir()):  # the references at 70 % of their brightness
        cv2.imwrite(str(outputs / path.name), (cv2.imread(str(path)) * 0.7).astype(np.uint8))
    exposure_study.main(["--real-pairs", str(pairs), "--outputs", str(outputs)])
    text = capsys.readouterr().out
    as_is, oracle = (float(v) for v in
                     re.search(r"as they are: ([\d.]+) dB; scaled to each reference's mean: ([\d.]+) dB", text).groups())
    assert oracle > as_is + 10  # scaling back to the reference's mean undoes the 70 %
    assert rows(text)["interleaved", "stats"][2] > as_is  # a good predictor recovers most of it
    (outputs / "3.png").unlink()
    with pytest.raises(SystemExit, match="no output for 1 capture"):
        exposure_study.main(["--real-pairs", str(pairs), "--outputs", str(outputs)])
