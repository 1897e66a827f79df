"""`edgekd distill`: the run, --list-layers, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from edgekd.data import DataConfig
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.teacher import TeacherConfig, train_teacher

STUDENT = ("--student", "test_resnet", "--data", "digits", "--img-size", "16", "--batch-size", "64", "--device", "cpu")


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """A resnet10t teacher trained on digits at 16 px (2 epochs: enough for the CLI's contract)."""
    out = tmp_path_factory.mktemp("cli-teacher")
    train_teacher(
        TeacherConfig(
            arch="resnet10t",
            out_dir=out,
            data=DataConfig(spec="digits"),
            train=TrainConfig(epochs=2, batch_size=64, optim=OptimConfig(lr=0.05)),
            img_size=16,
            device="cpu",
        )
    )
    return out


def _one_line_error(result, *needles):
    assert result.code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_help_states_the_kd_formula(run_cli):
    result = run_cli("distill", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert (
        "(1−α)·CE(student, labels) + α·T²·KL(softmax(teacher/T) ‖ softmax(student/T))" in text and "batchmean" in text
    )


def test_distill_kd_writes_student_card_and_metrics(run_cli, teacher_dir, tmp_path):
    result = run_cli(
        "distill", "--teacher", teacher_dir, *STUDENT, "--epochs", "2", "-T", "2", "--alpha", "0.5", "--out", tmp_path
    )
    assert result.code == 0, result.stderr
    assert "student saved" in result.stdout and "agreement" in result.stdout
    card = json.loads((tmp_path / "student.json").read_text())
    assert (card["training"]["temperature"], card["training"]["alpha"]) == (2.0, 0.5)
    assert card["provenance"]["config"]["teacher"] == [str(teacher_dir)]
    assert {"student.safetensors", "student.json", "metrics.jsonl", "checkpoint.pt"} <= {
        p.name for p in tmp_path.iterdir()
    }


def test_list_layers_prints_channels_and_stride(run_cli, teacher_dir):
    result = run_cli("distill", "--list-layers", "resnet18", "--img-size", "32")
    assert result.code == 0
    row = next(line for line in result.stdout.splitlines() if line.strip("│ ").startswith("layer2 "))
    assert "128" in row and " 8 " in row and "4×4" in row and "#2" in row
    saved = run_cli("distill", "--list-layers", teacher_dir)  # a saved model: its own input size
    assert saved.code == 0 and "resnet10t" in saved.stdout and "16 px" in saved.stdout


def test_an_unknown_layer_exits_2_listing_the_layers(run_cli, teacher_dir, tmp_path):
    result = run_cli(
        "distill",
        "--teacher",
        teacher_dir,
        *STUDENT,
        "--method",
        "fitnet",
        "--epochs",
        "2",
        "--guided-layer",
        "layer7",
        "--out",
        tmp_path,
    )
    _one_line_error(result, "unknown layer 'layer7'", "layer1, ", "layer4", "--list-layers test_resnet")
    assert not (tmp_path / "student.safetensors").exists()


def test_teacher_classes_differing_from_the_data_exit_2_saying_which(run_cli, teacher_dir, tmp_path):
    other = tmp_path / "other-teacher"
    shutil.copytree(teacher_dir, other)
    card = json.loads((other / "teacher.json").read_text())
    card["class_names"] = [f"digit{i}" for i in range(9)] + ["9"]
    (other / "teacher.json").write_text(json.dumps(card))
    result = run_cli("distill", "--teacher", other, *STUDENT, "--epochs", "1", "--out", tmp_path / "s")
    _one_line_error(result, "other classes than digits", "only the teacher has digit0", "only the data has 0")


def test_a_bare_checkpoint_needs_teacher_arch(run_cli, teacher_dir, tmp_path):
    from edgekd.models.weights import read_state_dict

    bare = tmp_path / "bare.pth"
    torch.save(read_state_dict(teacher_dir / "teacher.safetensors"), bare)
    _one_line_error(
        run_cli("distill", "--teacher", bare, *STUDENT, "--epochs", "1", "--out", tmp_path / "a"), "--teacher-arch"
    )
    result = run_cli(
        "distill",
        "--teacher",
        bare,
        "--teacher-arch",
        "resnet10t",
        "--teacher-mean",
        "0.28",
        "--teacher-std",
        "0.35",
        *STUDENT,
        "--epochs",
        "1",
        "--out",
        tmp_path / "b",
    )
    assert result.code == 0, result.stderr
    [teacher] = json.loads((tmp_path / "b" / "student.json").read_text())["training"]["teachers"]
    assert teacher["has_card"] is False and teacher["num_classes"] == 10 and teacher["input"]["mean"] == [0.28] * 3


def test_other_bad_input_exits_2(run_cli, teacher_dir, tmp_path):
    _one_line_error(
        run_cli("distill", "--teacher", teacher_dir, "--data", "digits", "--out", tmp_path), "--student is required"
    )
    _one_line_error(run_cli("distill", *STUDENT, "--out", tmp_path), "needs a teacher")
    _one_line_error(
        run_cli("distill", "--teacher", tmp_path / "nope", *STUDENT, "--out", tmp_path), "teacher not found"
    )
    _one_line_error(
        run_cli("distill", "--teacher", teacher_dir, *STUDENT, "--method", "nope", "--out", tmp_path),
        "unknown --method 'nope'",
        "kd, fitnet, none",
    )
    _one_line_error(
        run_cli("distill", "--teacher", teacher_dir, *STUDENT, "--resume", "--out", tmp_path / "fresh"), "no checkpoint"
    )
    _one_line_error(
        run_cli("distill", "--teacher", teacher_dir, *STUDENT, "--teacher-mean", "a,b", "--out", tmp_path),
        "--teacher-mean takes comma-separated numbers",
    )
