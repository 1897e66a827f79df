"""`edgekd teacher …` and the CLI's contract: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json

from edgekd.models import load_model


def test_help_lists_the_subcommands(run_cli):
    result = run_cli("--help")
    assert result.code == 0
    for command in ("teacher", "data"):
        assert command in result.stdout


def test_teacher_train_writes_weights_card_and_metrics(run_cli, tmp_path):
    out = tmp_path / "teacher"
    result = run_cli(
        "teacher",
        "train",
        "resnet10t",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--img-size",
        "16",
        "--lr",
        "0.05",
        "--batch-size",
        "64",
        "--out",
        out,
    )
    assert result.code == 0, result.stderr
    assert "teacher saved" in result.stdout and "img/s" in result.stdout
    card = json.loads((out / "teacher.json").read_text())
    assert card["arch"] == "resnet10t" and card["num_classes"] == 10 and card["input"]["input_size"] == [3, 16, 16]
    assert card["dataset"]["spec"] == "digits" and len(card["dataset"]["fingerprint"]) == 16
    assert card["metrics"]["test"]["top1"] > 50 and card["provenance"]["seed"] == 0
    assert {"torch", "timm"} <= set(card["provenance"]["versions"])
    assert (out / "metrics.jsonl").exists() and (out / "checkpoint.pt").exists()
    model, _ = load_model(out / "teacher.safetensors")
    assert model.num_classes == 10
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_teacher_train_on_an_imagefolder(run_cli, imagefolder_split, tmp_path):
    result = run_cli(
        "teacher",
        "train",
        "resnet10t",
        "--data",
        f"imagefolder:{imagefolder_split}",
        "--epochs",
        "1",
        "--img-size",
        "16",
        "--batch-size",
        "16",
        "--out",
        tmp_path / "t",
    )
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "t" / "teacher.json").read_text())
    assert card["class_names"] == ["digit0", "digit1", "digit2"]


def test_unknown_model_exits_2_with_close_names(run_cli, tmp_path):
    result = run_cli("teacher", "train", "resnet19", "--data", "digits", "--out", tmp_path)
    assert result.code == 2
    assert "resnet18" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_missing_data_path_exits_2_in_one_line(run_cli, tmp_path):
    result = run_cli(
        "teacher", "train", "resnet10t", "--data", f"imagefolder:{tmp_path}/missing", "--out", tmp_path / "t"
    )
    assert result.code == 2 and "not found" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "t" / "teacher.safetensors").exists()


def test_bad_option_value_exits_2(run_cli, tmp_path):
    result = run_cli("teacher", "train", "resnet10t", "--data", "digits", "--opt", "lbfgs", "--out", tmp_path)
    assert result.code == 2 and "sgd or adamw" in result.stderr


def test_teacher_list_shows_parameters(run_cli):
    result = run_cli("teacher", "list", "mobilenetv3_small_05*", "--img-size", "32")
    assert result.code == 0 and "mobilenetv3_small_050" in result.stdout and "1.59" in result.stdout


def test_data_info_prints_class_counts(run_cli):
    result = run_cli("data", "info", "digits", "--val-size", "0")
    assert result.code == 0 and "1438" in result.stdout
