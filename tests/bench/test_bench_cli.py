"""`edgekd bench`: the quick run end to end (real training, export and timing), reuse of
finished runs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekd.bench import HEADLINE

TINY = ("--quick", "--limit-train", "600", "--teacher-epochs", "1", "--student-epochs", "2")


@pytest.mark.slow
def test_quick_bench_writes_every_figure_and_reuses_finished_runs(run_cli, tmp_path):
    out = tmp_path / "bench"
    result = run_cli("bench", *TINY, "--out", out)
    assert result.code == 0, result.stderr
    figures = json.loads((out / "bench.json").read_text())
    assert figures["schema"] == "edgekd.bench/1" and figures["config"]["quick"]
    assert 0 < figures["teacher"]["test_top1"] <= 100
    assert set(figures["students"]) == {r.name for r in HEADLINE}
    for name, summary in figures["students"].items():
        (run,) = summary["runs"]
        assert 0 < run["test_top1"] <= 100 and run["train_img_per_s"] > 0
        assert summary["stats"]["mean"] == pytest.approx(run["test_top1"]) and not summary["stats"]["rule_applies"]
    assert figures["students"]["kd-textbook"]["settings"] == {
        "lr": 0.1,
        "temperature": 4.0,
        "alpha": 0.9,
        "kd_loss": "kl",
    }
    assert figures["students"]["dkd"]["settings"] == {
        "lr": 0.05,
        "temperature": 4.0,
        "alpha": 1.0,
        "beta": 8.0,
        "ce_weight": 1.0,
        "warmup": 0.1,
    }
    speed = figures["speed"]
    assert all(speed["steps"]["img_per_s"][mode] > 0 for mode in ("student", "teacher", "online_kd", "cached_kd"))
    models = figures["deploy"]["models"]
    assert {entry["role"] for entry in models.values()} == {"default student", "resnet18"}
    for entry in models.values():
        assert set(entry["latency_ms"]) == {
            "torch eager channels_last",
            "torch eager NCHW",
            "ort fp32",
            "ort int8 cpu",
            "ort int8 tensorrt",
        }
        assert all(ms > 0 for per_batch in entry["latency_ms"].values() for ms in per_batch.values())
        assert entry["parity"]["gated_agreement"] >= 99.9  # near-tie flips excused: see edgekd.export.parity
    assert {t["status"] for t in figures["targets"]} <= {"PASS", "MISS", "INFO"} and len(figures["targets"]) >= 8
    assert figures["machine"]["threads"] == 2 and figures["wall_time_s"] > 0
    markdown = (out / "bench.md").read_text()
    for heading in ("## Accuracy", "## Training speed", "## Deployment", "## Targets"):
        assert heading in markdown
    assert "KD textbook (T=4, α=0.9, lr 0.1)" in markdown

    weights = out / "runs" / "kd-s0" / "student.safetensors"
    stamp = weights.stat().st_mtime_ns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    again = run_cli("bench", *TINY, "--out", out, "--no-speed", "--no-deploy", "--track", f"mlflow:{uri}")
    assert again.code == 0, again.stderr
    assert "reusing the finished run" in again.stderr and weights.stat().st_mtime_ns == stamp
    assert json.loads((out / "bench.json").read_text())["speed"] is None
    # Tracked, the rerun still lists every training run: each a child of the bench's run, tagged reused.
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(tracking_uri=uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("edgekd").experiment_id], filter_string="tags.`edgekd.role` = 'bench'"
    )
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert {c.info.run_name for c in children} == {"teacher"} | {f"runs/{name}-s0" for name in figures["students"]}
    assert {c.data.tags["edgekd.status"] for c in children} == {"reused"}
    assert all(c.data.metrics["final_test_top1"] > 0 for c in children)


def test_bad_seed_count_is_one_line_exit_2(run_cli, tmp_path):
    result = run_cli("bench", "--seeds", "0", "--out", tmp_path)
    assert result.code == 2 and "--seeds must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_protocol_is_one_line_exit_2(run_cli, tmp_path):
    result = run_cli("bench", "--protocol", "medium", "--out", tmp_path)
    assert result.code == 2 and "unknown --protocol 'medium'" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_recipe_is_one_line_exit_2(run_cli, tmp_path):
    result = run_cli("bench", "--recipes", "kd,magic", "--out", tmp_path)
    assert result.code == 2 and "unknown --recipes 'magic'" in result.stderr and "Traceback" not in result.stderr


def test_recipes_keep_the_student_alone_and_the_named_runs():
    from edgekd.bench import BenchConfig

    config = BenchConfig(Path("out"), recipes=("kd-cutmix", "kd"))
    assert [run.name for run in config.effective_runs] == ["alone", "kd", "kd-cutmix"]
    assert [run.name for run in BenchConfig(Path("out"), protocol="long").effective_runs] == [
        "alone",
        "kd",
        "dist",
        "kd-cutmix",
        "dist-cutmix",
    ]


def test_a_teacher_folder_without_a_teacher_is_one_line_exit_2(run_cli, tmp_path):
    result = run_cli("bench", "--teacher", tmp_path / "nothing", "--out", tmp_path / "out")
    assert (
        result.code == 2
        and "no teacher.safetensors + teacher.json" in result.stderr
        and "Traceback" not in result.stderr
    )
