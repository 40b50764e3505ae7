"""PyTorch eager runtime (CPU fp32; CUDA fp32/fp16)."""

from __future__ import annotations

import numpy as np
import torch

from vidlle.backends.base import Backend
from vidlle.errors import BackendError


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model, device: str = "cpu", precision: str = "fp32"):
        super().__init__(model, device, precision)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} requested but torch sees no CUDA GPU")
        if precision == "fp16" and not device.startswith("cuda"):
            raise BackendError("fp16 needs a CUDA device (use --precision fp32 on CPU)")
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        try:
            self.torch_device = torch.device(device)
        except RuntimeError as exc:
            raise BackendError(f"bad device {device!r}: {exc}") from None
        if self.torch_device.type == "cpu":
            # The predictor is tiny (~1 ms of work per frame): intra-op threads only add
            # synchronisation, and the other pipeline stages (decoder, x264) already own the
            # cores. Measured: 36 ms/frame with 2 threads under load vs 5 ms with 1.
            torch.set_num_threads(1)
            # Trained weights drive some activations into denormal floats, which x86 CPUs
            # handle in microcode: 21 ms -> 5.8 ms per 128x72 prediction when flushed to zero.
            torch.set_flush_denormal(True)
        # channels_last: the depthwise/pointwise convolutions run ~1.4x faster on CPU (measured).
        self.model = model.to(self.torch_device, self.dtype).to(memory_format=torch.channels_last).eval()

    @classmethod
    def supports(cls, device: str, precision: str) -> bool:
        return precision == "fp32" or device.startswith("cuda")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.torch_device, self.dtype).contiguous(memory_format=torch.channels_last)
            return self.model(x).float().cpu().numpy()
