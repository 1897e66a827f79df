"""`edgekd bench --track`: one parent run per bench, one child per training run (teacher,
recipe × seed), with the recipe as params, the epochs as metric history and the final
figures; a rerun on the finished folder reuses every run and still lists each, tagged reused."""

from __future__ import annotations

import pytest

from edgekd.bench import HEADLINE, BenchConfig, run_bench
from edgekd.engine.tracking import TrackTarget


def _children(client, experiment_id: str, parent) -> dict:
    runs = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return {r.info.run_name: r for r in runs}


@pytest.mark.slow  # three tiny trainings, each tested on the full FMNIST test set (~30 s of CPU)
def test_bench_is_a_parent_run_with_a_child_per_training_run(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    out = tmp_path / "bench"
    # The teacher and two recipes (alone, KD) on 600 images: the bench's training path, tracked.
    config = BenchConfig(
        out,
        quick=True,
        limit_train=600,
        teacher_epochs=1,
        student_epochs=2,
        speed=False,
        deploy=False,
        runs=HEADLINE[:2],
    )
    result = run_bench(config, track=[TrackTarget("mlflow", uri)])

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("edgekd")
    (parent,) = client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = 'bench {out}'")
    assert parent.info.status == "FINISHED" and parent.data.tags["edgekd.role"] == "bench"
    assert parent.data.params["limit_train"] == "600" and parent.data.params["student_epochs"] == "2"
    assert parent.data.metrics["teacher_test_top1"] == pytest.approx(result["teacher"]["test_top1"])
    assert parent.data.metrics["kd.gain_vs_alone_mean"] == pytest.approx(result["students"]["kd"]["stats"]["gain_mean"])

    children = _children(client, experiment.experiment_id, parent)
    assert set(children) == {"teacher", "runs/alone-s0", "runs/kd-s0"}
    assert {c.data.tags["edgekd.status"] for c in children.values()} == {"ran"} and {
        c.info.status for c in children.values()
    } == {"FINISHED"}
    teacher, kd = children["teacher"], children["runs/kd-s0"]
    assert teacher.data.params["arch"] == "resnet18" and teacher.data.params["data.limit_train"] == "600"
    assert [m.step for m in client.get_metric_history(teacher.info.run_id, "train_loss")] == [1]
    assert (
        kd.data.params["method"] == "kd"
        and kd.data.params["train.seed"] == "0"
        and kd.data.tags["teacher.0.arch"] == "resnet18"
    )
    assert [m.step for m in client.get_metric_history(kd.info.run_id, "train_loss")] == [1, 2]
    (kd_run,), (alone_run,) = result["students"]["kd"]["runs"], result["students"]["alone"]["runs"]
    assert kd.data.metrics["final_test_top1"] == pytest.approx(kd_run["test_top1"])
    assert kd.data.metrics["gain_vs_alone"] == pytest.approx(kd_run["test_top1"] - alone_run["test_top1"])
    assert "gain_vs_alone" not in children["runs/alone-s0"].data.metrics
    assert {a.path for a in client.list_artifacts(kd.info.run_id)} == {"student.json", "student.safetensors"}

    run_bench(config, track=[TrackTarget("mlflow", uri)])  # every run reused
    (again,) = [
        p
        for p in client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = 'bench {out}'")
        if p.info.run_id != parent.info.run_id
    ]
    reused = _children(client, experiment.experiment_id, again)
    assert set(reused) == set(children) and {c.data.tags["edgekd.status"] for c in reused.values()} == {"reused"}
    assert reused["runs/kd-s0"].data.tags["edgekd.out_dir"] == str(out / "runs" / "kd-s0")
    assert reused["runs/kd-s0"].data.params["method"] == "kd"
    assert reused["runs/kd-s0"].data.metrics["final_test_top1"] == pytest.approx(kd_run["test_top1"])
    assert reused["runs/kd-s0"].data.metrics["gain_vs_alone"] == pytest.approx(kd.data.metrics["gain_vs_alone"])


def test_bench_track_with_an_unknown_tracker_is_one_line_exit_2(run_cli, tmp_path):
    result = run_cli("bench", "--track", "wandb", "--out", tmp_path)
    assert result.code == 2 and "unknown tracker 'wandb'" in result.stderr and "Traceback" not in result.stderr
