"""The inference-backend interface shared by export's parity check, eval and profile.

A backend wraps one artefact (a PyTorch checkpoint, an ONNX model, a TensorRT plan) and runs
batches through it. Callers hand it [0, 1] pixels via `prepare` (which applies the artefact's
own preprocessing: size, channels, normalisation, or uint8 NHWC for baked-preprocess models)
and get float32 logits back, so every artefact is evaluated on identical inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from edgekd.data import ModelInput
from edgekd.models import ModelCard

INPUT_NCHW_FLOAT = "nchw_float32"  # normalised (N, C, H, W) float32
INPUT_NHWC_UINT8 = "nhwc_uint8"  # camera frames (N, H, W, C) uint8; preprocessing is in the graph


class Backend:
    """One artefact, ready to run.

    Attributes:
        name: "torch", "ort" or "trt".
        device: "cpu" or "cuda[:N]".
        card: the artefact's model card (class names, input spec, provenance).
        input_format: `INPUT_NCHW_FLOAT` or `INPUT_NHWC_UINT8`.
        precision: "fp32", "fp16" or "int8" (what the artefact computes in).
    """

    name = "base"

    def __init__(
        self, card: ModelCard, device: str = "cpu", input_format: str = INPUT_NCHW_FLOAT, precision: str = "fp32"
    ):
        self.card = card
        self.device = device
        self.input_format = input_format
        self.precision = precision
        self._model_input = ModelInput(card.input)

    def prepare(self, pixels: torch.Tensor) -> torch.Tensor:
        """[0, 1] float (N, C, H, W) on CPU → this backend's input (on CPU)."""
        if self.input_format == INPUT_NHWC_UINT8:
            size = self.card.input.size
            resized = (
                torch.nn.functional.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)
                if pixels.shape[-1] != size
                else pixels
            )
            if resized.shape[1] == 1 and self.card.input.in_chans == 3:
                resized = resized.expand(-1, 3, -1, -1)
            elif resized.shape[1] == 3 and self.card.input.in_chans == 1:
                resized = resized.mean(dim=1, keepdim=True)  # as ModelInput does for float inputs
            return resized.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        normalised: torch.Tensor = self._model_input(pixels)
        return normalised.contiguous()

    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        """Run one prepared batch; returns float32 logits (N, num_classes) on CPU."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a report records about this backend."""
        return {
            "backend": self.name,
            "device": self.device,
            "precision": self.precision,
            "input_format": self.input_format,
        }
