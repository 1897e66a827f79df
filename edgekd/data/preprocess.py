"""Turning [0, 1] float batches into a specific model's input (size, channels, normalisation).

Teacher and student may want different input sizes, channel counts or normalisations; each gets
its own `ModelInput` applied to the same augmented batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: square input size (px), channels, and per-channel mean/std."""

    size: int
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"input_size": [self.in_chans, self.size, self.size], "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "InputSpec":
        in_chans, size, _ = payload["input_size"]
        return cls(int(size), int(in_chans), tuple(payload["mean"]), tuple(payload["std"]))


def fit_channels(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """Repeat a grayscale statistic for 3-channel models (or average RGB for 1-channel ones)."""
    if len(values) == channels:
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * channels
    return (sum(values) / len(values),) * channels


class ModelInput(nn.Module):
    """[0, 1] float (B, C, H, W) → normalised (B, in_chans, size, size) for one model."""

    mean: torch.Tensor  # (1, C, 1, 1) buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, spec: InputSpec):
        super().__init__()
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.shape[-1] != self.spec.size or pixels.shape[-2] != self.spec.size:
            pixels = F.interpolate(pixels, size=(self.spec.size, self.spec.size), mode="bilinear", align_corners=False)
        channels = pixels.shape[1]
        if channels == 1 and self.spec.in_chans == 3:
            pixels = pixels.expand(-1, 3, -1, -1)
        elif channels == 3 and self.spec.in_chans == 1:
            pixels = pixels.mean(dim=1, keepdim=True)
        return (pixels - self.mean) / self.std
