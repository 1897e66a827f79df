"""Teachers load from run directories, artefact files and bare timm checkpoints, and stay frozen."""

from __future__ import annotations

import pytest
import torch

from edgekd.artifacts import sha256_file
from edgekd.data.dataset import IMAGENET_MEAN
from edgekd.distill.teachers import TeacherBank, check_class_names, load_teacher
from edgekd.errors import ConfigError, ModelError

DIGIT_NAMES = [str(i) for i in range(10)]


def test_a_run_directory_or_its_file_loads_frozen_with_its_card(digits_teacher):
    teacher = load_teacher(digits_teacher)
    assert teacher.path == digits_teacher / "teacher.safetensors"
    assert teacher.arch == "resnet10t" and teacher.num_classes == 10 and teacher.class_names == DIGIT_NAMES
    assert teacher.sha256 == sha256_file(teacher.path) and teacher.input.size == 16
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert teacher.model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert load_teacher(digits_teacher / "teacher.safetensors").sha256 == teacher.sha256


def test_a_bare_checkpoint_needs_its_architecture_and_gets_class_count_from_the_classifier(digits_teacher, tmp_path):
    card_teacher = load_teacher(digits_teacher)
    bare = tmp_path / "bare.pth"
    torch.save(card_teacher.model.state_dict(), bare)
    with pytest.raises(ModelError, match="--teacher-arch"):
        load_teacher(bare)
    teacher = load_teacher(bare, arch="resnet10t", default_img_size=24)
    assert teacher.num_classes == 10 and teacher.class_names is None and teacher.card is None
    assert teacher.input.size == 24 and teacher.input.mean == IMAGENET_MEAN  # timm's pretrained config
    custom = load_teacher(bare, arch="resnet10t", img_size=16, mean=(0.3,), std=(0.4,))
    assert custom.input.mean == (0.3, 0.3, 0.3) and custom.input.size == 16
    pixels = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        same_input = TeacherBank(
            [
                load_teacher(
                    bare, arch="resnet10t", img_size=16, mean=card_teacher.input.mean, std=card_teacher.input.std
                )
            ]
        )(pixels)[0]
        reference = TeacherBank([card_teacher])(pixels)[0]
    assert torch.allclose(same_input, reference, atol=1e-5)
    with pytest.raises(ModelError, match="does not fit 'resnet18'"):
        load_teacher(bare, arch="resnet18")


def test_missing_teacher_and_contradicting_arch_are_one_line_errors(digits_teacher, tmp_path):
    with pytest.raises(ModelError, match="teacher not found"):
        load_teacher(tmp_path / "nope")
    with pytest.raises(ConfigError, match="contradicts"):
        load_teacher(digits_teacher, arch="resnet18")


def test_class_name_check_says_which_classes_differ(digits_teacher):
    teacher = load_teacher(digits_teacher)
    check_class_names(teacher, DIGIT_NAMES, "digits")
    with pytest.raises(ConfigError) as info:
        check_class_names(teacher, DIGIT_NAMES[:9] + ["ten"], "imagefolder:x")
    assert "only the teacher has 9" in str(info.value) and "only the data has ten" in str(info.value)
    with pytest.raises(ConfigError, match="another order: 1 .teacher #1, data #0."):
        check_class_names(teacher, ["1", "0"] + DIGIT_NAMES[2:], "x")


def test_the_bank_stays_in_eval_mode_and_builds_no_graph(digits_teacher):
    bank = TeacherBank([load_teacher(digits_teacher)])
    bank.train()
    assert not bank.training and not bank.models[0].training
    logits = bank(torch.rand(3, 1, 16, 16))[0]  # grayscale is expanded to the teacher's 3 channels
    assert logits.shape == (3, 10) and not logits.requires_grad
