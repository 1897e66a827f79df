"""Acceptance on Fashion-MNIST: KD and FitNet train, save, resume and reload, with a teacher
whose input size (16 px) differs from the student's (32 px, the FMNIST-32 protocol's)."""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch
from distill_helpers import needs_fashion_mnist

from edgekd.data import BatchLoader, DataConfig, ModelInput, load_dataset
from edgekd.distill import DistillConfig, distill
from edgekd.engine import OptimConfig, TrainConfig, predict
from edgekd.engine.progress import SilentProgress
from edgekd.models.weights import read_state_dict
from edgekd.teacher import TeacherConfig, train_teacher

pytestmark = [pytest.mark.slow, needs_fashion_mnist]

DATA = DataConfig(spec="fashion-mnist", limit_train=4000, val_size=500)
RECIPE = TrainConfig(epochs=2, batch_size=128, optim=OptimConfig(lr=0.05))


@pytest.fixture(scope="module")
def fmnist_teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("fmnist-teacher")
    train_teacher(TeacherConfig(arch="resnet10t", out_dir=out, data=DATA, train=RECIPE, img_size=16, device="cpu"))
    return out


class _StopAtEpoch(SilentProgress):
    def start(self, description, total):
        if description.startswith("epoch 2/"):
            raise KeyboardInterrupt


@pytest.mark.parametrize("method", ["kd", "fitnet"])
def test_fmnist_distillation_trains_resumes_and_reloads(fmnist_teacher, tmp_path, method):
    config = DistillConfig(
        student="mobilenetv3_small_050",
        out_dir=tmp_path,
        teacher=(str(fmnist_teacher),),
        method=method,
        data=DATA,
        train=RECIPE,
        img_size=32,
        device="cpu",
    )
    with pytest.raises(KeyboardInterrupt):
        distill(config, _StopAtEpoch())
    result = distill(dataclasses.replace(config, resume=True))
    assert [r["epoch"] for r in result.fit.history] == [1, 2]
    if method == "fitnet":
        training = result.card.training
        # Stride 8 on both sides: 4×4 at the student's 32 px, 2×2 at the teacher's 16 px → strided conv.
        assert (training["guided_layer"], training["hint_layer"]) == ("blocks.1", "layer2")
        assert (
            training["adapter"].startswith("Conv2d")
            and training["guided_shape"][1:] == [4, 4]
            and training["hint_shape"][1:] == [2, 2]
        )
    test_top1 = result.card.metrics["test"]["top1"]
    assert test_top1 > 20.0  # chance is 10 %; two short epochs on 4,000 images

    student = timm.create_model("mobilenetv3_small_050", num_classes=10)
    student.load_state_dict(read_state_dict(tmp_path / "student.safetensors"))
    test = load_dataset("fashion-mnist").test
    reloaded = predict(
        student, ModelInput(result.card.input), BatchLoader(test, 1000, shuffle=False), torch.device("cpu")
    )
    assert reloaded.top1() == pytest.approx(test_top1)
