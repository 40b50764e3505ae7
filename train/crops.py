"""100 % crops of real night clips, before and after, to look at (not a metric).

    python -m train.crops --out docs/eval/denoise

For each clip the frames up to ``--frame`` go through an Enhancer with the CLI's video defaults
(temporal processing on), so the crop shows the state a recording is in at that frame. Columns:
the input (as it is, and x8 so its noise can be seen), then each model with the spatial denoiser
off (``--denoise 0``) and at its default. Crops are pixel for pixel (no scaling), labelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# isort: off
import cv2  # before av (see vidlle.io.preview: their bundled libraries conflict otherwise)
import av
# isort: on
import numpy as np

from vidlle import Enhancer

SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
# clip -> (frame index, crop box y, x, height, width): a region with both shadow and detail
CROPS = {
    "d_dark_yard_static_cam.mp4": (120, 300, 640, 320, 480),
    "c_dashcam_highway_night.mp4": (120, 120, 160, 200, 320),
}


def _frames(path: Path, count: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) >= count:
                break
    return out


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = np.ascontiguousarray(tile)
    for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, width, cv2.LINE_AA)
    return tile


def crop_row(path: Path, frame: int, box: tuple[int, int, int, int], models: list[str]) -> np.ndarray:
    """(rows of) labelled 100 % crops of ``frame`` of ``path``: input, input x8, then per model
    denoise 0 and default."""
    frames = _frames(path, frame + 1)
    y, x, h, w = box
    cut = (slice(y, y + h), slice(x, x + w))
    tiles = [_label(frames[-1][cut], "input"),
             _label(np.clip(frames[-1][cut].astype(np.int32) * 8, 0, 255).astype(np.uint8), "input x8")]
    for model in models:
        for denoise, name in ((0.0, "denoise 0"), (1.0, "default")):
            enh = Enhancer(model, temporal=True, denoise=denoise)
            out = None
            for f in frames:
                out = enh.enhance(f)
            tiles.append(_label(out[cut], f"{model}, {name}"))
    half = (len(tiles) + 1) // 2
    rows = [np.hstack(tiles[:half]), np.hstack(tiles[half:] + [np.zeros_like(tiles[0])] * (2 * half - len(tiles)))]
    return np.vstack(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--videos", type=Path, default=SHARED_VIDEO)
    ap.add_argument("--model", action="append", default=[], help="models (default: curve and skf)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for clip, (frame, *box) in CROPS.items():
        path = args.videos / clip
        if not path.is_file():
            print(f"crops: {path} not here, skipped", file=sys.stderr)
            continue
        image = crop_row(path, frame, tuple(box), args.model or ["curve", "skf"])
        dest = args.out / f"crops_{Path(clip).stem}.jpg"
        cv2.imwrite(str(dest), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"crops: {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
