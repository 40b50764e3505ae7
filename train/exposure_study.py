"""How well can the brightness of a paired reference be predicted from its dark capture?

    python -m train.exposure_study --real-pairs /data/lol/dataset/train
    python -m train.exposure_study --real-pairs /data/lol/dataset/train --outputs runs/skf_train_out

The study behind the exposure part of LOL's PSNR. A low/normal pair's PSNR is capped by how well the
output's mean brightness matches the reference's, and the reference's brightness was the
photographer's choice. The study fits small predictors of the reference's log mean (0..1 RGB mean)
on the training pairs and scores them in 10-fold cross-validation, under two splits:

* ``interleaved``: fold ``i % 10``. Neighbouring captures (LOL numbers the shots of one session
  consecutively) land on both sides, so a predictor can recall a scene it has seen, as with LOL's
  eval15, whose numbers sit between the training ones.
* ``blocked``: ten contiguous runs of the sorted names. The test scenes are new, as with a
  user's camera.

Predictors (ridge regressions on standardised features, or nearest neighbours):

* ``constant``: the training folds' mean.
* ``stats``: the capture's log mean gray, log 10/50/90/99th percentiles of max(R, G, B), log
  channel means.
* ``thumb``: a 24x16 thumbnail of the capture in log, its mean removed (layout and colour, not
  level).
* ``stats+thumb`` and ``thumb-knn5`` (mean of the five nearest thumbnails).

With ``--outputs DIR`` (an enhanced copy of ``DIR/NAME`` for every low capture, e.g. from
``vidlle enhance REAL_PAIRS/low DIR``), it also prints the mean PSNR of those outputs as they are,
scaled to each reference's mean (the exposure oracle: the "GT-mean" figure) and scaled to each
predictor's cross-validated prediction: what exposure prediction of that quality can add.

Needs only NumPy and OpenCV. Prints one table; writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from train.common import read_rgb
from train.evaluate import load_real_pairs
from train.metrics import psnr

THUMB = (24, 16)  # (width, height): LOL's 3:2
FOLDS = 10


def capture_order(names: list[str]) -> list[str]:
    """Names in capture order: numerically where every stem is a number (LOL), else by name."""
    if all(Path(n).stem.isdigit() for n in names):
        return sorted(names, key=lambda n: int(Path(n).stem))
    return sorted(names)


def features(low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stats (8,), thumb (THUMB h*w*3,)) of one (H, W, 3) uint8 capture; see the module docstring."""
    x = low.astype(np.float32) / 255.0
    brightest = x.max(axis=2)
    stats = [np.log(x.mean() + 1e-4)]
    stats += [np.log(np.percentile(brightest, p) + 1e-3) for p in (10, 50, 90, 99)]
    stats += list(np.log(x.reshape(-1, 3).mean(axis=0) + 1e-4))
    thumb = np.log(cv2.resize(x, THUMB, interpolation=cv2.INTER_AREA) + 1e-3).ravel()
    return np.asarray(stats, np.float64), (thumb - thumb.mean()).astype(np.float64)


def ridge(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, lam: float) -> np.ndarray:
    """Ridge regression on features standardised with the training rows' mean and std."""
    mu, sd = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (train_y - train_y.mean()))
    return b @ w + train_y.mean()


def nearest(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int) -> np.ndarray:
    dist = ((test_x[:, None, :] - train_x[None, :, :]) ** 2).sum(axis=-1)
    return train_y[np.argsort(dist, axis=1)[:, :k]].mean(axis=1)


Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def predictors(stats: np.ndarray, thumbs: np.ndarray) -> dict[str, tuple[np.ndarray, Predictor]]:
    """name -> (feature rows, fit-and-predict). Ridge strengths: 1 for the 8 stats, 300 where
    the 1152 thumbnail values come in (fixed beforehand, not searched)."""
    both = np.hstack([stats, thumbs])
    return {
        "constant": (stats, lambda tx, ty, sx: np.full(len(sx), ty.mean())),
        "stats": (stats, lambda tx, ty, sx: ridge(tx, ty, sx, 1.0)),
        "thumb": (thumbs, lambda tx, ty, sx: ridge(tx, ty, sx, 300.0)),
        "stats+thumb": (both, lambda tx, ty, sx: ridge(tx, ty, sx, 300.0)),
        "thumb-knn5": (thumbs, lambda tx, ty, sx: nearest(tx, ty, sx, 5)),
    }


def folds(n: int, split: str) -> list[np.ndarray]:
    """Boolean test masks: ``interleaved`` (i % FOLDS) or ``blocked`` (contiguous runs)."""
    index = np.arange(n)
    group = index % FOLDS if split == "interleaved" else index * FOLDS // n
    return [group == f for f in range(FOLDS)]


def cross_validate(rows: np.ndarray, target: np.ndarray, fit: Predictor, split: str) -> np.ndarray:
    out = np.zeros_like(target)
    for test in folds(len(target), split):
        out[test] = fit(rows[~test], target[~test], rows[test])
    return out


def scaled_psnr(outputs: list[np.ndarray], refs: list[np.ndarray], log_means: np.ndarray) -> float:
    """Mean PSNR after scaling each output to mean ``exp(log_mean)`` (0..1), clipped to 8 bits."""
    scores = []
    for out, ref, target in zip(outputs, refs, log_means):
        x = out.astype(np.float64) / 255.0
        gain = np.exp(target) / max(x.mean(), 1e-6)
        scores.append(psnr(np.clip(np.rint(x * gain * 255.0), 0, 255).astype(np.uint8), ref))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real-pairs", required=True, help="folder with low/NAME and normal/NAME")
    ap.add_argument("--outputs", help="folder of enhanced low captures (same names) to score")
    args = ap.parse_args(argv)

    root = Path(args.real_pairs)
    try:
        pairs = {Path(sample.key).name: sample for sample in load_real_pairs(root, None)}
    except OSError as exc:
        raise SystemExit(f"--real-pairs {root}: {exc}") from None
    names = capture_order(list(pairs))
    if len(names) < 2 * FOLDS:
        raise SystemExit(f"{root}: {len(names)} low/normal pairs; the study needs at least {2 * FOLDS}")
    refs = [pairs[name].ref for name in names]
    stats, thumbs = (np.array(column) for column in zip(*(features(pairs[name].image) for name in names)))
    target = np.log(np.array([ref.astype(np.float64).mean() / 255.0 for ref in refs]))

    outputs = None
    if args.outputs:
        missing = [name for name in names if not (Path(args.outputs) / name).is_file()]
        if missing:
            raise SystemExit(f"{args.outputs}: no output for {len(missing)} capture(s), e.g. {missing[0]}")
        try:
            outputs = [read_rgb(Path(args.outputs) / name) for name in names]
        except OSError as exc:
            raise SystemExit(f"--outputs {args.outputs}: {exc}") from None

    print(f"{len(names)} pairs from {root}; target: log mean of the reference (std {target.std():.3f})")
    numbered = all(Path(n).stem.isdigit() for n in names)
    same = np.array([numbered and int(Path(a).stem) + 1 == int(Path(b).stem) for a, b in zip(names, names[1:])])
    if same.any():
        i = np.flatnonzero(same)
        print(f"consecutive captures: {len(i)} neighbours, r(target, next target) = "
              f"{np.corrcoef(target[i], target[i + 1])[0, 1]:.2f}")
    if outputs is not None:
        as_is = float(np.mean([psnr(o, r) for o, r in zip(outputs, refs)]))
        print(f"outputs as they are: {as_is:.2f} dB; scaled to each reference's mean: "
              f"{scaled_psnr(outputs, refs, target):.2f} dB")
    head = f"{'split':<12} {'predictor':<12} {'r':>6} {'RMSE':>7}" + (f" {'PSNR dB':>8}" if outputs else "")
    print(head)
    for split in ("interleaved", "blocked"):
        for name, (rows, fit) in predictors(stats, thumbs).items():
            guess = cross_validate(rows, target, fit, split)
            r = float(np.corrcoef(guess, target)[0, 1]) if guess.std() > 0 else 0.0
            line = f"{split:<12} {name:<12} {r:6.2f} {np.sqrt(np.mean((guess - target) ** 2)):7.3f}"
            if outputs is not None:
                line += f" {scaled_psnr(outputs, refs, guess):8.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
