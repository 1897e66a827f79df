"""What nvinfer's one `net-scale-factor` costs: the model scored on its exact and on nvinfer's input.

Gst-nvinfer normalises a frame as `net-scale-factor * (pixel - offset_c)`: per-channel offsets but
one scale, so a model trained with a per-channel std sees each channel scaled by `std_c / mean(std)`
instead of 1. ONNX Runtime runs the FP32 ONNX on the same uint8-rounded val frames both ways:
exactly normalised (what the parity gate checks) and as nvinfer normalises; the top-1 difference
is the cost of dropping the model into DeepStream with the config edgekd writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from edgekd.engine.metrics import Predictions
from edgekd.export.samples import ImageSet
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend

BATCH = 256


@dataclass(frozen=True)
class PreprocessScore:
    """Top-1 (percent) on the exact input and on nvinfer's approximation, over `samples` val images."""

    samples: int
    split: str
    exact_top1: float
    nvinfer_top1: float
    drop: float  # points, exact − nvinfer
    agreement: float  # percent of images with the same top-1 both ways
    std: list[float]
    scale_std: float

    def line(self) -> str:
        return (
            f"DeepStream preprocessing (one net-scale-factor for std {self.std}): top-1 {self.nvinfer_top1:.2f} % "
            f"vs exact {self.exact_top1:.2f} % "
            f"on {self.samples} {self.split} images ({-self.drop:+.2f} pt, agreement {self.agreement:.2f} %)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_nvinfer_preprocessing(backend: Backend, images: ImageSet) -> PreprocessScore | None:
    """Score an FP32 NCHW-float backend on exact vs nvinfer-normalised frames (None for baked models)."""
    if backend.input_format != INPUT_NCHW_FLOAT or len(images) == 0:
        return None
    std = [float(s) for s in backend.card.input.std]
    scale_std = sum(std) / len(std)
    # nvinfer: (x - m_c) / mean(std) = exact_c * std_c / mean(std), after the same resize and channel handling.
    channel_gain = torch.tensor([s / scale_std for s in std], dtype=torch.float32).view(1, -1, 1, 1)
    size = backend.card.input.size
    exact, approximated = [], []
    for start in range(0, len(images), BATCH):
        inputs = backend.prepare(images.pixels(size, start, start + BATCH, as_frames=True))  # camera frames are 8-bit
        exact.append(backend.run(inputs))
        approximated.append(backend.run((inputs * channel_gain).contiguous()))
    exact_p, nvinfer_p = (
        Predictions(torch.cat(exact), images.labels),
        Predictions(torch.cat(approximated), images.labels),
    )
    return PreprocessScore(
        len(images),
        images.split,
        exact_p.top1(),
        nvinfer_p.top1(),
        exact_p.top1() - nvinfer_p.top1(),
        exact_p.agreement(nvinfer_p),
        std,
        scale_std,
    )
