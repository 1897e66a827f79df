"""Fixtures of the student-search tests: a real resnet10t teacher trained on digits once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from students_helpers import DIGITS, IMG_SIZE

from edgekd.engine import OptimConfig, TrainConfig
from edgekd.teacher import TeacherConfig, train_teacher


@pytest.fixture(scope="session")
def digits_teacher(tmp_path_factory) -> Path:
    """A run directory with teacher.safetensors + teacher.json (resnet10t at 16 px, 3 epochs)."""
    out = tmp_path_factory.mktemp("students-teacher")
    recipe = TrainConfig(epochs=3, batch_size=64, optim=OptimConfig(lr=0.05))
    train_teacher(
        TeacherConfig(arch="resnet10t", out_dir=out, data=DIGITS, train=recipe, img_size=IMG_SIZE, device="cpu")
    )
    return out
