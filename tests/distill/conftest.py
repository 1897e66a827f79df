"""Fixtures of the distillation tests: a real resnet10t teacher trained on digits once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from distill_helpers import DIGITS, IMG_SIZE, small_recipe

from edgekd.engine import OptimConfig
from edgekd.teacher import TeacherConfig, train_teacher


@pytest.fixture(scope="session")
def digits_teacher(tmp_path_factory) -> Path:
    """A run directory with teacher.safetensors + teacher.json (resnet10t, ~85 % test top-1 on digits)."""
    out = tmp_path_factory.mktemp("digits-teacher")
    train_teacher(
        TeacherConfig(
            arch="resnet10t",
            out_dir=out,
            data=DIGITS,
            train=small_recipe(4, optim=OptimConfig(lr=0.05)),
            img_size=IMG_SIZE,
            device="cpu",
        )
    )
    return out
