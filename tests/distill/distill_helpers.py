"""Helpers of the distillation tests (imported by name: this folder is on sys.path under pytest)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from edgekd.data import DataConfig
from edgekd.data.dataset import FASHION_MNIST_DIRS
from edgekd.distill import DistillConfig
from edgekd.engine import OptimConfig, TrainConfig

IMG_SIZE = 16
DIGITS = DataConfig(spec="digits")


def small_recipe(epochs: int = 3, **overrides) -> TrainConfig:
    """The recipe of these tests: digits at 16 px, batch 64, lr 0.1 (~1–2 s a run on 2 cores)."""
    return TrainConfig(**{"epochs": epochs, "batch_size": 64, "optim": OptimConfig(lr=0.1), **overrides})


def distill_config(
    teacher: Path | None, out_dir: Path, method: str = "kd", epochs: int = 3, recipe: dict | None = None, **fields
) -> DistillConfig:
    """A `DistillConfig` for timm's `test_resnet` student (370 k parameters) on digits at 16 px.

    `fields` that are not `DistillConfig` fields are the method's options (`temperature=2.0`)."""
    known = {f.name for f in dataclasses.fields(DistillConfig)}
    options = {name: fields.pop(name) for name in list(fields) if name not in known}
    return DistillConfig(
        method_options=options,
        student="test_resnet",
        out_dir=out_dir,
        teacher=(str(teacher),) if teacher is not None else (),
        method=method,
        data=DIGITS,
        train=small_recipe(epochs, **(recipe or {})),
        img_size=IMG_SIZE,
        device="cpu",
        **fields,
    )


def _fashion_mnist_available() -> bool:
    folders = [Path(os.environ["EDGEKD_DATA_DIR"])] if os.environ.get("EDGEKD_DATA_DIR") else []
    return any((folder / "train-images-idx3-ubyte.gz").exists() for folder in [*folders, *FASHION_MNIST_DIRS])


# The same rule as tests/conftest.py's marker (that module is not importable from here by name).
needs_fashion_mnist = pytest.mark.skipif(
    not _fashion_mnist_available(),
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist (make test does this)",
)
