"""Real images for the parity gate, calibration and INT8 evaluation, and running backends on them.

By default the images come from the dataset the checkpoint records (same spec, same val
hold-out), so the parity gate runs on the val split the model was selected on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgekd.data import DataConfig, Dataset, ImageSplit, to_unit_float
from edgekd.data.splits import stratified_subset
from edgekd.engine.metrics import Predictions
from edgekd.engine.progress import Progress
from edgekd.errors import ConfigError, DataError
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NHWC_UINT8, Backend

DEFAULT_VAL_SIZE = 0.1
STREAMING_CAP = 2000  # images decoded from disk for a streaming (large ImageFolder) split


@dataclass
class ImageSet:
    """uint8 images of one split (N, C, H, W) with labels (N,), as stored by the dataset."""

    split: str
    spec: str
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def pixels(self, size: int, start: int, stop: int, as_frames: bool) -> torch.Tensor:
        """[0, 1] float (B, C, size, size) for images [start, stop).

        Args:
            as_frames: round to 1/255 steps, i.e. exactly what a uint8 camera frame holds; the
                reference then sees the same input as a baked-preprocessing model.
        """
        pixels = to_unit_float(self.images[start:stop], (size, size))
        return pixels.mul_(255.0).round_().div_(255.0) if as_frames else pixels


def data_config_for(card: ModelCard, spec: str | None, data_dir: str | None, progress: Progress) -> DataConfig:
    """The data the checkpoint was trained on (same val hold-out), or `spec` when given.

    A checkpoint trained on all of train (val_size 0) has no val split: a seeded 10 % share of
    train is held out instead, which is fine for parity and calibration (not for accuracy claims).
    """
    recorded = card.dataset or {}
    options = recorded.get("options") or {}
    spec = spec or recorded.get("spec")
    if not spec:
        raise ConfigError("the checkpoint records no dataset; pass --data SPEC for the parity images.")
    same = spec == recorded.get("spec")
    val_size = options.get("val_size", DEFAULT_VAL_SIZE) if same else DEFAULT_VAL_SIZE
    if not val_size:
        progress.log(
            f"{spec}: the checkpoint was trained with no val hold-out; using a seeded {DEFAULT_VAL_SIZE:.0%} "
            "share of train as val."
        )
        val_size = DEFAULT_VAL_SIZE
    return DataConfig(
        spec=spec, data_dir=data_dir, val_size=val_size, split_seed=int(options.get("split_seed", 0)) if same else 0
    )


def load_for_card(config: DataConfig, card: ModelCard) -> Dataset:
    """Load `config` and check that it has the model's classes."""
    image_size = int(((card.dataset or {}).get("options") or {}).get("image_size", card.input.size))
    dataset = config.load(image_size)
    check_classes(dataset, card)
    return dataset


def check_classes(dataset: Dataset, card: ModelCard) -> None:
    """Refuse a dataset whose class count is not the model's."""
    if dataset.num_classes != card.num_classes:
        raise DataError(
            f"{dataset.spec} has {dataset.num_classes} classes but the model has {card.num_classes}; pass the "
            "dataset it was trained on with --data."
        )


def take(split: ImageSplit, spec: str, limit: int | None, seed: int = 0) -> ImageSet:
    """A seeded stratified subset of `limit` images of a split (all of them when None)."""
    labels = split.labels.numpy()
    if not split.in_memory and (limit is None or limit > STREAMING_CAP):
        limit = STREAMING_CAP
    indices = (
        np.arange(len(labels)) if limit is None or limit >= len(labels) else stratified_subset(labels, limit, seed)
    )
    index = torch.as_tensor(indices, dtype=torch.int64)
    stream = split.stream
    if split.images is not None:  # in memory
        images = split.images[index]
    else:
        assert stream is not None  # a split holds its images or streams them
        images = (
            torch.stack([stream[int(i)][0] for i in indices])
            if len(indices)
            else torch.empty(0, 3, 1, 1, dtype=torch.uint8)
        )
    return ImageSet(split.name, spec, images, split.labels[index])


def predict_backend(
    backend: Backend, images: ImageSet, batch_size: int = 256, as_frames: bool | None = None
) -> Predictions:
    """Logits of `backend` over an image set, fed through the backend's own `prepare`.

    Args:
        as_frames: quantise pixels to uint8 steps first; None: when the backend takes frames.
    """
    if len(images) == 0:
        raise DataError(f"the {images.split} split of {images.spec} is empty; pass another --data.")
    as_frames = backend.input_format == INPUT_NHWC_UINT8 if as_frames is None else as_frames
    size = backend.card.input.size
    logits = [
        backend.run(backend.prepare(images.pixels(size, start, start + batch_size, as_frames)))
        for start in range(0, len(images), batch_size)
    ]
    return Predictions(torch.cat(logits), images.labels)
