"""A pipeline with `track:` is one parent run with a child per stage run, in MLflow's store
and in TensorBoard's folders; a cached rerun still lists every stage, tagged `cached`."""

from __future__ import annotations

import pytest
import yaml

from edgekd.errors import ConfigError
from edgekd.pipeline import load_pipeline

PIPELINE = {
    "name": "tracked",
    "data": {"spec": "digits", "val_size": 0.15},
    "teacher": {"arch": "resnet10t", "img_size": 16, "epochs": 2, "batch_size": 64, "lr": 0.05},
    "distill": {
        "student": "mobilenetv3_small_050",
        "img_size": 16,
        "methods": ["kd"],
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.05,
    },
    "eval": {},
}


def test_track_section_is_validated_with_the_pipeline(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**PIPELINE, "track": {"mlflow": "default", "tensorboard": "tb"}}))
    targets = load_pipeline(path).track.targets()
    assert [(t.backend, t.location) for t in targets] == [("mlflow", "sqlite:///runs/mlflow.db"), ("tensorboard", "tb")]
    path.write_text(yaml.safe_dump({**PIPELINE, "track": {"wandb": "x"}}))
    with pytest.raises(ConfigError, match="unknown key 'track.wandb'"):
        load_pipeline(path)


@pytest.mark.slow
def test_pipeline_is_a_parent_run_with_one_child_per_stage_run(run_cli, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tracked.yaml"
    path.write_text(yaml.safe_dump({**PIPELINE, "track": {"mlflow": "default", "tensorboard": "default"}}))
    first = run_cli("run", path)
    assert first.code == 0, first.stderr
    again = run_cli("run", path)  # every stage cached
    assert again.code == 0, again.stderr

    client = mlflow.MlflowClient(tracking_uri="sqlite:///runs/mlflow.db")  # the default store, from this folder
    experiment = client.get_experiment_by_name("edgekd")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.info.run_name == "pipeline tracked"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    children = {
        p.info.run_id: {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == p.info.run_id}
        for p in parents
    }
    first_children, cached_children = children[parents[0].info.run_id], children[parents[1].info.run_id]
    stage_runs = {"teacher", "distill/kd", "eval/teacher", "eval/student"}
    assert set(first_children) == stage_runs and set(cached_children) == stage_runs
    assert {r.data.tags["edgekd.status"] for r in first_children.values()} == {"ran"}
    assert {r.data.tags["edgekd.status"] for r in cached_children.values()} == {"cached"}
    assert cached_children["teacher"].data.tags["edgekd.out_dir"] == "runs/tracked/teacher"

    teacher, student = first_children["teacher"], first_children["distill/kd"]
    assert teacher.data.params["teacher.arch"] == "resnet10t" and teacher.data.params["teacher.train.epochs"] == "2"
    assert [m.step for m in client.get_metric_history(teacher.info.run_id, "train_loss")] == [1, 2]
    assert {a.path for a in client.list_artifacts(teacher.info.run_id)} >= {"teacher.json", "teacher.safetensors"}
    assert student.data.tags["teacher.0.arch"] == "resnet10t"
    assert {a.path for a in client.list_artifacts(student.info.run_id)} >= {"student.json", "student.safetensors"}
    assert 0 <= first_children["eval/student"].data.metrics["top1"] <= 100

    tensorboard_runs = sorted((tmp_path / "runs" / "tensorboard").iterdir())
    assert len(tensorboard_runs) == 2 and all(p.name.startswith("pipeline-tracked-") for p in tensorboard_runs)
    assert {p.name for p in tensorboard_runs[0].iterdir() if p.is_dir()} >= {"teacher", "distill-kd", "eval-student"}
