"""PyTorch backend: an edgekd `.safetensors` artefact run eagerly on CPU or CUDA."""

from __future__ import annotations

from pathlib import Path

import torch

from edgekd.models import load_model
from edgekd.runtime.base import Backend


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path: str | Path, device: str = "cpu"):
        model, card = load_model(path, device=device)
        super().__init__(card, device=device)
        # channels_last: the fast layout for convolutions on CPU and CUDA (see engine.device).
        self.model = model.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(inputs.to(self.device, non_blocking=True))
        return logits.float().cpu()
