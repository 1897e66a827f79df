"""Helpers for the export tests: real students trained on digits."""

from __future__ import annotations

from pathlib import Path

from edgekd.data import DataConfig
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.models import load_model, save_model
from edgekd.teacher import TeacherConfig, train_teacher

CALIBRATION = Path(__file__).resolve().parents[2] / "calibration"
DIGITS_SPEC = CALIBRATION / "digits-val.yaml"


def train_student(out_dir: Path, arch: str, img_size: int = 16, epochs: int = 2, lr: float = 0.05) -> Path:
    """Train `arch` on digits and save it as `student.safetensors` (role "student", like distill's)."""
    config = TeacherConfig(
        arch,
        out_dir,
        DataConfig("digits"),
        TrainConfig(epochs=epochs, batch_size=64, optim=OptimConfig(lr=lr)),
        img_size=img_size,
        device="cpu",
    )
    result = train_teacher(config)
    model, card = load_model(result.weights_path)
    card.role = "student"
    path = save_model(model, card, out_dir / "student.safetensors")
    for leftover in (result.weights_path, result.weights_path.with_suffix(".json"), out_dir / "checkpoint.pt"):
        leftover.unlink(missing_ok=True)
    return path
