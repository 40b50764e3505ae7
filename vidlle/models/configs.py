"""The models' hyper-parameters (stored with their weights).

Plain dataclasses without torch: the CPU runtime (onnxruntime on the shipped graph, the fast
apply) needs them, and importing torch costs more than a second of start-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CurveConfig:
    """Hyper-parameters of the curve model (stored with the weights).

    width: channels of the hidden layers.
    steps: recurrent curve steps applied at full resolution.
    predict_size: long side, in pixels, of the frame the predictor sees (smaller frames are not
        upscaled).
    local: weight of the local curve map against its frame mean in the apply step (1 = fully
        local as Zero-DCE, which flattens contrast between regions; lower keeps it).
    """

    width: int = 16
    steps: int = 8
    predict_size: int = 128
    local: float = 1.0


@dataclass(frozen=True)
class SKFConfig:
    """Hyper-parameters of the SKF student (stored with the weights).

    width: channels of the first layer (the coarser levels use 2x and 4x).
    predict_size: long side, in pixels, of the frame the predictor sees (smaller frames are not
        upscaled), as :class:`vidlle.models.curve.CurveConfig`.
    knots: curves in the bank (grid over s in [-1, 1]).
    levels: knots of every curve over the input level in [0, 1]; 256 makes each uint8 level a knot.
    init_steps: the bank starts as the curve model's quadratic family with this many steps.
    local: weight of the local map against its frame mean in the apply step (as the curve model).
    """

    width: int = 16
    predict_size: int = 128
    knots: int = 17
    levels: int = 256
    init_steps: int = 8
    local: float = 1.0

    def __post_init__(self):
        if self.knots < 2 or self.levels < 2:
            raise ValueError(f"SKFConfig needs knots >= 2 and levels >= 2, got {self.knots}, {self.levels}")
        if self.width < 1 or self.predict_size < 1:
            raise ValueError(f"SKFConfig width and predict_size must be positive, got {self}")
