"""`--json`: a machine follows a run by parsing stdout line by line; `--quiet` shows no progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TINY = ("--data", "digits", "--img-size", "16", "--batch-size", "64", "--epochs", "2")


def _json_lines(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    assert lines, "nothing on stdout"
    return [json.loads(line) for line in lines]  # every line, or the test fails here


@pytest.mark.slow  # a teacher and a student, 2 epochs each
def test_teacher_and_distill_json_is_one_object_per_epoch_then_the_result(run_cli, tmp_path):
    teacher = run_cli("teacher", "train", "resnet10t", *TINY, "--out", tmp_path / "t", "--json")
    assert teacher.code == 0, teacher.stderr
    events = _json_lines(teacher.stdout)
    assert [e["event"] for e in events] == ["epoch", "epoch", "result"]
    assert [e["epoch"] for e in events[:2]] == [1, 2] and all(e["train_loss"] > 0 for e in events[:2])
    result = events[-1]
    assert result["weights"] == str(tmp_path / "t" / "teacher.safetensors")
    assert 0 <= result["metrics"]["test"]["top1"] <= 100 and "per_class" not in result["metrics"]["test"]
    assert "resnet10t on digits" in teacher.stderr  # the person's text went to stderr

    student = run_cli(
        "distill",
        "--teacher",
        tmp_path / "t",
        "--student",
        "mobilenetv3_small_050",
        *TINY,
        "--val-size",
        "0",
        "--out",
        tmp_path / "s",
        "--json",
    )
    assert student.code == 0, student.stderr
    events = _json_lines(student.stdout)
    assert [e["event"] for e in events] == ["epoch", "epoch", "result"]
    assert "val_top1" not in events[0]  # no val split: the key is absent, not NaN (invalid JSON)
    assert events[0]["train_data"]["size"] > 0  # nested facts stay whole in JSON
    assert events[-1]["metrics"]["teacher"]["top1"] is not None and "val" not in events[-1]["metrics"]


def test_quiet_prints_the_result_only(run_cli, tmp_path):
    result = run_cli("teacher", "train", "resnet10t", *TINY, "--epochs", "1", "--out", tmp_path / "t", "--quiet")
    assert result.code == 0, result.stderr
    assert result.stderr == "" and result.stdout.startswith("teacher saved") and len(result.stdout.splitlines()) == 1
    both = run_cli(
        "teacher", "train", "resnet10t", *TINY, "--epochs", "1", "--out", tmp_path / "t2", "--quiet", "--json"
    )
    assert [e["event"] for e in _json_lines(both.stdout)] == ["result"]


@pytest.mark.slow
def test_json_and_tracking_pass_through_torchrun_with_rank_0_speaking_alone(run_cli, tmp_path):
    # --nproc relaunches the command under torchrun: flags without a value (--json) must
    # reach the ranks as flags, and only rank 0 may print JSON lines or open a tracked run.
    mlflow = pytest.importorskip("mlflow")
    teacher = run_cli("teacher", "train", "resnet10t", *TINY, "--epochs", "1", "--out", tmp_path / "t", "--quiet")
    assert teacher.code == 0, teacher.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    command = [
        sys.executable,
        "-m",
        "edgekd",
        "distill",
        "--nproc",
        "2",
        "--teacher",
        str(tmp_path / "t"),
        "--student",
        "mobilenetv3_small_050",
        *TINY,
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "s"),
        "--json",
        "--track",
        f"mlflow:{uri}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr
    assert [e["event"] for e in _json_lines(done.stdout)] == ["epoch", "epoch", "result"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("edgekd").experiment_id])
    assert run.info.status == "FINISHED" and [
        m.step for m in client.get_metric_history(run.info.run_id, "train_loss")
    ] == [1, 2]
