"""`--track`: a run's recipe, epochs, card and weights land in MLflow's store and in TensorBoard
event files, read back here through each tool's own reader."""

from __future__ import annotations

import sys

import pytest

from edgekd.engine.tracking import TrackTarget, flatten
from edgekd.errors import ConfigError

TINY = ("--data", "digits", "--img-size", "16", "--batch-size", "64", "--epochs", "2")


def test_track_targets_parse_with_their_defaults():
    assert TrackTarget.parse("mlflow") == TrackTarget("mlflow", "sqlite:///runs/mlflow.db")
    assert TrackTarget.parse("mlflow:http://host:5000") == TrackTarget("mlflow", "http://host:5000")
    assert TrackTarget.parse("tensorboard:logs/tb") == TrackTarget("tensorboard", "logs/tb")
    with pytest.raises(ConfigError, match="mlflow\\[:URI\\] or tensorboard"):
        TrackTarget.parse("wandb")
    assert flatten({"train": {"optim": {"lr": 0.1}}, "teacher": ("a", "b")}) == {
        "train.optim.lr": "0.1",
        "teacher": '["a", "b"]',
    }


@pytest.mark.slow  # a teacher and a student, 2 epochs each
def test_mlflow_store_holds_teacher_and_student_runs(run_cli, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    teacher = run_cli("teacher", "train", "resnet10t", *TINY, "--out", tmp_path / "t", "--track", f"mlflow:{uri}")
    assert teacher.code == 0, teacher.stderr
    student = run_cli(
        "distill",
        "--teacher",
        tmp_path / "t",
        "--student",
        "mobilenetv3_small_050",
        *TINY,
        "--out",
        tmp_path / "s",
        "--track",
        f"mlflow:{uri}",
    )
    assert student.code == 0, student.stderr

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("edgekd")
    assert experiment.artifact_location == (tmp_path / "store" / "mlartifacts").as_uri()  # beside the database
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"teacher resnet10t", "kd mobilenetv3_small_050"}
    teacher_run, student_run = runs["teacher resnet10t"], runs["kd mobilenetv3_small_050"]
    for run in runs.values():
        assert run.info.status == "FINISHED"
        assert run.data.params["train.epochs"] == "2" and run.data.params["data.spec"] == "digits"
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert [m.step for m in history] == [1, 2] and all(m.value > 0 for m in history)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_top1")] == [1, 2]
        assert 0 <= run.data.metrics["final_test_top1"] <= 100
    assert teacher_run.data.params["arch"] == "resnet10t"
    assert {a.path for a in client.list_artifacts(teacher_run.info.run_id)} == {"teacher.json", "teacher.safetensors"}
    assert {a.path for a in client.list_artifacts(student_run.info.run_id)} == {"student.json", "student.safetensors"}
    assert student_run.data.params["method"] == "kd" and student_run.data.tags["teacher.0.arch"] == "resnet10t"
    assert (
        student_run.data.tags["teacher.0.path"].endswith("teacher.safetensors")
        and len(student_run.data.tags["teacher.0.sha256"]) == 64
    )


def test_tensorboard_event_file_holds_the_epochs(run_cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = run_cli(
        "teacher",
        "train",
        "resnet10t",
        *TINY,
        "--out",
        tmp_path / "t",
        "--track",
        f"tensorboard:{tmp_path}/tb",
        "--json",
    )
    assert result.code == 0, result.stderr
    (run_dir,) = (tmp_path / "tb").iterdir()
    assert run_dir.name.startswith("teacher-resnet10t-")
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    assert [(s.step, s.value > 0) for s in events.Scalars("train_loss")] == [(1, True), (2, True)]
    assert [s.step for s in events.Scalars("val_top1")] == [1, 2]
    assert 0 <= events.Scalars("final_test_top1")[0].value <= 100
    texts = set(events.Tags()["tensors"])
    assert {"params/text_summary", "tags/text_summary", "artefact/teacher.json/text_summary"} <= texts
    params = events.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| train.epochs | 2 |" in params


def test_track_without_the_library_exits_2_saying_how_to_install(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` sees when it is not installed
    result = run_cli("teacher", "train", "resnet10t", *TINY, "--out", tmp_path / "t", "--track", "mlflow")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "pip install 'edgekd[mlflow]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t" / "teacher.safetensors").exists()  # refused before any training
    result = run_cli("teacher", "train", "resnet10t", *TINY, "--out", tmp_path / "t", "--track", "comet")
    assert result.code == 2 and "unknown tracker 'comet'" in result.stderr
