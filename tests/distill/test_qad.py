"""`edgekd distill --quantize int8 --from RUN`: quantization-aware distillation, for real on digits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from distill_helpers import distill_config

from edgekd.data import BatchLoader, DataConfig, ModelInput
from edgekd.distill import distill
from edgekd.distill.qad import QAD_EPOCHS, QAD_LR
from edgekd.engine import predict
from edgekd.models import load_model
from edgekd.models.quantized import INSTALL_HINT, load_quantized, state_paths

REPO = Path(__file__).resolve().parents[2]
needs_modelopt = pytest.mark.skipif(
    __import__("importlib").util.find_spec("modelopt") is None,
    reason="NVIDIA ModelOpt not installed: pip install 'edgekd[modelopt]' (make setup does this)",
)


@pytest.fixture(scope="module")
def fp32_student(tmp_path_factory) -> Path:
    """A trained FP32 test_resnet student on digits at 16 px (the student alone, 3 epochs)."""
    out = tmp_path_factory.mktemp("fp32-student")
    distill(distill_config(None, out, method="none", epochs=3))
    return out


@pytest.fixture(scope="module")
def qad_run(fp32_student, tmp_path_factory) -> Path:
    """QAD of that student from itself (`--teacher self`), with the CLI's QAD defaults (lr, epochs)."""
    out = tmp_path_factory.mktemp("qad")
    from edgekd.cli import main

    try:
        main(
            [
                "distill",
                "--teacher",
                "self",
                "--from",
                str(fp32_student),
                "--quantize",
                "int8",
                "--batch-size",
                "64",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
    except SystemExit as exc:
        assert not exc.code, f"edgekd distill --quantize exited {exc.code}"
    return out


@needs_modelopt
def test_qad_writes_a_student_with_its_quantizer_state_and_recipe(qad_run, fp32_student):
    card = json.loads((qad_run / "student.json").read_text())
    recipe = card["training"]["quantize"]
    assert recipe["recipe"] == "int8" and recipe["library"] == "nvidia-modelopt"
    assert recipe["from"]["path"] == str(fp32_student / "student.safetensors")
    assert recipe["calibration"]["path"].endswith("digits-val.yaml") and recipe["calibration"]["dataset"] == "digits"
    assert set(recipe["ptq"]) == {"val_top1", "test_top1"}
    assert all(path.exists() for path in state_paths(qad_run / "student.safetensors"))
    # The QAD schedule: the teacher is the FP32 student itself, lr 1/10 of distillation's, 2 epochs, no warm-up.
    assert card["training"]["teachers"][0]["path"] == str(fp32_student / "student.safetensors")
    assert card["provenance"]["config"]["train"]["optim"]["lr"] == pytest.approx(QAD_LR)
    assert card["provenance"]["config"]["train"]["epochs"] == QAD_EPOCHS
    assert card["provenance"]["config"]["train"]["optim"]["warmup_epochs"] == 0.0  # not distill's 1 epoch


@needs_modelopt
def test_the_restored_student_is_the_one_that_was_scored(qad_run):
    """Restored from the safe state, the fake-quantized student reproduces the card's test top-1."""
    model, card, _ = load_quantized(qad_run / "student.safetensors")
    dataset = DataConfig(spec="digits").load(card.input.size)
    predictions = predict(
        model, ModelInput(card.input), BatchLoader(dataset.test, 128, shuffle=False), torch.device("cpu")
    )
    assert predictions.top1() == pytest.approx(card.metrics["test"]["top1"])


@needs_modelopt
def test_qad_trains_the_weights_but_keeps_batchnorm_statistics(qad_run, fp32_student):
    fp32, _ = load_model(fp32_student)
    qad, _ = load_model(qad_run)  # the plain FP32 weights of the QAD student
    assert torch.equal(fp32.bn1.running_mean, qad.bn1.running_mean)
    assert torch.equal(fp32.bn1.running_var, qad.bn1.running_var)
    assert not torch.equal(fp32.conv1[0].weight, qad.conv1[0].weight)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "int8"], "--from"),
        (["--teacher", "self", "--student", "test_resnet"], "--quantize"),
        (["--calib", "calibration/digits-val.yaml", "--student", "test_resnet"], "--quantize"),
    ],
)
def test_bad_qad_options_are_one_line_exit_2(run_cli, tmp_path, args, message):
    result = run_cli("distill", "--data", "digits", "--student", "test_resnet", "--out", tmp_path, *args)
    assert result.code == 2
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_quantize_without_from_names_from(run_cli, tmp_path):
    result = run_cli("distill", "--teacher", "self", "--quantize", "int8", "--out", tmp_path)
    assert result.code == 2 and "--from" in result.stderr and "--student" not in result.stderr


def test_unknown_recipe_is_one_line_exit_2(run_cli, fp32_student, tmp_path):
    result = run_cli(
        "distill",
        "--teacher",
        "self",
        "--from",
        fp32_student,
        "--quantize",
        "int4",
        "--device",
        "cpu",
        "--out",
        tmp_path,
    )
    assert result.code == 2 and "unknown --quantize 'int4': use int8 or int8-per-tensor" in result.stderr


@needs_modelopt
def test_from_must_be_an_fp32_student(run_cli, qad_run, tmp_path):
    result = run_cli(
        "distill", "--teacher", "self", "--from", qad_run, "--quantize", "int8", "--device", "cpu", "--out", tmp_path
    )
    assert result.code == 2 and "already a QAD student" in result.stderr + result.stdout


def test_without_modelopt_quantize_exits_2_saying_how_to_install(fp32_student, tmp_path):
    """A `modelopt` package that fails to import, first on the path, stands for one not installed."""
    shadow = tmp_path / "shadow" / "modelopt"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named modelopt')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow.parent), str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgekd",
            "distill",
            "--teacher",
            "self",
            "--from",
            str(fp32_student),
            "--quantize",
            "int8",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "q"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and INSTALL_HINT in lines[0], result.stderr
    assert not (tmp_path / "q" / "student.safetensors").exists()


@needs_modelopt
def test_qad_on_a_subset_of_the_data_keeps_the_students_normalisation(run_cli, fp32_student, tmp_path):
    """A train subset has another mean/std than the student learnt with; QAD keeps the student's."""
    result = run_cli(
        "distill",
        "--teacher",
        "self",
        "--from",
        fp32_student,
        "--quantize",
        "int8",
        "--limit-train",
        "300",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--out",
        tmp_path,
    )
    assert result.code == 0, result.stderr
    start = json.loads((fp32_student / "student.json").read_text())
    card = json.loads((tmp_path / "student.json").read_text())
    assert card["dataset"]["options"]["limit_train"] == 300 and start["dataset"]["options"]["limit_train"] is None
    assert card["input"] == start["input"]


@needs_modelopt
def test_qad_starts_from_a_teacher_run_too(run_cli, tmp_path):
    """A teacher-size model to ship as INT8 (`--from` a teacher run): the output is a student artefact."""
    from trained_artefacts import train_tiny

    teacher = train_tiny(tmp_path / "teacher", "test_resnet", "teacher", epochs=1)
    result = run_cli(
        "distill",
        "--teacher",
        "self",
        "--from",
        teacher.parent,
        "--quantize",
        "int8",
        "--limit-train",
        "300",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--out",
        tmp_path / "qad",
    )
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "qad" / "student.json").read_text())
    assert card["role"] == "student" and card["arch"] == "test_resnet"
    assert card["training"]["quantize"]["from"]["path"] == str(teacher)
    assert card["training"]["teachers"][0]["path"] == str(teacher)  # `--teacher self`: the teacher run's model
    assert all(path.exists() for path in state_paths(tmp_path / "qad" / "student.safetensors"))


def test_from_a_folder_without_a_model_is_one_line_exit_2(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "distill", "--teacher", "self", "--from", tmp_path / "empty", "--quantize", "int8", "--out", tmp_path / "q"
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1, result.stderr
    assert "student.safetensors or teacher.safetensors" in lines[0]
